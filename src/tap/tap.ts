// The tap: a VerdictSink that copies each verdict into a preallocated ring on the packet path, and
// a drain that turns records into JSON lines for the file sink and live readers off it (one
// setImmediate per burst, a bounded number of records per turn so packets keep their turn).
// Installed in the classifier only while a file sink or a reader exists: otherwise the packet path
// sees `sink === undefined` and pays one comparison.
import type { VerdictSlot } from '../api/types.js'
import type { DecodedPacket } from '../dataplane/decode.js'
import type { VerdictSink } from '../dataplane/packet-classifier.js'
import type { FileSink, FileSinkStats } from './file-sink.js'
import { isEmptyFilter, matches, type TapFilter } from './filter.js'
import { LineEncoder } from './line-encoder.js'
import { newRawRecord, RecordRing } from './record-ring.js'
import { TapFormatter, type TapContext, type TapDropNotice, type TapRecord } from './tap-record.js'

/** Where the tap installs itself: the PacketClassifier. */
export interface SinkTarget {
  setSink(sink: VerdictSink | undefined): void
}

/** A live reader (the control socket's /tap, or a test). */
export interface TapReader {
  readonly filter: TapFilter
  /**
   * Queues one JSON line (UTF-8, newline included); false when the reader is too far behind (dropped).
   * The bytes are reused for the next record: copy them before returning.
   */
  send(line: Uint8Array): boolean
  /** End of a drain turn: write what send() queued (readers may batch). */
  flush?(): void
}

export interface TapOptions {
  /** Records the ring holds between drains (80 bytes each). */
  readonly ringSize?: number
  /** Most records formatted per drain turn before yielding to the event loop. */
  readonly maxPerTurn?: number
  /** Clock for record times (tests); default Date.now. */
  readonly now?: () => number
}

export interface TapStats {
  installed: boolean
  ring: { capacity: number; waiting: number; written: number; dropped: number }
  records: number
  readers: number
  readerDrops: number
  file?: FileSinkStats
}

interface ReaderState {
  dropped: number
  /** No filter: every record goes out, and no record object is needed to decide. */
  all: boolean
}

export const DEFAULT_RING_SIZE = 16384

export class Tap implements VerdictSink {
  readonly ring: RecordRing
  private readonly raw = newRawRecord()
  private readonly formatter: TapFormatter
  private readonly encoder: LineEncoder
  private readonly readers = new Map<TapReader, ReaderState>()
  private file: FileSink | undefined
  private installed = false
  private scheduled = false
  private stamp = 0
  private reportedRingDrops = 0
  private records = 0
  private readerDrops = 0
  private readonly maxPerTurn: number
  private readonly now: () => number

  constructor(
    private readonly target: SinkTarget,
    private readonly ctx: TapContext,
    options: TapOptions = {},
  ) {
    this.ring = new RecordRing(options.ringSize ?? DEFAULT_RING_SIZE)
    this.formatter = new TapFormatter(ctx)
    this.encoder = new LineEncoder(ctx)
    this.maxPerTurn = options.maxPerTurn ?? 2048
    this.now = options.now ?? Date.now
  }

  // ----------------------------------------------------------------------------- packet path

  record(packet: DecodedPacket, data: Uint8Array, slot: VerdictSlot, fromCache: boolean): void {
    // One clock read per burst, not per packet (~60 ns each): the records of a batch share the
    // time its first verdict was recorded, which is what millisecond precision can tell apart.
    if (!this.scheduled) {
      this.scheduled = true
      this.stamp = this.now()
      setImmediate(this.drainTurn)
    }
    this.ring.write(this.stamp, packet, data, slot, fromCache)
  }

  // ------------------------------------------------------------------------------ sinks

  setFile(file: FileSink | undefined): void {
    this.file = file
    this.update()
  }

  addReader(reader: TapReader): void {
    this.readers.set(reader, { dropped: 0, all: isEmptyFilter(reader.filter) })
    this.update()
  }

  removeReader(reader: TapReader): void {
    this.readers.delete(reader)
    this.update()
  }

  get isInstalled(): boolean {
    return this.installed
  }

  private update(): void {
    const wanted = this.file !== undefined || this.readers.size > 0
    if (wanted === this.installed) return
    this.installed = wanted
    this.target.setSink(wanted ? this : undefined)
    if (!wanted) {
      // Nobody left to read what is waiting.
      this.ring.clear()
      this.reportedRingDrops = this.ring.dropped
    }
  }

  // ------------------------------------------------------------------------------ drain

  private readonly drainTurn = (): void => {
    this.scheduled = false
    this.drain(this.maxPerTurn)
    if (this.ring.size > 0 && !this.scheduled) {
      this.scheduled = true
      setImmediate(this.drainTurn)
    }
  }

  /** Formats and hands out up to `max` waiting records (tests call it directly). */
  drain(max = Infinity): number {
    let n = 0
    const file = this.file
    while (n < max && this.ring.read(this.raw)) {
      n++
      // Bytes for the sinks straight from the raw record; a record object only for filters.
      let line: Buffer | undefined
      let rec: TapRecord | undefined
      if (file !== undefined) file.write((line = this.encoder.encode(this.raw)))
      for (const [reader, state] of this.readers) {
        if (!state.all && !matches(reader.filter, (rec ??= this.formatter.record(this.raw)))) continue
        line ??= this.encoder.encode(this.raw)
        this.deliver(reader, state, line)
      }
    }
    this.records += n
    const ringDrops = this.ring.dropped - this.reportedRingDrops
    if (ringDrops > 0) {
      this.reportedRingDrops = this.ring.dropped
      const line = Buffer.from(JSON.stringify(this.notice(ringDrops, 'ring')) + '\n')
      file?.write(line)
      for (const [reader, state] of this.readers) this.deliver(reader, state, line)
    }
    file?.flush()
    for (const reader of this.readers.keys()) reader.flush?.()
    return n
  }

  private deliver(reader: TapReader, state: ReaderState, line: Uint8Array): void {
    if (state.dropped > 0) {
      // Tell the reader what it missed as soon as it has room again.
      if (!reader.send(Buffer.from(JSON.stringify(this.notice(state.dropped, 'reader')) + '\n'))) {
        state.dropped++
        this.readerDrops++
        return
      }
      state.dropped = 0
    }
    if (!reader.send(line)) {
      state.dropped++
      this.readerDrops++
    }
  }

  private notice(count: number, where: TapDropNotice['where']): TapDropNotice {
    return { type: 'dropped', time: new Date(this.now()).toISOString(), ...(this.ctx.nodeName ? { node: this.ctx.nodeName } : {}), count, where }
  }

  stats(): TapStats {
    return {
      installed: this.installed,
      ring: { capacity: this.ring.capacity, waiting: this.ring.size, written: this.ring.written, dropped: this.ring.dropped },
      records: this.records,
      readers: this.readers.size,
      readerDrops: this.readerDrops,
      ...(this.file ? { file: this.file.stats() } : {}),
    }
  }

  /** Drains what is waiting, detaches and closes the file sink. */
  async close(): Promise<void> {
    this.drain()
    const file = this.file
    this.readers.clear()
    this.setFile(undefined)
    await file?.close()
  }
}
