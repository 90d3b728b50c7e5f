// Port matcher: per protocol, sorted disjoint port intervals, each carrying the lowest "atom" (a
// numbered (policy, rule, peer, port) combination of one table) that allows it. Lower atom =
// higher priority, so the deciding rule is the same whichever structure found it.
//
// The interval data (PortSet) holds atoms relative to a base. A matcher for one (rule, peer) —
// by far the common case, e.g. one ipBlock — is just (base, shared PortSet of the rule's ports):
// 100k CIDRs in thousands of tables share a handful of PortSets instead of owning typed arrays.
import type { CompiledPort } from './policy.js'

/** One (rule, peer) contribution: its first atom and the rule's ports (null = all ports). */
export interface PortEntry {
  readonly base: number
  readonly ports: readonly CompiledPort[] | null
}

const NONE = -1
const EMPTY = new Int32Array(0)

export class PortSet {
  private constructor(
    /** Atom allowing every port and protocol, or -1. */
    readonly all: number,
    /** (start, end, atom) triples, TCP first, then UDP, then SCTP. */
    private readonly data: Int32Array,
    private readonly o0: number,
    private readonly o1: number,
    private readonly o2: number,
    private readonly o3: number,
    /** (nameId * 4 + protocol) -> atom, for named ports; resolved against the destination pod. */
    private readonly named: Map<number, number> | null,
  ) {}

  static build(entries: readonly PortEntry[], nameId: (name: string) => number): PortSet {
    let all = NONE
    const ranges: { lo: number; hi: number; atom: number }[][] = [[], [], []]
    let named: Map<number, number> | null = null
    for (const e of entries) {
      if (e.ports === null) {
        if (all === NONE || e.base < all) all = e.base
        continue
      }
      for (let k = 0; k < e.ports.length; k++) {
        const p = e.ports[k]!
        const atom = e.base + k
        if (p.kind === 'range' && p.lo <= p.hi) ranges[p.proto]!.push({ lo: p.lo, hi: p.hi, atom })
        else if (p.kind === 'named') {
          named ??= new Map()
          const key = nameId(p.name) * 4 + p.proto
          const cur = named.get(key)
          if (cur === undefined || atom < cur) named.set(key, atom)
        }
      }
    }
    const triples: number[] = []
    const off = [0, 0, 0, 0]
    for (let proto = 0; proto < 3; proto++) {
      off[proto] = triples.length / 3
      // Anything a lower "all" atom already covers can never decide.
      disjoint(ranges[proto]!.filter((r) => all === NONE || r.atom < all), triples)
    }
    off[3] = triples.length / 3
    return new PortSet(all, triples.length === 0 ? EMPTY : Int32Array.from(triples), off[0]!, off[1]!, off[2]!, off[3]!, named)
  }

  /** Lowest atom allowing (protocol index, port) or the destination's named port, or -1. */
  lookup(proto: number, port: number, namedKey: number): number {
    let best = this.all
    if (proto < 0) return best
    const d = this.data
    const first = proto === 0 ? this.o0 : proto === 1 ? this.o1 : this.o2
    let lo = first
    let hi = (proto === 0 ? this.o1 : proto === 1 ? this.o2 : this.o3) - 1
    // Last interval starting at or before port.
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (d[mid * 3]! <= port) lo = mid + 1
      else hi = mid - 1
    }
    if (hi >= first && port <= d[hi * 3 + 1]!) {
      const a = d[hi * 3 + 2]!
      if (best === NONE || a < best) best = a
    }
    if (namedKey >= 0 && this.named !== null) {
      const a = this.named.get(namedKey)
      if (a !== undefined && (best === NONE || a < best)) best = a
    }
    return best
  }
}

/** Shared PortSets per rule `ports` array (relative atoms), per cluster index (name ids). */
export type PortSetCache = WeakMap<object, PortSet>
const ALL_PORTS_KEY = {}

export class PortMatcher {
  constructor(
    readonly base: number,
    readonly set: PortSet,
  ) {}

  static build(entries: readonly PortEntry[], nameId: (name: string) => number, cache?: PortSetCache): PortMatcher {
    if (entries.length === 1 && cache) {
      const e = entries[0]!
      const key = e.ports ?? ALL_PORTS_KEY
      let set = cache.get(key)
      if (!set) cache.set(key, (set = PortSet.build([{ base: 0, ports: e.ports }], nameId)))
      return new PortMatcher(e.base, set)
    }
    return new PortMatcher(0, PortSet.build(entries, nameId))
  }

  /** Lowest table atom allowing the flow, or -1. */
  lookup(proto: number, port: number, namedKey: number): number {
    const a = this.set.lookup(proto, port, namedKey)
    return a < 0 ? NONE : a + this.base
  }
}

/** Overlapping (lo, hi, atom) intervals -> sorted disjoint (start, end, atom) triples in `out`. */
function disjoint(rs: { lo: number; hi: number; atom: number }[], out: number[]): void {
  if (rs.length === 0) return
  const points = new Set<number>()
  for (const r of rs) {
    points.add(r.lo)
    points.add(r.hi + 1)
  }
  const pts = [...points].sort((a, b) => a - b)
  const first = out.length
  // Sweep elementary segments; the entry count per matcher is small (rules of one peer class).
  rs.sort((a, b) => a.atom - b.atom)
  for (let i = 0; i + 1 < pts.length; i++) {
    const lo = pts[i]!
    const hi = pts[i + 1]! - 1
    let atom = NONE
    for (const r of rs) {
      if (r.lo <= lo && hi <= r.hi) {
        atom = r.atom
        break
      }
    }
    if (atom === NONE) continue
    const n = out.length
    if (n > first && out[n - 1] === atom && out[n - 2] === lo - 1) out[n - 2] = hi
    else out.push(lo, hi, atom)
  }
}
