// JSON-lines file sink with size-based rotation: FILE grows to maxBytes, then FILE → FILE.1 →
// FILE.2 … (keeping `keep` old files) and a fresh FILE starts. Writes are asynchronous (a
// WriteStream); when the disk falls behind by more than maxBufferedBytes, lines are dropped and
// counted rather than buffered without bound or written synchronously on the packet thread.
import { createWriteStream, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, type WriteStream } from 'node:fs'
import { dirname } from 'node:path'
import { ByteQueue } from './byte-queue.js'

export interface FileSinkOptions {
  readonly path: string
  /** Rotate when the file would pass this size. */
  readonly maxBytes: number
  /** Rotated files kept (FILE.1 … FILE.keep); 0 keeps none (FILE is truncated instead). */
  readonly keep: number
  readonly maxBufferedBytes?: number
}

export interface FileSinkStats {
  path: string
  bytes: number
  lines: number
  rotations: number
  dropped: number
}

export class FileSink {
  private stream: WriteStream
  private bytes: number
  private lines = 0
  private rotations = 0
  /** Lines dropped because the disk was behind. */
  dropped = 0
  private errored: Error | undefined
  private readonly maxBuffered: number
  /** Lines of the current drain turn, written as one chunk by flush(). */
  private readonly pending = new ByteQueue()

  constructor(private readonly options: FileSinkOptions, private readonly onError: (err: Error) => void = () => {}) {
    if (!(options.maxBytes > 0)) throw new TypeError('FileSink: maxBytes must be positive')
    mkdirSync(dirname(options.path), { recursive: true })
    this.bytes = existsSync(options.path) ? statSync(options.path).size : 0
    this.maxBuffered = options.maxBufferedBytes ?? 8 << 20
    this.stream = this.open()
  }

  private open(): WriteStream {
    // Opened synchronously (rare: start and rotation) so the descriptor is bound to this inode
    // before the next rotation renames it. Mode 0600: the log names pods and peers.
    const fd = openSync(this.options.path, 'a', 0o600)
    const s = createWriteStream('', { fd })
    s.on('error', (err) => {
      if (this.errored) return
      this.errored = err
      this.onError(err)
    })
    return s
  }

  /** Queues one line (bytes ending in a newline) for the next flush(). Returns false when dropped. */
  write(line: Uint8Array): boolean {
    if (this.errored) {
      this.dropped++
      return false
    }
    const n = line.length
    if (this.bytes > 0 && this.bytes + n > this.options.maxBytes) this.rotate()
    if (this.stream.writableLength + this.pending.length > this.maxBuffered) {
      this.dropped++
      return false
    }
    this.pending.push(line)
    this.bytes += n
    this.lines++
    return true
  }

  /** Hands the queued lines to the stream as one chunk (one per drain turn, not one per line). */
  flush(): void {
    if (this.pending.length === 0) return
    this.stream.write(this.pending.take())
  }

  private rotate(): void {
    const { path, keep } = this.options
    this.flush()
    // Writes still queued on the old stream land in the renamed file: its descriptor follows it.
    this.stream.end()
    if (keep === 0) rmSync(path, { force: true })
    else {
      rmSync(`${path}.${keep}`, { force: true })
      for (let i = keep - 1; i >= 1; i--) if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`)
      if (existsSync(path)) renameSync(path, `${path}.1`)
    }
    this.rotations++
    this.bytes = 0
    this.stream = this.open()
  }

  stats(): FileSinkStats {
    return { path: this.options.path, bytes: this.bytes, lines: this.lines, rotations: this.rotations, dropped: this.dropped }
  }

  /** Flushes and closes. */
  close(): Promise<void> {
    this.flush()
    return new Promise((resolve) => {
      if (this.stream.closed || this.stream.destroyed) return resolve()
      this.stream.end(() => resolve())
    })
  }
}
