// The agent with real packets, beyond single verdicts: what passes when the agent dies (fail-closed
// vs fail-open), that a restart keeps allowed established flows, and that a policy change cuts an
// established flow it now denies while leaving allowed flows alone.
import t from 'tap'
import type { ClusterState, NetworkPolicy, PodInfo } from '../src/api/types.js'
import { Lab } from '../src/lab/lab.js'
import type { ClusterFile } from '../src/model/cluster-file.js'
import { e2e } from './helpers/e2e.js'
import { tcpSession } from './helpers/netns.js'

const pod = (name: string, ip: string): PodInfo => ({
  namespace: 'x', name, labels: { app: name }, ips: [ip], ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
})
const pods = [pod('a', '10.0.9.1'), pod('b', '10.0.9.2'), pod('c', '10.0.9.3')]
const B = '10.0.9.2'
const C = '10.0.9.3'

/** b accepts TCP from the listed apps only. */
function bFrom(...apps: string[]): NetworkPolicy {
  return {
    metadata: { namespace: 'x', name: 'b-ingress' },
    spec: { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: apps.map((app) => ({ podSelector: { matchLabels: { app } } })) }] },
  }
}
const state = (...policies: NetworkPolicy[]): ClusterState => ({ namespaces: [{ name: 'x', labels: {} }], pods, policies })
const file = (s: ClusterState): ClusterFile => ({ name: 'dataplane-e2e', steps: [{ state: s, invalidPolicies: [], probes: [] }] })

async function canConnect(lab: Lab, from: string, to: string): Promise<boolean> {
  const [r] = await lab.probe([{ from, to, port: 80, protocol: 'TCP' }], 800)
  return r!.allowed === true
}

t.test('fail-closed: kill -9 holds new connections of isolated pods, keeps established ones; a restart resumes', e2e(['iptables', 'conntrack']), async (t) => {
  const lab = await Lab.start(file(state(bFrom('a'))), { failMode: 'closed' })
  t.teardown(() => lab.close())
  const ns = (k: string) => lab.topology.pods.get(k)!.ns
  const session = await tcpSession(t, ns('x/a'), ns('x/b'), B, 7003)
  t.ok(await session.roundTrip('before'), 'allowed session works')
  t.ok(await canConnect(lab, 'x/a', 'x/b'), 'a -> b allowed')
  t.notOk(await canConnect(lab, 'x/c', 'x/b'), 'c -> b denied')

  await lab.killAgent('SIGKILL')
  t.ok(await session.roundTrip('agent-dead'), 'established flow keeps flowing in the kernel')
  t.notOk(await canConnect(lab, 'x/a', 'x/b'), 'new connection to an isolated pod is held (fail-closed)')
  t.ok(await canConnect(lab, 'x/a', 'x/c'), 'a pod no policy isolates is unaffected')

  await lab.restartAgent()
  t.ok(await session.roundTrip('after-restart'), 'the restart did not cut the allowed established flow')
  t.ok(await canConnect(lab, 'x/a', 'x/b'), 'enforcement resumed: allowed')
  t.notOk(await canConnect(lab, 'x/c', 'x/b'), 'enforcement resumed: denied')
})

t.test('fail-open: kill -9 lets new connections through', e2e(['iptables', 'conntrack']), async (t) => {
  const lab = await Lab.start(file(state(bFrom('a'))), { failMode: 'open' })
  t.teardown(() => lab.close())
  t.notOk(await canConnect(lab, 'x/c', 'x/b'), 'c -> b denied while the agent runs')
  await lab.killAgent('SIGKILL')
  t.ok(await canConnect(lab, 'x/c', 'x/b'), 'c -> b passes with the agent gone (queue bypass)')
  t.ok(await canConnect(lab, 'x/a', 'x/b'), 'a -> b passes')
})

t.test('a policy change cuts the established flow it now denies and leaves the allowed one', e2e(['iptables', 'conntrack']), async (t) => {
  const lab = await Lab.start(file(state(bFrom('a', 'c'))))
  t.teardown(() => lab.close())
  const ns = (k: string) => lab.topology.pods.get(k)!.ns
  const kept = await tcpSession(t, ns('x/a'), ns('x/b'), B, 7001)
  const doomed = await tcpSession(t, ns('x/c'), ns('x/b'), B, 7002)
  const reverse = await tcpSession(t, ns('x/b'), ns('x/c'), C, 7004) // b -> c: not governed by b's ingress
  for (const [name, s] of [['a->b', kept], ['c->b', doomed], ['b->c', reverse]] as const) t.ok(await s.roundTrip(`${name}-before`), `${name} established`)

  const started = performance.now()
  const applied = await lab.applyState(state(bFrom('a')))
  const tookMs = performance.now() - started
  const status = (await lab.status()) as { lastCut?: { examined: number; deleted: number; tookMs: number } }
  t.comment(`policy written → enforced and denied flows cut: ${tookMs.toFixed(1)} ms (sync ${applied.tookMs.toFixed(1)} ms, cut ${JSON.stringify(status.lastCut)})`)
  t.notOk(await doomed.roundTrip('c->b-after', 500), 'the now-denied established flow is cut')
  t.ok(await kept.roundTrip('a->b-after'), 'the still-allowed flow is untouched')
  t.ok(await reverse.roundTrip('b->c-after'), 'an unrelated flow is untouched')
  t.equal(status.lastCut?.deleted, 1, 'exactly one conntrack entry deleted')
})

for (const [mark, want] of [['0x400000', 1], ['0', 20]] as const) {
  t.test(`one-way UDP flow with --decided-mark ${mark}: ${want} of 20 NEW datagrams go to userspace`, e2e(['iptables', 'conntrack']), async (t) => {
    const lab = await Lab.start(file(state(bFrom('a'))), { agentArgs: ['--decided-mark', mark] })
    t.teardown(() => lab.close())
    const packets = async () => ((await lab.status()) as { counters: { packets: number } }).counters.packets
    const before = await packets()
    // 20 datagrams from one socket (one source port) to a port nobody answers on: conntrack never
    // sees a reply, so every one of them is ctstate NEW.
    // The first datagram's verdict (and so the connection mark) is in place before the other 19
    // follow, so the count does not depend on how fast a loaded machine answers the first.
    const script = `const s = require('dgram').createSocket('udp4'); let n = 0;
      const send = () => s.send('x', 7100, ${JSON.stringify(B)}, () => { if (++n < 20) setTimeout(send, n === 1 ? 300 : 5); else s.close() }); send()`
    await lab.topology.exec(lab.topology.pods.get('x/a')!.ns, [process.execPath, '-e', script])
    await new Promise((r) => setTimeout(r, 200))
    t.equal(await packets() - before, want)
  })
}
