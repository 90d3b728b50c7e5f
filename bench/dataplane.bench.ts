// Dataplane benchmark on the lab topology, every variant measured in the same run:
//   baseline      no filtering at all
//   agent         the netpol agent enforcing 10k policies (the probed pair allowed)
//   nfqueue-npm   the npm `nfqueue` package (node-nfqueue) accepting every NEW packet, same rules shape
// Workloads: iperf3 TCP throughput (1 stream) and a new-connection rate (wrk, Connection: close,
// against nginx in the server pod). Plus the agent's first-packet verdict latency (queue → verdict).
// Needs root and iperf3, wrk, nginx (scripts/setup.sh installs them).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { ClusterState, NetworkPolicy, PodInfo } from '../src/api/types.js'
import { getControlJson } from '../src/agent/control-server.js'
import { stateToList } from '../src/lab/state-manifests.js'
import { agentArgv, startAgent, stopAgent, waitReady } from '../src/lab/lab.js'
import { buildTopology, type Topology } from '../src/lab/topology.js'

const CLIENT = 'bench/client'
const SERVER = 'bench/server'
const CLIENT_IP = '10.77.0.10'
const SERVER_IP = '10.77.0.20'
const QUEUE = 300

interface Figures { tcpGbps: number; crr: number }
type Variant = 'baseline' | 'npm' | 'agent' | 'agent+file' | 'agent+reader'
interface AgentBenchStatus { latencyUs: { p50: number; p99: number; count: number }; cache?: { hitRatio: number } }

function median(figures: readonly Figures[]): Figures {
  const mid = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return { tcpGbps: mid(figures.map((f) => f.tcpGbps)), crr: mid(figures.map((f) => f.crr)) }
}

function sh(ns: string, argv: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} (in ${ns}) exited ${code}: ${err || out}`))
    })
  })
}

function background(ns: string, argv: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: 'ignore' })
}

async function measure(topo: Topology, seconds: number): Promise<Figures> {
  const c = topo.pods.get(CLIENT)!.ns
  // A fresh one-shot iperf3 server per run: a test left half-open never blocks the next one.
  const server = background(topo.pods.get(SERVER)!.ns, ['iperf3', '-s', '-1'])
  await new Promise((r) => setTimeout(r, 300))
  let out: string
  try {
    out = await sh(c, ['iperf3', '-c', SERVER_IP, '-t', String(seconds), '-J', '--connect-timeout', '3000'], (seconds + 30) * 1000)
  } finally {
    server.kill('SIGKILL')
  }
  const iperf = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }
  const wrk = await sh(c, ['wrk', '-t2', '-c16', `-d${Math.max(2, Math.round(seconds * 0.6))}s`, '-H', 'Connection: close', `http://${SERVER_IP}/`])
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(wrk)?.[1] ?? NaN)
  return { tcpGbps: iperf.end.sum_received.bits_per_second / 1e9, crr: rps }
}

/** 10k policies elsewhere in the cluster, plus one isolating the server that allows the client. */
function benchCluster(policies: number): ClusterState {
  const pods: PodInfo[] = [
    { namespace: 'bench', name: 'client', labels: { app: 'client' }, ips: [CLIENT_IP], ports: [] },
    { namespace: 'bench', name: 'server', labels: { app: 'server' }, ips: [SERVER_IP], ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] },
  ]
  const namespaces = [{ name: 'bench', labels: { team: 'bench' } }]
  const list: NetworkPolicy[] = [{
    metadata: { namespace: 'bench', name: 'server-from-client' },
    spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }, { port: 5201 }] }] },
  }]
  for (let i = 0; i < policies - 1; i++) {
    const ns = `team-${i % 100}`
    if (i < 100) namespaces.push({ name: ns, labels: { team: ns } })
    list.push({
      metadata: { namespace: ns, name: `policy-${i}` },
      spec: {
        podSelector: { matchLabels: { app: `app-${i % 50}` } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: `team-${(i + 1) % 100}` } }, podSelector: { matchLabels: { app: 'client' } } }, { ipBlock: { cidr: `172.${16 + (i % 16)}.${i % 256}.0/24` } }], ports: [{ port: 8000 + (i % 100) }] }],
      },
    })
  }
  return { namespaces, pods, policies: list }
}

/** The npm nfqueue baseline: NEW packets on the server's veth queued to a trivial accept. */
async function withNpmNfqueue<T>(topo: Topology, work: () => Promise<T>): Promise<T> {
  const script = `const nfq = require(${JSON.stringify(fileURLToPath(new URL('../node_modules/nfqueue', import.meta.url)))});
nfq.createQueueHandler(${QUEUE + 1}, 65535, (p) => p.setVerdict(nfq.NF_ACCEPT)); process.stdout.write('ready\\n')`
  const child = spawn('ip', ['netns', 'exec', topo.nodeNs, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`npm nfqueue handler exited ${code}`)))
  })
  const ifname = topo.pods.get(SERVER)!.hostIf
  const rule = ['FORWARD', '-o', ifname, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'NFQUEUE', '--queue-num', String(QUEUE + 1)]
  await sh(topo.nodeNs, ['iptables', '-I', ...rule])
  try {
    return await work()
  } finally {
    await sh(topo.nodeNs, ['iptables', '-D', ...rule]).catch(() => undefined)
    await stopAgent(child)
  }
}

export default async function dataplaneBench(args: string[]): Promise<void> {
  const json = args.includes('--json')
  const seconds = Number(flagValue(args, 'seconds') ?? 5)
  const policyCount = Number(flagValue(args, 'policies') ?? 10_000)
  const rounds = Number(flagValue(args, 'rounds') ?? 3)
  const withTap = args.includes('--tap')
  if (process.getuid?.() !== 0) throw new Error('the dataplane bench needs root (network namespaces)')
  const work = mkdtempSync(join(tmpdir(), 'netpol-bench-'))
  const topo = await buildTopology({ prefix: `nb${process.pid % 100000}`, pods: [{ key: CLIENT, ips: [CLIENT_IP] }, { key: SERVER, ips: [SERVER_IP] }] })
  const servers: ChildProcess[] = []
  let agent: ChildProcess | undefined
  try {
    const s = topo.pods.get(SERVER)!.ns
    writeFileSync(join(work, 'nginx.conf'), `master_process off; worker_processes 1; pid ${work}/nginx.pid; error_log ${work}/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; server { listen 80 reuseport backlog=4096; location / { return 200 "ok\\n"; } } }\n`)
    servers.push(background(s, ['nginx', '-c', join(work, 'nginx.conf'), '-g', 'daemon off;']))
    await new Promise((r) => setTimeout(r, 500))

    const dir = join(work, 'policies')
    mkdirSync(dir)
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify(stateToList(benchCluster(policyCount))))
    const socket = join(work, 'agent.sock')
    // Variants alternate, round after round, and each figure is the median of its rounds: the
    // machine's other load then skews every variant alike.
    const runs: Record<Variant, Figures[]> = { baseline: [], npm: [], agent: [], 'agent+file': [], 'agent+reader': [] }
    const variants: Variant[] = withTap ? ['baseline', 'npm', 'agent', 'agent+file', 'agent+reader'] : ['baseline', 'npm', 'agent']
    let status: AgentBenchStatus | undefined
    // One agent variant: start it (tap file or live reader as asked), measure, stop, clean up.
    const agentRun = async (variant: Variant): Promise<Figures> => {
      const tapArgs = variant === 'agent+file' ? ['--tap-file', join(work, 'tap.jsonl')] : []
      agent = startAgent(topo.nodeNs, dir, socket, { queueNum: QUEUE, agentArgs: tapArgs })
      let reader: ChildProcess | undefined
      try {
        await waitReady(agent, socket)
        if (variant === 'agent+reader') {
          reader = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)), 'tap', '--socket', socket, '--json'], { stdio: ['ignore', 'ignore', 'inherit'] })
          await new Promise((r) => setTimeout(r, 1500)) // connected before the load starts
        }
        const figures = await measure(topo, seconds)
        if (variant === 'agent') status = await getControlJson<AgentBenchStatus>(socket, '/status')
        return figures
      } finally {
        reader?.kill('SIGKILL')
        await stopAgent(agent)
        agent = undefined
        // A stopped fail-closed agent leaves its queue rules (nothing slips through while it is
        // away); the next run's baseline needs them gone.
        await sh(topo.nodeNs, [...agentArgv(), 'cleanup', '--queue', String(QUEUE)])
        rmSync(join(work, 'tap.jsonl'), { force: true })
      }
    }
    // Variants alternate, round after round, and each figure is the median of its rounds: the
    // machine's other load then skews every variant alike.
    for (let round = 0; round < rounds; round++) {
      for (const variant of variants) {
        console.error(`round ${round + 1}/${rounds}: ${variant}`)
        if (variant === 'baseline') runs.baseline.push(await measure(topo, seconds))
        else if (variant === 'npm') runs.npm.push(await withNpmNfqueue(topo, () => measure(topo, seconds)))
        else runs[variant].push(await agentRun(variant))
      }
    }
    const baseline = median(runs.baseline)
    const npm = median(runs.npm)
    const withAgent = median(runs.agent)
    const r = {
      bench: 'dataplane',
      tcp_gbps_baseline: round(baseline.tcpGbps, 2),
      tcp_gbps_agent: round(withAgent.tcpGbps, 2),
      tcp_ratio: round(withAgent.tcpGbps / baseline.tcpGbps, 3),
      crr_baseline: Math.round(baseline.crr),
      crr_agent: Math.round(withAgent.crr),
      crr_ratio: round(withAgent.crr / baseline.crr, 3),
      crr_nfqueue_npm: Math.round(npm.crr),
      tcp_gbps_nfqueue_npm: round(npm.tcpGbps, 2),
      first_packet_p50_us: round(status!.latencyUs.p50, 1),
      first_packet_p99_us: round(status!.latencyUs.p99, 1),
      first_packets: status!.latencyUs.count,
      cache_hit_ratio: round(status!.cache?.hitRatio ?? 0, 3),
      rounds,
      policies: policyCount,
      ...(withTap ? {
        crr_agent_tap_file: Math.round(median(runs['agent+file']).crr),
        crr_agent_tap_reader: Math.round(median(runs['agent+reader']).crr),
        tcp_gbps_agent_tap_file: round(median(runs['agent+file']).tcpGbps, 2),
        tcp_gbps_agent_tap_reader: round(median(runs['agent+reader']).tcpGbps, 2),
      } : {}),
    }
    const rows: [string, string, string, string][] = [
      ['variant', 'TCP Gbit/s', 'conn/s (wrk, close)', 'ratio (tcp / crr)'],
      ['no filtering', `${r.tcp_gbps_baseline}`, `${r.crr_baseline}`, '1 / 1'],
      [`netpol agent (${policyCount} policies)`, `${r.tcp_gbps_agent}`, `${r.crr_agent}`, `${r.tcp_ratio} / ${r.crr_ratio}`],
      ['npm nfqueue, trivial accept', `${r.tcp_gbps_nfqueue_npm}`, `${r.crr_nfqueue_npm}`, `${round(npm.tcpGbps / baseline.tcpGbps, 3)} / ${round(npm.crr / baseline.crr, 3)}`],
    ]
    for (const [variant, label] of [['agent+file', 'agent, tap to a file'], ['agent+reader', 'agent, live `netpol tap` reader']] as const) {
      if (!withTap) break
      const m = median(runs[variant])
      rows.push([label, `${round(m.tcpGbps, 2)}`, `${Math.round(m.crr)}`, `${round(m.tcpGbps / baseline.tcpGbps, 3)} / ${round(m.crr / baseline.crr, 3)}`])
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
    for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '))
    console.log(`medians of ${rounds} alternating rounds (${seconds} s iperf3, ${Math.max(2, Math.round(seconds * 0.6))} s wrk each)`)
    console.log(`agent first-packet verdict latency (batch received → verdicts ready), last round: p50 ${r.first_packet_p50_us} µs, p99 ${r.first_packet_p99_us} µs over ${r.first_packets} packets; cache hit ratio ${r.cache_hit_ratio}`)
    if (json) console.log(JSON.stringify(r))
  } finally {
    await stopAgent(agent)
    for (const s of servers) s.kill('SIGKILL')
    await topo.destroy()
    rmSync(work, { recursive: true, force: true })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  dataplaneBench(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}

/** `--name value` or `--name=value`. */
function flagValue(args: readonly string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  if (i < 0) return undefined
  return args[i]!.includes('=') ? args[i]!.slice(name.length + 3) : args[i + 1]
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
