// A deliberately plain NetworkPolicy evaluator written from the spec, for differential testing:
// no compilation, no indexes — every flow walks every policy, rule, peer and port. ipBlock
// containment uses node's own net.BlockList, so CIDR logic is independent of the engine's.
import { BlockList, isIPv4 } from 'node:net'
import type { ClusterState, FlowKey, Labels, LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, PodInfo } from '../../src/api/types.js'

export interface RefSide {
  allowed: boolean
  reason: string
  policy?: string
  rule?: number
  peer?: number | null
  port?: number | null
  isolatedBy?: string[]
}
export interface RefVerdict {
  allowed: boolean
  egress: RefSide
  ingress: RefSide
}
export interface RefOptions {
  ipBlockMatchesPodIPs?: boolean
  nodeIPs?: readonly string[]
  localNode?: string
}

function selectorMatches(sel: LabelSelector | undefined, labels: Labels): boolean {
  if (!sel) return true
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key)
    const val = labels[e.key]
    const inValues = has && (e.values ?? []).includes(val!)
    if (e.operator === 'In' && !inValues) return false
    if (e.operator === 'NotIn' && inValues) return false
    if (e.operator === 'Exists' && !has) return false
    if (e.operator === 'DoesNotExist' && has) return false
  }
  return true
}

function inBlock(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/')
  const fam = isIPv4(net!) ? 'ipv4' : 'ipv6'
  if ((fam === 'ipv4') !== isIPv4(ip)) return false
  const bl = new BlockList()
  bl.addSubnet(net!, Number(bits), fam)
  return bl.check(ip, fam)
}

export class ReferenceEvaluator {
  constructor(
    private readonly state: ClusterState,
    private readonly opts: RefOptions = {},
  ) {}

  private podAt(ip: string): PodInfo | undefined {
    const live = this.state.pods.filter((p) => !p.terminated && p.ips.includes(ip))
    // If a real pod and hostNetwork pods share an address, the real pod is the endpoint.
    return live.reverse().find((p) => !p.hostNetwork) ?? live[0]
  }

  private nsLabels(name: string): Labels {
    const ns = this.state.namespaces.find((n) => n.name === name)
    return { ...(ns?.labels ?? {}), 'kubernetes.io/metadata.name': name }
  }

  private affects(p: NetworkPolicy, dir: 'ingress' | 'egress'): boolean {
    const types = p.spec.policyTypes
    if (types && types.length > 0) return types.includes(dir === 'ingress' ? 'Ingress' : 'Egress')
    return dir === 'ingress' ? true : (p.spec.egress?.length ?? 0) > 0
  }

  private peerMatches(p: NetworkPolicy, peer: NetworkPolicyPeer, ip: string, pod: PodInfo | undefined): boolean {
    if (peer.ipBlock) {
      if (pod && !pod.hostNetwork && this.opts.ipBlockMatchesPodIPs === false) return false
      if (!inBlock(ip, peer.ipBlock.cidr)) return false
      return !(peer.ipBlock.except ?? []).some((e) => inBlock(ip, e))
    }
    if (!pod || pod.hostNetwork) return false
    const policyNs = p.metadata.namespace ?? 'default'
    const nsOk = peer.namespaceSelector ? selectorMatches(peer.namespaceSelector, this.nsLabels(pod.namespace)) : pod.namespace === policyNs
    return nsOk && (peer.podSelector ? selectorMatches(peer.podSelector, pod.labels) : true)
  }

  private portMatches(port: NetworkPolicyPort, flow: FlowKey, dst: PodInfo | undefined): boolean {
    if ((port.protocol ?? 'TCP') !== flow.protocol) return false
    if (port.port === undefined) return true
    if (typeof port.port === 'number') return flow.port >= port.port && flow.port <= (port.endPort ?? port.port)
    return !!dst && !dst.hostNetwork && dst.ports.some((c) => c.name === port.port && c.protocol === flow.protocol && c.containerPort === flow.port)
  }

  private side(dir: 'ingress' | 'egress', owner: PodInfo | undefined, ownerIP: string, peerIP: string, peer: PodInfo | undefined, flow: FlowKey, dst: PodInfo | undefined): RefSide {
    void ownerIP
    if (!owner) return { allowed: true, reason: 'not-a-pod' }
    if (owner.hostNetwork) return { allowed: true, reason: 'host-network' }
    if (this.opts.localNode !== undefined && owner.nodeName !== this.opts.localNode) return { allowed: true, reason: 'not-local' }
    if ((this.opts.nodeIPs ?? []).includes(peerIP)) return { allowed: true, reason: 'node-local' }
    const isolating = this.state.policies
      .filter((p) => (p.metadata.namespace ?? 'default') === owner.namespace && selectorMatches(p.spec.podSelector, owner.labels) && this.affects(p, dir))
      .sort((a, b) => {
        const ka = `${a.metadata.namespace ?? 'default'}/${a.metadata.name}`
        const kb = `${b.metadata.namespace ?? 'default'}/${b.metadata.name}`
        return ka < kb ? -1 : ka > kb ? 1 : 0
      })
    if (isolating.length === 0) return { allowed: true, reason: 'not-isolated' }
    const isolatedBy = isolating.map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`)
    for (const p of isolating) {
      const rules = (dir === 'ingress' ? p.spec.ingress : p.spec.egress) ?? []
      for (let r = 0; r < rules.length; r++) {
        const rule = rules[r]!
        const peers = (dir === 'ingress' ? (rule as { from?: NetworkPolicyPeer[] }).from : (rule as { to?: NetworkPolicyPeer[] }).to) ?? []
        const ports = rule.ports ?? []
        const peerIdx: (number | null)[] = peers.length === 0 ? [null] : peers.map((_, i) => i)
        const portIdx: (number | null)[] = ports.length === 0 ? [null] : ports.map((_, i) => i)
        for (const pi of peerIdx) {
          if (pi !== null && !this.peerMatches(p, peers[pi]!, peerIP, peer)) continue
          for (const qi of portIdx) {
            if (qi !== null && !this.portMatches(ports[qi]!, flow, dst)) continue
            return { allowed: true, reason: 'rule', policy: `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`, rule: r, peer: pi, port: qi, isolatedBy }
          }
        }
      }
    }
    return { allowed: false, reason: 'no-rule-matched', isolatedBy }
  }

  verdict(flow: FlowKey): RefVerdict {
    const src = this.podAt(flow.src)
    const dst = this.podAt(flow.dst)
    const egress = this.side('egress', src, flow.src, flow.dst, dst, flow, dst)
    const ingress = this.side('ingress', dst, flow.dst, flow.src, src, flow, dst)
    return { allowed: egress.allowed && ingress.allowed, egress, ingress }
  }
}
