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

/**
 * Identity-selecting peers with up to `expandLimit` members are expanded into the per-identity
 * map; larger ones are checked by membership. Mutable only so tests can force either path.
 */
export const tuning = { expandLimit: 64 }

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
    /** null when empty: the packet path skips what a table does not have without touching it. */
    readonly byNs: Map<number, PortMatcher> | null,
    readonly byId: Map<number, PortMatcher> | null,
    /**
     * Peers matching many identities (> tuning.expandLimit), in atom order, checked by set membership
     * instead of being expanded into byId: a "tier=frontend in all team=web namespaces" peer in
     * thousands of tables would otherwise cost millions of map entries. The loop is bounded by
     * the broad peers of the policies selecting this pod, never by the cluster's policy count.
     */
    readonly broadMembers: readonly Set<number>[] | null,
    readonly broadMatchers: readonly PortMatcher[] | null,
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
    if (this.byNs !== null) {
      const n = this.byNs.get(peer.nsId)
      if (n !== undefined) {
        a = n.lookup(proto, port, namedKey)
        if (a >= 0 && (best < 0 || a < best)) best = a
      }
    }
    const idn = peer.idn
    if (this.byId !== null) {
      const m = this.byId.get(idn)
      if (m !== undefined) {
        a = m.lookup(proto, port, namedKey)
        if (a >= 0 && (best < 0 || a < best)) best = a
      }
    }
    const bm = this.broadMembers
    if (bm === null) return best
    for (let i = 0; i < bm.length; i++) {
      if (!bm[i]!.has(idn)) continue
      a = this.broadMatchers![i]!.lookup(proto, port, namedKey)
      if (a < 0) continue
      // Broad peers are in atom order: the first that allows is the lowest of them.
      if (best < 0 || a < best) best = a
      break
    }
    return best
  }

  static build(id: number, dir: Dir, signature: string, policies: readonly { cp: CompiledPolicy; resolved: ResolvedDirection }[], index: ClusterIndex): Table {
    const base = new Int32Array(policies.length)
    let total = 0
    const anyPeer: PortEntry[] = []
    const anyPod: PortEntry[] = []
    const cidr4: CidrEntry[] = []
    const cidr6: CidrEntry[] = []
    // Peer groups of all policies (entries shifted to table atoms), and per key the groups it is in.
    const groups: PortEntry[] = []
    const nsGroups = new Map<number, number[]>()
    const idGroups = new Map<number, number[]>()
    const broad: PortEntry[] = []
    const broadMembers: Set<number>[] = []
    const addGroup = (dst: Map<number, number[]>, members: Set<number>, e: PortEntry, off: number) => {
      const g = groups.length
      groups.push({ base: e.base + off, ports: e.ports })
      for (const m of members) {
        const l = dst.get(m)
        if (l) l.push(g)
        else dst.set(m, [g])
      }
    }
    policies.forEach(({ cp, resolved: r }, i) => {
      base[i] = total
      for (const e of r.anyPeer) anyPeer.push({ base: e.base + total, ports: e.ports })
      for (const e of r.anyPod) anyPod.push({ base: e.base + total, ports: e.ports })
      for (const g of r.byNs) addGroup(nsGroups, g.members, g.entry, total)
      for (const g of r.byId) {
        if (!g.broad) addGroup(idGroups, g.members, g.entry, total)
        else {
          broad.push({ base: g.entry.base + total, ports: g.entry.ports })
          broadMembers.push(g.members)
        }
      }
      for (const e of r.cidr4) cidr4.push({ base: e.base + total, ports: e.ports, cidr: e.cidr, except: e.except })
      for (const e of r.cidr6) cidr6.push({ base: e.base + total, ports: e.ports, cidr: e.cidr, except: e.except })
      total += cp[dir]!.atoms
    })
    if (total >= ATOM_SPACE) throw new Error(`table ${signature.slice(0, 80)}: ${total} rule atoms exceed ${ATOM_SPACE}`)
    const nameId = (n: string) => index.portNameId(n)
    const build = (l: PortEntry[]) => (l.length === 0 ? null : PortMatcher.build(l, nameId, index.portSets))
    // Keys in the same groups share one matcher: a peer selecting 200 identities costs 200 map
    // entries pointing at one object, not 200 matchers.
    const cache = new Map<string, PortMatcher>()
    const mapOf = (m: Map<number, number[]>) => {
      if (m.size === 0) return null
      const out = new Map<number, PortMatcher>()
      for (const [k, gs] of m) {
        const key = gs.length === 1 ? String(gs[0]) : gs.join(',')
        let pm = cache.get(key)
        if (!pm) cache.set(key, (pm = PortMatcher.build(gs.map((g) => groups[g]!), nameId, index.portSets)))
        out.set(k, pm)
      }
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
      mapOf(nsGroups),
      mapOf(idGroups),
      broad.length === 0 ? null : broadMembers,
      broad.length === 0 ? null : broad.map((e) => PortMatcher.build([e], nameId, index.portSets)),
      CidrTable4.build(cidr4, nameId, index.portSets),
      CidrTable6.build(cidr6, nameId, index.portSets),
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
