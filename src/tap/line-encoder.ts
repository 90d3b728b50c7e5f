// Raw ring record → its JSON line as bytes, written straight into a reusable buffer: digits and
// IPv4 addresses are encoded in place, and every repeating piece (the time's second, the node, pod
// names, protocol names, each described side) is memoised as bytes. No per-record objects or
// strings on the common path — that garbage, not the packet path itself, was what slowed packets
// when a file sink or reader was attached. The bytes equal JSON.stringify of TapFormatter.record().
import { REASON_CODE, type SideVerdict, type VerdictSlot } from '../api/types.js'
import type { RawRecord } from './record-ring.js'
import { ipText, protocolName, sideKey, type TapContext } from './tap-record.js'

const NOT_SYNCED = REASON_CODE['not-synced']
const RULE = REASON_CODE.rule
const NO_RULE = REASON_CODE['no-rule-matched']
const NOT_SYNCED_JSON = Buffer.from(JSON.stringify({ allowed: false, reason: 'not-synced' }))
const NO_POD = Buffer.alloc(0)

const b = (s: string) => Buffer.from(s, 'latin1')
const HEAD = b('{"type":"verdict","time":"')
const SRC = b(',"src":{"ip":"')
const DST = b(',"dst":{"ip":"')
const PORT = b('","port":')
const POD = b(',"pod":')
const PROTOCOL = b(',"protocol":"')
const VERDICT_ALLOW = b('","verdict":"allow","directions":')
const VERDICT_DENY = b('","verdict":"deny","directions":')
const VERDICT_AUDIT = b('","verdict":"allow","audit":true,"directions":')
const DIRECTIONS = ['[]', '["egress"]', '["ingress"]', '["egress","ingress"]'].map(b)
const EGRESS = b(',"egress":')
const INGRESS = b(',"ingress":')
const CACHED = b(',"fromCache":true,"generation":')
const NOT_CACHED = b(',"fromCache":false,"generation":')
const STALE_END = b(',"stale":true}\n')

export class LineEncoder {
  /** Scratch for one line; a line is < 1 KiB unless pod or policy names are huge. */
  private buf = Buffer.allocUnsafe(4096)
  private readonly nodePart: Buffer
  /** Egress, ingress, then both again for audit slots (their refs are the auditing engine's). */
  private readonly sides = [new Map<number, Buffer>(), new Map<number, Buffer>(), new Map<number, Buffer>(), new Map<number, Buffer>()]
  private readonly stale = [new Map<number, boolean>(), new Map<number, boolean>(), new Map<number, boolean>(), new Map<number, boolean>()]
  private readonly pods4 = new Map<number, Buffer>()
  private readonly pods6 = new Map<string, Buffer>()
  private podsGeneration = -1
  private readonly protocols = new Map<number, Buffer>()
  private second = -1
  private readonly secondBytes = Buffer.alloc(20)

  constructor(private readonly ctx: TapContext) {
    this.nodePart = ctx.nodeName ? b(`,"node":${JSON.stringify(ctx.nodeName)}`) : Buffer.alloc(0)
  }

  /** Encodes `raw` as one JSON line (newline included); returns the bytes, valid until the next call. */
  encode(raw: RawRecord): Buffer {
    const slot = raw.slot
    // The sides first: a describe() on a miss must not land between two pieces of this line.
    let eJson: Buffer, iJson: Buffer
    let stale = false
    let dirs = 0
    if (slot.egressCode === NOT_SYNCED || slot.ingressCode === NOT_SYNCED) eJson = iJson = NOT_SYNCED_JSON
    else {
      const m = slot.audit ? 2 : 0
      eJson = this.side(m, slot.egressCode, slot.egressRef, slot)
      iJson = this.side(m + 1, slot.ingressCode, slot.ingressRef, slot)
      stale = this.stale[m]!.get(sideKey(slot.egressCode, slot.egressRef)) === true || this.stale[m + 1]!.get(sideKey(slot.ingressCode, slot.ingressRef)) === true
      if (slot.egressCode === RULE || slot.egressCode === NO_RULE) dirs |= 1
      if (slot.ingressCode === RULE || slot.ingressCode === NO_RULE) dirs |= 2
    }
    const gen = this.ctx.generation?.() ?? slot.generation
    if (gen !== this.podsGeneration || this.pods4.size + this.pods6.size > 100_000) {
      this.pods4.clear()
      this.pods6.clear()
      this.podsGeneration = gen
    }
    const srcPod = this.pod(raw.family, raw.src)
    const dstPod = this.pod(raw.family, raw.dst)
    const need = 400 + eJson.length + iJson.length + srcPod.length + dstPod.length + this.nodePart.length
    if (this.buf.length < need) this.buf = Buffer.allocUnsafe(need * 2)
    const buf = this.buf
    let o = HEAD.copy(buf, 0)
    o = this.time(buf, o, raw.time)
    o += this.nodePart.copy(buf, o)
    o += SRC.copy(buf, o)
    o = ip(buf, o, raw.family, raw.src)
    o += PORT.copy(buf, o)
    o = digits(buf, o, raw.srcPort)
    if (srcPod !== NO_POD) o += POD.copy(buf, o) + srcPod.copy(buf, o + POD.length)
    buf[o++] = 0x7d // }
    o += DST.copy(buf, o)
    o = ip(buf, o, raw.family, raw.dst)
    o += PORT.copy(buf, o)
    o = digits(buf, o, raw.dstPort)
    if (dstPod !== NO_POD) o += POD.copy(buf, o) + dstPod.copy(buf, o + POD.length)
    buf[o++] = 0x7d
    o += PROTOCOL.copy(buf, o)
    o += this.protocol(raw.proto).copy(buf, o)
    o += (!slot.allowed ? VERDICT_DENY : slot.audit ? VERDICT_AUDIT : VERDICT_ALLOW).copy(buf, o)
    o += DIRECTIONS[dirs]!.copy(buf, o)
    o += EGRESS.copy(buf, o)
    o += eJson.copy(buf, o)
    o += INGRESS.copy(buf, o)
    o += iJson.copy(buf, o)
    o += (raw.fromCache ? CACHED : NOT_CACHED).copy(buf, o)
    o = digits(buf, o, slot.generation)
    if (stale) o += STALE_END.copy(buf, o)
    else {
      buf[o++] = 0x7d
      buf[o++] = 0x0a
    }
    return buf.subarray(0, o)
  }

  /** which: 0 egress, 1 ingress; +2 for audit slots. */
  private side(which: number, code: number, ref: number, slot: VerdictSlot): Buffer {
    const k = sideKey(code, ref)
    const memo = this.sides[which]!
    let j = memo.get(k)
    if (j === undefined) {
      if (memo.size > 50_000) {
        memo.clear()
        this.stale[which]!.clear()
      }
      const v = this.ctx.describe(slot)
      const s: SideVerdict = (which & 1) === 0 ? v.egress : v.ingress
      memo.set(k, (j = Buffer.from(JSON.stringify(s))))
      // A rule/no-rule side always names its isolating policies unless its table is gone.
      this.stale[which]!.set(k, (s.reason === 'rule' || s.reason === 'no-rule-matched') && !(s.isolatedBy && s.isolatedBy.length > 0))
    }
    return j
  }

  private pod(family: 4 | 6, addr: Uint8Array): Buffer {
    if (family === 4) {
      const n = ((addr[0]! << 24) | (addr[1]! << 16) | (addr[2]! << 8) | addr[3]!) >>> 0
      let p = this.pods4.get(n)
      if (p === undefined) this.pods4.set(n, (p = podBytes(this.ctx.podName(ipText(4, addr)))))
      return p
    }
    const text = ipText(6, addr)
    let p = this.pods6.get(text)
    if (p === undefined) this.pods6.set(text, (p = podBytes(this.ctx.podName(text))))
    return p
  }

  private protocol(p: number): Buffer {
    let x = this.protocols.get(p)
    if (x === undefined) this.protocols.set(p, (x = b(protocolName(p))))
    return x
  }

  /** `2026-01-02T03:04:05.678Z"` */
  private time(buf: Buffer, o: number, ms: number): number {
    const sec = Math.floor(ms / 1000)
    if (sec !== this.second) {
      this.second = sec
      this.secondBytes.write(new Date(sec * 1000).toISOString().slice(0, 20), 'latin1')
    }
    o += this.secondBytes.copy(buf, o)
    const m = Math.floor(ms - sec * 1000)
    buf[o++] = 0x30 + ((m / 100) | 0)
    buf[o++] = 0x30 + (((m / 10) | 0) % 10)
    buf[o++] = 0x30 + (m % 10)
    buf[o++] = 0x5a // Z
    buf[o++] = 0x22 // "
    return o
  }
}

function podBytes(name: string | undefined): Buffer {
  return name === undefined ? NO_POD : Buffer.from(JSON.stringify(name))
}

function digits(buf: Buffer, o: number, n: number): number {
  if (n < 10) {
    buf[o] = 0x30 + n
    return o + 1
  }
  if (n >= 1e15) return o + buf.write(String(n), o, 'latin1')
  let len = 0
  for (let x = n; x > 0; x = Math.floor(x / 10)) len++
  for (let i = len - 1, x = n; i >= 0; i--, x = Math.floor(x / 10)) buf[o + i] = 0x30 + (x % 10)
  return o + len
}

function ip(buf: Buffer, o: number, family: 4 | 6, a: Uint8Array): number {
  if (family === 6) return o + buf.write(ipText(6, a), o, 'latin1')
  for (let i = 0; i < 4; i++) {
    if (i > 0) buf[o++] = 0x2e // .
    o = digits(buf, o, a[i]!)
  }
  return o
}
