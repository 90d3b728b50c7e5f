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

/**
 * Conntrack entries cross the boundary as CT_RECORD_SIZE-byte records at these byte offsets
 * (native/src/ctnl.h). Numbers in host byte order, addresses in network order (4 or 16 bytes).
 */
export const CT = {
  FAMILY: 0, // u8: 4 | 6
  PROTO: 1, // u8
  /** u8: TCP/SCTP/DCCP state number (protoinfo), CT_NO_STATE when absent. */
  STATE: 2,
  ICMP_TYPE: 3, // u8
  ICMP_CODE: 4, // u8
  /** u8: CT_HAS bits. */
  HAS: 5,
  ZONE: 6, // u16
  /** u16: source port, or the ICMP id. */
  SPORT: 8,
  DPORT: 10, // u16
  MARK: 12, // u32
  /** u32: IPS_* status bits (IPS_SEEN_REPLY 2, IPS_ASSURED 4, ...). */
  STATUS: 16,
  TIMEOUT: 20, // u32 seconds
  ID: 24, // u32
  SRC: 32,
  DST: 48,
} as const
export const CT_RECORD_SIZE = 64
export const CT_NO_STATE = 0xff
export const CT_HAS = { PORTS: 1, ICMP: 2, ZONE: 4, MARK: 8, STATUS: 16 } as const

export interface ConntrackDeleteResult {
  /** Entries that existed and were deleted. */
  readonly deleted: number
  /** No such entry (ENOENT): already gone. */
  readonly missing: number
  /** Any other error ack. */
  readonly failed: number
  /** errno of the last failed deletion, 0 if none. */
  readonly lastErrno: number
}

/**
 * ctnetlink in the namespace of the calling process, one netlink socket per call, run on the libuv
 * pool (a large table must not stall the packet loop). Kernel errors reject with NativeError.
 */
export interface ConntrackBinding {
  /** IPCTNL_MSG_CT_GET dump (0: both families): one record per entry, original direction. */
  conntrackDump(family: 0 | 4 | 6): Promise<Buffer>
  /**
   * One IPCTNL_MSG_CT_DELETE per record (original tuple + zone), batched many per sendmsg, every
   * ack counted. Reads FAMILY, PROTO, HAS (PORTS | ICMP), ZONE, SPORT, DPORT, ICMP_*, SRC, DST.
   */
  conntrackDelete(records: Uint8Array, count: number): Promise<ConntrackDeleteResult>
}

/** What the compiled addon exports (NativeBinding plus the loader's setup call). */
export interface NativeAddon extends NativeBinding, ConntrackBinding {
  setErrorClass(ctor: new (message: string, syscall: string, errno: number) => Error): void
}
