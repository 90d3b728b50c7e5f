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

interface Segments {
  starts: bigint[]
  matchers: (PortMatcher | null)[]
}

/** Intervals covering the whole family's address space (gaps carry null). */
function buildSegments(entries: readonly CidrEntry[], nameId: (n: string) => number, portSets: PortSetCache): Segments {
  // Positive pieces of each entry: [first, last] minus its (merged) excepts.
  const events = new Map<bigint, { add: number[]; del: number[] }>()
  const at = (p: bigint) => {
    let e = events.get(p)
    if (!e) events.set(p, (e = { add: [], del: [] }))
    return e
  }
  entries.forEach((en, idx) => {
    const ex = en.except
      .filter((x) => x.family === en.cidr.family && x.last >= en.cidr.first && x.first <= en.cidr.last)
      .map((x) => [x.first < en.cidr.first ? en.cidr.first : x.first, x.last > en.cidr.last ? en.cidr.last : x.last] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    let cur = en.cidr.first
    const piece = (lo: bigint, hi: bigint) => {
      if (lo > hi) return
      at(lo).add.push(idx)
      at(hi + 1n).del.push(idx)
    }
    for (const [lo, hi] of ex) {
      if (lo > cur) piece(cur, lo - 1n)
      if (hi + 1n > cur) cur = hi + 1n
    }
    piece(cur, en.cidr.last)
  })
  const points = [...events.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const active = new Map<number, number>() // entry -> number of open pieces (always 0/1)
  const cache = new Map<string, PortMatcher>()
  const starts: bigint[] = [0n]
  const matchers: (PortMatcher | null)[] = [null]
  for (const p of points) {
    const ev = events.get(p)!
    for (const i of ev.del) active.delete(i)
    for (const i of ev.add) active.set(i, 1)
    let m: PortMatcher | null = null
    if (active.size > 0) {
      const ids = [...active.keys()].sort((a, b) => a - b)
      const key = ids.join(',')
      m = cache.get(key) ?? null
      if (!m) {
        m = PortMatcher.build(ids.map((i) => entries[i]!), nameId, portSets)
        cache.set(key, m)
      }
    }
    if (matchers[matchers.length - 1] === m) continue
    if (starts[starts.length - 1] === p) {
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
    const seg = buildSegments(entries, nameId, cache)
    // Boundary 2^32 (end of space) may appear; it is never <= an address, harmless.
    return new CidrTable4(Float64Array.from(seg.starts, Number), seg.matchers)
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
    const seg = buildSegments(entries, nameId, cache)
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
