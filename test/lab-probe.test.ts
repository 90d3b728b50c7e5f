import t from 'tap'
import { e2e } from './helpers/e2e.js'
import { labTopology } from './helpers/netns.js'
import { LabProber, type ServedPort } from '../src/lab/probe.js'
import type { PolicyProtocol } from '../src/api/types.js'

const serving: ServedPort[] = [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }, { port: 9000, protocol: 'SCTP' }]

for (const bridge of [false, true]) {
  t.test(`pod helper probes between pods (${bridge ? 'bridged' : 'routed'}, IPv4 + IPv6)`, e2e(), async (t) => {
    const topo = await labTopology(t, bridge ? 'pb' : 'pr', [
      { key: 'a/client', ips: ['10.0.1.11', 'fd00::1:11'] },
      { key: 'b/server', ips: ['10.0.2.22', 'fd00::2:22'] },
    ], bridge)
    const started = performance.now()
    const prober = await new LabProber(topo, new Map([['b/server', serving]]), { nodeKey: 'node' }).start()
    t.teardown(() => prober.close())
    t.comment(`helpers ready in ${(performance.now() - started).toFixed(0)} ms, SCTP via ${prober.sctpImpl('a/client')}`)
    const cases: { name: string; from: string; to: string; port: number; protocol: PolicyProtocol; ok: boolean; error?: string }[] = []
    for (const to of ['10.0.2.22', 'fd00::2:22']) {
      cases.push(
        { name: `TCP ${to}`, from: 'a/client', to, port: 80, protocol: 'TCP', ok: true },
        { name: `UDP ${to}`, from: 'a/client', to, port: 53, protocol: 'UDP', ok: true },
        { name: `SCTP ${to}`, from: 'a/client', to, port: 9000, protocol: 'SCTP', ok: true },
        { name: `TCP closed port ${to}`, from: 'a/client', to, port: 81, protocol: 'TCP', ok: false, error: 'refused' },
        { name: `SCTP closed port ${to}`, from: 'a/client', to, port: 9001, protocol: 'SCTP', ok: false, error: 'refused' },
        { name: `UDP closed port ${to}`, from: 'a/client', to, port: 54, protocol: 'UDP', ok: false, error: 'refused' },
        { name: `node -> pod TCP ${to}`, from: 'node', to, port: 80, protocol: 'TCP', ok: true },
      )
    }
    cases.push({ name: 'unreachable address times out', from: 'a/client', to: '10.9.9.9', port: 80, protocol: 'TCP', ok: false })
    const results = await Promise.all(cases.map((c) => prober.probe(c.from, c.to, c.port, c.protocol, 500)))
    cases.forEach((c, i) => {
      const r = results[i]!
      t.equal(r.ok, c.ok, `${c.name}: ${JSON.stringify(r)}`)
      if (c.error) t.equal(r.error, c.error, `${c.name} reason`)
    })
  })
}

t.test('many concurrent probes', e2e(), async (t) => {
  const topo = await labTopology(t, 'pc', [
    { key: 'a/a', ips: ['10.0.1.11'] },
    { key: 'b/b', ips: ['10.0.2.22'] },
  ])
  const prober = await new LabProber(topo, new Map([['b/b', serving]])).start()
  t.teardown(() => prober.close())
  const protos: PolicyProtocol[] = ['TCP', 'UDP', 'SCTP']
  const started = performance.now()
  const rs = await Promise.all(Array.from({ length: 300 }, (_, i) => prober.probe('a/a', '10.0.2.22', serving[i % 3]!.port, protos[i % 3]!, 2000)))
  t.comment(`300 probes in ${(performance.now() - started).toFixed(0)} ms`)
  t.equal(rs.filter((r) => r.ok).length, 300, 'all succeed')
  t.same(await prober.probe('nobody', '10.0.2.22', 80, 'TCP'), { ok: false, ms: 0, error: 'no helper for nobody' })
})

t.test('close() stops the helpers', e2e(), async (t) => {
  const topo = await labTopology(t, 'pk', [{ key: 'a/a', ips: ['10.0.1.11'] }])
  const prober = await new LabProber(topo, new Map()).start()
  await prober.close()
  const pids = (await topo.exec(topo.nodeNs, ['ip', 'netns', 'pids', topo.pods.get('a/a')!.ns])).trim()
  t.equal(pids, '', 'no process left in the pod namespace')
  t.equal((await prober.probe('a/a', '10.0.1.11', 80, 'TCP')).error, 'closed')
})

t.test('raw sockets have one implementation: without the addon, opening fails saying so', async (t) => {
  const { openRawSocket, rawSocketImpl, setNativeLoader } = await import('../src/lab/pod-helper-raw.js')
  setNativeLoader(() => Promise.reject(new Error('native addon not built (…): run `npm run install`')))
  await t.rejects(openRawSocket(4, 132, () => {}), /raw sockets \(lab SCTP\) need the native addon: native addon not built/)
  await t.rejects(rawSocketImpl(), /need the native addon/)
  setNativeLoader(async () => ({ loadBinding: () => ({}) }))
  await t.rejects(openRawSocket(6, 132, () => {}), /has no openRawSocket/, 'an addon without it (stale build)')
})
