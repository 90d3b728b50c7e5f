// ipBlock lookup per address family: the leaves of a CIDR radix tree with every `except` carved
// out, flattened into sorted disjoint address intervals. Each interval carries the port matcher
// for exactly the ipBlock peers whose cidr contains it and none of whose excepts does — the
// value a radix walk would find at the deepest prefix. A flat array instead of trie nodes: 100k
// CIDRs cost two typed arrays instead of millions of node objects, and a lookup is a binary
// search (≤ 18 steps) over contiguous memory. IPv4 boundaries are uint32 numbers; IPv6 ones are
// 4 × uint32 words compared word by word (no BigInt on the packet path).
import type { ParsedCIDR } from './ip.js'
import { bigIntToWords } from './ip.js'
import type { CompiledPort } from './policy.js'
import { PortMatcher, type PortSetCache } from './port-matcher.js'

export interface CidrEntry {
  readonly base: number
  readonly ports: readonly CompiledPort[] | null
  readonly cidr: ParsedCIDR
  readonly except: readonly ParsedCIDR[]
}

interface Segments<K> {
  starts: K[]
  matchers: (PortMatcher | null)[]
}

/** Address arithmetic per family: plain numbers for IPv4 (exact below 2^53), BigInt for IPv6. */
interface Ops<K> {
  zero: K
  of(b: bigint): K
  succ(k: K): K
  pred(k: K): K
  cmp(a: K, b: K): number
}
const V4: Ops<number> = { zero: 0, of: Number, succ: (k) => k + 1, pred: (k) => k - 1, cmp: (a, b) => a - b }
const V6: Ops<bigint> = { zero: 0n, of: (b) => b, succ: (k) => k + 1n, pred: (k) => k - 1n, cmp: (a, b) => (a < b ? -1 : a > b ? 1 : 0) }

/** Intervals covering the whole family's address space (gaps carry null). */
function buildSegments<K>(ops: Ops<K>, entries: readonly CidrEntry[], nameId: (n: string) => number, portSets: PortSetCache): Segments<K> {
  // Events: entry idx enters (>= 0) or leaves (~idx) at a point. Positive pieces of an entry are
  // [first, last] minus its merged excepts. Flat arrays: this runs for thousands of tables.
  const evPt: K[] = []
  const evId: number[] = []
  for (let idx = 0; idx < entries.length; idx++) {
    const en = entries[idx]!
    const first = ops.of(en.cidr.first)
    const last = ops.of(en.cidr.last)
    let cur = first
    if (en.except.length > 0) {
      const ex: [K, K][] = []
      for (const x of en.except) {
        if (x.family !== en.cidr.family || x.last < en.cidr.first || x.first > en.cidr.last) continue
        const lo = ops.of(x.first)
        const hi = ops.of(x.last)
        ex.push([ops.cmp(lo, first) < 0 ? first : lo, ops.cmp(hi, last) > 0 ? last : hi])
      }
      ex.sort((a, b) => ops.cmp(a[0], b[0]))
      for (const [lo, hi] of ex) {
        if (ops.cmp(lo, cur) > 0) {
          evPt.push(cur, lo)
          evId.push(idx, ~idx)
        }
        const next = ops.succ(hi)
        if (ops.cmp(next, cur) > 0) cur = next
      }
    }
    if (ops.cmp(cur, last) <= 0) {
      evPt.push(cur, ops.succ(last))
      evId.push(idx, ~idx)
    }
  }
  const order = Array.from(evPt.keys()).sort((a, b) => ops.cmp(evPt[a]!, evPt[b]!))
  const active = new Set<number>()
  const single: (PortMatcher | undefined)[] = new Array<PortMatcher | undefined>(entries.length)
  const multi = new Map<string, PortMatcher>()
  const starts: K[] = [ops.zero]
  const matchers: (PortMatcher | null)[] = [null]
  for (let i = 0; i < order.length; ) {
    const p = evPt[order[i]!]!
    // Apply every event at this point, then emit the segment that starts here.
    for (; i < order.length && ops.cmp(evPt[order[i]!]!, p) === 0; i++) {
      const id = evId[order[i]!]!
      if (id >= 0) active.add(id)
      else active.delete(~id)
    }
    let m: PortMatcher | null = null
    if (active.size === 1) {
      const id = active.values().next().value as number
      m = single[id] ??= PortMatcher.build([entries[id]!], nameId, portSets)
    } else if (active.size > 1) {
      const ids = [...active].sort((a, b) => a - b)
      const key = ids.join(',')
      m = multi.get(key) ?? null
      if (!m) multi.set(key, (m = PortMatcher.build(ids.map((x) => entries[x]!), nameId, portSets)))
    }
    if (matchers[matchers.length - 1] === m) continue
    if (ops.cmp(starts[starts.length - 1]!, p) === 0) {
      matchers[matchers.length - 1] = m
      if (matchers.length > 1 && matchers[matchers.length - 2] === m) {
        starts.pop()
        matchers.pop()
      }
    } else {
      starts.push(p)
      matchers.push(m)
    }
  }
  return { starts, matchers }
}

export class CidrTable4 {
  private constructor(
    private readonly starts: Float64Array,
    private readonly matchers: readonly (PortMatcher | null)[],
  ) {}

  static build(entries: readonly CidrEntry[], nameId: (n: string) => number, cache: PortSetCache): CidrTable4 | null {
    if (entries.length === 0) return null
    const seg = buildSegments(V4, entries, nameId, cache)
    // Boundary 2^32 (end of space) may appear; it is never <= an address, harmless.
    return new CidrTable4(Float64Array.from(seg.starts), seg.matchers)
  }

  /** Port matcher for an IPv4 address (uint32), or null if no ipBlock contains it. */
  find(addr: number): PortMatcher | null {
    const s = this.starts
    let lo = 0
    let hi = s.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (s[mid]! <= addr) lo = mid + 1
      else hi = mid - 1
    }
    return this.matchers[hi]!
  }

  get size(): number {
    return this.starts.length
  }
}

export class CidrTable6 {
  private constructor(
    /** 4 words per boundary. */
    private readonly words: Uint32Array,
    private readonly matchers: readonly (PortMatcher | null)[],
  ) {}

  static build(entries: readonly CidrEntry[], nameId: (n: string) => number, cache: PortSetCache): CidrTable6 | null {
    if (entries.length === 0) return null
    const seg = buildSegments(V6, entries, nameId, cache)
    const max = (1n << 128n) - 1n
    // Drop the end-of-space boundary (2^128 does not fit in 4 words); the previous segment
    // already runs to the end.
    if (seg.starts[seg.starts.length - 1]! > max) {
      seg.starts.pop()
      seg.matchers.pop()
    }
    const words = new Uint32Array(seg.starts.length * 4)
    seg.starts.forEach((v, i) => bigIntToWords(v, words, i * 4))
    return new CidrTable6(words, seg.matchers)
  }

  /** Port matcher for the 16-byte address at buf[off..off+16), or null. */
  find(buf: Uint8Array, off: number): PortMatcher | null {
    const a0 = ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0
    const a1 = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0
    const a2 = ((buf[off + 8]! << 24) | (buf[off + 9]! << 16) | (buf[off + 10]! << 8) | buf[off + 11]!) >>> 0
    const a3 = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0
    const w = this.words
    let lo = 0
    let hi = (w.length >> 2) - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const o = mid << 2
      // boundary <= address ?
      let le: boolean
      if (w[o] !== a0) le = w[o]! < a0
      else if (w[o + 1] !== a1) le = w[o + 1]! < a1
      else if (w[o + 2] !== a2) le = w[o + 2]! < a2
      else le = w[o + 3]! <= a3
      if (le) lo = mid + 1
      else hi = mid - 1
    }
    return this.matchers[hi]!
  }
}
