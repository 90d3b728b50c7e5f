// Port matcher: per protocol, sorted disjoint port intervals, each carrying the lowest "atom" (a
// numbered (policy, rule, peer, port) combination of one table) that allows it. Lower atom =
// higher priority, so the deciding rule is the same whichever structure found it.
import type { CompiledPort } from './policy.js'

/** One (rule, peer) contribution: its first atom and the rule's ports (null = all ports). */
export interface PortEntry {
  readonly base: number
  readonly ports: readonly CompiledPort[] | null
}

const NONE = -1

export class PortMatcher {
  private constructor(
    /** Atom allowing every port and protocol, or -1. */
    readonly all: number,
    private readonly starts: readonly Int32Array[],
    private readonly ends: readonly Int32Array[],
    private readonly atoms: readonly Int32Array[],
    /** (nameId * 4 + protocol) -> atom, for named ports; resolved against the destination pod. */
    private readonly named: Map<number, number> | null,
  ) {}

  static build(entries: readonly PortEntry[], nameId: (name: string) => number): PortMatcher {
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
    const starts: Int32Array[] = []
    const ends: Int32Array[] = []
    const atoms: Int32Array[] = []
    for (let proto = 0; proto < 3; proto++) {
      // Anything a lower "all" atom already covers can never decide.
      const rs = ranges[proto]!.filter((r) => all === NONE || r.atom < all)
      const [s, e, a] = disjoint(rs)
      starts.push(s)
      ends.push(e)
      atoms.push(a)
    }
    return new PortMatcher(all, starts, ends, atoms, named)
  }

  /**
   * Lowest atom allowing (protocol index, port), or -1. `namedKey` is the destination pod's
   * name for that port as nameId*4+protocol (-1 if it has none).
   */
  lookup(proto: number, port: number, namedKey: number): number {
    let best = this.all
    if (proto < 0) return best
    const s = this.starts[proto]!
    let lo = 0
    let hi = s.length - 1
    // Last interval starting at or before port.
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (s[mid]! <= port) lo = mid + 1
      else hi = mid - 1
    }
    if (hi >= 0 && port <= this.ends[proto]![hi]!) {
      const a = this.atoms[proto]![hi]!
      if (best === NONE || a < best) best = a
    }
    if (namedKey >= 0 && this.named !== null) {
      const a = this.named.get(namedKey)
      if (a !== undefined && (best === NONE || a < best)) best = a
    }
    return best
  }
}

/** Overlapping (lo, hi, atom) intervals -> sorted disjoint intervals with the lowest atom each. */
function disjoint(rs: { lo: number; hi: number; atom: number }[]): [Int32Array, Int32Array, Int32Array] {
  if (rs.length === 0) return [EMPTY, EMPTY, EMPTY]
  const points = new Set<number>()
  for (const r of rs) {
    points.add(r.lo)
    points.add(r.hi + 1)
  }
  const pts = [...points].sort((a, b) => a - b)
  const outS: number[] = []
  const outE: number[] = []
  const outA: number[] = []
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
    const n = outS.length
    if (n > 0 && outA[n - 1] === atom && outE[n - 1] === lo - 1) outE[n - 1] = hi
    else {
      outS.push(lo)
      outE.push(hi)
      outA.push(atom)
    }
  }
  return [Int32Array.from(outS), Int32Array.from(outE), Int32Array.from(outA)]
}

const EMPTY = new Int32Array(0)
