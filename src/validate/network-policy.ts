// networking.k8s.io/v1 NetworkPolicy validation, as the API server's ValidateNetworkPolicy does
// it, plus the structural checks its JSON decoding would make. Never throws: any input yields a
// list of issues, each naming the object and the full field path.
import type { ValidationIssue } from '../api/types.js'
import { formatCIDR, parseCIDR } from '../engine/ip.js'
import { validateLabelSelector, type Report } from './label-selector.js'
import { dns1123Label, dns1123Subdomain, portName, portNumber } from './names.js'

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** "NetworkPolicy ns/name" for messages, tolerating malformed metadata. */
export function policyObjectName(policy: unknown): string {
  const md = isObject(policy) && isObject(policy.metadata) ? policy.metadata : {}
  const ns = typeof md.namespace === 'string' && md.namespace !== '' ? md.namespace : 'default'
  const name = typeof md.name === 'string' && md.name !== '' ? md.name : '<unnamed>'
  return `NetworkPolicy ${ns}/${name}`
}

const PROTOCOLS = ['TCP', 'UDP', 'SCTP']

export function validateNetworkPolicy(policy: unknown): ValidationIssue[] {
  const object = policyObjectName(policy)
  const issues: ValidationIssue[] = []
  const report: Report = (field, message, severity = 'error') => issues.push({ object, field, message, severity })
  if (!isObject(policy)) {
    report('', 'must be an object')
    return issues
  }
  const md = policy.metadata
  if (!isObject(md)) report('metadata', 'Required value')
  else {
    if (typeof md.name !== 'string' || md.name === '') report('metadata.name', 'Required value: name or generateName is required')
    else for (const m of dns1123Subdomain(md.name)) report('metadata.name', `Invalid value: "${md.name}": ${m}`)
    // An absent namespace is filled in from the request (kubectl's current namespace).
    if (md.namespace !== undefined && md.namespace !== '') {
      if (typeof md.namespace !== 'string') report('metadata.namespace', 'must be a string')
      else for (const m of dns1123Label(md.namespace)) report('metadata.namespace', `Invalid value: "${md.namespace}": ${m}`)
    }
  }
  const spec = policy.spec
  if (!isObject(spec)) {
    report('spec', 'Required value')
    return issues
  }
  validateLabelSelector(spec.podSelector, 'spec.podSelector', report)
  validateRules(spec.ingress, 'spec.ingress', 'from', report)
  validateRules(spec.egress, 'spec.egress', 'to', report)
  const types = spec.policyTypes
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types)) report('spec.policyTypes', 'must be a list')
    else if (types.length > 2) report('spec.policyTypes', 'Invalid value: may not specify more than two policyTypes')
    else {
      for (let i = 0; i < types.length; i++) {
        const t: unknown = types[i]
        if (t !== 'Ingress' && t !== 'Egress') report(`spec.policyTypes[${i}]`, `Unsupported value: ${JSON.stringify(t)}: supported values: "Ingress", "Egress"`)
      }
    }
  }
  return issues
}

function validateRules(rules: unknown, path: string, peersField: 'from' | 'to', report: Report): void {
  if (rules === undefined || rules === null) return
  if (!Array.isArray(rules)) return report(path, 'must be a list')
  for (let i = 0; i < rules.length; i++) {
    const rule: unknown = rules[i]
    const rp = `${path}[${i}]`
    if (!isObject(rule)) {
      report(rp, 'must be an object')
      continue
    }
    const ports = rule.ports
    if (ports !== undefined && ports !== null) {
      if (!Array.isArray(ports)) report(`${rp}.ports`, 'must be a list')
      else for (let j = 0; j < ports.length; j++) validatePort(ports[j], `${rp}.ports[${j}]`, report)
    }
    const peers = rule[peersField]
    if (peers !== undefined && peers !== null) {
      if (!Array.isArray(peers)) report(`${rp}.${peersField}`, 'must be a list')
      else for (let j = 0; j < peers.length; j++) validatePeer(peers[j], `${rp}.${peersField}[${j}]`, report)
    }
  }
}

export function validatePort(port: unknown, path: string, report: Report): void {
  if (!isObject(port)) return report(path, 'must be an object')
  const { protocol, port: p, endPort } = port
  if (protocol !== undefined && protocol !== null && !PROTOCOLS.includes(protocol as string)) {
    report(`${path}.protocol`, `Unsupported value: ${JSON.stringify(protocol)}: supported values: "TCP", "UDP", "SCTP"`)
  }
  const hasEnd = endPort !== undefined && endPort !== null
  if (hasEnd && typeof endPort !== 'number') report(`${path}.endPort`, 'must be an integer')
  if (p === undefined || p === null) {
    if (hasEnd) report(`${path}.endPort`, `Invalid value: ${JSON.stringify(endPort)}: may not be specified when \`port\` is not specified`)
  } else if (typeof p === 'number') {
    for (const m of portNumber(p)) report(`${path}.port`, `Invalid value: ${p}: ${m}`)
    if (hasEnd && typeof endPort === 'number') {
      if (endPort < p) report(`${path}.endPort`, `Invalid value: ${endPort}: must be greater than or equal to \`port\``)
      for (const m of portNumber(endPort)) report(`${path}.endPort`, `Invalid value: ${endPort}: ${m}`)
    }
  } else if (typeof p === 'string') {
    if (hasEnd) report(`${path}.endPort`, `Invalid value: ${JSON.stringify(endPort)}: may not be specified when \`port\` is non-numeric`)
    for (const m of portName(p)) report(`${path}.port`, `Invalid value: "${p}": ${m}`)
  } else {
    report(`${path}.port`, 'must be an integer or a port name')
  }
}

function set(v: unknown): boolean {
  return v !== undefined && v !== null
}

export function validatePeer(peer: unknown, path: string, report: Report): void {
  if (!isObject(peer)) return report(path, 'must be an object')
  const n = Number(set(peer.podSelector)) + Number(set(peer.namespaceSelector)) + Number(set(peer.ipBlock))
  if (n === 0) return report(path, 'Required value: must specify a peer')
  if (n > 1 && set(peer.ipBlock)) report(path, 'Forbidden: may not specify both ipBlock and another peer')
  validateLabelSelector(peer.podSelector, `${path}.podSelector`, report)
  validateLabelSelector(peer.namespaceSelector, `${path}.namespaceSelector`, report)
  if (set(peer.ipBlock)) validateIPBlock(peer.ipBlock, `${path}.ipBlock`, report)
}

function validateIPBlock(block: unknown, path: string, report: Report): void {
  if (!isObject(block)) return report(path, 'must be an object')
  if (typeof block.cidr !== 'string' || block.cidr === '') return report(`${path}.cidr`, 'Required value')
  const cidr = parseCIDR(block.cidr)
  if (!cidr) report(`${path}.cidr`, `Invalid value: "${block.cidr}": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`)
  else if (!cidr.canonical) {
    report(`${path}.cidr`, `"${block.cidr}" has host bits set: older API servers accept it and it means ${formatCIDR(cidr)}; newer ones (StrictIPCIDRValidation) reject it`, 'warning')
  }
  const except = block.except
  if (except === undefined || except === null) return
  if (!Array.isArray(except)) return report(`${path}.except`, 'must be a list')
  for (let i = 0; i < except.length; i++) {
    const e: unknown = except[i]
    const ep = `${path}.except[${i}]`
    const ex = typeof e === 'string' ? parseCIDR(e) : null
    if (!ex) {
      report(ep, `Invalid value: ${JSON.stringify(e)}: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`)
      continue
    }
    if (!ex.canonical) report(ep, `"${e}" has host bits set; it means ${formatCIDR(ex)}`, 'warning')
    if (!cidr) continue
    // Go: !cidrNet.Contains(except.IP) || cidrMaskLen >= exceptMaskLen (IP = the masked network).
    if (ex.family !== cidr.family || ex.first < cidr.first || ex.first > cidr.last || cidr.bits >= ex.bits) {
      report(ep, `Invalid value: "${e}": must be a strict subset of \`cidr\``)
    }
  }
}
