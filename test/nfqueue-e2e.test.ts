// NfQueue against a real kernel queue: node namespace (iptables NFQUEUE in FORWARD) between two
// pod namespaces, the queue program running inside the node namespace (fixture process).
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { e2e } from './helpers/e2e.js'
import { buildTopology, type Topology } from '../src/lab/topology.js'

const AGENT = new URL('./fixtures/nfqueue-agent.ts', import.meta.url).pathname
const RAW_AGENT = new URL('./fixtures/nfqueue-raw-agent.ts', import.meta.url).pathname
const PEER = new URL('./fixtures/nfqueue-peer.ts', import.meta.url).pathname
const A4 = '10.72.0.1', B4 = '10.72.0.2', A6 = 'fd72::1', B6 = 'fd72::2'

/** A fixture process inside a namespace, its stdout collected as lines. */
class Proc {
  readonly lines: string[] = []
  private waiters: (() => void)[] = []
  readonly exited: Promise<unknown>
  constructor(t: Test, readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.lines.push(l)
      for (const w of this.waiters.splice(0)) w()
    })
    // 'close', not 'exit': the process is gone *and* everything it printed has been read.
    this.exited = once(child, 'close')
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  }
  static spawn(t: Test, ns: string, script: string, args: string[]): Proc {
    return new Proc(t, spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }))
  }
  async waitFor(pred: (line: string) => boolean, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms
    for (;;) {
      const hit = this.lines.find(pred)
      if (hit !== undefined) return hit
      if (Date.now() > deadline) throw new Error(`timed out waiting; got ${JSON.stringify(this.lines.slice(-5))}`)
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 100) })
    }
  }
  /** Resolves true once pred() holds (checked on every new line and every 100 ms), false after ms. */
  async until(pred: () => boolean, ms = 10_000): Promise<boolean> {
    const deadline = Date.now() + ms
    while (!pred()) {
      if (Date.now() > deadline) return false
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 100) })
    }
    return true
  }
  json<T>(): T[] {
    return this.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as T)
  }
}

interface PacketLine { code: number; family: number; proto: number; src: string; dst: string; sport: number; dport: number; hook: number; hw: number; indev: number; outdev: number; verdict: number; caplen: number; len: number }

async function agent(t: Test, topo: Topology, opts: object): Promise<Proc> {
  const p = Proc.spawn(t, topo.nodeNs, AGENT, [JSON.stringify(opts)])
  await p.waitFor((l) => l.includes('"ready"'))
  return p
}

/** A file whose existence keeps the agent fixture stalled; removed at the latest on teardown. */
function stallFile(t: Test): string {
  const file = path.join(tmpdir(), `npq${process.pid}-stall-${randomBytes(4).toString('hex')}`)
  writeFileSync(file, '')
  t.teardown(() => rmSync(file, { force: true }))
  return file
}

async function ipt(topo: Topology, ...rules: string[][]): Promise<void> {
  for (const r of rules) {
    await topo.exec(topo.nodeNs, ['iptables', ...r])
    await topo.exec(topo.nodeNs, ['ip6tables', ...r])
  }
}

/**
 * Sends `count` datagrams from pod a to b:port over both families; resolves to what b received.
 * With `expect`, waits (up to 10 s) until that many arrived, then 100 ms more for any extra; without
 * it (nothing or an unknown number should arrive), a fixed 300 ms. A fixed wait alone under-counts
 * on a loaded machine: what the receiver had not printed yet when it was stopped was lost.
 */
async function udpExchange(t: Test, topo: Topology, ports: number[], count = 3, expect?: number): Promise<{ port: number; from: string }[]> {
  const a = topo.pods.get('a')!, b = topo.pods.get('b')!
  const rx = Proc.spawn(t, b.ns, PEER, ['udp-listen', ...ports.map(String)])
  await rx.waitFor((l) => l === 'ready')
  await Promise.all(ports.flatMap((port) => [B4, B6].map(async (dst) => {
    const tx = Proc.spawn(t, a.ns, PEER, ['udp-send', dst, String(port), String(count)])
    await tx.exited
  })))
  if (expect !== undefined) await rx.until(() => rx.json().length >= expect)
  await new Promise((r) => setTimeout(r, expect !== undefined ? 100 : 300))
  rx.child.kill()
  await rx.exited
  return rx.json<{ port: number; from: string }>()
}

interface QueueCounters { total: number; dropped: number; userDropped: number }

/** One queue's line of /proc/net/netfilter/nfnetlink_queue in the node namespace (undefined if unbound). */
async function queueCounters(topo: Topology, queue: number): Promise<QueueCounters | undefined> {
  // queue, portid, queue_total, copy_mode, copy_range, queue_dropped, queue_user_dropped, id_sequence, 1
  const line = (await topo.exec(topo.nodeNs, ['cat', '/proc/net/netfilter/nfnetlink_queue'])).split('\n').find((l) => new RegExp(`^\\s*${queue}\\s`).test(l))
  if (!line) return undefined
  const [, , total, , , dropped, userDropped] = line.trim().split(/\s+/).map(Number)
  return { total: total!, dropped: dropped!, userDropped: userDropped! }
}

/** Polls the queue's counters until pred holds (up to 10 s); returns the last reading. */
async function queueCountersUntil(topo: Topology, queue: number, pred: (c: QueueCounters) => boolean): Promise<QueueCounters | undefined> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const c = await queueCounters(topo, queue)
    if ((c && pred(c)) || Date.now() > deadline) return c
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('NFQUEUE in the node namespace: decode, accept/drop, marks, fail-open, bypass', e2e(['iptables', 'ip6tables']), async (t) => {
  const topo = await buildTopology({ prefix: `npq${process.pid}-q`, pods: [{ key: 'a', ips: [A4, A6] }, { key: 'b', ips: [B4, B6] }] })
  t.teardown(() => topo.destroy())
  const a = topo.pods.get('a')!, b = topo.pods.get('b')!
  // Marks are set by the verdict; count them in a later hook (mangle POSTROUTING).
  await ipt(topo,
    ['-A', 'FORWARD', '-p', 'udp', '--dport', '7000:7009', '-j', 'NFQUEUE', '--queue-num', '3'],
    ['-A', 'FORWARD', '-p', 'tcp', '--dport', '7000:7009', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'NFQUEUE', '--queue-num', '3'],
    ['-t', 'mangle', '-A', 'POSTROUTING', '-m', 'mark', '--mark', '0x42'],
    ['-A', 'FORWARD', '-p', 'udp', '--dport', '7010:7019', '-j', 'NFQUEUE', '--queue-num', '4'],
    ['-A', 'FORWARD', '-p', 'udp', '--dport', '7020', '-j', 'NFQUEUE', '--queue-num', '5', '--queue-bypass'],
    ['-A', 'FORWARD', '-p', 'udp', '--dport', '7021', '-j', 'NFQUEUE', '--queue-num', '5'],
  )

  await t.test('UDP: packets arrive decoded; drop and accept (with mark) take effect', async (t) => {
    const q = await agent(t, topo, { queue: 3, rules: [{ dport: 7001, verdict: 'drop' }, { dport: 7002, verdict: 'accept', mark: 0x42 }] })
    const got = await udpExchange(t, topo, [7000, 7001, 7002], 3, 12)
    const count = (port: number, from: string): number => got.filter((g) => g.port === port && g.from === from).length
    for (const [from, fam] of [[A4, 'IPv4'], [A6, 'IPv6']] as const) {
      t.equal(count(7000, from), 3, `${fam} 7000 accepted`)
      t.equal(count(7001, from), 0, `${fam} 7001 dropped`)
      t.equal(count(7002, from), 3, `${fam} 7002 accepted with a mark`)
    }
    // A second program on the same queue number: the kernel refuses the bind (EPERM: the queue
    // belongs to another netlink port).
    const second = Proc.spawn(t, topo.nodeNs, AGENT, [JSON.stringify({ queue: 3 })])
    await second.exited
    t.match(JSON.parse(await second.waitFor((l) => l.includes('"error"'))), { error: { name: 'NativeError', errno: 1, code: 'EPERM', syscall: /NFQNL_CFG_CMD_BIND/ } },
      'a queue bound elsewhere: NativeError EPERM naming the bind')
    const pkts = q.json<PacketLine>().filter((p) => 'proto' in p)
    t.equal(pkts.length, 18, 'every datagram was queued once')
    const v4 = pkts.find((p) => p.family === 4 && p.dport === 7000)!
    t.match(v4, { code: 0, proto: 17, src: A4, dst: B4, hook: 2, hw: 0x0800 }, 'IPv4 decoded, FORWARD hook')
    t.ok(v4.indev > 0 && v4.outdev > 0 && v4.indev !== v4.outdev, 'in/out interfaces reported')
    t.equal(v4.caplen, v4.len, 'small packets are copied whole')
    t.match(pkts.find((p) => p.family === 6 && p.dport === 7002), { code: 0, proto: 17, src: 'fd72:0:0:0:0:0:0:1', hook: 2, hw: 0x86dd }, 'IPv6 decoded')
    const mangle = await topo.exec(topo.nodeNs, ['iptables', '-t', 'mangle', '-nvxL', 'POSTROUTING'])
    const mangle6 = await topo.exec(topo.nodeNs, ['ip6tables', '-t', 'mangle', '-nvxL', 'POSTROUTING'])
    const marked = (s: string): number => Number(/^\s*(\d+)\s+\d+.*mark match 0x42/m.exec(s)?.[1] ?? -1)
    t.equal(marked(mangle), 3, 'IPv4: the verdict set mark 0x42 on the 3 accepted packets')
    t.equal(marked(mangle6), 3, 'IPv6: the verdict set mark 0x42')
    q.child.stdin!.write('stats\n')
    const stats = JSON.parse(await q.waitFor((l) => l.includes('"stats"'))).stats
    t.match(stats, { packets: 18, verdicts: 18, enobufs: 0, overflow: 0, netlinkErrors: 0, truncated: 0 }, 'stats add up')
    q.child.stdin!.end()
    await q.exited
    t.equal(q.child.exitCode, 0, 'agent closed cleanly')
  })

  await t.test('TCP: a new connection passes or not by verdict; established traffic stays in the kernel', async (t) => {
    const q = await agent(t, topo, { queue: 3, rules: [{ dport: 7001, verdict: 'drop' }] })
    const srv = Proc.spawn(t, b.ns, PEER, ['tcp-listen', '7001', '7003'])
    await srv.waitFor((l) => l === 'ready')
    const connect = async (dst: string, port: number): Promise<{ ok: boolean; echo: string }> => {
      const c = Proc.spawn(t, a.ns, PEER, ['tcp-connect', dst, String(port), '1500'])
      return JSON.parse(await c.waitFor((l) => l.startsWith('{')))
    }
    t.same(await connect(B4, 7003), { ok: true, echo: 'hello' }, 'IPv4 7003 accepted: echo came back')
    t.same(await connect(B6, 7003), { ok: true, echo: 'hello' }, 'IPv6 7003 accepted')
    t.same(await connect(B4, 7001), { ok: false, echo: '' }, 'IPv4 7001 dropped: no connection')
    t.same(await connect(B6, 7001), { ok: false, echo: '' }, 'IPv6 7001 dropped')
    const accepted = q.json<PacketLine & { tcpFlags: number }>().filter((p) => p.dport === 7003)
    t.equal(accepted.length, 2, 'only the SYN of each accepted connection was queued (ctstate NEW)')
    t.ok(accepted.every((p) => p.tcpFlags === 0x02), 'and it decodes as a SYN')
    srv.child.kill()
    q.child.kill('SIGTERM')
    await q.exited
  })

  await t.test('queue full: the kernel accepts with failOpen, drops without', async (t) => {
    for (const failOpen of [true, false]) {
      const mode = failOpen ? 'failOpen' : 'fail-closed'
      // maxLen 1 and the program stalled from before its "ready" (it never reads the socket until the
      // stall file goes): the first of the 20 datagrams waits in the queue, each of the other 19
      // finds the queue full. The kernel's counters say what became of every one, so the test does
      // not depend on how long anything takes.
      const stall = stallFile(t)
      const q = await agent(t, topo, { queue: 4, failOpen, maxLen: 1, stallFile: stall, rules: [{ dport: 7010, verdict: 'drop' }] })
      const got = await udpExchange(t, topo, [7010], 10, failOpen ? 19 : undefined)
      const held = await queueCountersUntil(topo, 4, (c) => c.total + c.dropped >= (failOpen ? 1 : 20))
      if (failOpen) {
        t.equal(got.length, 19, `${mode}: 19 of 20 passed while the program stalled (it drops all it sees)`)
        t.ok(got.filter((g) => g.from === A4).length >= 9, `${mode}: IPv4 among them`)
        t.match(held, { total: 1, dropped: 0 }, `${mode}: one waits in the queue, none dropped as full`)
      } else {
        t.match(held, { total: 1, dropped: 19 }, `${mode}: one waits in the queue, the kernel dropped the other 19 as full`)
        t.equal(got.length, 0, `${mode}: nothing passes while the queue is full`)
      }
      rmSync(stall)
      // The program wakes and gives the waiting one its verdict (drop).
      t.match(await queueCountersUntil(topo, 4, (c) => c.total === 0), { total: 0 }, `${mode}: the waiting packet got its verdict`)
      q.child.kill('SIGTERM')
      await q.exited
    }
  })

  await t.test('socket overrun (ENOBUFS): counted; undeliverable packets follow failOpen; the queue keeps working', async (t) => {
    for (const failOpen of [true, false]) {
      const mode = failOpen ? 'failOpen' : 'fail-closed'
      // A tiny receive buffer and a stalled program: most queue messages cannot be delivered.
      const stall = stallFile(t)
      const q = await agent(t, topo, { queue: 4, failOpen, maxLen: 10000, rcvbuf: 4096, stallFile: stall, quiet: true })
      const during = await udpExchange(t, topo, [7011], 100, failOpen ? 150 : undefined)
      rmSync(stall)  // the program wakes up and drains what the socket kept
      if (failOpen) t.ok(during.length >= 150, `${mode}: the kernel accepted what it could not deliver (${during.length}/200 passed during the stall)`)
      else t.equal(during.length, 0, `${mode}: nothing passed during the stall`)
      const after = await udpExchange(t, topo, [7012], 3, 6)
      t.equal(after.length, 6, `${mode}: traffic after the overrun is queued and accepted (the poll was restarted)`)
      q.child.stdin!.write('stats\n')
      const stats = JSON.parse(await q.waitFor((l) => l.includes('"stats"'))).stats as { enobufs: number; batchVerdicts: number; batches: number; packets: number }
      t.ok(stats.enobufs >= 1, `${mode}: ENOBUFS counted (${stats.enobufs})`)
      // What the socket kept arrives as one batch of consecutive ids, all accepted: one verdict-batch message.
      t.ok(stats.batchVerdicts >= 1, `${mode}: NFQNL_MSG_VERDICT_BATCH used (${stats.batchVerdicts}; ${stats.packets} packets in ${stats.batches} batches)`)
      // /proc/net/netfilter/nfnetlink_queue: queue, portid, queue_total, mode, range, dropped, user_dropped, ...
      const line = (await topo.exec(topo.nodeNs, ['cat', '/proc/net/netfilter/nfnetlink_queue'])).split('\n').find((l) => /^\s*4\s/.test(l))!
      const [, , total, , , , userDropped] = line.trim().split(/\s+/).map(Number)
      if (!failOpen) t.ok(userDropped! > 0, `${mode}: the kernel counts what it dropped undelivered (${userDropped})`)
      t.equal(total, 0, `${mode}: nothing is left waiting in the kernel queue`)
      q.child.stdin!.end()
      await q.exited
    }
  })

  await t.test('a batch callback that sends no verdicts: the addon gives the default, nothing stays queued', async (t) => {
    for (const [defaultVerdict, passes] of [[1, 6], [0, 0]] as const) {
      const q = Proc.spawn(t, topo.nodeNs, RAW_AGENT, [JSON.stringify({ queue: 4, defaultVerdict })])
      await q.waitFor((l) => l.includes('"ready"'))
      const got = await udpExchange(t, topo, [7013], 3, passes || undefined)
      t.equal(got.length, passes, `default verdict ${defaultVerdict ? 'accept' : 'drop'}: ${got.length} of 6 passed`)
      q.child.stdin!.write('stats\n')
      t.match(JSON.parse(await q.waitFor((l) => l.includes('"stats"'))), { stats: { packets: 6, verdicts: 6, overflow: 6 } })
      q.child.stdin!.end()
      await q.exited
    }
  })

  await t.test('program gone (kill -9): --queue-bypass accepts, plain NFQUEUE drops', async (t) => {
    const q = await agent(t, topo, { queue: 5, rules: [{ dport: 7020, verdict: 'drop' }, { dport: 7021, verdict: 'drop' }] })
    let got = await udpExchange(t, topo, [7020, 7021])
    t.equal(got.length, 0, 'while running, the program drops both')
    q.child.kill('SIGKILL')
    await q.exited
    got = await udpExchange(t, topo, [7020, 7021], 3, 6)
    t.equal(got.filter((g) => g.port === 7020).length, 6, 'bypass rule: accepted without a listener')
    t.equal(got.filter((g) => g.port === 7021).length, 0, 'plain rule: dropped without a listener')
  })
})
