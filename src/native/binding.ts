// The typed boundary of the native addon (native/src/*.c). This file is the one declaration of
// what the C side exports; the loader (index.ts) checks the shape, and fakes in tests implement
// the same interfaces.

/** A raw IP socket (no IP_HDRINCL): payloads are the transport header and data. */
export interface RawSocket {
  /** Sends one datagram; the kernel builds the IP header. Throws NativeError (sendto). */
  send(dst: string, payload: Uint8Array): void
  /** Idempotent. */
  close(): void
}

export type RawPacketHandler = (src: string, payload: Buffer) => void

export interface NativeQueueOptions {
  readonly queue: number
  readonly copyRange: number
  readonly maxLen: number
  readonly failOpen: boolean
  readonly gso: boolean
  /** SO_RCVBUFFORCE bytes for the netlink socket. */
  readonly rcvbuf: number
  /** Verdict the addon itself gives packets it cannot hand to JS (overflow, during bind). */
  readonly defaultVerdict: number
}

/** Per-packet metadata in the `meta` Uint32Array: META_FIELDS words per packet, at these indices. */
export const META = {
  ID: 0,
  HW_PROTOCOL: 1,
  HOOK: 2,
  INDEV: 3,
  OUTDEV: 4,
  MARK: 5,
  CAPLEN: 6,
  WIRELEN: 7,
  OFFSET: 8,
  /** Bridge port the packet came in on / leaves by (bridged pods), 0 otherwise. */
  PHYSINDEV: 9,
  PHYSOUTDEV: 10,
} as const
export const META_FIELDS = 11

/** Counters the addon fills into a Float64Array of STAT_FIELDS. */
export const STAT = {
  BATCHES: 0,
  PACKETS: 1,
  /** Verdicts sent (packets), including NFQNL_MSG_VERDICT_BATCH coverage. */
  VERDICTS: 2,
  /** sendmsg calls made for verdicts. */
  VERDICT_SENDS: 3,
  /** NFQNL_MSG_VERDICT_BATCH messages used. */
  BATCH_VERDICTS: 4,
  /**
   * recv reported ENOBUFS: the socket overran. The kernel did not queue the packets it could not
   * deliver (dropped them, or accepted them with failOpen), so none are left waiting for a verdict.
   */
  ENOBUFS: 5,
  /**
   * Packets the addon gave the default verdict itself: batch buffer full, arrived during bind, or
   * their batch callback returned (or threw) without calling `verdicts`.
   */
  OVERFLOW: 6,
  /** Netlink error acks received (e.g. verdict for an unknown id). */
  NETLINK_ERRORS: 7,
  LAST_NETLINK_ERRNO: 8,
  /** Netlink datagrams cut short (receive slot too small): their packets got no verdict from JS. */
  TRUNCATED: 9,
} as const
export const STAT_FIELDS = 10

/** Verdict words in the array passed to `verdicts`: VERDICT_FIELDS per packet. */
export const VERDICT_FIELDS = 3
/** Mark word meaning "leave the mark alone". */
export const NO_MARK = 0xffffffff

export interface NativeQueue {
  /**
   * Sends `count` verdicts from `verdicts` ([id, verdict, mark | NO_MARK] per packet) in one
   * sendmsg (one NFQNL_MSG_VERDICT_BATCH when all are equal with consecutive ids).
   */
  verdicts(verdicts: Uint32Array, count: number): void
  /** Fills STAT_FIELDS counters into `out`. */
  stats(out: Float64Array): void
  /** Unbinds the queue and closes the socket. Idempotent. */
  close(): void
}

/**
 * `onBatch(count)` runs once per readable wake-up, after up to `meta.length / META_FIELDS` packets
 * were copied into `data` (at most copyRange bytes each) and described in `meta`.
 */
export type BatchCallback = (count: number) => void

export interface NativeBinding {
  openRawSocket(family: 4 | 6, protocol: number, onPacket: RawPacketHandler): RawSocket
  openQueue(options: NativeQueueOptions, data: Buffer, meta: Uint32Array, onBatch: BatchCallback): NativeQueue
}

/** What the compiled addon exports (NativeBinding plus the loader's setup call). */
export interface NativeAddon extends NativeBinding {
  setErrorClass(ctor: new (message: string, syscall: string, errno: number) => Error): void
}
