// Random small clusters for differential tests: few label values, so selectors often overlap;
// dual-stack, hostNetwork, terminated and IP-less pods; every peer/port/ipBlock form the spec has.
import type { ClusterDelta, ClusterState, ContainerPortInfo, FlowKey, LabelSelector, NamespaceInfo, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, PodInfo, PolicyProtocol } from '../../src/api/types.js'

/** mulberry32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class Gen {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n)
  }
  chance(p: number): boolean {
    return this.rnd() < p
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }
}

const NS_NAMES = ['x', 'y', 'z', 'w']
const APPS = ['a', 'b', 'c']
const TIERS = ['fe', 'be']
const PROTOS: PolicyProtocol[] = ['TCP', 'UDP', 'SCTP']
const PORT_NAMES = ['http', 'dns', 'web', 'metrics']
export const PORTS = [53, 80, 81, 443, 8080, 9090]
export const NODE_IP = '192.168.0.1'
export const EXTERNAL_IPS = ['8.8.8.8', '10.0.9.9', '2001:db8::1', 'fd00::9:9']

function labels(g: Gen, keys: Record<string, readonly string[]>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, vs] of Object.entries(keys)) if (g.chance(0.7)) out[k] = g.pick(vs)
  return out
}

function selector(g: Gen, keys: Record<string, readonly string[]>): LabelSelector {
  const s: LabelSelector = {}
  const names = Object.keys(keys)
  if (g.chance(0.5)) {
    s.matchLabels = {}
    for (const k of names) if (g.chance(0.4)) s.matchLabels[k] = g.pick(keys[k]!)
  }
  if (g.chance(0.35)) {
    s.matchExpressions = []
    const n = 1 + g.int(2)
    for (let i = 0; i < n; i++) {
      const key = g.pick(names)
      const op = g.pick(['In', 'NotIn', 'Exists', 'DoesNotExist'])
      const values = op === 'In' || op === 'NotIn' ? [...new Set([g.pick(keys[key]!), g.pick(keys[key]!)])] : undefined
      s.matchExpressions.push(values ? { key, operator: op, values } : { key, operator: op })
    }
  }
  return s
}

export function genNamespace(g: Gen, name: string): NamespaceInfo {
  return { name, labels: { ...labels(g, { team: ['red', 'blue'], env: ['prod', 'dev'] }), ns: name } }
}

let podSerial = 0
export function genPod(g: Gen, namespace: string, name: string): PodInfo {
  const n = ++podSerial
  const host = g.chance(0.05)
  const ips: string[] = []
  if (host) ips.push(NODE_IP)
  else if (!g.chance(0.04)) {
    const v4 = `10.0.${n % 200}.${1 + (n % 250)}`
    const v6 = `fd00::${(n % 200).toString(16)}:${(1 + (n % 250)).toString(16)}`
    const f = g.int(4)
    if (f === 0) ips.push(v6)
    else if (f === 1) ips.push(v4, v6)
    else ips.push(v4)
  }
  const ports: ContainerPortInfo[] = []
  for (const p of PORTS) {
    if (!g.chance(0.4)) continue
    const protocol = g.pick(PROTOS)
    ports.push(g.chance(0.6) ? { name: `${g.pick(PORT_NAMES)}`, containerPort: p, protocol } : { containerPort: p, protocol })
  }
  // Container port names are unique within a pod.
  const seen = new Set<string>()
  const uniq = ports.map((p) => {
    if (p.name === undefined || !seen.has(p.name)) {
      if (p.name) seen.add(p.name)
      return p
    }
    return { containerPort: p.containerPort, protocol: p.protocol }
  })
  return {
    namespace,
    name,
    labels: labels(g, { app: APPS, tier: TIERS }),
    ips,
    ports: uniq,
    nodeName: g.pick(['n1', 'n2']),
    hostNetwork: host || undefined,
    terminated: g.chance(0.04) || undefined,
  }
}

function cidrAround(g: Gen, state: { pods: readonly PodInfo[] }, v6: boolean): { cidr: string; except?: string[] } {
  const withIP = state.pods.flatMap((p) => p.ips).filter((ip) => ip.includes(':') === v6 && ip !== NODE_IP)
  if (v6) {
    const base = withIP.length > 0 ? g.pick(withIP) : 'fd00::1:1'
    const cidr = g.pick([`fd00::/${g.pick([0, 16, 64, 96])}`, `${base}/128`, 'fd00::/104', '::/0'])
    const block: { cidr: string; except?: string[] } = { cidr: cidr.startsWith('fd00::/0') ? '::/0' : cidr }
    if (!cidr.endsWith('/128') && g.chance(0.5)) block.except = [`${base}/128`]
    return block
  }
  const ip = withIP.length > 0 ? g.pick(withIP) : '10.0.1.1'
  const [a, b, c] = ip.split('.')
  const choice = g.int(5)
  const cidr = choice === 0 ? '0.0.0.0/0' : choice === 1 ? `${a}.0.0.0/8` : choice === 2 ? `${a}.${b}.${c}.0/24` : choice === 3 ? `${ip}/32` : `${a}.${b}.0.0/16`
  const block: { cidr: string; except?: string[] } = { cidr }
  if (!cidr.endsWith('/32') && g.chance(0.5)) {
    block.except = [`${ip}/32`]
    if (g.chance(0.3) && !cidr.endsWith('/24')) block.except.push(`${a}.${b}.${c}.0/25`)
  }
  return block
}

function genPeer(g: Gen, state: { pods: readonly PodInfo[] }): NetworkPolicyPeer {
  const k = g.int(6)
  if (k === 0) return { ipBlock: cidrAround(g, state, g.chance(0.3)) }
  const peer: NetworkPolicyPeer = {}
  if (k === 1 || k === 3 || k === 5) peer.podSelector = selector(g, { app: APPS, tier: TIERS })
  if (k === 2 || k === 3 || k === 4) peer.namespaceSelector = g.chance(0.3) ? {} : selector(g, { team: ['red', 'blue'], env: ['prod', 'dev'], ns: NS_NAMES })
  if (!peer.podSelector && !peer.namespaceSelector) peer.podSelector = {}
  return peer
}

function genPort(g: Gen): NetworkPolicyPort {
  const p: NetworkPolicyPort = {}
  if (g.chance(0.7)) p.protocol = g.pick(PROTOS)
  const k = g.int(5)
  if (k <= 1) p.port = g.pick(PORTS)
  else if (k === 2) p.port = g.pick(PORT_NAMES)
  else if (k === 3) {
    p.port = g.pick(PORTS)
    p.endPort = p.port + g.pick([0, 1, 10, 500])
  }
  return p
}

function genRules<K extends 'from' | 'to'>(g: Gen, state: { pods: readonly PodInfo[] }, field: K): Record<string, unknown>[] {
  const n = g.int(3)
  const rules: Record<string, unknown>[] = []
  for (let i = 0; i < n; i++) {
    const r: Record<string, unknown> = {}
    const pk = g.int(4)
    if (pk === 1) r[field] = []
    else if (pk >= 2) r[field] = Array.from({ length: 1 + g.int(3) }, () => genPeer(g, state))
    const qk = g.int(4)
    if (qk === 1) r.ports = []
    else if (qk >= 2) r.ports = Array.from({ length: 1 + g.int(3) }, () => genPort(g))
    rules.push(r)
  }
  return rules
}

export function genPolicy(g: Gen, state: { pods: readonly PodInfo[] }, namespace: string, name: string): NetworkPolicy {
  const spec: NetworkPolicy['spec'] = { podSelector: g.chance(0.25) ? {} : selector(g, { app: APPS, tier: TIERS }) }
  const t = g.int(5)
  if (t === 1) spec.policyTypes = ['Ingress']
  else if (t === 2) spec.policyTypes = ['Egress']
  else if (t === 3) spec.policyTypes = ['Ingress', 'Egress']
  if (g.chance(0.8)) spec.ingress = genRules(g, state, 'from') as NetworkPolicy['spec']['ingress']
  if (g.chance(0.6)) spec.egress = genRules(g, state, 'to') as NetworkPolicy['spec']['egress']
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec }
}

export function genCluster(g: Gen): ClusterState {
  const nsCount = 2 + g.int(3)
  const namespaces = NS_NAMES.slice(0, nsCount).filter(() => g.chance(0.9)).map((n) => genNamespace(g, n))
  const pods: PodInfo[] = []
  const podCount = 4 + g.int(12)
  for (let i = 0; i < podCount; i++) pods.push(genPod(g, NS_NAMES[g.int(nsCount)]!, `p${i}`))
  const policies: NetworkPolicy[] = []
  const polCount = g.int(7)
  for (let i = 0; i < polCount; i++) policies.push(genPolicy(g, { pods }, NS_NAMES[g.int(nsCount)]!, `np${i}`))
  return { namespaces, pods, policies }
}

/** Random flows between pod IPs, the node and external addresses, same family each. */
export function genFlows(g: Gen, state: ClusterState, n: number): FlowKey[] {
  const ips = [...new Set([...state.pods.flatMap((p) => p.ips), ...EXTERNAL_IPS, NODE_IP])]
  const v4 = ips.filter((ip) => !ip.includes(':'))
  const v6 = ips.filter((ip) => ip.includes(':'))
  const flows: FlowKey[] = []
  for (let i = 0; i < n; i++) {
    const fam = g.chance(0.75) ? v4 : v6
    flows.push({ src: g.pick(fam), dst: g.pick(fam), protocol: g.pick(PROTOS), port: g.chance(0.9) ? g.pick(PORTS) : 1 + g.int(65535) })
  }
  return flows
}

/** A random batch of changes, and the state after it (for load-vs-apply equivalence). */
export function genDeltas(g: Gen, state: ClusterState, n: number): { deltas: ClusterDelta[]; after: ClusterState } {
  const namespaces = new Map(state.namespaces.map((x) => [x.name, x]))
  const pods = new Map(state.pods.map((p) => [`${p.namespace}/${p.name}`, p]))
  const policies = new Map(state.policies.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]))
  const deltas: ClusterDelta[] = []
  for (let i = 0; i < n; i++) {
    const k = g.int(8)
    const nsName = g.pick(NS_NAMES.slice(0, 3))
    if (k === 0) {
      const ns = genNamespace(g, nsName)
      namespaces.set(ns.name, ns)
      deltas.push({ kind: 'Namespace', op: 'upsert', object: ns })
    } else if (k === 1 && namespaces.size > 0) {
      const name = g.pick([...namespaces.keys()])
      namespaces.delete(name)
      deltas.push({ kind: 'Namespace', op: 'delete', name })
    } else if (k === 2 || k === 3) {
      const existing = [...pods.values()]
      const base = existing.length > 0 && g.chance(0.6) ? g.pick(existing) : undefined
      const pod = base && g.chance(0.5) ? { ...base, labels: labels(g, { app: APPS, tier: TIERS }) } : genPod(g, base?.namespace ?? nsName, base?.name ?? `q${g.int(1000)}`)
      pods.set(`${pod.namespace}/${pod.name}`, pod)
      deltas.push({ kind: 'Pod', op: 'upsert', object: pod })
    } else if (k === 4 && pods.size > 0) {
      const p = g.pick([...pods.values()])
      pods.delete(`${p.namespace}/${p.name}`)
      deltas.push({ kind: 'Pod', op: 'delete', namespace: p.namespace, name: p.name })
    } else if (k === 5 && policies.size > 0) {
      const p = g.pick([...policies.values()])
      policies.delete(`${p.metadata.namespace}/${p.metadata.name}`)
      deltas.push({ kind: 'NetworkPolicy', op: 'delete', namespace: p.metadata.namespace!, name: p.metadata.name })
    } else {
      const existing = [...policies.values()]
      const base = existing.length > 0 && g.chance(0.5) ? g.pick(existing) : undefined
      const p = genPolicy(g, { pods: [...pods.values()] }, base?.metadata.namespace ?? nsName, base?.metadata.name ?? `nq${g.int(1000)}`)
      policies.set(`${p.metadata.namespace}/${p.metadata.name}`, p)
      deltas.push({ kind: 'NetworkPolicy', op: 'upsert', object: p })
    }
  }
  return { deltas, after: { namespaces: [...namespaces.values()], pods: [...pods.values()], policies: [...policies.values()] } }
}
