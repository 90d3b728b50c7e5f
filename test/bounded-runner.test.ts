import t from 'tap'
import { BoundedFrequencyRunner } from '../src/agent/bounded-runner.js'

t.test('a burst of requests becomes one run, and runs respect the minimum interval', async (t) => {
  const runs: number[] = []
  const runner = new BoundedFrequencyRunner(() => void runs.push(performance.now()), { minIntervalMs: 50, maxIntervalMs: 60_000 })
  runner.start()
  t.teardown(() => runner.stop())
  for (let i = 0; i < 100; i++) runner.request()
  await runner.idle()
  t.equal(runs.length, 1, 'one run for the burst')
  runner.request()
  await runner.idle()
  t.equal(runs.length, 2)
  // Timers fire on a millisecond clock: allow 2 ms of granularity against performance.now().
  t.ok(runs[1]! - runs[0]! >= 48, `second run waited for the minimum interval (${(runs[1]! - runs[0]!).toFixed(1)} ms)`)
})

t.test('a request made before start() is not lost to the periodic timer', async (t) => {
  let runs = 0
  const runner = new BoundedFrequencyRunner(() => void runs++, { minIntervalMs: 0, maxIntervalMs: 60_000 })
  runner.request()
  runner.start()
  t.teardown(() => runner.stop())
  await new Promise((r) => setTimeout(r, 50))
  t.equal(runs, 1, 'the early request ran without waiting for the 60 s resync')
})

t.test('the maximum interval runs without requests (periodic resync)', async (t) => {
  let runs = 0
  const runner = new BoundedFrequencyRunner(() => void runs++, { minIntervalMs: 0, maxIntervalMs: 30 })
  runner.start()
  await new Promise((r) => setTimeout(r, 120))
  runner.stop()
  t.ok(runs >= 2, `ran ${runs} times in 120 ms with a 30 ms maximum interval`)
})

t.test('runs never overlap and errors are reported, not thrown', async (t) => {
  let active = 0
  let maxActive = 0
  const errors: unknown[] = []
  const runner = new BoundedFrequencyRunner(
    async () => {
      active++
      maxActive = Math.max(maxActive, active)
      await new Promise((r) => setTimeout(r, 20))
      active--
      throw new Error('boom')
    },
    { minIntervalMs: 0, maxIntervalMs: 60_000, onError: (e) => errors.push(e) },
  )
  runner.start()
  t.teardown(() => runner.stop())
  runner.request()
  await new Promise((r) => setTimeout(r, 5))
  runner.request()
  await runner.idle()
  t.equal(maxActive, 1)
  t.equal(errors.length, 2)
})
