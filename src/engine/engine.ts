// PolicyEngine: the compiled NetworkPolicy evaluator. Updates (load/apply) run synchronously
// between packet batches and publish by swapping table references; the packet path
// (classifyV4/classifyV6) does a fixed number of map lookups and binary searches, whatever the
// number of policies, and allocates nothing.
import {
  PROTOCOL_NUMBER,
  REASON_CODE,
  newVerdictSlot,
  type ClusterDelta,
  type ClusterState,
  type FlowKey,
  type PodIsolation,
  type PolicyEvaluator,
  type ValidationIssue,
  type Verdict,
  type VerdictSlot,
} from '../api/types.js'
import type { PodEntry, PodState } from './cluster-index.js'
import { Compiler } from './compiler.js'
import { describeSlot, explainFlow, type Explanation } from './describe.js'
import type { Ip4Map } from './ip4-map.js'
import { Ip6Map } from './ip6-map.js'
import { ipv4ToNumber, ipv6ToBytes } from './ip.js'
import { PodAddresses } from './pod-addresses.js'
import { protocolIndex } from './policy.js'
import { ATOM_SPACE, type Table } from './table.js'

export interface EngineOptions {
  /** When set, only pods with this nodeName are enforced; other pods' sides decide 'not-local'. */
  localNode?: string
  /** This node's IPs: pod <-> own-node traffic is 'node-local'. */
  nodeIPs?: readonly string[]
  /** Default true: pod <-> own node always allowed (kubelet probes). */
  allowNodeTraffic?: boolean
  /** Default true (upstream); false = GKE Dataplane V2 style: ipBlock only matches non-pod IPs. */
  ipBlockMatchesPodIPs?: boolean
}

export interface ApplyResult {
  generation: number
  /** Validation issues of the policies this call loaded/upserted (all of them for load()). */
  issues: ValidationIssue[]
  /** Enforced pods whose isolation/IPs changed (removed pods: ingress = egress = false). */
  isolationChanged: PodIsolation[]
}

const NOT_ISOLATED = REASON_CODE['not-isolated']
const RULE = REASON_CODE.rule
const NO_RULE = REASON_CODE['no-rule-matched']
const NOT_A_POD = REASON_CODE['not-a-pod']
const NOT_LOCAL = REASON_CODE['not-local']
const NODE_LOCAL = REASON_CODE['node-local']
const HOST_NETWORK = REASON_CODE['host-network']

export class PolicyEngine implements PolicyEvaluator {
  private gen = 0
  private compiler!: Compiler
  /** Pod IP maps (see PodAddresses, which the compiler keeps updated), as fields for the packet path. */
  private v4!: Ip4Map<PodEntry>
  private v6!: Ip6Map<PodEntry>
  private readonly nodeV4 = new Set<number>()
  private readonly nodeV6 = new Ip6Map<boolean>()
  private readonly allowNode: boolean
  private readonly cidrMatchesPods: boolean
  private readonly scratch = newVerdictSlot()

  constructor(readonly options: EngineOptions = {}) {
    this.allowNode = options.allowNodeTraffic !== false
    this.cidrMatchesPods = options.ipBlockMatchesPodIPs !== false
    const b = new Uint8Array(16)
    for (const ip of options.nodeIPs ?? []) {
      const n = ipv4ToNumber(ip)
      if (n >= 0) this.nodeV4.add(n)
      else if (ipv6ToBytes(ip, b, 0)) this.nodeV6.set(b, true)
      else throw new TypeError(`EngineOptions.nodeIPs: "${ip}" is not an IP address`)
    }
    this.reset()
  }

  get generation(): number {
    return this.gen
  }

  private reset(): void {
    this.compiler = new Compiler({ localNode: this.options.localNode })
    const addresses = new PodAddresses()
    this.compiler.onPodEntry = (pod, added) => addresses.update(pod, added)
    this.v4 = addresses.v4
    this.v6 = addresses.v6
  }

  /** Replaces everything with `state`. */
  load(state: ClusterState): ApplyResult {
    const before = new Map<string, PodState>()
    if (this.compiler) for (const [k, p] of this.compiler.pods) before.set(k, p)
    this.reset()
    const c = this.compiler
    for (const ns of state.namespaces) c.upsertNamespace(ns)
    for (const pod of state.pods) {
      const prev = before.get(`${pod.namespace}/${pod.name}`)
      c.upsertPod(pod)
      if (prev) c.pods.get(prev.key)!.reported = prev.reported
    }
    for (const p of state.policies) c.upsertPolicy(p)
    const { pods, issues } = c.commit()
    const removed = [...before.values()].filter((p) => !c.pods.has(p.key))
    return this.publish(pods, removed, issues)
  }

  /** Applies changes incrementally: recompiles only the tables they affect, then publishes. */
  apply(deltas: readonly ClusterDelta[]): ApplyResult {
    const c = this.compiler
    for (const d of deltas) {
      switch (d.kind) {
        case 'Namespace':
          if (d.op === 'upsert') c.upsertNamespace(d.object)
          else c.upsertNamespace({ name: d.name, labels: null })
          break
        case 'Pod':
          if (d.op === 'upsert') c.upsertPod(d.object)
          else c.deletePod(d.namespace, d.name)
          break
        case 'NetworkPolicy':
          if (d.op === 'upsert') c.upsertPolicy(d.object)
          else c.deletePolicy(d.namespace, d.name)
          break
      }
    }
    const { pods, removed, issues } = c.commit()
    return this.publish(pods, removed, issues)
  }

  private publish(pods: Iterable<PodState>, removed: Iterable<PodState>, issues: ValidationIssue[]): ApplyResult {
    this.gen++
    const changed: PodIsolation[] = []
    for (const p of pods) {
      const iso = this.isolationOf(p)
      const now = iso ? `${iso.ingress}|${iso.egress}|${iso.ips.join(',')}` : ''
      if (now === p.reported) continue
      p.reported = now
      changed.push(iso ?? { namespace: p.info.namespace, name: p.info.name, ips: p.info.ips, ingress: false, egress: false })
    }
    for (const p of removed) {
      if (p.reported !== '') changed.push({ namespace: p.info.namespace, name: p.info.name, ips: p.info.ips, ingress: false, egress: false })
    }
    return { generation: this.gen, issues, isolationChanged: changed }
  }

  private isolationOf(p: PodState): PodIsolation | null {
    if (!p.entry.local || p.identity === null) return null
    return { namespace: p.info.namespace, name: p.info.name, ips: p.info.ips, ingress: p.identity.ingress !== null, egress: p.identity.egress !== null }
  }

  /** Every enforced pod (live, not hostNetwork, on this node). */
  isolation(): PodIsolation[] {
    const out: PodIsolation[] = []
    for (const p of this.compiler.pods.values()) {
      const iso = this.isolationOf(p)
      if (iso) out.push(iso)
    }
    return out
  }

  /** Validation issues of every policy currently loaded. */
  issues(): ValidationIssue[] {
    return this.compiler.issues()
  }

  // ------------------------------------------------------------------------------ IP indexes

  // ------------------------------------------------------------------------------- hot path

  classifyV4(src: number, dst: number, proto: number, dstPort: number, out: VerdictSlot): boolean {
    const s = this.v4.get(src)
    const d = this.v4.get(dst)
    const pi = protocolIndex(proto)
    const named = d !== undefined && d.namedPorts !== null && pi >= 0 ? d.namedPorts.get((pi << 16) | dstPort) ?? -1 : -1
    let t: Table | null
    let atom: number
    // Egress side: the source pod's egress table, peer = destination.
    if (s === undefined) out.egressCode = NOT_A_POD
    else if (s.host) out.egressCode = HOST_NETWORK
    else if (!s.local) out.egressCode = NOT_LOCAL
    else if (this.allowNode && this.nodeV4.has(dst)) out.egressCode = NODE_LOCAL
    else if ((t = s.egress) === null) out.egressCode = NOT_ISOLATED
    else {
      atom = t.lookupPod(d, pi, dstPort, named)
      if ((d === undefined || d.host || this.cidrMatchesPods) && t.v4 !== null) {
        const m = t.v4.find(dst)
        if (m !== null) {
          const a = m.lookup(pi, dstPort, named)
          if (a >= 0 && (atom < 0 || a < atom)) atom = a
        }
      }
      out.egressCode = atom >= 0 ? RULE : NO_RULE
      out.egressRef = t.id * ATOM_SPACE + (atom >= 0 ? atom : 0)
    }
    // Ingress side: the destination pod's ingress table, peer = source.
    if (d === undefined) out.ingressCode = NOT_A_POD
    else if (d.host) out.ingressCode = HOST_NETWORK
    else if (!d.local) out.ingressCode = NOT_LOCAL
    else if (this.allowNode && this.nodeV4.has(src)) out.ingressCode = NODE_LOCAL
    else if ((t = d.ingress) === null) out.ingressCode = NOT_ISOLATED
    else {
      atom = t.lookupPod(s, pi, dstPort, named)
      if ((s === undefined || s.host || this.cidrMatchesPods) && t.v4 !== null) {
        const m = t.v4.find(src)
        if (m !== null) {
          const a = m.lookup(pi, dstPort, named)
          if (a >= 0 && (atom < 0 || a < atom)) atom = a
        }
      }
      out.ingressCode = atom >= 0 ? RULE : NO_RULE
      out.ingressRef = t.id * ATOM_SPACE + (atom >= 0 ? atom : 0)
    }
    out.generation = this.gen
    out.audit = false // this engine only enforces; audit mode wraps it (agent/audit-evaluator.ts)
    return (out.allowed = out.egressCode !== NO_RULE && out.ingressCode !== NO_RULE)
  }

  classifyV6(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, dstPort: number, out: VerdictSlot): boolean {
    const s = this.v6.get(buf, srcOff)
    const d = this.v6.get(buf, dstOff)
    const pi = protocolIndex(proto)
    const named = d !== undefined && d.namedPorts !== null && pi >= 0 ? d.namedPorts.get((pi << 16) | dstPort) ?? -1 : -1
    let t: Table | null
    let atom: number
    if (s === undefined) out.egressCode = NOT_A_POD
    else if (s.host) out.egressCode = HOST_NETWORK
    else if (!s.local) out.egressCode = NOT_LOCAL
    else if (this.allowNode && this.nodeV6.size > 0 && this.nodeV6.get(buf, dstOff) === true) out.egressCode = NODE_LOCAL
    else if ((t = s.egress) === null) out.egressCode = NOT_ISOLATED
    else {
      atom = t.lookupPod(d, pi, dstPort, named)
      if ((d === undefined || d.host || this.cidrMatchesPods) && t.v6 !== null) {
        const m = t.v6.find(buf, dstOff)
        if (m !== null) {
          const a = m.lookup(pi, dstPort, named)
          if (a >= 0 && (atom < 0 || a < atom)) atom = a
        }
      }
      out.egressCode = atom >= 0 ? RULE : NO_RULE
      out.egressRef = t.id * ATOM_SPACE + (atom >= 0 ? atom : 0)
    }
    if (d === undefined) out.ingressCode = NOT_A_POD
    else if (d.host) out.ingressCode = HOST_NETWORK
    else if (!d.local) out.ingressCode = NOT_LOCAL
    else if (this.allowNode && this.nodeV6.size > 0 && this.nodeV6.get(buf, srcOff) === true) out.ingressCode = NODE_LOCAL
    else if ((t = d.ingress) === null) out.ingressCode = NOT_ISOLATED
    else {
      atom = t.lookupPod(s, pi, dstPort, named)
      if ((s === undefined || s.host || this.cidrMatchesPods) && t.v6 !== null) {
        const m = t.v6.find(buf, srcOff)
        if (m !== null) {
          const a = m.lookup(pi, dstPort, named)
          if (a >= 0 && (atom < 0 || a < atom)) atom = a
        }
      }
      out.ingressCode = atom >= 0 ? RULE : NO_RULE
      out.ingressRef = t.id * ATOM_SPACE + (atom >= 0 ? atom : 0)
    }
    out.generation = this.gen
    out.audit = false // this engine only enforces; audit mode wraps it (agent/audit-evaluator.ts)
    return (out.allowed = out.egressCode !== NO_RULE && out.ingressCode !== NO_RULE)
  }

  /** Off the hot path: addresses as text, result with reasons. Throws TypeError on bad input. */
  classify(flow: FlowKey): Verdict {
    const proto = PROTOCOL_NUMBER[flow.protocol]
    if (proto === undefined) throw new TypeError(`classify: protocol must be TCP, UDP or SCTP, got ${String(flow.protocol)}`)
    const s4 = ipv4ToNumber(flow.src)
    const d4 = ipv4ToNumber(flow.dst)
    if (s4 >= 0 && d4 >= 0) this.classifyV4(s4, d4, proto, flow.port, this.scratch)
    else {
      const buf = new Uint8Array(32)
      if (!ipv6ToBytes(flow.src, buf, 0) || !ipv6ToBytes(flow.dst, buf, 16)) {
        throw new TypeError(`classify: src and dst must be IP addresses of one family, got "${flow.src}" -> "${flow.dst}"`)
      }
      this.classifyV6(buf, 0, 16, proto, flow.port, this.scratch)
    }
    return this.describe(this.scratch)
  }

  describe(slot: VerdictSlot): Verdict {
    return describeSlot(slot, (id) => this.compiler.tables.byId.get(id))
  }

  /** A multi-line human explanation of one flow's verdict. */
  explain(flow: FlowKey): Explanation {
    const verdict = this.classify(flow)
    return { verdict, text: explainFlow(flow, verdict, this.compiler) }
  }
}
