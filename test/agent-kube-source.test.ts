// makeKubeSource, the PolicySource the agent gets for --source kube: kubeconfig loading, start()
// resolving after the first full list, onChange on every store change, resync() as a full relist.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { defaults, type AgentConfig } from '../src/agent/config.js'
import { loadKubeConfig, makeKubeSource } from '../src/agent/kube-source.js'
import { ClusterStore } from '../src/store/cluster-store.js'
import { FakeApiServer } from './helpers/fake-apiserver.js'
import { makeTestPki, TEST_TOKEN, writeKubeconfig } from './helpers/kube-config.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('kube source against the test API server (TLS, bearer token)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-kube-source-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pki = makeTestPki()
  const server = new FakeApiServer({ token: TEST_TOKEN, tls: pki, bookmarkIntervalMs: 200 })
  const url = await server.listen()
  t.teardown(() => server.close())
  server.apply('namespaces', { metadata: { name: 'x' } })
  server.apply('networkpolicies', { metadata: { name: 'deny', namespace: 'x' }, spec: { podSelector: {} } })
  const config: AgentConfig = { ...defaults(), source: { kind: 'kube', kubeconfig: writeKubeconfig(join(dir, 'kc'), url, pki.cert) } }
  const store = new ClusterStore()
  let changes = 0
  let storeChanges = 0
  const source = makeKubeSource(config, store, () => changes++, { onStoreChange: () => storeChanges++ })
  t.teardown(() => source.stop())
  await source.start()
  t.equal(store.state().policies.length, 1, 'start() resolved with the first list in the store')
  t.ok(changes > 0 && changes === storeChanges, 'onChange called for the list')
  const before = changes
  server.apply('pods', { metadata: { name: 'p', namespace: 'x' }, spec: { containers: [] }, status: { podIPs: [{ ip: '10.0.0.1' }] } })
  for (let i = 0; i < 200 && changes === before; i++) await sleep(10)
  t.ok(changes > before, 'a watch event wakes the agent')
  await source.resync!()
  t.equal(source.sync.stats().pods.relists, 1, 'resync() resolved after a full relist')
  t.strictSame(source.issues(), [])
})

t.test('kubeconfig errors are clear', async (t) => {
  const saved = process.env.KUBERNETES_SERVICE_HOST
  delete process.env.KUBERNETES_SERVICE_HOST
  t.teardown(() => { if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved })
  t.throws(() => loadKubeConfig(undefined), /not running in a cluster/)
  t.throws(() => loadKubeConfig('/nonexistent/kubeconfig'), /ENOENT/)
})
