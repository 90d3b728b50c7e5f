// NFQUEUE round trip and throughput, three variants in one run on the lab topology (two pods
// behind a node namespace, every test packet queued in the node's FORWARD chain):
//   none   no queue rule (the kernel alone)
//   ours   src/dataplane/nfqueue.ts over the native addon, trivial accept
//   npm    the npm `nfqueue` package (one callback, one full copy, one verdict per packet), trivial accept
// Workloads: ICMP echo RTT (p50/p99; requests queued, so the added latency is one queue → verdict
// round trip),
// UDP flood of 64-byte datagrams (iperf3 -u -b 0: packets/s verdicted), TCP 1 stream (iperf3).
// This file is also its own helper process (`--role ...`), run inside the namespaces.
// `npm run bench -- nfqueue [--json] [--seconds N]`. Needs root and iperf3.
import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildTopology, type Topology } from '../src/lab/topology.js'

const SELF = fileURLToPath(import.meta.url)
const A = '10.73.0.1', B = '10.73.0.2'
const QUEUE = 10
const WARMUP = 100
type Variant = 'none' | 'ours' | 'npm'
const VARIANTS: readonly Variant[] = ['none', 'ours', 'npm']

// ------------------------------------------------------------------------------------------------
// Helper roles (child processes inside namespaces)

async function roleQueueOurs(queue: number): Promise<void> {
  const { NfQueue } = await import('../src/dataplane/nfqueue.js')
  const { loadBinding } = await import('../src/native/index.js')
  const q = new NfQueue(loadBinding(), { queue, failOpen: false, maxLen: 8192, batchSize: 256 })
  q.start((batch, v) => {
    for (let i = 0; i < batch.count; i++) v.set(i, 1)
  })
  serveStats(() => ({ ...q.stats(), cpuUs: cpuUs() }), () => q.close())
}

function roleQueueNpm(queue: number): void {
  const nfq = createRequire(import.meta.url)('nfqueue') as {
    NF_ACCEPT: number
    createQueueHandler(n: number, buf: number, cb: (p: { setVerdict(v: number): void }) => void): unknown
  }
  let packets = 0
  nfq.createQueueHandler(queue, 8 << 20, (p) => {
    packets++
    p.setVerdict(nfq.NF_ACCEPT)
  })
  serveStats(() => ({ packets, batches: packets, cpuUs: cpuUs() }), () => {})
}

function cpuUs(): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** Prints "ready"; stdin "stats" prints them as JSON; stdin end closes and exits. */
function serveStats(stats: () => object, close: () => void): void {
  console.log('ready')
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (l) => { if (l.trim() === 'stats') console.log(JSON.stringify(stats())) })
  rl.on('close', () => {
    close()
    process.exit(0)
  })
}

// ------------------------------------------------------------------------------------------------
// Orchestration

function inNs(ns: string, argv: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
}

function role(ns: string, args: string[]): ChildProcess {
  return inNs(ns, [process.execPath, '--import', 'tsx', SELF, '--role', ...args])
}

function firstLine(child: ChildProcess, pred: (l: string) => boolean, ms = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    let err = ''
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
    const timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms: ${err}`)), ms)
    rl.on('line', (l) => {
      if (!pred(l)) return
      clearTimeout(timer)
      rl.close()
      resolve(l)
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`exited ${code}: ${err}`))
    })
  })
}

async function output(child: ChildProcess): Promise<string> {
  let out = '', err = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((r) => child.on('exit', r))
  if (code !== 0) throw new Error(`exit ${code}: ${err || out}`)
  return out
}

async function setRules(topo: Topology, on: boolean): Promise<void> {
  await output(inNs(topo.nodeNs, ['iptables', '-F', 'FORWARD']))
  if (!on) return
  // UDP and TCP: every packet, both directions. ICMP: echo requests only, so a ping's added RTT
  // is exactly one queue -> verdict round trip.
  for (const rule of [['-p', 'udp'], ['-p', 'tcp'], ['-p', 'icmp', '-s', A]]) {
    await output(inNs(topo.nodeNs, ['iptables', '-A', 'FORWARD', ...rule, '-j', 'NFQUEUE', '--queue-num', String(QUEUE)]))
  }
}

/** ICMP echo RTTs from iputils ping (C, kernel echo reply: little noise of its own), in µs. */
async function pingRtt(ns: string, dst: string, count: number): Promise<{ p50: number; p99: number }> {
  const out = await output(inNs(ns, ['ping', '-n', '-c', String(count + WARMUP), '-i', '0.0005', '-W', '1', dst]))
  const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].slice(WARMUP).map((m) => Number(m[1]) * 1000).sort((x, y) => x - y)
  const q = (p: number): number => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] ?? NaN
  return { p50: q(0.5), p99: q(0.99) }
}

interface Figures { rttP50: number; rttP99: number; udpPps: number; udpSentPps: number; tcpGbps: number; batches: number; packets: number; cpuUsPerPacket: number }

async function measure(topo: Topology, variant: Variant, seconds: number): Promise<Figures> {
  const log = (m: string): void => { if (process.env.BENCH_DEBUG) console.error(`[${variant}] ${m}`) }
  const a = topo.pods.get('a')!.ns, b = topo.pods.get('b')!.ns
  await setRules(topo, variant !== 'none')
  let queue: ChildProcess | undefined
  type Stats = { packets: number; batches: number; cpuUs: number }
  const stats = async (): Promise<Stats> => {
    if (!queue) return { packets: 0, batches: 0, cpuUs: 0 }
    queue.stdin!.write('stats\n')
    return JSON.parse(await firstLine(queue, (l) => l.startsWith('{'))) as Stats
  }
  try {
    if (variant !== 'none') {
      queue = role(topo.nodeNs, [variant === 'ours' ? 'queue-ours' : 'queue-npm', String(QUEUE)])
      await firstLine(queue, (l) => l === 'ready')
    }
    log('queue ready')
    const ping = await pingRtt(a, B, 3000)
    log(`ping ${JSON.stringify(ping)}`)

    const server = inNs(b, ['iperf3', '-s', '-1'])
    const serverDone = new Promise((r) => server.on('exit', r))
    await new Promise((r) => setTimeout(r, 300))
    log('iperf3 server started')
    const before = await stats()
    log('stats before')
    const udp = JSON.parse(await output(inNs(a, ['iperf3', '-c', B, '-u', '-b', '0', '-l', '64', '-t', String(seconds), '-J']))) as {
      end: { sum: { packets: number; lost_packets: number; seconds: number } }
    }
    log('udp done')
    const after = await stats()
    await serverDone
    const sum = udp.end.sum

    const server2 = inNs(b, ['iperf3', '-s', '-1'])
    const server2Done = new Promise((r) => server2.on('exit', r))
    await new Promise((r) => setTimeout(r, 300))
    const tcp = JSON.parse(await output(inNs(a, ['iperf3', '-c', B, '-t', String(seconds), '-J']))) as {
      end: { sum_received: { bits_per_second: number } }
    }
    await server2Done
    const udpVerdicted = variant === 'none' ? sum.packets - sum.lost_packets : after.packets - before.packets
    return {
      rttP50: ping.p50,
      rttP99: ping.p99,
      udpPps: udpVerdicted / sum.seconds,
      udpSentPps: sum.packets / sum.seconds,
      tcpGbps: tcp.end.sum_received.bits_per_second / 1e9,
      batches: after.batches - before.batches,
      packets: after.packets - before.packets,
      // Queue program CPU (user + sys, includes its recv/send syscalls) per packet of the UDP flood.
      cpuUsPerPacket: (after.cpuUs - before.cpuUs) / Math.max(1, after.packets - before.packets),
    }
  } finally {
    if (queue) {
      queue.stdin!.end()
      await new Promise((r) => { queue!.on('exit', r); setTimeout(r, 2000) })
      queue.kill('SIGKILL')
    }
  }
}

export default async function nfqueueBench(args: string[]): Promise<void> {
  const json = args.includes('--json')
  const si = args.indexOf('--seconds')
  const seconds = si >= 0 ? Number(args[si + 1]) : 3
  if (process.getuid?.() !== 0) throw new Error('bench nfqueue: needs root (network namespaces, iptables)')
  const topo = await buildTopology({ prefix: `npq${process.pid}-bn`, pods: [{ key: 'a', ips: [A] }, { key: 'b', ips: [B] }] })
  const results = new Map<Variant, Figures>()
  try {
    for (const v of VARIANTS) results.set(v, await measure(topo, v, seconds))
  } finally {
    await topo.destroy()
  }
  const none = results.get('none')!, ours = results.get('ours')!, npm = results.get('npm')!
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-')
  const rows = [
    ['variant', 'RTT p50 µs', 'RTT p99 µs', 'added p50 µs', 'added p99 µs', 'UDP 64B verdicts/s', 'UDP offered/s', 'TCP Gbit/s', 'pkts/batch', 'CPU µs/pkt'],
    ...VARIANTS.map((v) => {
      const r = results.get(v)!
      return [v, f(r.rttP50), f(r.rttP99), v === 'none' ? '-' : f(r.rttP50 - none.rttP50), v === 'none' ? '-' : f(r.rttP99 - none.rttP99),
        v === 'none' ? '-' : f(r.udpPps, 0), f(r.udpSentPps, 0), f(r.tcpGbps, 2), v === 'none' ? '-' : f(r.packets / Math.max(1, r.batches), 1), v === 'none' ? '-' : f(r.cpuUsPerPacket, 2)]
    }),
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c]!)).join('  '))
  console.log(`UDP verdicts/s: ours ${f(ours.udpPps / npm.udpPps, 2)}x npm; TCP (GSO on for ours): ours ${f(ours.tcpGbps / npm.tcpGbps, 1)}x npm, ${f(ours.tcpGbps / none.tcpGbps, 2)}x unfiltered`)
  if (json) {
    console.log(JSON.stringify({
      bench: 'nfqueue',
      rtt_p50_us_none: none.rttP50, rtt_p99_us_none: none.rttP99,
      rtt_p50_us_ours: ours.rttP50, rtt_p99_us_ours: ours.rttP99,
      rtt_p50_us_npm: npm.rttP50, rtt_p99_us_npm: npm.rttP99,
      added_p50_us_ours: ours.rttP50 - none.rttP50, added_p99_us_ours: ours.rttP99 - none.rttP99,
      added_p50_us_npm: npm.rttP50 - none.rttP50, added_p99_us_npm: npm.rttP99 - none.rttP99,
      udp_pps_ours: ours.udpPps, udp_pps_npm: npm.udpPps, udp_offered_pps_ours: ours.udpSentPps, udp_offered_pps_npm: npm.udpSentPps,
      cpu_us_per_pkt_ours: ours.cpuUsPerPacket, cpu_us_per_pkt_npm: npm.cpuUsPerPacket,
      pkts_per_batch_ours: ours.packets / Math.max(1, ours.batches),
      tcp_gbps_none: none.tcpGbps, tcp_gbps_ours: ours.tcpGbps, tcp_gbps_npm: npm.tcpGbps,
    }))
  }
}

// Helper process entry (and direct runs: `node --import tsx bench/nfqueue.bench.ts [--json]`).
if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const argv = process.argv.slice(2)
  if (argv[0] === '--role') {
    const [, r, x] = argv
    if (r === 'queue-ours') void roleQueueOurs(Number(x))
    else if (r === 'queue-npm') roleQueueNpm(Number(x))
    else throw new Error(`unknown role ${r}`)
  } else {
    nfqueueBench(argv).catch((e: unknown) => {
      console.error(e)
      process.exit(1)
    })
  }
}
