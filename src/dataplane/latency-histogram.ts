// Fixed-bucket latency histogram for the packet path: recording is an index computation and an
// increment on a preallocated array, so it can run per batch without allocating.

/** Bucket upper bounds in microseconds: 0.5 µs … ~65 ms, 2^(1/4) apart (≈19% resolution). */
const BOUNDS_US: Float64Array = (() => {
  const bounds: number[] = []
  for (let b = 0.5; b < 70_000; b *= Math.SQRT2 ** 0.5) bounds.push(b)
  return Float64Array.from(bounds)
})()

export class LatencyHistogram {
  private readonly counts = new Float64Array(BOUNDS_US.length + 1)
  private total = 0
  private sumUs = 0

  /** Records `times` observations of `us` microseconds. */
  record(us: number, times = 1): void {
    let lo = 0
    let hi = BOUNDS_US.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (BOUNDS_US[mid]! < us) lo = mid + 1
      else hi = mid
    }
    this.counts[lo]! += times
    this.total += times
    this.sumUs += us * times
  }

  get count(): number {
    return this.total
  }

  get meanUs(): number {
    return this.total === 0 ? 0 : this.sumUs / this.total
  }

  /** Upper bound of the bucket holding quantile q (0..1), in microseconds. */
  percentileUs(q: number): number {
    if (this.total === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.total))
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return i < BOUNDS_US.length ? BOUNDS_US[i]! : Infinity
    }
    return Infinity
  }

  reset(): void {
    this.counts.fill(0)
    this.total = 0
    this.sumUs = 0
  }
}
