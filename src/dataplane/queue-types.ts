// The packet loop's view of an NFQUEUE, independent of the native addon behind it, so the
// classifier loop can be driven in tests by a fake queue that hands it real packet bytes.

/** Verdict codes, the kernel's own numbers (linux/netfilter.h). */
export const NF_DROP = 0
export const NF_ACCEPT = 1
export const NF_REPEAT = 4

/**
 * One wake-up's worth of queued packets. Views into buffers owned by the queue and reused for the
 * next batch: read what you need inside the callback, keep nothing.
 */
export interface PacketBatch {
  readonly count: number
  /** Packet bytes of every packet in the batch (network header first). */
  readonly data: Buffer
  packetOffset(i: number): number
  /** Bytes of packet i present in `data` (at most the copy range). */
  capturedLength(i: number): number
  /** The packet's full length on the wire. */
  packetLength(i: number): number
  packetId(i: number): number
  /** Ethertype (0x0800 IPv4, 0x86dd IPv6). */
  hwProtocol(i: number): number
  /** Netfilter hook number (NF_INET_FORWARD = 2, ...). */
  hook(i: number): number
  inIfindex(i: number): number
  outIfindex(i: number): number
  mark(i: number): number
}

/** Verdicts for the batch being handled; sent to the kernel in one call after the callback returns. */
export interface VerdictWriter {
  /** verdict: NF_ACCEPT or NF_DROP. mark: when given (>= 0), set as the packet mark. */
  set(i: number, verdict: number, mark?: number): void
}

export type BatchHandler = (batch: PacketBatch, verdicts: VerdictWriter) => void

export interface QueueOptions {
  /** NFQUEUE number to bind. */
  readonly queue: number
  /** Bytes of each packet copied to userspace; headers only (default 128). */
  readonly copyRange?: number
  /** Kernel queue length before the kernel drops (or, with failOpen, accepts). */
  readonly maxLen?: number
  /** NFQA_CFG_F_FAIL_OPEN: the kernel accepts instead of dropping when the queue is full. */
  readonly failOpen?: boolean
  /** NFQA_CFG_F_GSO: take GSO packets unsegmented (we only read headers). */
  readonly gso?: boolean
  /** Most packets handed to JS per wake-up. */
  readonly batchSize?: number
}

export interface QueueStats {
  readonly batches: number
  readonly packets: number
  readonly verdicts: number
  /** recv() reported ENOBUFS: the socket overran and the kernel dropped messages. */
  readonly enobufs: number
}

/** A bound queue. */
export interface PacketQueue {
  start(handler: BatchHandler): void
  stats(): QueueStats
  close(): void
}
