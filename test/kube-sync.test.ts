// The API-server sync client against the test API server: one named case per protocol situation
// and per pod lifecycle case the store must get right.
import t, { type Test } from 'tap'
import { ClusterStore } from '../src/store/cluster-store.js'
import { podFromObject } from '../src/model/objects.js'
import { trimObject } from '../src/sync/kube-trim.js'
import { KubeSync, KUBE_SYNC_DEFAULTS, type KubeSyncOptions } from '../src/sync/kube-informers.js'
import { FakeApiServer, type Fault, type KubeObject } from './helpers/fake-apiserver.js'
import { makeTestPki, testKubeConfig, TEST_TOKEN } from './helpers/kube-config.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pki = makeTestPki()
const FAST: Partial<KubeSyncOptions> = { pageSize: 2, resyncPeriodMs: 0, backoffBaseMs: 10, backoffMaxMs: 100, watchTimeoutSeconds: 5, inactivityMs: 2000 }

function pod(name: string, ip: string | undefined, extra: { labels?: Record<string, string>; phase?: string; deleting?: boolean; hostNetwork?: boolean } = {}): KubeObject {
  return {
    metadata: { namespace: 'x', name, labels: extra.labels ?? { app: name }, ...(extra.deleting ? { deletionTimestamp: '2026-11-21T00:00:00Z' } : {}) },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }], ...(extra.hostNetwork ? { hostNetwork: true } : {}) },
    status: { phase: extra.phase ?? 'Running', ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}) },
  }
}

async function setup(t: Test, options: Partial<KubeSyncOptions> = {}, token = TEST_TOKEN) {
  const server = new FakeApiServer({ token: TEST_TOKEN, tls: pki, bookmarkIntervalMs: 100 })
  const url = await server.listen()
  t.teardown(() => server.close())
  server.apply('namespaces', { metadata: { name: 'x' } })
  const store = new ClusterStore()
  let changes = 0
  const sync = new KubeSync(testKubeConfig(url, pki.cert, token), store, () => changes++, { ...KUBE_SYNC_DEFAULTS, ...FAST, ...options })
  t.teardown(() => sync.stop())
  return { server, store, sync, changes: () => changes }
}

/** Polls until `pred` holds (or fails the test with `what`). */
async function until(t: Test, what: string, pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) return void t.fail(`timed out: ${what}`)
    await sleep(10)
  }
  t.pass(what)
}


t.test('first list is paged (limit/continue) and start() resolves with everything in the store', async (t) => {
  const { server, store, sync } = await setup(t)
  for (let i = 0; i < 7; i++) server.apply('pods', pod(`p${i}`, `10.0.0.${i + 1}`))
  await sync.start()
  t.equal(store.state().pods.length, 7)
  t.ok(server.stats.lists >= 4 + 1 + 1, `pods listed in pages (${server.stats.lists} list requests)`)
  t.ok(sync.synced)
})

t.test('pod lifecycle cases', async (t) => {
  const { server, store, sync } = await setup(t)
  await sync.start()
  const cases: [string, () => void, () => boolean][] = [
    ['a pod without an IP yet is known, with no IPs', () => server.apply('pods', pod('noip', undefined)), () => store.getPod('x', 'noip')?.ips.length === 0],
    ['it gets its IP later', () => server.apply('pods', pod('noip', '10.0.0.9')), () => store.podByIP('10.0.0.9')?.name === 'noip'],
    ['a terminating pod (deletionTimestamp) is marked terminated', () => server.apply('pods', pod('term', '10.0.0.10', { deleting: true })), () => store.getPod('x', 'term')?.terminated === true],
    ['a Succeeded pod is terminated', () => server.apply('pods', pod('done', '10.0.0.11', { phase: 'Succeeded' })), () => store.getPod('x', 'done')?.terminated === true],
    ['a hostNetwork pod is flagged', () => server.apply('pods', pod('host', '192.168.0.1', { hostNetwork: true })), () => store.getPod('x', 'host')?.hostNetwork === true],
    ['IP reuse: a new pod takes a terminating pod\'s IP', () => server.apply('pods', pod('new', '10.0.0.10')), () => store.podByIP('10.0.0.10')?.name === 'new'],
    ['the old pod\'s delete leaves the IP with the new pod', () => server.delete('pods', 'x', 'term'), () => store.podByIP('10.0.0.10')?.name === 'new' && !store.getPod('x', 'term')],
    ['a label change reaches the store', () => server.apply('pods', pod('new', '10.0.0.10', { labels: { app: 'changed' } })), () => store.getPod('x', 'new')?.labels.app === 'changed'],
    ['a deleted namespace leaves the store', () => { server.apply('namespaces', { metadata: { name: 'gone' } }); server.delete('namespaces', undefined, 'gone') }, () => !store.state().namespaces.some((n) => n.name === 'gone')],
  ]
  for (const [name, act, check] of cases) {
    act()
    await until(t, name, check)
  }
})

t.test('protocol faults: each ends with the store equal to the server', async (t) => {
  const cases: [string, Fault[]][] = [
    ['stream dropped mid-event', [{ kind: 'drop-mid-event' }]],
    ['garbage line in the stream (resumed, the event is sent again)', [{ kind: 'garbage' }]],
    ['410 Gone as an ERROR event on resume → relist', [{ kind: 'close-streams' }, { kind: 'gone-on-resume' }]],
    ['410 Gone as HTTP status on resume → relist', [{ kind: 'close-streams' }, { kind: 'gone-on-resume', http: true }]],
    ['5xx burst on reconnect', [{ kind: '5xx', count: 4 }, { kind: 'close-streams' }]],
    ['compacted log: resume is too old → relist', [{ kind: 'compact' }, { kind: 'close-streams' }]],
    ['slow watch response', [{ kind: 'slow', ms: 300, on: 'watch' }, { kind: 'close-streams' }]],
  ]
  for (const [name, faults] of cases) {
    await t.test(name, async (t) => {
      const { server, store, sync } = await setup(t)
      server.apply('pods', pod('keep', '10.0.0.1'))
      server.apply('pods', pod('doomed', '10.0.0.2'))
      await sync.start()
      await until(t, 'watches open', () => server.watching('pods') > 0 && server.watching('namespaces') > 0)
      server.inject(...faults)
      // Changes while the fault plays out: one update, one delete, one create.
      server.apply('pods', pod('keep', '10.0.0.1', { labels: { app: 'v2' } }))
      server.delete('pods', 'x', 'doomed')
      server.apply('pods', pod('born', '10.0.0.3'))
      await until(t, 'store equals server', () =>
        store.getPod('x', 'keep')?.labels.app === 'v2' && !store.getPod('x', 'doomed') && store.getPod('x', 'born') !== undefined)
      t.equal(server.pendingFaults(), 0, 'the fault was hit')
    })
  }
})

t.test('410 relist while a delete was missed: the vanished object is deleted from the store', async (t) => {
  const { server, store, sync } = await setup(t)
  server.apply('pods', pod('doomed', '10.0.0.2'))
  await sync.start()
  await until(t, 'watches open', () => server.watching('pods') > 0)
  // The delete happens while no stream is open and the log is compacted past it: only a relist sees it.
  server.inject({ kind: '5xx', count: 3 }, { kind: 'close-streams' })
  server.delete('pods', 'x', 'doomed')
  server.inject({ kind: 'compact' })
  await until(t, 'doomed is gone from the store', () => !store.getPod('x', 'doomed'))
  t.ok(sync.stats().pods.relists >= 1, 'by a relist')
})

t.test('a malformed object becomes an issue and keeps its last good version', async (t) => {
  const { server, store, sync } = await setup(t)
  server.apply('pods', pod('p', '10.0.0.1'))
  await sync.start()
  server.apply('pods', { ...pod('p', 'not-an-ip') })
  await until(t, 'an issue names the pod and field', () => sync.issues().some((i) => i.object === 'Pod x/p' && i.field.startsWith('status.podIP')))
  t.strictSame(store.getPod('x', 'p')?.ips, ['10.0.0.1'], 'last good version stays')
  server.apply('pods', pod('p', '10.0.0.5'))
  await until(t, 'fixed: issue cleared, new IP', () => sync.issues().length === 0 && store.getPod('x', 'p')?.ips[0] === '10.0.0.5')
})

t.test('a wrong token: informers keep retrying with backoff, start() waits', async (t) => {
  const { server, sync } = await setup(t, {}, 'wrong-token')
  let resolved = false
  void sync.start().then(() => (resolved = true))
  await sleep(600)
  t.notOk(resolved, 'not synced without access')
  t.ok(server.stats.unauthorized >= 6, `retried (${server.stats.unauthorized} attempts in 600 ms)`)
  t.ok(server.stats.unauthorized < 200, 'with backoff, not a hot loop')
  t.match(sync.stats().pods.lastError ?? '', /401/)
})

t.test('bookmarks keep a quiet informer live for /healthz', async (t) => {
  const { server, sync } = await setup(t)
  await sync.start()
  await sleep(500)
  t.ok(server.stats.bookmarks > 0, 'bookmarks requested and sent')
  t.ok(sync.stalestMs() < 400, `every informer made progress recently (${Math.round(sync.stalestMs())} ms)`)
})

t.test('informers cache trimmed pods: the model is unchanged, the bulk is gone', async (t) => {
  const rich: KubeObject = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'r', namespace: 'x', labels: { app: 'r' }, resourceVersion: '5', deletionTimestamp: '2026-11-21T00:00:00Z', annotations: { big: 'x'.repeat(5000) }, managedFields: [{ manager: 'kubelet' }] },
    spec: {
      nodeName: 'n1', hostNetwork: false, volumes: [{ name: 'v' }],
      containers: [{ name: 'c', image: 'i', env: [{ name: 'A', value: 'x'.repeat(5000) }], ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }],
      initContainers: [{ name: 'side', image: 'i', restartPolicy: 'Always', ports: [{ name: 'metrics', containerPort: 9090 }] }, { name: 'init', image: 'i', ports: [{ containerPort: 1 }] }],
    },
    status: { phase: 'Running', podIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }], conditions: [{ type: 'Ready' }] },
  }
  const trimmed = trimObject('pods', structuredClone(rich))
  t.strictSame(podFromObject(trimmed), podFromObject(rich), 'same model')
  t.ok(JSON.stringify(trimmed).length < 600, `trimmed to ${JSON.stringify(trimmed).length} bytes (from ${JSON.stringify(rich).length})`)
  const pol = { metadata: { name: 'p', namespace: 'x', managedFields: [{}] }, spec: { podSelector: {} } }
  t.strictSame(trimObject('networkpolicies', pol), { metadata: { name: 'p', namespace: 'x' }, spec: { podSelector: {} } }, 'managedFields dropped from other kinds')
  t.equal(trimObject('pods', 'not an object'), 'not an object', 'malformed input passes through to the model, which reports it')
})

t.test('watch event → store change and onChange: the sync client adds next to nothing', async (t) => {
  const { server, sync, changes } = await setup(t, { pageSize: 0 })
  await sync.start()
  await until(t, 'policy watch open', () => server.watching('networkpolicies') > 0)
  const lat: number[] = []
  let sentAt = 0
  server.onEventSent = (ev) => (sentAt = ev.at)
  for (let i = 0; i < 50; i++) {
    const before = changes()
    server.apply('networkpolicies', { metadata: { name: `p${i % 3}`, namespace: 'x' }, spec: { podSelector: { matchLabels: { app: `a${i}` } } } })
    while (changes() === before) await new Promise((r) => setImmediate(r))
    lat.push(performance.now() - sentAt)
  }
  lat.sort((a, b) => a - b)
  const p99 = lat[Math.ceil(lat.length * 0.99) - 1]!
  t.comment(`server write → store change + onChange over TLS: p50 ${lat[lat.length >> 1]!.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`)
  t.ok(p99 < 25, 'p99 under 25 ms')
})
