// Verdict cache: repeated first packets of the same kind of connection (same peers, protocol and
// destination port — the source port never changes a NetworkPolicy verdict) skip classification.
// Entries are stamped with the engine generation they were computed under; an entry from an older
// generation is a miss and is overwritten, so a policy change never needs a cache sweep.
import { LRUCache } from 'lru-cache'
import type { VerdictSlot } from '../api/types.js'

interface CachedVerdict {
  generation: number
  allowed: boolean
  egressCode: number
  ingressCode: number
  egressRef: number
  ingressRef: number
  audit: boolean
}

export interface VerdictCacheStats {
  readonly hits: number
  readonly misses: number
  readonly size: number
  readonly hitRatio: number
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** TCP, UDP, SCTP, anything else: two bits, so an IPv4 group key stays an exact integer. */
function protoIndex(proto: number): number {
  return proto === 6 ? 0 : proto === 17 ? 1 : proto === 132 ? 2 : 3
}

export class VerdictCache {
  // IPv4 without strings: a group per (destination, protocol, port) — 50 bits, an exact double —
  // holding its sources in a Map keyed by the source address. Two number-keyed lookups per packet;
  // the LRU bound counts entries (a group's size is its number of sources).
  private readonly v4: LRUCache<number, Map<number, CachedVerdict>>
  private readonly v6: LRUCache<string, CachedVerdict>
  private hits = 0
  private misses = 0

  constructor(maxEntries: number) {
    const max = Math.max(1, maxEntries)
    this.v4 = new LRUCache<number, Map<number, CachedVerdict>>({ maxSize: max, sizeCalculation: (m) => Math.max(1, m.size) })
    this.v6 = new LRUCache<string, CachedVerdict>({ max })
  }

  static groupV4(dst: number, proto: number, dstPort: number): number {
    return (dst * 4 + protoIndex(proto)) * 65536 + dstPort
  }

  /** Key for an IPv6 flow, read straight from the packet bytes. */
  static keyV6(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, dstPort: number): string {
    let key = ''
    for (let i = 0; i < 16; i++) key += HEX[buf[srcOff + i]!]
    key += '|'
    for (let i = 0; i < 16; i++) key += HEX[buf[dstOff + i]!]
    return `${key}|${proto * 65536 + dstPort}`
  }

  /** Fills `out` and returns true on a hit for the given generation. */
  getV4(src: number, group: number, generation: number, out: VerdictSlot): boolean {
    return this.hit(this.v4.get(group)?.get(src), generation, out)
  }

  setV4(src: number, group: number, slot: VerdictSlot): void {
    let sources = this.v4.get(group)
    if (sources === undefined) sources = new Map()
    const entry = sources.get(src)
    if (entry !== undefined) return store(entry, slot)
    sources.set(src, fresh(slot))
    this.v4.set(group, sources) // re-set: the group's size (its LRU weight) grew
  }

  getV6(key: string, generation: number, out: VerdictSlot): boolean {
    return this.hit(this.v6.get(key), generation, out)
  }

  setV6(key: string, slot: VerdictSlot): void {
    const entry = this.v6.get(key)
    if (entry !== undefined) store(entry, slot)
    else this.v6.set(key, fresh(slot))
  }

  stats(): VerdictCacheStats {
    const total = this.hits + this.misses
    return { hits: this.hits, misses: this.misses, size: this.v4.calculatedSize + this.v6.size, hitRatio: total === 0 ? 0 : this.hits / total }
  }

  clear(): void {
    this.v4.clear()
    this.v6.clear()
  }

  private hit(entry: CachedVerdict | undefined, generation: number, out: VerdictSlot): boolean {
    if (entry === undefined || entry.generation !== generation) {
      this.misses++
      return false
    }
    this.hits++
    out.allowed = entry.allowed
    out.generation = entry.generation
    out.egressCode = entry.egressCode
    out.ingressCode = entry.ingressCode
    out.egressRef = entry.egressRef
    out.ingressRef = entry.ingressRef
    out.audit = entry.audit
    return true
  }
}

/** Overwrites a stale entry in place: a generation change costs no allocation per key. */
function store(entry: CachedVerdict, slot: VerdictSlot): void {
  entry.generation = slot.generation
  entry.allowed = slot.allowed
  entry.egressCode = slot.egressCode
  entry.ingressCode = slot.ingressCode
  entry.egressRef = slot.egressRef
  entry.ingressRef = slot.ingressRef
  entry.audit = slot.audit
}

function fresh(slot: VerdictSlot): CachedVerdict {
  return {
    generation: slot.generation,
    allowed: slot.allowed,
    egressCode: slot.egressCode,
    ingressCode: slot.ingressCode,
    egressRef: slot.egressRef,
    ingressRef: slot.ingressRef,
    audit: slot.audit,
  }
}
