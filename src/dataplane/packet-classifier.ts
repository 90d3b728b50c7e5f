// The packet path: one queued batch → decode → verdict cache → engine → one verdict per packet.
// Everything here runs per packet, so it allocates nothing on the common path (the cache key string
// aside), reuses one decode record and one verdict slot, and reads the engine's published tables
// without locks. Fail-open/fail-closed decides what an undecodable packet gets.
import { IPPROTO, newVerdictSlot, type PolicyEvaluator, type VerdictSlot } from '../api/types.js'
import { decodePacket, newDecodedPacket, type DecodedPacket } from './decode.js'
import { LatencyHistogram } from './latency-histogram.js'
import { NF_ACCEPT, NF_DROP, type PacketBatch, type VerdictWriter } from './queue-types.js'
import { VerdictCache } from './verdict-cache.js'

/** Receives every verdict (the tap log). Must copy what it keeps: the buffers are reused. */
export interface VerdictSink {
  record(packet: DecodedPacket, data: Uint8Array, slot: VerdictSlot, fromCache: boolean): void
}

export interface ClassifierOptions {
  /** Undecodable packets (and any internal error) are accepted when true, dropped when false. */
  readonly failOpen: boolean
  /** 0 disables the verdict cache. */
  readonly cacheSize: number
  readonly sink?: VerdictSink
  /**
   * Packet-mark bit set on accepted packets (0: off). The rules copy it to the connection's mark,
   * so later packets that conntrack still calls NEW (one-way UDP, SYN retransmits) are not queued
   * again. OR-ed into the existing mark: other components' mark bits survive.
   */
  readonly decidedMark?: number
}

export interface ClassifierCounters {
  packets: number
  allowed: number
  denied: number
  decodeErrors: number
  internalErrors: number
  batches: number
}

export class PacketClassifier {
  readonly counters: ClassifierCounters = { packets: 0, allowed: 0, denied: 0, decodeErrors: 0, internalErrors: 0, batches: 0 }
  /** Time from the start of a batch's handling to its verdicts being ready, per packet. */
  readonly latency = new LatencyHistogram()
  readonly cache: VerdictCache | undefined
  private readonly packet = newDecodedPacket()
  private readonly slot = newVerdictSlot()
  private readonly failVerdict: number
  private readonly decidedMark: number
  private sink: VerdictSink | undefined

  constructor(
    private engine: PolicyEvaluator,
    private readonly options: ClassifierOptions,
  ) {
    this.cache = options.cacheSize > 0 ? new VerdictCache(options.cacheSize) : undefined
    this.failVerdict = options.failOpen ? NF_ACCEPT : NF_DROP
    this.decidedMark = options.decidedMark ?? 0
    this.sink = options.sink
  }

  /** Swap the evaluator (deny-until-synced → the engine). Cached verdicts of others' generations miss. */
  setEvaluator(engine: PolicyEvaluator): void {
    this.engine = engine
    // An evaluator without audit mode never writes slot.audit: a flag left from the last one must not stick.
    this.slot.audit = false
  }

  /** Swap the sink at run time (a tap reader connects or leaves); undefined costs nothing per packet. */
  setSink(sink: VerdictSink | undefined): void {
    this.sink = sink
  }

  /** Bound handler, handed to PacketQueue.start(). */
  readonly handleBatch = (batch: PacketBatch, verdicts: VerdictWriter): void => {
    const started = performance.now()
    const n = batch.count
    for (let i = 0; i < n; i++) {
      let verdict: number
      try {
        verdict = this.decide(batch, i)
      } catch {
        // A bug here must not leave the packet without a verdict or take the loop down.
        this.counters.internalErrors++
        verdict = this.failVerdict
      }
      if (verdict === NF_ACCEPT && this.decidedMark !== 0) verdicts.set(i, verdict, (batch.mark(i) | this.decidedMark) >>> 0)
      else verdicts.set(i, verdict)
    }
    this.counters.packets += n
    this.counters.batches++
    if (n > 0) this.latency.record((performance.now() - started) * 1000, n)
  }

  private decide(batch: PacketBatch, i: number): number {
    const data = batch.data
    const pkt = this.packet
    if (decodePacket(data, batch.packetOffset(i), batch.capturedLength(i), pkt) !== 0) {
      this.counters.decodeErrors++
      return this.failVerdict
    }
    const slot = this.slot
    const engine = this.engine
    const generation = engine.generation
    // Only TCP, UDP and SCTP have ports; any other protocol is decided with port 0, which only
    // rules without `ports` (all traffic) can match.
    const proto = pkt.proto
    const port = proto === IPPROTO.TCP || proto === IPPROTO.UDP || proto === IPPROTO.SCTP ? pkt.dstPort : 0
    const cache = this.cache
    let fromCache = false
    if (cache === undefined) {
      this.classify(pkt, data, proto, port, slot)
    } else if (pkt.family === 4) {
      const group = VerdictCache.groupV4(pkt.dst4, proto, port)
      if (cache.getV4(pkt.src4, group, generation, slot)) fromCache = true
      else {
        this.engine.classifyV4(pkt.src4, pkt.dst4, proto, port, slot)
        cache.setV4(pkt.src4, group, slot)
      }
    } else {
      const key = VerdictCache.keyV6(data, pkt.srcOff, pkt.dstOff, proto, port)
      if (cache.getV6(key, generation, slot)) fromCache = true
      else {
        this.engine.classifyV6(data, pkt.srcOff, pkt.dstOff, proto, port, slot)
        cache.setV6(key, slot)
      }
    }
    if (this.sink !== undefined) this.sink.record(pkt, data, slot, fromCache)
    if (slot.allowed) {
      this.counters.allowed++
      return NF_ACCEPT
    }
    this.counters.denied++
    return NF_DROP
  }

  private classify(pkt: DecodedPacket, data: Uint8Array, proto: number, port: number, slot: VerdictSlot): void {
    if (pkt.family === 4) this.engine.classifyV4(pkt.src4, pkt.dst4, proto, port, slot)
    else this.engine.classifyV6(data, pkt.srcOff, pkt.dstOff, proto, port, slot)
  }
}
