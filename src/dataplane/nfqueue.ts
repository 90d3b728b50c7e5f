// PacketQueue over the native addon: the addon fills one packet-bytes Buffer and one metadata
// Uint32Array per wake-up and calls back once; the handler reads views over them and writes
// verdicts into a preallocated Uint32Array; one native call then sends them all. Nothing is
// allocated per packet or per batch.
//
// Worker-safe: no module-level state. Each worker thread loads its own binding (loadBinding caches
// per thread) and binds its own queue number; iptables `--queue-balance a:b` spreads flows over them.
import {
  META,
  META_FIELDS,
  NO_MARK,
  STAT,
  STAT_FIELDS,
  VERDICT_FIELDS,
  type NativeBinding,
  type NativeQueue,
} from '../native/binding.js'
import {
  NF_ACCEPT,
  NF_DROP,
  NF_REPEAT,
  type BatchHandler,
  type PacketBatch,
  type PacketQueue,
  type QueueOptions,
  type QueueStats,
  type VerdictWriter,
} from './queue-types.js'

export interface NfQueueOptions extends QueueOptions {
  /** Netlink receive buffer (SO_RCVBUFFORCE), bytes. Default 8 MiB. */
  readonly rcvbuf?: number
  /**
   * Errors from the handler or from sending verdicts. The batch's verdicts are still sent (defaults
   * for packets the handler did not reach). Default: rethrow (an uncaught exception).
   */
  readonly onError?: (err: unknown) => void
}

export interface NfQueueStats extends QueueStats {
  /** sendmsg calls for verdicts (≈ batches: one per batch). */
  readonly verdictSends: number
  /** Batches sent as one NFQNL_MSG_VERDICT_BATCH. */
  readonly batchVerdicts: number
  /** Packets the addon verdicted itself with the default (batch full, during bind, no verdicts sent). */
  readonly overflow: number
  readonly netlinkErrors: number
  readonly lastNetlinkErrno: number
  readonly truncated: number
  readonly handlerErrors: number
}

export const QUEUE_DEFAULTS = { copyRange: 128, maxLen: 4096, failOpen: false, gso: true, batchSize: 256, rcvbuf: 8 << 20 } as const

/** Views over the addon's buffers for one batch (the object is reused for every batch). */
class BatchView implements PacketBatch {
  count = 0
  constructor(
    readonly data: Buffer,
    readonly meta: Uint32Array,
  ) {}
  packetOffset(i: number): number { return this.meta[i * META_FIELDS + META.OFFSET]! }
  capturedLength(i: number): number { return this.meta[i * META_FIELDS + META.CAPLEN]! }
  packetLength(i: number): number { return this.meta[i * META_FIELDS + META.WIRELEN]! }
  packetId(i: number): number { return this.meta[i * META_FIELDS + META.ID]! }
  hwProtocol(i: number): number { return this.meta[i * META_FIELDS + META.HW_PROTOCOL]! }
  hook(i: number): number { return this.meta[i * META_FIELDS + META.HOOK]! }
  inIfindex(i: number): number { return this.meta[i * META_FIELDS + META.INDEV]! }
  outIfindex(i: number): number { return this.meta[i * META_FIELDS + META.OUTDEV]! }
  mark(i: number): number { return this.meta[i * META_FIELDS + META.MARK]! }
  /** Bridge ports (bridged pods); 0 when the packet was not bridged. */
  physInIfindex(i: number): number { return this.meta[i * META_FIELDS + META.PHYSINDEV]! }
  physOutIfindex(i: number): number { return this.meta[i * META_FIELDS + META.PHYSOUTDEV]! }
}

/** [id, verdict, mark] per packet, prefilled with the default so nothing is ever left unset. */
class VerdictArray implements VerdictWriter {
  count = 0
  readonly words: Uint32Array
  constructor(capacity: number) {
    this.words = new Uint32Array(capacity * VERDICT_FIELDS)
  }
  set(i: number, verdict: number, mark?: number): void {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`verdict index ${i} outside the batch (0..${this.count - 1})`)
    if (verdict !== NF_ACCEPT && verdict !== NF_DROP && verdict !== NF_REPEAT) throw new RangeError(`bad verdict ${verdict}`)
    const w = i * VERDICT_FIELDS
    this.words[w + 1] = verdict
    this.words[w + 2] = mark === undefined || mark < 0 ? NO_MARK : mark >>> 0
  }
}

function positiveInt(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`NfQueue: ${name} must be an integer 1..${max}, got ${v}`)
  return v
}

export class NfQueue implements PacketQueue {
  private readonly options: Required<Omit<NfQueueOptions, 'onError'>>
  private readonly onError: ((err: unknown) => void) | undefined
  private readonly defaultVerdict: number
  private readonly batch: BatchView
  private readonly verdicts: VerdictArray
  private readonly statsOut = new Float64Array(STAT_FIELDS)
  private native: NativeQueue | undefined
  private handler: BatchHandler | undefined
  private closed = false
  private handlerErrors = 0

  constructor(
    private readonly binding: NativeBinding,
    options: NfQueueOptions,
  ) {
    const d = QUEUE_DEFAULTS
    // `??`, not spread: an option passed as undefined means "default" too.
    const o = {
      queue: options.queue,
      copyRange: options.copyRange ?? d.copyRange,
      maxLen: options.maxLen ?? d.maxLen,
      failOpen: options.failOpen ?? d.failOpen,
      gso: options.gso ?? d.gso,
      batchSize: options.batchSize ?? d.batchSize,
      rcvbuf: options.rcvbuf ?? d.rcvbuf,
    }
    if (!Number.isInteger(o.queue) || o.queue < 0 || o.queue > 65535) throw new RangeError(`NfQueue: queue must be 0..65535, got ${o.queue}`)
    positiveInt('copyRange', o.copyRange, 65535)
    positiveInt('maxLen', o.maxLen, 0xffffffff)
    positiveInt('batchSize', o.batchSize, 65536)
    positiveInt('rcvbuf', o.rcvbuf, 0x7fffffff)
    this.options = o
    this.onError = options.onError
    this.defaultVerdict = o.failOpen ? NF_ACCEPT : NF_DROP
    // Packets start 8-byte aligned in `data` (see native/src/nfq.c).
    this.batch = new BatchView(Buffer.alloc(o.batchSize * ((o.copyRange + 7) & ~7)), new Uint32Array(o.batchSize * META_FIELDS))
    this.verdicts = new VerdictArray(o.batchSize)
  }

  /** Binds the queue (throws NativeError, e.g. EPERM or EBUSY) and starts delivering batches. */
  start(handler: BatchHandler): void {
    if (this.closed) throw new Error('NfQueue: closed')
    if (this.native) throw new Error('NfQueue: already started')
    this.handler = handler
    const o = this.options
    const batch = this.batch
    this.native = this.binding.openQueue(
      { queue: o.queue, copyRange: o.copyRange, maxLen: o.maxLen, failOpen: o.failOpen, gso: o.gso, rcvbuf: o.rcvbuf, defaultVerdict: this.defaultVerdict },
      batch.data,
      batch.meta,
      this.onBatch,
    )
  }

  private readonly onBatch = (count: number): void => {
    const batch = this.batch
    const verdicts = this.verdicts
    const words = verdicts.words
    const meta = batch.meta
    const def = this.defaultVerdict
    batch.count = count
    verdicts.count = count
    for (let i = 0, w = 0, m = 0; i < count; i++, w += VERDICT_FIELDS, m += META_FIELDS) {
      words[w] = meta[m + META.ID]!
      words[w + 1] = def
      words[w + 2] = NO_MARK
    }
    let failure: unknown
    let failed = false
    try {
      this.handler!(batch, verdicts)
    } catch (err) {
      this.handlerErrors++
      failure = err
      failed = true
    }
    // The handler may have closed us; the kernel then drops what is still queued (unbind).
    if (this.native && !this.closed) {
      try {
        this.native.verdicts(words, count)
      } catch (err) {
        if (!failed) failure = err
        failed = true
      }
    }
    batch.count = 0
    verdicts.count = 0
    if (failed) {
      if (this.onError) this.onError(failure)
      else throw failure
    }
  }

  stats(): NfQueueStats {
    const s = this.statsOut
    if (!this.closed) this.native?.stats(s)  // after close: the last figures, taken at close
    return {
      batches: s[STAT.BATCHES]!,
      packets: s[STAT.PACKETS]!,
      verdicts: s[STAT.VERDICTS]!,
      enobufs: s[STAT.ENOBUFS]!,
      verdictSends: s[STAT.VERDICT_SENDS]!,
      batchVerdicts: s[STAT.BATCH_VERDICTS]!,
      overflow: s[STAT.OVERFLOW]!,
      netlinkErrors: s[STAT.NETLINK_ERRORS]!,
      lastNetlinkErrno: s[STAT.LAST_NETLINK_ERRNO]!,
      truncated: s[STAT.TRUNCATED]!,
      handlerErrors: this.handlerErrors,
    }
  }

  /** Unbinds and closes the socket (idempotent; safe inside the handler). Stats stay readable. */
  close(): void {
    if (this.closed) return
    this.closed = true
    const native = this.native
    if (native) {
      native.stats(this.statsOut)
      native.close()
    }
  }
}
