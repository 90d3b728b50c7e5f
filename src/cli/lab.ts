// `netpol lab`: a cluster's pods as network namespaces on this machine, the real agent enforcing
// in a node namespace, real packets between them. With --probe: run the file's probes (each step
// applied live) and print the same JSON as `netpol verdict`. Without: a live connectivity matrix.
import { fileURLToPath } from 'node:url'
import type { PolicyProtocol } from '../api/types.js'
import { Lab, type LabProbeResult } from '../lab/lab.js'
import type { Probe } from '../model/cluster-file.js'
import { loadCluster } from '../model/load-cluster.js'
import { formatRecord } from '../tap/format.js'
import { followTap } from '../tap/tap-client.js'
import { boolFlag, intFlag, stringFlag, UsageError, type Command, type CommandIO } from './command.js'

export const DEFAULT_LAB_CLUSTER = fileURLToPath(new URL('../../examples/demo-cluster.json', import.meta.url))

export const labCommand: Command = {
  name: 'lab',
  summary: 'Run a cluster file\'s pods as network namespaces with the agent enforcing, and probe them with real packets.',
  usage: '[--cluster FILE] [--probe] [options]   (as root)',
  flags: {
    cluster: { type: 'string', value: 'FILE', help: 'cluster file or manifests [examples/demo-cluster.json]' },
    probe: { type: 'boolean', help: 'run the probes of every step, print JSON verdicts, tear down' },
    bridge: { type: 'boolean', help: 'pods on a bridge (bridge CNI shape) instead of routed veths' },
    'fail-mode': { type: 'string', value: 'open|closed', help: 'the agent\'s fail mode [closed]' },
    timeout: { type: 'string', value: 'MS', help: 'per-probe timeout; a dropped connection takes this long [1000]' },
    interval: { type: 'string', value: 'MS', help: 'live mode: matrix refresh interval [2000]' },
    'no-ipblock-pod-ips': { type: 'boolean', help: 'ipBlock peers match only non-pod IPs' },
  },
  details: `Needs root (network namespaces, netfilter rules in the lab's own node namespace; the host's
network namespace is never touched). Everything the lab creates is removed on exit, Ctrl-C or failure.

--probe output: {"steps":[{"generation":N,"appliedMs":T,"results":[{"from","to","port","protocol",
"allowed":true|false|null,"ms","expect"?}]}]}. allowed is null for probes the lab cannot send (an
endpoint outside the cluster). Exit status 0; 1 if some probe disagreed with its "expect".

examples:
  netpol lab                      # the bundled demo, live matrix until Ctrl-C
  netpol lab --cluster case.json --probe`,
  async run(args, io) {
    if (process.getuid?.() !== 0) throw new UsageError('the lab needs root (it creates network namespaces)')
    const file = await loadCluster(stringFlag(args, 'cluster') ?? DEFAULT_LAB_CLUSTER)
    const failMode = stringFlag(args, 'fail-mode') ?? 'closed'
    if (failMode !== 'open' && failMode !== 'closed') throw new UsageError(`option --fail-mode: "${failMode}" must be open or closed`)
    const timeoutMs = intFlag(args, 'timeout', 50, 60_000) ?? 1000
    const intervalMs = intFlag(args, 'interval', 200, 600_000) ?? 2000
    const lab = await Lab.start(file, {
      bridge: boolFlag(args, 'bridge'),
      failMode,
      agentArgs: boolFlag(args, 'no-ipblock-pod-ips') ? ['--no-ipblock-pod-ips'] : [],
      log: (line) => io.err(`lab: ${line}\n`),
    })
    let closing: Promise<void> | undefined
    const close = () => (closing ??= lab.close())
    const onSignal = () => void close().then(() => process.exit(130))
    // SIGHUP too: closing the terminal (or tmux killing the pane) must not leave namespaces behind.
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, onSignal)
    try {
      if (boolFlag(args, 'probe')) return await probeAll(lab, timeoutMs, io)
      await liveMatrix(lab, timeoutMs, intervalMs, io)
      return 0
    } finally {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal)
      await close()
    }
  },
}

async function probeAll(lab: Lab, timeoutMs: number, io: CommandIO): Promise<number> {
  const steps: unknown[] = []
  let disagreements = 0
  for (let i = 0; i < lab.file.steps.length; i++) {
    const applied = await lab.applyStep(i)
    const started = performance.now()
    const results = await lab.probe(lab.file.steps[i]!.probes, timeoutMs)
    for (const r of results) if (r.expect !== undefined && r.allowed !== null && !r.loopback && r.allowed !== r.expect) disagreements++
    io.err(`lab: step ${i + 1}/${lab.file.steps.length}: ${results.length} probes in ${((performance.now() - started) / 1000).toFixed(1)} s (policy applied in ${applied.tookMs.toFixed(1)} ms)\n`)
    steps.push({ generation: applied.generation, appliedMs: Math.round(applied.tookMs * 10) / 10, results })
  }
  io.out(JSON.stringify({ steps }, null, 2) + '\n')
  return disagreements > 0 ? 1 : 0
}

/** Refreshes a pods × pods matrix per probed port until interrupted. */
async function liveMatrix(lab: Lab, timeoutMs: number, intervalMs: number, io: CommandIO): Promise<void> {
  const step = lab.file.steps[0]!
  const keys = step.state.pods.map((p) => `${p.namespace}/${p.name}`)
  const targets = matrixPorts(step.probes, step.state.pods.flatMap((p) => p.ports.map((cp) => ({ port: cp.containerPort, protocol: cp.protocol }))))
  const tty = process.stdout.isTTY === true
  // The agent's own verdict log, live: the last few first-packet decisions with their reasons.
  const recent: string[] = []
  const tap = followTap(lab.controlSocket, {}, (line) => {
    if (line.type !== 'verdict') return
    recent.push(formatRecord(line, tty))
    if (recent.length > RECENT_VERDICTS) recent.shift()
  })
  tap.done.catch(() => undefined) // the agent going away ends the stream; the matrix says the rest
  for (;;) {
    const started = performance.now()
    const lines: string[] = []
    for (const t of targets) {
      const probes: Probe[] = keys.flatMap((from) => keys.map((to) => ({ from, to, port: t.port, protocol: t.protocol })))
      const results = await lab.probe(probes, timeoutMs)
      lines.push('', `${t.protocol}/${t.port}   (rows: from, columns: to)`, renderMatrix(keys, results.map(cellOf)))
    }
    const s = (await lab.status().catch(() => ({}))) as { generation?: number; isolatedPods?: number; counters?: { allowed: number; denied: number }; cache?: { hitRatio: number }; latencyUs?: { p50: number; p99: number } }
    const header = [
      `netpol lab — ${lab.file.name ?? 'cluster'} — ${new Date().toISOString()} — Ctrl-C to stop`,
      `agent: generation ${s.generation ?? '?'}, ${s.isolatedPods ?? '?'} isolated pods, first packets allowed ${s.counters?.allowed ?? 0} / denied ${s.counters?.denied ?? 0}, ` +
        `verdict latency p50 ${fmtUs(s.latencyUs?.p50)} p99 ${fmtUs(s.latencyUs?.p99)}, cache hit ratio ${((s.cache?.hitRatio ?? 0) * 100).toFixed(0)}%`,
    ]
    lines.push('', '✓ connected   · dropped by policy   - allowed, but nothing listens there   (a pod to itself never leaves the pod)')
    lines.push('', `latest verdicts (netpol tap --socket ${lab.controlSocket}):`, ...recent)
    io.out((tty ? '\x1b[2J\x1b[H' : '\n') + [...header, ...lines].join('\n') + '\n')
    await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (performance.now() - started))))
  }
}

const RECENT_VERDICTS = 10

function fmtUs(us: number | undefined): string {
  return us === undefined || us === 0 ? '-' : `${us.toFixed(1)} µs`
}

function matrixPorts(probes: readonly Probe[], served: readonly { port: number; protocol: PolicyProtocol }[]): { port: number; protocol: PolicyProtocol }[] {
  const seen = new Map<string, { port: number; protocol: PolicyProtocol }>()
  for (const p of [...probes, ...served]) {
    const key = `${p.protocol}/${p.port}`
    if (!seen.has(key)) seen.set(key, { port: p.port, protocol: p.protocol })
  }
  return [...seen.values()].slice(0, 3)
}

/** ✓ connected; · timed out (dropped); - refused or unreachable (no listener); ? not probed. */
function cellOf(r: LabProbeResult): string {
  if (r.allowed === null) return '?'
  if (r.allowed) return '✓'
  return r.note ? '-' : '·'
}

function renderMatrix(keys: readonly string[], cells: readonly string[]): string {
  const width = Math.max(...keys.map((k) => k.length))
  const colWidth = Math.max(3, ...keys.map((k) => k.length))
  const out = [' '.repeat(width) + ' ' + keys.map((k) => k.padStart(colWidth)).join(' ')]
  keys.forEach((from, i) => {
    const row = keys.map((_to, j) => {
      return cells[i * keys.length + j]!.padStart(colWidth)
    })
    out.push(from.padEnd(width) + ' ' + row.join(' '))
  })
  return out.join('\n')
}
