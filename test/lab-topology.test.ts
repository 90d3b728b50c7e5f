import t from 'tap'
import { e2e } from './helpers/e2e.js'
import { uniquePrefix } from './helpers/netns.js'
import { buildTopology, destroyByPrefix } from '../src/lab/topology.js'
import { listNamespaces, run } from '../src/lab/netns.js'

const pods = Array.from({ length: 12 }, (_, i) => ({ key: `ns${i % 3}/pod-with-a-long-name-${i}`, ips: [`10.0.${i}.11`, `fd00::${i}:11`] }))

for (const bridge of [false, true]) {
  t.test(`${bridge ? 'bridged' : 'routed'} topology: build, reach, destroy`, e2e(['ping']), async (t) => {
    const prefix = uniquePrefix(bridge ? 'tb' : 'tr')
    t.teardown(() => destroyByPrefix(prefix))
    const started = performance.now()
    const topo = await buildTopology({ prefix, pods, bridge })
    t.comment(`built ${pods.length} pods in ${(performance.now() - started).toFixed(0)} ms`)
    t.equal(topo.pods.size, pods.length)
    for (const p of topo.pods.values()) t.ok(p.hostIf.length <= 15, `${p.hostIf} fits IFNAMSIZ`)
    const a = topo.pods.get(pods[0]!.key)!
    const cases = [
      { name: 'pod -> pod IPv4', dst: '10.0.11.11' },
      { name: 'pod -> pod IPv6', dst: 'fd00::11:11' },
      ...topo.nodeIPs.map((ip) => ({ name: `pod -> node ${ip}`, dst: ip })),
    ]
    await Promise.all(cases.map(async (c) => {
      await t.resolves(topo.exec(a.ns, ['ping', '-c1', '-W2', c.dst]), c.name)
    }))
    await t.resolves(topo.exec(topo.nodeNs, ['ping', '-c1', '-W2', '10.0.5.11']), 'node -> pod IPv4')
    await t.resolves(topo.exec(topo.nodeNs, ['ping', '-c1', '-W2', 'fd00::5:11']), 'node -> pod IPv6')
    if (bridge) {
      const links = JSON.parse(await topo.exec(topo.nodeNs, ['ip', '-j', 'link', 'show', 'master', topo.bridge!])) as unknown[]
      t.equal(links.length, pods.length, 'every veth is enslaved to the bridge')
    }
    await topo.destroy()
    t.same((await listNamespaces()).filter((n) => n.startsWith(prefix)), [], 'no namespace left behind')
    await t.resolves(topo.destroy(), 'destroy twice is harmless')
  })
}

t.test('destroy after a partial build failure leaves nothing', e2e(), async (t) => {
  const prefix = uniquePrefix('tf')
  t.teardown(() => destroyByPrefix(prefix))
  // The second pod's address is invalid: the build fails midway and must clean up after itself.
  await t.rejects(buildTopology({ prefix, pods: [{ key: 'a/a', ips: ['10.0.0.1'] }, { key: 'a/b', ips: ['10.0.0.999'] }] }))
  t.same((await listNamespaces()).filter((n) => n.startsWith(prefix)), [])
})

t.test('destroyByPrefix removes stale namespaces of that prefix only', e2e(), async (t) => {
  const prefix = uniquePrefix('ts')
  const other = uniquePrefix('ts')
  t.teardown(async () => { await destroyByPrefix(prefix); await destroyByPrefix(other) })
  await run(['ip', 'netns', 'add', `${prefix}-node`])
  await run(['ip', 'netns', 'add', `${prefix}-p0`])
  await run(['ip', 'netns', 'add', `${other}-node`])
  t.equal(await destroyByPrefix(prefix), 2)
  const left = await listNamespaces()
  t.notOk(left.some((n) => n.startsWith(`${prefix}-`)))
  t.ok(left.includes(`${other}-node`))
})

t.test('rejects bad input before touching anything', async (t) => {
  await t.rejects(buildTopology({ prefix: 'bad prefix', pods: [] }), TypeError)
  await t.rejects(buildTopology({ prefix: 'x', pods: [{ key: 'a/a', ips: [] }, { key: 'a/a', ips: [] }] }), TypeError)
})
