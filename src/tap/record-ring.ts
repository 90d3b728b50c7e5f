// The tap's packet-path half: a preallocated ring of fixed-size verdict records. Writing one is a
// few typed-array stores (no objects, no strings); reading happens later, off the packet path.
// When the ring is full the newest record is dropped and counted (drop-newest: one compare on the
// packet path, and the start of a burst — usually what explains it — survives).
import { newVerdictSlot, type VerdictSlot } from '../api/types.js'
import type { DecodedPacket } from '../dataplane/decode.js'

/**
 * 80 bytes per record, as 20 int32 words; even word pairs double as float64 for the time and the
 * table refs (table id × 2^24 + atom: past 2^31 once enough tables were built, so not int32).
 */
export const RECORD_WORDS = 20
export const RECORD_BYTES = RECORD_WORDS * 4
const W_TIME = 0 // f64, words 0-1
const W_SRC = 2 // 16 bytes (IPv4: the first 4)
const W_DST = 6 // 16 bytes
const W_PORTS = 10 // srcPort << 16 | dstPort
const W_FLAGS = 11 // proto | family(6) << 8 | allowed << 9 | fromCache << 10 | audit << 11 | egressCode << 12 | ingressCode << 16
const W_GEN = 12
const W_EXTRA = 13 // TCP flags, or ICMP type << 8 | code
const W_EREF = 14 // f64, words 14-15
const W_IREF = 16 // f64, words 16-17

/** One record, decoded off the packet path (reused by readers: copy what you keep). */
export interface RawRecord {
  time: number
  family: 4 | 6
  /** 4 or 16 bytes. */
  src: Uint8Array
  dst: Uint8Array
  srcPort: number
  dstPort: number
  proto: number
  tcpFlags: number
  icmpType: number
  icmpCode: number
  fromCache: boolean
  slot: VerdictSlot
}

export function newRawRecord(): RawRecord {
  return {
    time: 0, family: 4, src: new Uint8Array(16), dst: new Uint8Array(16), srcPort: 0, dstPort: 0, proto: 0,
    tcpFlags: 0, icmpType: 0, icmpCode: 0, fromCache: false,
    slot: newVerdictSlot(),
  }
}

export class RecordRing {
  readonly capacity: number
  private readonly words: Int32Array
  private readonly f64: Float64Array
  private readonly bytes: Uint8Array
  /** Monotonic counters: head - tail records are waiting. Doubles, so they never wrap in practice. */
  private head = 0
  private tail = 0
  /** Records refused because the ring was full. */
  dropped = 0
  /** Records written. */
  written = 0

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError(`RecordRing: capacity must be a positive integer, got ${capacity}`)
    this.capacity = capacity
    const buf = new ArrayBuffer(capacity * RECORD_WORDS * 4)
    this.words = new Int32Array(buf)
    this.f64 = new Float64Array(buf)
    this.bytes = new Uint8Array(buf)
  }

  get size(): number {
    return this.head - this.tail
  }

  /** The packet path: copies one verdict in, or counts a drop. Returns false when dropped. */
  write(time: number, pkt: DecodedPacket, data: Uint8Array, slot: VerdictSlot, fromCache: boolean): boolean {
    if (this.head - this.tail >= this.capacity) {
      this.dropped++
      return false
    }
    const i = this.head % this.capacity
    this.head++
    this.written++
    const w = this.words
    const base = i * RECORD_WORDS
    this.f64[(base + W_TIME) >> 1] = time
    if (pkt.family === 4) {
      w[base + W_SRC] = pkt.src4
      w[base + W_DST] = pkt.dst4
    } else {
      const b = this.bytes
      const s = (base + W_SRC) << 2
      const d = (base + W_DST) << 2
      const so = pkt.srcOff
      const doff = pkt.dstOff
      for (let k = 0; k < 16; k++) {
        b[s + k] = data[so + k]!
        b[d + k] = data[doff + k]!
      }
    }
    w[base + W_PORTS] = (pkt.srcPort << 16) | pkt.dstPort
    w[base + W_FLAGS] = pkt.proto | (pkt.family === 6 ? 0x100 : 0) | (slot.allowed ? 0x200 : 0) | (fromCache ? 0x400 : 0) | (slot.audit ? 0x800 : 0) |
      ((slot.egressCode & 0xf) << 12) | ((slot.ingressCode & 0xf) << 16)
    this.f64[(base + W_EREF) >> 1] = slot.egressRef
    this.f64[(base + W_IREF) >> 1] = slot.ingressRef
    w[base + W_GEN] = slot.generation
    w[base + W_EXTRA] = pkt.proto === 6 ? pkt.tcpFlags : (pkt.icmpType << 8) | pkt.icmpCode
    return true
  }

  /** Off the packet path: moves the oldest record into `out`. False when empty. */
  read(out: RawRecord): boolean {
    if (this.head === this.tail) return false
    const i = this.tail % this.capacity
    this.tail++
    const w = this.words
    const base = i * RECORD_WORDS
    out.time = this.f64[(base + W_TIME) >> 1]!
    const flags = w[base + W_FLAGS]!
    out.family = flags & 0x100 ? 6 : 4
    if (out.family === 4) {
      const s = w[base + W_SRC]!
      const d = w[base + W_DST]!
      out.src[0] = s >>> 24; out.src[1] = (s >>> 16) & 255; out.src[2] = (s >>> 8) & 255; out.src[3] = s & 255
      out.dst[0] = d >>> 24; out.dst[1] = (d >>> 16) & 255; out.dst[2] = (d >>> 8) & 255; out.dst[3] = d & 255
    } else {
      out.src.set(this.bytes.subarray((base + W_SRC) << 2, ((base + W_SRC) << 2) + 16))
      out.dst.set(this.bytes.subarray((base + W_DST) << 2, ((base + W_DST) << 2) + 16))
    }
    const ports = w[base + W_PORTS]!
    out.srcPort = ports >>> 16
    out.dstPort = ports & 0xffff
    out.proto = flags & 0xff
    out.fromCache = (flags & 0x400) !== 0
    const extra = w[base + W_EXTRA]!
    out.tcpFlags = out.proto === 6 ? extra : 0
    out.icmpType = out.proto === 1 || out.proto === 58 ? extra >>> 8 : 0
    out.icmpCode = out.proto === 1 || out.proto === 58 ? extra & 255 : 0
    const slot = out.slot
    slot.allowed = (flags & 0x200) !== 0
    slot.audit = (flags & 0x800) !== 0
    slot.egressCode = (flags >>> 12) & 0xf
    slot.ingressCode = (flags >>> 16) & 0xf
    slot.egressRef = this.f64[(base + W_EREF) >> 1]!
    slot.ingressRef = this.f64[(base + W_IREF) >> 1]!
    slot.generation = w[base + W_GEN]!
    return true
  }

  /** Forgets every waiting record (nobody is listening any more). */
  clear(): void {
    this.tail = this.head
  }
}
