// Metrics and health: the kernel queue table parser, the policy-realised tracker, the exported
// series (read from a status snapshot at scrape time), and /readyz, /healthz semantics.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { AgentMetrics, parseNfQueueProc, PolicyRealisedTracker, type StatusView } from '../src/agent/metrics.js'
import { HealthServer, splitHostPort, wedged } from '../src/agent/health.js'

t.test('nfnetlink_queue rows', async (t) => {
  const text = '  100  12345     3 2   128     7    11 90210 1\n  101      0     0 2   128     0     0     0 1\nbogus line\n'
  t.strictSame(parseNfQueueProc(text), [
    { queue: 100, portId: 12345, waiting: 3, copyMode: 2, copyRange: 128, queueDropped: 7, userDropped: 11, lastId: 90210 },
    { queue: 101, portId: 0, waiting: 0, copyMode: 2, copyRange: 128, queueDropped: 0, userDropped: 0, lastId: 0 },
  ])
})

t.test('policy realised: events before a sync’s drain are settled at its rules-in-place time', async (t) => {
  let rec: { at: number; tookMs: number; cut?: { tookMs: number } } | undefined
  const seen: number[] = []
  const tracker = new PolicyRealisedTracker(() => rec, (s) => seen.push(Math.round(s * 1000)), 1000)
  tracker.eventSeen(1000)
  tracker.eventSeen(1040)
  // sync drained at 1050, rules in place at 1080, cut done at 1100
  rec = { at: 1100, tookMs: 30, cut: { tookMs: 20 } }
  tracker.eventSeen(1060) // after the drain: waits for the next sync
  tracker.check()
  t.strictSame(seen, [80, 40])
  rec = { at: 1200, tookMs: 10 }
  tracker.check()
  t.strictSame(seen, [80, 40, 140])
  tracker.stop()
})

const STATUS: StatusView = {
  ready: true, synced: true, generation: 7, syncErrors: 1, isolatedPods: 2, enforcedPods: 5, issues: [{}],
  lastSync: { at: Date.now(), tookMs: 12, generation: 7 },
  counters: { packets: 100, allowed: 90, denied: 8, decodeErrors: 1, internalErrors: 1, batches: 10 },
  cache: { hits: 60, misses: 40, size: 40, hitRatio: 0.6 },
  latencyUs: { p50: 20, p99: 400, count: 100 },
  queues: [{ overflow: 2, enobufs: 1 }],
  rules: { applied: 3, skipped: 9 },
}

t.test('exported series', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-metrics-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'q'), '  100  1  3 2 128 7 11 5 1\n  200  1  9 2 128 9 9 5 1\n')
  const m = new AgentMetrics({ status: () => STATUS, queues: [100], procQueuePath: join(dir, 'q') })
  const text = await m.metrics()
  const rows: [string, RegExp][] = [
    ['packets', /^netpol_packets_total 100$/m],
    ['allowed verdicts', /^netpol_verdicts_total\{outcome="allowed"\} 90$/m],
    ['denied verdicts', /^netpol_verdicts_total\{outcome="denied"\} 8$/m],
    ['decode errors', /^netpol_verdicts_total\{outcome="decode_error"\} 1$/m],
    ['cache hits', /^netpol_verdict_cache_lookups_total\{result="hit"\} 60$/m],
    ['hit ratio', /^netpol_verdict_cache_hit_ratio 0.6$/m],
    ['latency p99', /^netpol_verdict_latency_seconds\{quantile="0.99"\} 0.0004$/m],
    ['kernel queue drops (our queue only)', /^netpol_queue_kernel_dropped_total\{queue="100",reason="queue_full"\} 7$/m],
    ['user drops', /^netpol_queue_kernel_dropped_total\{queue="100",reason="user"\} 11$/m],
    ['waiting', /^netpol_queue_waiting\{queue="100"\} 3$/m],
    ['last sync', /^netpol_last_sync_seconds 0.012$/m],
    ['isolated pods', /^netpol_pods\{state="isolated"\} 2$/m],
    ['rule syncs', /^netpol_rule_syncs_total\{result="applied"\} 3$/m],
    ['sync errors', /^netpol_sync_errors_total\{source="agent",resource=""\} 1$/m],
    ['ready', /^netpol_ready 1$/m],
    ['realised histogram', /^netpol_policy_realised_seconds_bucket\{le="0.1"\} 0$/m],
  ]
  for (const [name, re] of rows) t.match(text, re, name)
  t.notMatch(text, /queue="200"/, 'other queues are not ours')
  m.tracker.stop()
})

t.test('health endpoints', async (t) => {
  let status: StatusView = { ready: false, synced: false }
  const metrics = new AgentMetrics({ status: () => status, queues: [] })
  const server = new HealthServer({ address: '127.0.0.1:0', metrics, status: () => status, maxSyncIntervalMs: 60_000 })
  const addr = await server.listen()
  t.teardown(() => server.close())
  const get = async (p: string) => (await fetch(`http://${addr}${p}`)).status
  const cases: [string, StatusView, string, number][] = [
    ['not synced: not ready', { ready: false, synced: false }, '/readyz', 503],
    ['not synced: alive', { ready: false, synced: false }, '/healthz', 200],
    ['synced: ready', { ready: true, synced: true, lastSync: { at: Date.now(), tookMs: 1, generation: 1 } }, '/readyz', 200],
    ['sync loop stuck for 10 min: not alive', { ready: true, synced: true, lastSync: { at: Date.now() - 600_000, tookMs: 1, generation: 1 } }, '/healthz', 503],
    ['metrics served', { ready: true }, '/metrics', 200],
    ['unknown path', {}, '/nope', 404],
  ]
  for (const [name, st, path, code] of cases) {
    status = st
    t.equal(await get(path), code, name)
  }
  t.match(wedged({ status: () => ({ synced: true }), sync: () => ({ stalestMs: () => 400_000 }) as never, maxSyncIntervalMs: 60_000 }) ?? '', /informer/, 'a silent informer is wedged')
  t.strictSame(splitHostPort('[::]:9743'), { host: '::', port: 9743 })
  t.strictSame(splitHostPort(':9743'), { host: '0.0.0.0', port: 9743 })
  metrics.tracker.stop()
})
