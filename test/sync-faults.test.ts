// 100 injected API faults during a stream of random Namespace/Pod/NetworkPolicy writes: afterwards
// the store equals the server (no lost, stale or extra object) and the engine the agent's loop fed
// incrementally gives the same verdicts as a fresh compile of the server's objects. The periodic
// full resync is off, so recovery comes from the watch/relist protocol alone.
import t from 'tap'
import { ClusterStore } from '../src/store/cluster-store.js'
import { PolicyEngine } from '../src/engine/index.js'
import { KubeSync, KUBE_SYNC_DEFAULTS } from '../src/sync/kube-informers.js'
import { FakeApiServer, type Fault } from './helpers/fake-apiserver.js'
import { makeTestPki, testKubeConfig, TEST_TOKEN } from './helpers/kube-config.js'
import { Gen, genCluster, genFlows, prng } from './helpers/cluster-gen.js'
import { applyState, diverges, freshEngine, randomChange, serverState, verdictDiffs } from './helpers/kube-cluster.js'

const FAULTS: readonly ((g: Gen) => Fault)[] = [
  () => ({ kind: 'drop-mid-event' }),
  () => ({ kind: 'garbage' }),
  (g) => ({ kind: 'slow', ms: 20 + g.int(200) }),
  () => ({ kind: 'gone-on-resume' }),
  () => ({ kind: 'gone-on-resume', http: true }),
  (g) => ({ kind: '5xx', code: g.pick([500, 503, 504]), count: 1 + g.int(5) }),
  () => ({ kind: 'close-streams' }),
  () => ({ kind: 'compact' }),
  () => ({ kind: 'expire-continue' }),
]

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

for (const seed of [1, 2]) {
  t.test(`seed ${seed}: 100 faults during random changes lose no update`, async (t) => {
    const g = new Gen(prng(seed))
    const pki = makeTestPki()
    // A short event log: resumes after an outage often find their version compacted away (410).
    const server = new FakeApiServer({ token: TEST_TOKEN, tls: pki, bookmarkIntervalMs: 100, logSize: 60 })
    const url = await server.listen()
    t.teardown(() => server.close())
    applyState(server, genCluster(g))

    const store = new ClusterStore()
    const engine = new PolicyEngine({})
    // The agent's loop in small: a burst of changes → one engine.apply of the drained deltas.
    let timer: NodeJS.Timeout | undefined
    const onChange = () => {
      timer ??= setTimeout(() => {
        timer = undefined
        engine.apply(store.drain())
      }, 5)
    }
    const sync = new KubeSync(testKubeConfig(url, pki.cert), store, onChange, {
      ...KUBE_SYNC_DEFAULTS, pageSize: 4, resyncPeriodMs: 0,
      backoffBaseMs: 10, backoffMaxMs: 200, watchTimeoutSeconds: 3, inactivityMs: 1500,
    })
    t.teardown(() => sync.stop())
    await sync.start()

    // Each fault is injected, writes follow, and the next fault waits until this one has hit
    // (a fault that finds no matching request within 1.5 s is withdrawn and does not count).
    const kinds = new Map<string, number>()
    let writes = 0
    let unused = 0
    for (let tries = 0; server.stats.faults < 100 && tries < 400; tries++) {
      const fault = g.pick(FAULTS)(g)
      const before = server.stats.faults
      server.inject(fault)
      for (let n = 1 + g.int(5); n > 0; n--, writes++) randomChange(g, server)
      const deadline = performance.now() + 1500
      while (server.pendingFaults() > 0 && performance.now() < deadline) await sleep(5)
      unused += server.clearFaults()
      if (server.stats.faults > before) kinds.set(fault.kind, (kinds.get(fault.kind) ?? 0) + 1)
      await sleep(g.int(30))
    }
    // Converged: no divergence for a while (every fault's recovery is over).
    const started = performance.now()
    let d = diverges(store, server)
    while (performance.now() - started < 20_000 && (d.lost.length + d.stale.length + d.extra.length > 0)) {
      await sleep(50)
      d = diverges(store, server)
    }
    const convergedMs = Math.round(performance.now() - started)
    await sleep(50)
    engine.apply(store.drain())

    t.strictSame(d, { lost: [], stale: [], extra: [] }, 'store equals the server: no lost, stale or extra object')
    const flows = genFlows(g, serverState(server), 3000)
    t.strictSame(verdictDiffs(engine, freshEngine(server), flows), [], 'incremental engine = fresh compile over 3000 flows')
    const stats = sync.stats()
    t.comment(`faults: ${JSON.stringify(Object.fromEntries(kinds))} (${unused} withdrawn unhit), writes: ${writes}, ` +
      `converged ${convergedMs} ms after the last write; server ${JSON.stringify(server.stats)}; ` +
      `informer errors ${Object.values(stats).map((s) => s.errors).join('/')}, relists ${Object.values(stats).map((s) => s.relists).join('/')}`)
    t.ok(server.stats.faults >= 100, `${server.stats.faults} faults hit the agent's requests`)
    t.ok(server.stats.gone > 0, 'some resumes got 410 Gone and relisted')
  })
}
