// One queue per worker thread behind `--queue-balance`, and worker termination with the queue and a
// raw socket still open (the addon's async env cleanup hook must close them; no crash, no leak).
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { e2e } from './helpers/e2e.js'
import { buildTopology } from '../src/lab/topology.js'

const WORKERS = new URL('./fixtures/nfqueue-workers.ts', import.meta.url).pathname
const PEER = new URL('./fixtures/nfqueue-peer.ts', import.meta.url).pathname
const CLIENTS = 10
const FLOWS = 4

t.test('two workers share a --queue-balance range; terminating them cleans up', e2e(['iptables']), async (t) => {
  // xt_NFQUEUE balances by a hash of the address pair (not ports): spreading needs many clients.
  const clients = Array.from({ length: CLIENTS }, (_, i) => ({ key: `c${i}`, ips: [`10.74.1.${i + 1}`] }))
  const topo = await buildTopology({ prefix: `npq${process.pid}-w`, pods: [{ key: 'b', ips: ['10.74.0.2'] }, ...clients] })
  t.teardown(() => topo.destroy())
  await topo.exec(topo.nodeNs, ['iptables', '-A', 'FORWARD', '-p', 'udp', '--dport', '7500', '-j', 'NFQUEUE', '--queue-balance', '20:21'])
  const child = spawn('ip', ['netns', 'exec', topo.nodeNs, process.execPath, '--import', 'tsx', WORKERS, '20', '2'], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const exited = once(child, 'exit')
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  t.equal((await lines.next()).value, 'ready', 'both workers bound their queue')
  await Promise.all(clients.map(async (c) => {
    const flows = spawn('ip', ['netns', 'exec', topo.pods.get(c.key)!.ns, process.execPath, '--import', 'tsx', PEER, 'udp-flows', '10.74.0.2', '7500', String(FLOWS)], { stdio: 'inherit' })
    await once(flows, 'exit')
  }))
  await new Promise((r) => setTimeout(r, 300))
  child.stdin.write('report\n')
  const { reports } = JSON.parse((await lines.next()).value as string) as { reports: { worker: number; packets: number }[] }
  const total = reports.reduce((n, r) => n + r.packets, 0)
  t.equal(total, CLIENTS * FLOWS, 'every flow was queued to one of the workers')
  t.ok(reports.every((r) => r.packets > 0), `the address pairs were spread over both queues (${reports.map((r) => r.packets).join(' + ')})`)
  child.stdin.write('terminate\n')
  t.match(JSON.parse((await lines.next()).value as string), { terminated: [1, 1] }, 'workers terminated with queues open')
  await exited
  t.equal(child.exitCode, 0, 'the process survived the teardown of both addon instances')
})
