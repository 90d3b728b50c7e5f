// Guards the choice to queue conntrack INVALID as well as NEW: an SCTP INIT with a bad CRC32c is
// not NEW to conntrack (ENVIRONMENT.md), so a NEW-only rule would forward it unjudged.
import t from 'tap'
import { e2e } from './helpers/e2e.js'
import { labTopology } from './helpers/netns.js'
import { nsExec, run } from '../src/lab/netns.js'
import { buildInit } from '../src/lab/sctp.js'
import { listFlows } from '../src/dataplane/conntrack.js'
import { RuleManager } from '../src/dataplane/rules.js'

const RECV = String.raw`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
s.settimeout(1.5)
print('ready', flush=True)
try:
    d = s.recv(2000)
    print('got %d' % len(d))
except socket.timeout:
    print('none')
`
const SEND = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
s.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[1], 0))
`

t.test('SCTP INIT: good CRC32c is NEW, bad CRC32c is not; both are queued for an isolated pod', e2e(['python3', 'iptables', 'conntrack']), async (t) => {
  const topo = await labTopology(t, 'sx', [{ key: 'x/a', ips: ['10.0.1.11'] }, { key: 'x/b', ips: ['10.0.2.22'] }])
  const a = topo.pods.get('x/a')!
  const b = topo.pods.get('x/b')!
  const exec = nsExec(topo.nodeNs)

  const deliver = async (pkt: Buffer): Promise<boolean> => {
    const { spawn } = await import('node:child_process')
    const rx = spawn('ip', ['netns', 'exec', b.ns, 'python3', '-c', RECV], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => { rx.kill() })
    let out = ''
    const exited = new Promise((resolve) => rx.on('exit', resolve))
    await new Promise<void>((resolve) => rx.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready')) resolve() }))
    await run(['ip', 'netns', 'exec', a.ns, 'python3', '-c', SEND, '10.0.2.22', pkt.toString('hex')])
    await exited
    return out.includes('got')
  }
  let port = 30000
  const init = (goodCrc: boolean): Buffer => {
    const p = buildInit(port++, 9000, { initiateTag: 0x1234 + port, aRwnd: 65535, outStreams: 1, inStreams: 1, initialTsn: 1 })
    if (!goodCrc) p.writeUInt32LE(0, 8)
    return p
  }

  t.ok(await deliver(init(true)), 'no rules: good INIT delivered')
  t.equal((await listFlows(exec, { protocol: 'SCTP', sport: port - 1 })).length, 1, 'good INIT: conntrack entry (NEW)')
  t.ok(await deliver(init(false)), 'no rules: bad-CRC INIT delivered too (raw socket)')
  t.equal((await listFlows(exec, { protocol: 'SCTP', sport: port - 1 })).length, 0, 'bad-CRC INIT: no conntrack entry (INVALID, not NEW)')

  const rules = new RuleManager('iptables', { queueNum: 13, queueCount: 1, failOpen: false, enforceNodeTraffic: false, table: 'netpol' }, exec)
  t.teardown(() => rules.remove())
  await rules.sync([{ ifname: a.hostIf, ips: a.ips, egress: true, ingress: false }])
  t.notOk(await deliver(init(true)), 'isolated: good INIT queued (dropped, no agent)')
  t.notOk(await deliver(init(false)), 'isolated: bad-CRC INIT queued as INVALID (dropped, no agent)')
})
