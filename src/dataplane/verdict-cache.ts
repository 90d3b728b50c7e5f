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

export class VerdictCache {
  private readonly lru: LRUCache<string, CachedVerdict>
  private hits = 0
  private misses = 0

  constructor(maxEntries: number) {
    this.lru = new LRUCache<string, CachedVerdict>({ max: Math.max(1, maxEntries) })
  }

  /** Key for an IPv4 flow. Numbers only: no parsing, one short string. */
  static keyV4(src: number, dst: number, proto: number, dstPort: number): string {
    return `${src}|${dst}|${proto * 65536 + dstPort}`
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
  get(key: string, generation: number, out: VerdictSlot): boolean {
    const entry = this.lru.get(key)
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

  set(key: string, slot: VerdictSlot): void {
    const entry = this.lru.get(key)
    if (entry !== undefined) {
      // Reuse the stale entry's object: a generation change then costs no allocation per key.
      entry.generation = slot.generation
      entry.allowed = slot.allowed
      entry.egressCode = slot.egressCode
      entry.ingressCode = slot.ingressCode
      entry.egressRef = slot.egressRef
      entry.ingressRef = slot.ingressRef
      entry.audit = slot.audit
      return
    }
    this.lru.set(key, {
      generation: slot.generation,
      allowed: slot.allowed,
      egressCode: slot.egressCode,
      ingressCode: slot.ingressCode,
      egressRef: slot.egressRef,
      ingressRef: slot.ingressRef,
      audit: slot.audit,
    })
  }

  stats(): VerdictCacheStats {
    const total = this.hits + this.misses
    return { hits: this.hits, misses: this.misses, size: this.lru.size, hitRatio: total === 0 ? 0 : this.hits / total }
  }

  clear(): void {
    this.lru.clear()
  }
}
