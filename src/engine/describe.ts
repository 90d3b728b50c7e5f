// Off the packet path: turning a VerdictSlot into reasons (describe) and a flow into a human
// explanation (explain), including which rule part failed and what change would allow the flow.
import { REASON_CODE, type FlowKey, type SideReason, type SideVerdict, type Verdict, type VerdictSlot } from '../api/types.js'
import type { Compiler } from './compiler.js'
import type { PodState } from './cluster-index.js'
import { formatCIDR, parseIP } from './ip.js'
import { PROTOCOL_NAMES, type CompiledPeer, type CompiledPolicy, type CompiledPort } from './policy.js'
import { ATOM_SPACE, type Table } from './table.js'

export interface Explanation {
  verdict: Verdict
  text: string
}

const REASONS = Object.fromEntries(Object.entries(REASON_CODE).map(([k, v]) => [v, k])) as Record<number, SideReason>

function side(code: number, ref: number, table: (id: number) => Table | undefined): SideVerdict {
  const reason = REASONS[code] ?? 'not-isolated'
  if (reason !== 'rule' && reason !== 'no-rule-matched') return { allowed: true, reason }
  const t = table(Math.floor(ref / ATOM_SPACE))
  const isolatedBy = t ? t.policies.map((p) => p.key) : []
  if (reason === 'no-rule-matched' || !t) return { allowed: reason !== 'no-rule-matched', reason, isolatedBy }
  const d = t.decode(ref % ATOM_SPACE)
  if (!d) return { allowed: true, reason, isolatedBy }
  return { allowed: true, reason, policy: d.policy.key, rule: d.rule, peer: d.peer, port: d.port, isolatedBy }
}

export function describeSlot(slot: VerdictSlot, table: (id: number) => Table | undefined): Verdict {
  return {
    allowed: slot.allowed,
    egress: side(slot.egressCode, slot.egressRef, table),
    ingress: side(slot.ingressCode, slot.ingressRef, table),
    generation: slot.generation,
  }
}

// ------------------------------------------------------------------------------------ explain

interface Endpoint {
  ip: string
  pod: PodState | undefined
}

function endpointName(e: Endpoint): string {
  return e.pod ? `${e.pod.key} (${e.ip})` : `${e.ip} (not a pod of the cluster)`
}

export function explainFlow(flow: FlowKey, verdict: Verdict, c: Compiler): string {
  const podByIP = (ip: string): PodState | undefined => {
    let found: PodState | undefined
    for (const p of c.pods.values()) {
      if (p.info.terminated || !p.info.ips.includes(ip)) continue
      if (!found || (found.info.hostNetwork && !p.info.hostNetwork)) found = p
    }
    return found
  }
  const src: Endpoint = { ip: flow.src, pod: podByIP(flow.src) }
  const dst: Endpoint = { ip: flow.dst, pod: podByIP(flow.dst) }
  const lines = [
    `${endpointName(src)} -> ${endpointName(dst)} ${flow.protocol}/${flow.port}: ${verdict.allowed ? 'ALLOWED' : 'DENIED'} (generation ${verdict.generation})`,
  ]
  const dirs = [
    { name: 'Egress', dir: 'egress' as const, owner: src, peer: dst, v: verdict.egress },
    { name: 'Ingress', dir: 'ingress' as const, owner: dst, peer: src, v: verdict.ingress },
  ]
  for (const { name, dir, owner, peer, v } of dirs) {
    const who = owner.pod ? owner.pod.key : owner.ip
    const head = `${name} side (${who}): ${v.allowed ? 'allowed' : 'DENIED'}`
    switch (v.reason) {
      case 'not-a-pod':
        lines.push(`${head}: ${owner.ip} is not a pod IP, nothing to enforce on this side.`)
        break
      case 'host-network':
        lines.push(`${head}: ${who} uses hostNetwork; NetworkPolicy never selects hostNetwork pods.`)
        break
      case 'not-local':
        lines.push(`${head}: ${who} runs on another node, which enforces this side.`)
        break
      case 'node-local':
        lines.push(`${head}: traffic between a pod and its own node (kubelet probes) is always allowed.`)
        break
      case 'not-isolated':
        lines.push(`${head}: no NetworkPolicy with ${name} in its policyTypes selects ${who}, so it is not isolated for ${dir}.`)
        break
      case 'rule': {
        const ps = c.policies.get(v.policy!)
        const rule = `spec.${dir}[${v.rule}]`
        const peerText = v.peer === null ? `every ${dir === 'ingress' ? 'source' : 'destination'} (no ${dir === 'ingress' ? 'from' : 'to'} list)` : describePeer(ps?.cp, dir, v.rule!, v.peer!)
        const portText = v.port === null ? 'every port (no ports list)' : describePort(ps?.cp, dir, v.rule!, v.port!)
        lines.push(`${head}: isolated by ${v.isolatedBy!.join(', ')}; allowed by ${v.policy} ${rule}: peer ${peerText}, port ${portText}.`)
        break
      }
      case 'no-rule-matched': {
        lines.push(`${head}: isolated by ${v.isolatedBy!.join(', ')}, and no rule of theirs allows this flow:`)
        for (const key of v.isolatedBy!) {
          const cp = c.policies.get(key)?.cp
          const rules = cp?.[dir]?.rules ?? []
          if (rules.length === 0) lines.push(`  - ${key}: no ${dir} rules (denies all ${dir}).`)
          rules.forEach((rule, r) => {
            const peerOk = rule.peers === null || rule.peers.some((p) => peerMatches(cp!, p, peer, c))
            const portOk = rule.ports === null || rule.ports.some((p) => portMatches(p, flow, dst))
            const why = [peerOk ? '' : `${peer.pod ? peer.pod.key : peer.ip} matches none of its ${dir === 'ingress' ? 'from' : 'to'} peers`, portOk ? '' : `${flow.protocol}/${flow.port} matches none of its ports`].filter(Boolean)
            lines.push(`  - ${key} spec.${dir}[${r}]: ${why.join('; ')}.`)
          })
        }
        lines.push(`  To allow it: ${suggestion(dir, owner, peer, flow, v.isolatedBy![0]!)}`)
        break
      }
    }
  }
  return lines.join('\n')
}

function describePeer(cp: CompiledPolicy | undefined, dir: 'ingress' | 'egress', rule: number, peer: number): string {
  const p = cp?.[dir]?.rules[rule]?.peers?.[peer]
  const field = `${dir === 'ingress' ? 'from' : 'to'}[${peer}]`
  if (!p) return field
  if (p.kind === 'ipblock') return `${field} (ipBlock ${cidrText(p)})`
  if (p.kind === 'invalid') return `${field} (invalid: matches nothing)`
  const ns = p.nsSel === null ? `namespace ${cp!.namespace}` : p.nsSel.empty ? 'all namespaces' : `namespaces ${p.nsSel}`
  const pods = p.podSel === null || p.podSel.empty ? 'all pods' : `pods ${p.podSel}`
  return `${field} (${pods} in ${ns})`
}

function cidrText(p: CompiledPeer): string {
  const ex = p.except.map(formatCIDR)
  return `${formatCIDR(p.cidr!)}${ex.length > 0 ? ` except ${ex.join(', ')}` : ''}`
}

function describePort(cp: CompiledPolicy | undefined, dir: 'ingress' | 'egress', rule: number, port: number): string {
  const p = cp?.[dir]?.rules[rule]?.ports?.[port]
  if (!p) return `ports[${port}]`
  if (p.kind === 'named') return `ports[${port}] (named port "${p.name}" ${PROTOCOL_NAMES[p.proto]})`
  if (p.kind === 'range') return `ports[${port}] (${PROTOCOL_NAMES[p.proto]} ${p.lo === 0 && p.hi === 65535 ? 'any port' : p.lo === p.hi ? p.lo : `${p.lo}-${p.hi}`})`
  return `ports[${port}]`
}

function peerMatches(cp: CompiledPolicy, p: CompiledPeer, e: Endpoint, c: Compiler): boolean {
  if (p.kind === 'ipblock') {
    const ip = parseIP(e.ip)
    if (!ip || ip.family !== p.cidr!.family || ip.value < p.cidr!.first || ip.value > p.cidr!.last) return false
    return !p.except.some((x) => x.family === ip.family && ip.value >= x.first && ip.value <= x.last)
  }
  if (p.kind !== 'pods' || !e.pod || !e.pod.identity) return false
  const id = e.pod.identity
  const nsOk = p.nsSel === null ? id.ns.name === cp.namespace : p.nsSel.matches(c.index.namespace(id.ns.name).labels)
  return nsOk && (p.podSel === null || p.podSel.matches(id.labels))
}

function portMatches(p: CompiledPort, flow: FlowKey, dst: Endpoint): boolean {
  if (PROTOCOL_NAMES[p.proto] !== flow.protocol) return false
  if (p.kind === 'range') return flow.port >= p.lo && flow.port <= p.hi
  if (p.kind === 'named') return (dst.pod && !dst.pod.info.hostNetwork && dst.pod.info.ports.some((cp) => cp.name === p.name && cp.protocol === flow.protocol && cp.containerPort === flow.port)) === true
  return false
}

function suggestion(dir: 'ingress' | 'egress', owner: Endpoint, peer: Endpoint, flow: FlowKey, policy: string): string {
  const field = dir === 'ingress' ? 'from' : 'to'
  let peerSpec: string
  if (peer.pod && peer.pod.identity) {
    const labels = JSON.stringify(peer.pod.info.labels)
    const sameNs = owner.pod && owner.pod.info.namespace === peer.pod.info.namespace
    peerSpec = sameNs
      ? `{podSelector: {matchLabels: ${labels}}}`
      : `{namespaceSelector: {matchLabels: {"kubernetes.io/metadata.name": "${peer.pod.info.namespace}"}}, podSelector: {matchLabels: ${labels}}}`
  } else {
    const ip = parseIP(peer.ip)
    peerSpec = `{ipBlock: {cidr: "${peer.ip}/${ip?.family === 6 ? 128 : 32}"}}`
  }
  return `add to ${policy} (or a new policy selecting ${owner.pod?.key ?? owner.ip}) an ${dir} rule {${field}: [${peerSpec}], ports: [{protocol: ${flow.protocol}, port: ${flow.port}}]}.`
}
