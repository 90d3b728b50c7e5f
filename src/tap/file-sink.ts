// JSON-lines file sink with size-based rotation: FILE grows to maxBytes, then FILE → FILE.1 →
// FILE.2 … (keeping `keep` old files) and a fresh FILE starts. Writes are asynchronous (a
// WriteStream); when the disk falls behind by more than maxBufferedBytes, lines are dropped and
// counted rather than buffered without bound or written synchronously on the packet thread.
import { createWriteStream, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, type WriteStream } from 'node:fs'
import { dirname } from 'node:path'

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

  /** Appends one line (a newline is added). Returns false when dropped. */
  write(line: string): boolean {
    if (this.errored) {
      this.dropped++
      return false
    }
    const n = Buffer.byteLength(line) + 1
    if (this.bytes > 0 && this.bytes + n > this.options.maxBytes) this.rotate()
    if (this.stream.writableLength > this.maxBuffered) {
      this.dropped++
      return false
    }
    this.stream.write(line + '\n')
    this.bytes += n
    this.lines++
    return true
  }

  private rotate(): void {
    const { path, keep } = this.options
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
    return new Promise((resolve) => {
      if (this.stream.closed || this.stream.destroyed) return resolve()
      this.stream.end(() => resolve())
    })
  }
}
