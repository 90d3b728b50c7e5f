// An append-only byte buffer reused across drain turns: a turn's lines are copied in, then taken
// out as one chunk for one write() (one syscall-sized chunk per turn instead of one per line).
export class ByteQueue {
  private buf: Buffer
  private len = 0

  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial)
  }

  get length(): number {
    return this.len
  }

  push(bytes: Uint8Array): void {
    const need = this.len + bytes.length
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2))
      this.buf.copy(grown, 0, 0, this.len)
      this.buf = grown
    }
    this.buf.set(bytes, this.len)
    this.len = need
  }

  /** A copy of what was pushed (the writer may hold it); empties the queue. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.len))
    this.len = 0
    return out
  }
}
