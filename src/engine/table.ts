// One compiled per-direction table, shared by every identity selected by the same set of
// policies. Immutable once built; an update builds a new one and swaps the identity's reference.
import type { ClusterIndex, PodEntry } from './cluster-index.js'
import { CidrTable4, CidrTable6, type CidrEntry } from './cidr-table.js'
import type { CompiledPolicy } from './policy.js'
import { PortMatcher, type PortEntry } from './port-matcher.js'
import type { ResolvedDirection } from './resolve.js'

export type Dir = 'ingress' | 'egress'

/** Atoms per table; slot refs are tableId * ATOM_SPACE + atom. */
export const ATOM_SPACE = 2 ** 24

export class Table {
  constructor(
    readonly id: number,
    readonly dir: Dir,
    readonly signature: string,
    /** Selecting policies, sorted by ns/name: atom order = deciding-rule priority. */
    readonly policies: readonly CompiledPolicy[],
    readonly policyBase: Int32Array,
    readonly anyPeer: PortMatcher | null,
    readonly anyPod: PortMatcher | null,
    readonly byNs: Map<number, PortMatcher>,
    readonly byId: Map<number, PortMatcher>,
    readonly v4: CidrTable4 | null,
    readonly v6: CidrTable6 | null,
  ) {}

  /**
   * Lowest atom allowing the flow from/to `peer` (undefined: not a pod IP), or -1.
   * `cidrPeer`: whether ipBlocks may match this peer (always for non-pods; option for pods).
   */
  lookupPod(peer: PodEntry | undefined, proto: number, port: number, namedKey: number): number {
    let best = -1
    let a: number
    if (this.anyPeer !== null) best = this.anyPeer.lookup(proto, port, namedKey)
    if (peer === undefined || peer.host) return best
    if (this.anyPod !== null) {
      a = this.anyPod.lookup(proto, port, namedKey)
      if (a >= 0 && (best < 0 || a < best)) best = a
    }
    const n = this.byNs.get(peer.nsId)
    if (n !== undefined) {
      a = n.lookup(proto, port, namedKey)
      if (a >= 0 && (best < 0 || a < best)) best = a
    }
    const m = this.byId.get(peer.identity!.id)
    if (m !== undefined) {
      a = m.lookup(proto, port, namedKey)
      if (a >= 0 && (best < 0 || a < best)) best = a
    }
    return best
  }

  static build(id: number, dir: Dir, signature: string, policies: readonly { cp: CompiledPolicy; resolved: ResolvedDirection }[], index: ClusterIndex): Table {
    const base = new Int32Array(policies.length)
    let total = 0
    const anyPeer: PortEntry[] = []
    const anyPod: PortEntry[] = []
    const byNs = new Map<number, PortEntry[]>()
    const byId = new Map<number, PortEntry[]>()
    const cidr4: CidrEntry[] = []
    const cidr6: CidrEntry[] = []
    const shift = (e: PortEntry, off: number): PortEntry => ({ base: e.base + off, ports: e.ports })
    const shiftC = (e: CidrEntry, off: number): CidrEntry => ({ base: e.base + off, ports: e.ports, cidr: e.cidr, except: e.except })
    const merge = (dst: Map<number, PortEntry[]>, src: Map<number, PortEntry[]>, off: number) => {
      for (const [k, l] of src) {
        let d = dst.get(k)
        if (!d) dst.set(k, (d = []))
        for (const e of l) d.push(shift(e, off))
      }
    }
    policies.forEach(({ cp, resolved: r }, i) => {
      base[i] = total
      for (const e of r.anyPeer) anyPeer.push(shift(e, total))
      for (const e of r.anyPod) anyPod.push(shift(e, total))
      merge(byNs, r.byNs, total)
      merge(byId, r.byId, total)
      for (const e of r.cidr4) cidr4.push(shiftC(e, total))
      for (const e of r.cidr6) cidr6.push(shiftC(e, total))
      total += cp[dir]!.atoms
    })
    if (total >= ATOM_SPACE) throw new Error(`table ${signature.slice(0, 80)}: ${total} rule atoms exceed ${ATOM_SPACE}`)
    const nameId = (n: string) => index.portNameId(n)
    const build = (l: PortEntry[]) => (l.length === 0 ? null : PortMatcher.build(l, nameId))
    const mapOf = (m: Map<number, PortEntry[]>) => {
      const out = new Map<number, PortMatcher>()
      for (const [k, l] of m) out.set(k, PortMatcher.build(l, nameId))
      return out
    }
    return new Table(
      id,
      dir,
      signature,
      policies.map((p) => p.cp),
      base,
      build(anyPeer),
      build(anyPod),
      mapOf(byNs),
      mapOf(byId),
      CidrTable4.build(cidr4, nameId),
      CidrTable6.build(cidr6, nameId),
    )
  }

  /** (policy, rule, peer, port) of an atom; peer/port null when the rule lists none. */
  decode(atom: number): { policy: CompiledPolicy; rule: number; peer: number | null; port: number | null } | null {
    let lo = 0
    let hi = this.policyBase.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.policyBase[mid]! <= atom) lo = mid
      else hi = mid - 1
    }
    const policy = this.policies[lo]
    const dir = policy?.[this.dir]
    if (!policy || !dir) return null
    const local = atom - this.policyBase[lo]!
    for (let r = 0; r < dir.rules.length; r++) {
      const rule = dir.rules[r]!
      if (local < rule.base || local >= rule.base + rule.atoms) continue
      const width = rule.ports?.length || 1
      const off = local - rule.base
      return { policy, rule: r, peer: rule.peers === null ? null : Math.floor(off / width), port: rule.ports === null ? null : off % width }
    }
    return null
  }
}
