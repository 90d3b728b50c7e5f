import t from 'tap'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { e2e } from './helpers/e2e.js'
import { labTopology, tcpSession, uniquePrefix } from './helpers/netns.js'
import { nsExec, run } from '../src/lab/netns.js'
import { deleteFlows, deleteRequestLine, listFlows, parseConntrackLine, type Flow } from '../src/dataplane/conntrack.js'
import { RuleManager } from '../src/dataplane/rules.js'

t.test('parseConntrackLine', async (t) => {
  const cases: { name: string; line: string; want: Partial<Flow> | undefined }[] = [
    {
      name: 'tcp established, original direction only',
      line: 'ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.1.11 dst=10.0.2.22 sport=40000 dport=80 src=10.0.2.22 dst=10.0.1.11 sport=80 dport=40000 [ASSURED] mark=0 use=1',
      want: { family: 4, protocol: 'TCP', protoNum: 6, src: '10.0.1.11', dst: '10.0.2.22', sport: 40000, dport: 80, state: 'ESTABLISHED', mark: 0, flags: ['ASSURED'] },
    },
    {
      name: 'udp v6 unreplied, no state',
      line: 'ipv6     10 udp      17 29 src=fd00::1:11 dst=fd00::2:22 sport=5353 dport=53 [UNREPLIED] src=fd00::2:22 dst=fd00::1:11 sport=53 dport=5353 mark=0 zone=3 use=1',
      want: { family: 6, protocol: 'UDP', src: 'fd00::1:11', dst: 'fd00::2:22', sport: 5353, dport: 53, zone: 3, flags: ['UNREPLIED'] },
    },
    {
      name: 'sctp',
      line: 'ipv4     2 sctp     132 3 COOKIE_WAIT src=10.0.1.11 dst=10.0.2.22 sport=4000 dport=9000 [UNREPLIED] src=10.0.2.22 dst=10.0.1.11 sport=9000 dport=4000 mark=0 use=1',
      want: { protocol: 'SCTP', protoNum: 132, state: 'COOKIE_WAIT', sport: 4000, dport: 9000 },
    },
    {
      name: 'icmp echo',
      line: 'ipv4     2 icmp     1 29 src=10.0.1.11 dst=10.0.2.22 type=8 code=0 id=77 src=10.0.2.22 dst=10.0.1.11 type=0 code=0 id=77 mark=0 use=1',
      want: { protocol: 'ICMP', sport: 0, dport: 0, icmp: { type: 8, code: 0, id: 77 } },
    },
    {
      name: 'unknown protocol',
      line: 'ipv4     2 unknown  47 599 src=10.0.1.11 dst=10.0.2.22 src=10.0.2.22 dst=10.0.1.11 mark=0 use=1',
      want: { protocol: 'GRE', protoNum: 47, sport: 0, dport: 0 },
    },
    { name: 'summary line', line: 'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.', want: undefined },
    { name: 'empty', line: '', want: undefined },
    { name: 'garbage', line: 'ipv4 2 tcp x y', want: undefined },
  ]
  for (const c of cases) {
    const got = parseConntrackLine(c.line)
    if (c.want === undefined) t.equal(got, undefined, c.name)
    else t.match(got, c.want, c.name)
  }
  t.equal(deleteRequestLine(parseConntrackLine(cases[3]!.line)!), '4 1 10.0.1.11 10.0.2.22 8 0 77 zone=0')
})

t.test('the conntrack tool path: listFlows / deleteFlows(exec) in another namespace, exact', e2e(['conntrack']), async (t) => {
  const ns = `${uniquePrefix('cb')}-node`
  await run(['ip', 'netns', 'add', ns])
  t.teardown(() => run(['ip', 'netns', 'del', ns]))
  const exec = nsExec(ns)
  // One `conntrack -D` per flow dumps the table each time: a small table keeps this quick.
  const N = 60
  const lines: string[] = []
  for (let i = 0; i < N; i++) {
    const v6 = i % 2 === 1
    const src = v6 ? `fd00::1:${(i + 1).toString(16)}` : `10.1.${i >> 8}.${i & 255}`
    const dst = v6 ? 'fd00::2:1' : '10.2.0.1'
    const proto = ['tcp', 'udp', 'sctp'][i % 3]!
    const state = proto === 'tcp' ? ' --state ESTABLISHED' : proto === 'sctp' ? ' --state ESTABLISHED --orig-vtag 1 --reply-vtag 2' : ''
    lines.push(`-I -s ${src} -d ${dst} -p ${proto} --sport ${1000 + i} --dport 80${state} --timeout 600${i % 10 === 3 ? ' --zone 9' : ''}`)
  }
  // conntrack -R opens /dev/stdin, which fails on node's socketpair stdio: use a file.
  const file = join(tmpdir(), `${ns}.ct`)
  writeFileSync(file, lines.join('\n') + '\n')
  t.teardown(() => rmSync(file, { force: true }))
  await exec(['conntrack', '-R', file])
  const all = await listFlows(exec)
  t.equal(all.length, N)
  t.equal(all.filter((f) => f.zone === 9).length, N / 10, 'zones listed')
  const doomed = all.filter((f, i) => i % 5 === 0 || (f.zone === 9 && f.family === 4))
  const gone = new Set(doomed.map(deleteRequestLine))
  t.equal(await deleteFlows(exec, doomed), doomed.length, 'every doomed entry deleted')
  const left = await listFlows(exec)
  t.equal(left.length, N - doomed.length)
  t.notOk(left.some((f) => gone.has(deleteRequestLine(f))), 'none of them left')
  t.equal(await deleteFlows(exec, doomed.slice(0, 3)), 0, 'deleting again: nothing found, no error')
  t.equal((await listFlows(exec, { protocol: 'UDP', family: 6 })).every((f) => f.protocol === 'UDP' && f.family === 6), true, 'filter')
})

t.test('cutting a live TCP flow: the next packet is judged afresh and dropped; others untouched', e2e(['conntrack', 'iptables']), async (t) => {
  const topo = await labTopology(t, 'cl', [
    { key: 'x/a', ips: ['10.0.1.11', 'fd00::1:11'] },
    { key: 'x/b', ips: ['10.0.2.22', 'fd00::2:22'] },
  ])
  const exec = nsExec(topo.nodeNs)
  const a = topo.pods.get('x/a')!
  const b = topo.pods.get('x/b')!
  t.equal((await exec(['sysctl', '-n', 'net.netfilter.nf_conntrack_tcp_loose'])).trim(), '1', 'tcp_loose defaults to 1 in the node namespace')

  const s1 = await tcpSession(t, a.ns, b.ns, '10.0.2.22', 7101) // will be cut
  const s2 = await tcpSession(t, a.ns, b.ns, '10.0.2.22', 7102) // same pods, stays
  const s3 = await tcpSession(t, a.ns, b.ns, 'fd00::2:22', 7103) // IPv6, cut with tcp_loose=0
  for (const [name, s] of [['s1', s1], ['s2', s2], ['s3', s3]] as const) t.ok(await s.roundTrip(`${name}-hello`), `${name} up`)

  const flows = await listFlows(exec, { protocol: 'TCP', src: '10.0.1.11', sport: s1.sport })
  t.equal(flows.length, 1, 'the live flow is listed once')
  t.match(flows[0], { family: 4, src: '10.0.1.11', dst: '10.0.2.22', dport: 7101, state: 'ESTABLISHED' })

  // a is now egress-isolated; no agent is bound to queue 11 and there is no bypass.
  const rules = new RuleManager('iptables', { queueNum: 11, queueCount: 1, failOpen: false, enforceNodeTraffic: false, table: 'netpol' }, exec)
  t.teardown(() => rules.remove())
  await rules.sync([{ ifname: a.hostIf, ips: a.ips, egress: true, ingress: false }])
  t.ok(await s1.roundTrip('s1-established'), 'established flows pass the rules')

  let started = performance.now()
  t.equal(await deleteFlows(exec, flows), 1)
  t.comment(`cut in ${(performance.now() - started).toFixed(1)} ms`)
  t.notOk(await s1.roundTrip('s1-after-cut', 1500), 'tcp_loose=1: the next packet is picked up as NEW, queued, dropped (no agent)')
  t.ok(await s2.roundTrip('s2-after-cut'), 'the other connection between the same pods is untouched')
  t.same(await listFlows(exec, { protocol: 'TCP', sport: s1.sport }).then((fs) => fs.filter((f) => f.state === 'ESTABLISHED')), [],
    'no established entry came back for the cut flow')

  // tcp_loose=0: a mid-stream packet without an entry is INVALID (not NEW). Our rules queue INVALID
  // too, or it would be forwarded unjudged.
  await exec(['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=0'])
  const f3 = await listFlows(exec, { family: 6, protocol: 'TCP', sport: s3.sport })
  t.equal(await deleteFlows(exec, f3), 1)
  t.notOk(await s3.roundTrip('s3-after-cut', 1500), 'tcp_loose=0: INVALID, queued, dropped')
  t.ok(await s2.roundTrip('s2-still'), 'the allowed one still flows')

  // With fail-open (agent absent, bypass) the re-judged packet passes and the flow carries on:
  // what the agent's own accept verdict does for a flow that the new policy still allows.
  await exec(['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=1'])
  const open = new RuleManager('iptables', { queueNum: 11, queueCount: 1, failOpen: true, enforceNodeTraffic: false, table: 'netpol' }, exec)
  await open.sync([{ ifname: a.hostIf, ips: a.ips, egress: true, ingress: false }])
  const f2 = await listFlows(exec, { protocol: 'TCP', sport: s2.sport })
  t.equal(await deleteFlows(exec, f2), 1)
  t.ok(await s2.roundTrip('s2-reaccepted', 3000), 'loose pickup + accept: the connection survives a delete')
  t.equal((await listFlows(exec, { protocol: 'TCP', sport: s2.sport })).length, 1, 'and its entry is back')
})
