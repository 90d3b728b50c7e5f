import t from 'tap'
import { e2e } from './helpers/e2e.js'
import { labTopology } from './helpers/netns.js'
import { nsExec } from '../src/lab/netns.js'
import { discoverPodInterfaces } from '../src/dataplane/interfaces.js'

const pods = Array.from({ length: 5 }, (_, i) => ({ key: `ns/p${i}`, ips: [`10.0.${i}.11`, `fd00::${i + 1}:11`] }))

for (const bridge of [false, true]) {
  t.test(`discoverPodInterfaces (${bridge ? 'bridged: neighbour + fdb' : 'routed: host routes'})`, e2e(['bridge']), async (t) => {
    const topo = await labTopology(t, bridge ? 'ib' : 'ir', pods, bridge)
    const exec = nsExec(topo.nodeNs)
    const started = performance.now()
    const found = await discoverPodInterfaces(exec)
    t.comment(`discovered ${found.size} addresses in ${(performance.now() - started).toFixed(0)} ms`)
    const want = new Map<string, string>()
    for (const p of topo.pods.values()) for (const ip of p.ips) want.set(ip, p.hostIf)
    t.same(Object.fromEntries([...found].sort()), Object.fromEntries([...want].sort()), 'every pod IP maps to its host veth, nothing else')

    // A pod going away disappears from the map on the next discovery.
    const gone = topo.pods.get('ns/p4')!
    await exec(['ip', 'link', 'del', gone.hostIf])
    const after = await discoverPodInterfaces(exec)
    t.notOk(after.has('10.0.4.11') || after.has('fd00::5:11'), 'deleted pod forgotten')
    t.equal(after.size, want.size - 2)
  })
}

t.test('bridged pods are found from learned neighbours too (no pinned entries)', e2e(['bridge', 'ping']), async (t) => {
  const topo = await labTopology(t, 'il', pods.slice(0, 2), true)
  const exec = nsExec(topo.nodeNs)
  // Forget the pinned neighbour and fdb entries; traffic re-learns them.
  await exec(['ip', 'neigh', 'flush', 'dev', topo.bridge!, 'nud', 'permanent'])
  for (const p of topo.pods.values()) await exec(['bridge', 'fdb', 'del', p.mac, 'dev', p.hostIf, 'master']).catch(() => {})
  for (const ip of ['10.0.0.11', '10.0.1.11']) await exec(['ip', 'route', 'del', `${ip}/32`])
  await exec(['ip', 'route', 'add', '10.0.0.0/16', 'dev', topo.bridge!])
  t.same([...(await discoverPodInterfaces(exec))].filter(([ip]) => ip.includes('.')), [], 'nothing known before traffic')
  await exec(['ping', '-c1', '-W2', '10.0.0.11'])
  await exec(['ping', '-c1', '-W2', '10.0.1.11'])
  const found = await discoverPodInterfaces(exec)
  t.equal(found.get('10.0.0.11'), topo.pods.get('ns/p0')!.hostIf)
  t.equal(found.get('10.0.1.11'), topo.pods.get('ns/p1')!.hostIf)
})
