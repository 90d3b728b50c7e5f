// Queue rules with real packets: a fixed queue number with NO program bound and no bypass, so a
// queued packet is a dropped packet. What is not queued passes.
import t, { type Test } from 'tap'
import { e2e } from './helpers/e2e.js'
import { labTopology, tcpSession } from './helpers/netns.js'
import { LabProber, type ServedPort } from '../src/lab/probe.js'
import { nsExec, type Exec } from '../src/lab/netns.js'
import { RuleManager, type PodRuleTarget, type RuleOptions } from '../src/dataplane/rules.js'
import { detectBackend } from '../src/dataplane/backend-detect.js'
import type { PolicyProtocol } from '../src/api/types.js'

const serving: ServedPort[] = [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }, { port: 9000, protocol: 'SCTP' }]
const PODS = [
  { key: 'x/a', ips: ['10.0.1.11', 'fd00::1:11'] }, // egress-isolated
  { key: 'x/b', ips: ['10.0.2.22', 'fd00::2:22'] }, // not isolated
  { key: 'x/c', ips: ['10.0.3.33', 'fd00::3:33'] }, // ingress-isolated
]
const v4 = (k: string): string => PODS.find((p) => p.key === k)!.ips[0]!
const v6 = (k: string): string => PODS.find((p) => p.key === k)!.ips[1]!

interface Case { name: string; from: string; to: string; ok: boolean }

async function expectMatrix(t: Test, prober: LabProber, cases: readonly Case[]): Promise<void> {
  const runs = cases.flatMap((c) => serving.map((s) => ({ c, s })))
  const rs = await Promise.all(runs.map(({ c, s }) => prober.probe(c.from, c.to, s.port, s.protocol as PolicyProtocol, 400)))
  runs.forEach(({ c, s }, i) => t.equal(rs[i]!.ok, c.ok, `${c.name} ${s.protocol}${rs[i]!.error ? ` (${rs[i]!.error})` : ''}`))
}


for (const bridge of [false, true]) {
  t.test(`queue rules on ${bridge ? 'bridged' : 'routed'} pods: isolated NEW dropped, the rest passes`, e2e(['iptables', 'ip6tables']), async (t) => {
    const topo = await labTopology(t, bridge ? 'rb' : 'rr', PODS, bridge)
    const exec = nsExec(topo.nodeNs)
    const prober = await new LabProber(topo, new Map([...PODS.map((p) => [p.key, serving] as const), ['node', serving] as const]), { nodeKey: 'node' }).start()
    t.teardown(() => prober.close())
    t.equal(await detectBackend(exec), 'iptables', 'this kernel has no nft queue: iptables backend detected')

    // Connections established before the rules must survive them.
    const estAB = await tcpSession(t, topo.pods.get('x/a')!.ns, topo.pods.get('x/b')!.ns, v4('x/b'), 7001)
    const estBC = await tcpSession(t, topo.pods.get('x/b')!.ns, topo.pods.get('x/c')!.ns, v6('x/c'), 7002)
    t.ok(await estAB.roundTrip('before-ab'), 'a -> b session up')
    t.ok(await estBC.roundTrip('before-bc'), 'b -> c session up (IPv6)')

    const before = await Promise.all([exec(['iptables', '-S']), exec(['ip6tables', '-S']), exec(['iptables', '-t', 'mangle', '-S'])])
    const targets: PodRuleTarget[] = PODS.map((p) => ({
      ifname: topo.pods.get(p.key)!.hostIf, ips: p.ips, egress: p.key === 'x/a', ingress: p.key === 'x/c',
    }))
    const base: RuleOptions = { queueNum: 7, queueCount: 1, failOpen: false, enforceNodeTraffic: false, table: 'netpol', bridge: topo.bridge }
    let calls = 0
    const counting: Exec = (argv, stdin) => { calls++; return exec(argv, stdin) }
    const rules = new RuleManager('iptables', base, counting)
    t.teardown(() => rules.remove())
    const started = performance.now()
    await rules.sync(targets)
    t.comment(`first sync ${(performance.now() - started).toFixed(0)} ms, ${calls} processes`)

    await expectMatrix(t, prober, [
      { name: 'a (egress-isolated) -> b v4', from: 'x/a', to: v4('x/b'), ok: false },
      { name: 'a (egress-isolated) -> b v6', from: 'x/a', to: v6('x/b'), ok: false },
      { name: 'b -> a v4 (a not ingress-isolated; replies are ESTABLISHED)', from: 'x/b', to: v4('x/a'), ok: true },
      { name: 'b -> a v6', from: 'x/b', to: v6('x/a'), ok: true },
      { name: 'b -> c (ingress-isolated) v4', from: 'x/b', to: v4('x/c'), ok: false },
      { name: 'b -> c v6', from: 'x/b', to: v6('x/c'), ok: false },
      { name: 'c -> b v4', from: 'x/c', to: v4('x/b'), ok: true },
      { name: 'node -> c v4 (node traffic not enforced)', from: 'node', to: v4('x/c'), ok: true },
      { name: 'a -> node v6 (node traffic not enforced)', from: 'x/a', to: topo.nodeIPs[1]!, ok: true },
    ])
    t.ok(await estAB.roundTrip('after-ab'), 'established a -> b untouched')
    t.ok(await estBC.roundTrip('after-bc'), 'established b -> c untouched')

    calls = 0
    await rules.sync([...targets].reverse())
    t.equal(calls, 0, 'unchanged targets (any order): no process run')
    t.same(rules.stats(), { applied: 1, skipped: 1 })

    // Fail-open: the same rules with --queue-bypass let everything through while no agent is bound.
    const open = new RuleManager('iptables', { ...base, failOpen: true }, exec)
    await open.sync(targets)
    await expectMatrix(t, prober, [
      { name: 'bypass: a -> b v4', from: 'x/a', to: v4('x/b'), ok: true },
      { name: 'bypass: b -> c v6', from: 'x/b', to: v6('x/c'), ok: true },
    ])

    // Node traffic enforced: node <-> isolated pods queued too.
    const node = new RuleManager('iptables', { ...base, enforceNodeTraffic: true }, exec)
    await node.sync(targets)
    await expectMatrix(t, prober, [
      { name: 'enforced: node -> c v4', from: 'node', to: v4('x/c'), ok: false },
      { name: 'enforced: node -> c v6', from: 'node', to: v6('x/c'), ok: false },
      { name: 'enforced: a -> node v4', from: 'x/a', to: topo.nodeIPs[0]!, ok: false },
      { name: 'enforced: b -> node v4', from: 'x/b', to: topo.nodeIPs[0]!, ok: true },
      { name: 'enforced: node -> b v6', from: 'node', to: v6('x/b'), ok: true },
    ])
    // Back to not enforcing: the INPUT/OUTPUT jumps and chains of the previous options go away.
    await rules.sync([])
    await rules.sync(targets)
    t.notMatch(await exec(['iptables', '-S']), /NETPOL-(INPUT|OUTPUT)/, 'stale INPUT/OUTPUT chains removed')

    // denyAll: every listed pod, both ways.
    const deny = new RuleManager('iptables', { ...base, denyAll: true }, exec)
    await deny.sync(targets)
    await expectMatrix(t, prober, [
      { name: 'denyAll: b -> a', from: 'x/b', to: v4('x/a'), ok: false },
      { name: 'denyAll: c -> b v6', from: 'x/c', to: v6('x/b'), ok: false },
    ])

    await rules.remove()
    const after = await Promise.all([exec(['iptables', '-S']), exec(['ip6tables', '-S']), exec(['iptables', '-t', 'mangle', '-S'])])
    t.same(after, before, 'remove() leaves the tables exactly as they were')
    await expectMatrix(t, prober, [{ name: 'removed: a -> b', from: 'x/a', to: v4('x/b'), ok: true }])
    t.ok(await estBC.roundTrip('end-bc'), 'established b -> c still up')
  })
}

t.test('decidedMark: connections the agent accepted are not queued again', e2e(['iptables']), async (t) => {
  const topo = await labTopology(t, 'rm', PODS.slice(0, 2))
  const exec = nsExec(topo.nodeNs)
  const rules = new RuleManager('iptables', { queueNum: 9, queueCount: 1, failOpen: false, enforceNodeTraffic: false, table: 'netpol', decidedMark: 0x40000 }, exec)
  t.teardown(() => rules.remove())
  await rules.sync([{ ifname: topo.pods.get('x/a')!.hostIf, ips: PODS[0]!.ips, egress: true, ingress: false }])
  const save = await exec(['iptables-save'])
  t.match(save, /-A NETPOL-FORWARD -m connmark --mark 0x40000\/0x40000 -j RETURN/)
  t.match(save, /-A NETPOL-POSTROUTING -m mark --mark 0x40000\/0x40000 -j CONNMARK --(or-mark|set-xmark) 0x40000/)
  await rules.remove()
  t.notMatch(await exec(['iptables-save']), /NETPOL/, 'mangle chain removed too')
})
