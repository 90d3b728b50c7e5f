// Bounded-frequency runner (after kube-network-policies / kube-proxy): a burst of requests becomes
// one run; runs are at least `minIntervalMs` apart, and one happens at least every `maxIntervalMs`
// even without requests (the periodic resync). Runs never overlap.

export interface BoundedRunnerOptions {
  readonly minIntervalMs: number
  readonly maxIntervalMs: number
  readonly onError?: (err: unknown) => void
}

export class BoundedFrequencyRunner {
  private lastRun = -Infinity
  private running: Promise<void> | undefined
  private pending = false
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly fn: () => Promise<void> | void,
    private readonly options: BoundedRunnerOptions,
  ) {}

  start(): void {
    this.stopped = false
    // A request made before start() (events during the first sync) keeps its earlier timer.
    if (!this.timer && !this.running) this.arm(this.options.maxIntervalMs)
  }

  /** Ask for a run as soon as the minimum interval allows. */
  request(): void {
    if (this.stopped) return
    this.pending = true
    if (this.running) return // the running pass re-arms when it finishes
    const wait = Math.max(0, this.lastRun + this.options.minIntervalMs - performance.now())
    this.arm(wait)
  }

  /** Resolves when no run is in flight and none is pending. */
  async idle(): Promise<void> {
    while (this.running || this.pending) {
      if (this.running) await this.running
      else await new Promise((resolve) => setTimeout(resolve, 1))
    }
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  private arm(delayMs: number): void {
    if (this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.run(), delayMs)
    this.timer.unref?.()
  }

  private async run(): Promise<void> {
    this.timer = undefined
    this.pending = false
    this.lastRun = performance.now()
    // `running` never rejects: waiters in idle() must not see the run's error.
    this.running = Promise.resolve()
      .then(this.fn)
      .then(
        () => undefined,
        (err: unknown) => this.options.onError?.(err),
      )
    await this.running
    this.running = undefined
    if (this.pending) this.request()
    else this.arm(this.options.maxIntervalMs)
  }
}
