// The lab: a cluster file's pods as network namespaces behind an isolated node namespace, the real
// agent running in that node namespace with a manifest directory as its policy source, and probes
// with real packets between the pods. Each step of a multi-step file is written to the directory and
// applied live to the running agent (resync over its control socket) before that step's probes.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isIP, isIPv6 } from 'node:net'
import type { ClusterState, ContainerPortInfo, PodInfo, PolicyProtocol } from '../api/types.js'
import { getControlJson } from '../agent/control-server.js'
import type { ClusterFile, Probe } from '../model/cluster-file.js'
import { LabProber, type ServedPort } from './probe.js'
import { stateToList } from './state-manifests.js'
import { buildTopology, type Topology } from './topology.js'

export interface LabOptions {
  readonly bridge?: boolean
  readonly failMode?: 'open' | 'closed'
  readonly queueNum?: number
  /** Per-probe timeout; a denied connection takes this long to report. */
  readonly probeTimeoutMs?: number
  /** Extra agent flags (e.g. --no-ipblock-pod-ips). */
  readonly agentArgs?: readonly string[]
  readonly log?: (line: string) => void
}

export interface LabProbeResult {
  readonly from: string
  readonly to: string
  readonly port: number
  readonly protocol: PolicyProtocol
  /** null: the lab cannot probe this (an endpoint outside the cluster). */
  readonly allowed: boolean | null
  readonly ms?: number
  readonly expect?: boolean
  readonly loopback?: boolean
  readonly note?: string
}

/** A running lab: topology, agent and probers, until close(). */
export class Lab {
  private constructor(
    readonly file: ClusterFile,
    readonly topology: Topology,
    readonly prober: LabProber,
    private agent: ChildProcess,
    readonly controlSocket: string,
    private readonly workDir: string,
    /** Pods by "ns/name", and hosts outside the cluster by their IP: everything that can probe. */
    private readonly hosts: ReadonlyMap<string, PodInfo>,
    private readonly options: LabOptions,
  ) {}

  static async start(file: ClusterFile, options: LabOptions = {}): Promise<Lab> {
    const log = options.log ?? (() => {})
    const pods = labPods(file)
    const hosts = new Map([...pods, ...outsideHosts(file, pods)])
    const prefix = `nl${process.pid % 100000}`
    const workDir = mkdtempSync(join(tmpdir(), 'netpol-lab-'))
    const policyDir = join(workDir, 'policies')
    mkdirSync(policyDir)
    const controlSocket = join(workDir, 'agent.sock')
    let topology: Topology | undefined
    let agent: ChildProcess | undefined
    let prober: LabProber | undefined
    try {
      log(`building ${pods.size} pod namespaces${hosts.size > pods.size ? ` and ${hosts.size - pods.size} outside hosts` : ''} behind node namespace ${prefix}-node`)
      topology = await buildTopology({ prefix, bridge: options.bridge, pods: [...hosts].map(([key, p]) => ({ key, ips: p.ips })) })
      writeState(policyDir, file.steps[0]!.state)
      agent = startAgent(topology.nodeNs, policyDir, controlSocket, options)
      await waitReady(agent, controlSocket)
      log('agent enforcing; starting pod servers')
      const ports = new Map<string, ServedPort[]>()
      for (const [key, p] of hosts) ports.set(key, p.ports.map((cp) => ({ port: cp.containerPort, protocol: cp.protocol })))
      prober = await new LabProber(topology, ports).start()
      return new Lab(file, topology, prober, agent, controlSocket, workDir, hosts, options)
    } catch (err) {
      await prober?.close().catch(() => undefined)
      await stopAgent(agent)
      await topology?.destroy().catch(() => undefined)
      rmSync(workDir, { recursive: true, force: true })
      throw err
    }
  }

  /** Applies step `index` to the running agent; resolves when it is enforced. */
  applyStep(index: number): Promise<{ generation: number; tookMs: number }> {
    const step = this.file.steps[index]
    if (!step) throw new Error(`lab: no step ${index}`)
    return this.applyState(step.state)
  }

  /**
   * Hands any state over the lab's pods to the running agent (written to its manifest directory,
   * then a resync over the control socket); resolves when the agent enforces it.
   */
  async applyState(state: ClusterState): Promise<{ generation: number; tookMs: number }> {
    for (const p of state.pods) {
      const have = this.hosts.get(`${p.namespace}/${p.name}`)
      if (!have || have.ips.join() !== p.ips.join()) throw new Error(`lab: pod ${p.namespace}/${p.name} with IPs ${p.ips.join(', ')} is not part of this lab`)
    }
    writeState(join(this.workDir, 'policies'), state)
    try {
      const answer = await postResync(this.controlSocket)
      return { generation: answer.generation, tookMs: answer.tookMs }
    } catch (err) {
      throw new Error(`lab: the agent did not apply the state: ${String(err)}${agentOutput(this.agent)}`)
    }
  }

  /** Runs probes with real packets, all concurrently. */
  async probe(probes: readonly Probe[], timeoutMs = 1000): Promise<LabProbeResult[]> {
    return Promise.all(probes.map(async (p): Promise<LabProbeResult> => {
      const base = { from: p.from, to: p.to, port: p.port, protocol: p.protocol, ...(p.expect !== undefined ? { expect: p.expect } : {}), ...(p.loopback ? { loopback: true } : {}) }
      const src = this.hosts.get(p.from)
      if (!src) return { ...base, allowed: null, note: `${p.from} is not part of this lab` }
      const dstIp = this.addressOf(p.to, src)
      if (!dstIp) return { ...base, allowed: null, note: 'destination has no address of the source family' }
      if (!this.hosts.has(p.to) && !this.isLabIp(dstIp)) return { ...base, allowed: null, note: `${p.to} is not part of this lab` }
      const r = await this.prober.probe(p.from, dstIp, p.port, p.protocol, timeoutMs)
      return { ...base, allowed: r.ok, ms: Math.round(r.ms * 10) / 10, ...(r.ok || r.error === 'timeout' ? {} : { note: r.error }) }
    }))
  }

  /** Sends `signal` to the agent and waits for it to exit (SIGKILL: a crash, nothing cleaned up). */
  async killAgent(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const agent = this.agent
    if (agent.exitCode !== null || agent.signalCode !== null) return
    await new Promise<void>((resolve) => {
      agent.once('exit', () => resolve())
      agent.kill(signal)
    })
  }

  /** Starts a new agent on the same node namespace and policy directory; resolves when ready. */
  async restartAgent(): Promise<void> {
    await this.killAgent('SIGTERM')
    this.agent = startAgent(this.topology.nodeNs, join(this.workDir, 'policies'), this.controlSocket, this.options)
    await waitReady(this.agent, this.controlSocket)
  }

  status(): Promise<Record<string, unknown>> {
    return getControlJson(this.controlSocket, '/status')
  }

  /** Tears everything down (idempotent). */
  close(): Promise<void> {
    return (this.closing ??= this.teardown())
  }

  private closing: Promise<void> | undefined

  private async teardown(): Promise<void> {
    await this.prober.close().catch(() => undefined)
    await stopAgent(this.agent)
    await this.topology.destroy().catch(() => undefined)
    rmSync(this.workDir, { recursive: true, force: true })
  }

  private addressOf(to: string, src: PodInfo): string | undefined {
    const dst = this.hosts.get(to)
    if (!dst) return to // a bare IP
    const wantV6 = src.ips.length > 0 && src.ips.every((ip) => isIPv6(ip))
    return dst.ips.find((ip) => isIPv6(ip) === wantV6) ?? dst.ips[0]
  }

  private isLabIp(ip: string): boolean {
    for (const p of this.hosts.values()) if (p.ips.includes(ip)) return true
    return false
  }
}

/**
 * Endpoints outside the cluster that probes name by IP become hosts of their own, hung off the
 * node namespace like pods (as traffic from beyond the node arrives through it), serving the ports
 * probed on them. Their addresses exist only inside the lab's namespaces. The agent never hears of
 * them as pods: to the engine they are what they are in the file, IPs outside the cluster.
 */
function outsideHosts(file: ClusterFile, pods: ReadonlyMap<string, PodInfo>): Map<string, PodInfo> {
  const podIps = new Set([...pods.values()].flatMap((p) => p.ips))
  const hosts = new Map<string, PodInfo>()
  const host = (ip: string): PodInfo => {
    let h = hosts.get(ip)
    if (!h) hosts.set(ip, (h = { namespace: 'outside', name: ip, labels: {}, ips: [ip], ports: [] }))
    return h
  }
  for (const step of file.steps) {
    for (const probe of step.probes) {
      for (const end of [probe.from, probe.to]) if (isIP(end) && !podIps.has(end)) host(end)
      if (hosts.has(probe.to)) {
        const h = hosts.get(probe.to)!
        if (!h.ports.some((p) => p.containerPort === probe.port && p.protocol === probe.protocol)) {
          ;(h.ports as ContainerPortInfo[]).push({ containerPort: probe.port, protocol: probe.protocol })
        }
      }
    }
  }
  return hosts
}

/** Every pod of every step, by key (the latest definition wins; IPs must stay put). */
export function labPods(file: ClusterFile): Map<string, PodInfo> {
  const pods = new Map<string, PodInfo>()
  for (const step of file.steps) for (const p of step.state.pods) pods.set(`${p.namespace}/${p.name}`, p)
  for (const [key, p] of pods) if (p.ips.length === 0) throw new Error(`lab: pod ${key} has no IP; give it "ip" in the cluster file`)
  return pods
}

function writeState(dir: string, state: ClusterState): void {
  const tmp = join(dir, '.cluster.json.tmp') // not *.json: the agent's scan ignores it
  writeFileSync(tmp, JSON.stringify(stateToList(state)))
  renameSync(tmp, join(dir, 'cluster.json'))
}

/** argv that runs the agent: compiled JS when this module is compiled, tsx in development. */
export function agentArgv(): string[] {
  const self = fileURLToPath(import.meta.url)
  const agentMain = self.replace(/lab[/\\]lab\.(ts|js)$/, (_m, ext: string) => `agent/main.${ext}`)
  return self.endsWith('.ts') ? [process.execPath, '--import', import.meta.resolve('tsx'), agentMain] : [process.execPath, agentMain]
}

/** Starts the agent inside `nodeNs` with a manifest directory as its source (the lab's and benches' agent). */
export function startAgent(nodeNs: string, policyDir: string, socket: string, o: LabOptions): ChildProcess {
  const argv = ['ip', 'netns', 'exec', nodeNs, ...agentArgv(), 'run', '--source', policyDir, '--control-socket', socket,
    '--metrics', '', '--queue', String(o.queueNum ?? 100), '--fail-mode', o.failMode ?? 'closed', '--log-level', 'warn',
    ...(o.bridge ? ['--bridge', 'npbr0'] : []), ...(o.agentArgs ?? [])]
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (d: Buffer) => { output = (output + d.toString()).slice(-4000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  ;(child as ChildProcess & { output: () => string }).output = () => output
  return child
}

function agentOutput(agent: ChildProcess): string {
  const state = agent.exitCode !== null || agent.signalCode !== null ? `exited (${agent.exitCode ?? agent.signalCode})` : 'running'
  return `\nagent ${state}; its last output:\n${(agent as ChildProcess & { output: () => string }).output()}`
}

/** Resolves once the agent reports ready on its control socket; rejects with its output if it exits. */
export async function waitReady(agent: ChildProcess, socket: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (agent.exitCode !== null || agent.signalCode !== null) {
      throw new Error(`lab: the agent exited (${agent.exitCode ?? agent.signalCode}):\n${(agent as ChildProcess & { output: () => string }).output()}`)
    }
    const status = await getControlJson<{ ready?: boolean }>(socket, '/status', 1000).catch(() => undefined)
    if (status?.ready) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`lab: the agent was not ready after ${timeoutMs} ms:\n${(agent as ChildProcess & { output: () => string }).output()}`)
}

async function postResync(socket: string): Promise<{ generation: number; tookMs: number }> {
  return getControlJson(socket, '/resync', 15_000)
}

/** SIGTERM, SIGKILL after 5 s; resolves when the process is gone. */
export async function stopAgent(agent: ChildProcess | undefined): Promise<void> {
  if (!agent || agent.exitCode !== null || agent.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => agent.kill('SIGKILL'), 5000)
    agent.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    agent.kill('SIGTERM')
  })
}
