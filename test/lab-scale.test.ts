// Lab sizes the conformance cases use (9–30 pods): build, start helpers, probe a full matrix.
import t from 'tap'
import { e2e } from './helpers/e2e.js'
import { labTopology } from './helpers/netns.js'
import { LabProber, type ServedPort } from '../src/lab/probe.js'
import type { PolicyProtocol } from '../src/api/types.js'

t.test('30 pods: build, helpers ready, 30x29 TCP+UDP+SCTP matrix', e2e(), async (t) => {
  const pods = Array.from({ length: 30 }, (_, i) => ({ key: `ns${i % 3}/p${i}`, ips: [`10.0.${i}.11`, `fd00::${i + 1}:11`] }))
  let started = performance.now()
  const topo = await labTopology(t, 'sc', pods)
  const built = performance.now() - started
  const serving: ServedPort[] = [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }, { port: 9000, protocol: 'SCTP' }]
  started = performance.now()
  const prober = await new LabProber(topo, new Map(pods.map((p) => [p.key, serving])), { readyTimeoutMs: 60000 }).start()
  t.teardown(() => prober.close())
  const ready = performance.now() - started
  started = performance.now()
  const runs: Promise<string>[] = []
  for (const from of pods) for (const to of pods) {
    if (from === to) continue
    for (const s of serving) {
      runs.push(prober.probe(from.key, to.ips[(runs.length >> 1) % 2]!, s.port, s.protocol as PolicyProtocol, 5000)
        .then((r) => (r.ok ? 'ok' : `${s.protocol} ${r.error}`)))
    }
  }
  const outcomes = await Promise.all(runs)
  const failures = new Map<string, number>()
  for (const o of outcomes) if (o !== 'ok') failures.set(o, (failures.get(o) ?? 0) + 1)
  const probed = performance.now() - started
  t.comment(`topology ${built.toFixed(0)} ms, helpers ready ${ready.toFixed(0)} ms, ${runs.length} probes ${probed.toFixed(0)} ms`)
  t.same(Object.fromEntries(failures), {}, 'every probe succeeds')
})
