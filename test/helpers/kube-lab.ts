// The lab with the API-server source: pod namespaces behind a node namespace (src/lab/topology),
// the test API server in this process on a unix socket, a TCP proxy to it inside the node namespace
// (169.254.1.1:6443, TLS end to end), and the real agent started as lab.ts starts it, under
// `ip netns exec`, with `--source kube --kubeconfig` — the production client code path.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { getControlJson } from '../../src/agent/control-server.js'
import { buildTopology, NODE_IPV4, type Topology } from '../../src/lab/topology.js'
import { LabProber } from '../../src/lab/probe.js'
import { FakeApiServer, type KubeObject } from './fake-apiserver.js'
import { makeTestPki, TEST_TOKEN, writeKubeconfig } from './kube-config.js'

export const NODE_NAME = 'lab-node'
export const API_ADDRESS = `${NODE_IPV4}:6443`
export const METRICS_ADDRESS = `${NODE_IPV4}:9743`

export interface KubeLabPod {
  readonly namespace: string
  readonly name: string
  readonly ip: string
  readonly labels: Record<string, string>
  readonly port: number
}

const tsxArgv = (file: string) => [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(new URL(file, import.meta.url))]

export function podObject(p: KubeLabPod): KubeObject {
  return {
    metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
    spec: { nodeName: NODE_NAME, containers: [{ name: 'main', image: 'lab', ports: [{ containerPort: p.port, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] },
  }
}

export class KubeLab {
  agent: ChildProcess | undefined
  private agentOutput = ''
  private readonly children: ChildProcess[] = []

  private constructor(
    readonly server: FakeApiServer,
    readonly topology: Topology,
    readonly prober: LabProber,
    readonly pods: ReadonlyMap<string, KubeLabPod>,
    readonly workDir: string,
    readonly kubeconfig: string,
    readonly controlSocket: string,
  ) {}

  static async start(pods: readonly KubeLabPod[], prefix = `nk${process.pid % 100000}`): Promise<KubeLab> {
    const workDir = mkdtempSync(join(tmpdir(), 'netpol-kube-lab-'))
    const pki = makeTestPki()
    const server = new FakeApiServer({ token: TEST_TOKEN, tls: pki, bookmarkIntervalMs: 1000 })
    await server.listen(join(workDir, 'api.sock'))
    const byKey = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p]))
    const topology = await buildTopology({ prefix, pods: pods.map((p) => ({ key: `${p.namespace}/${p.name}`, ips: [p.ip] })) })
    let prober: LabProber | undefined
    try {
      prober = await new LabProber(topology, new Map(pods.map((p) => [`${p.namespace}/${p.name}`, [{ port: p.port, protocol: 'TCP' as const }]]))).start()
      const lab = new KubeLab(server, topology, prober, byKey, workDir,
        writeKubeconfig(join(workDir, 'kubeconfig'), `https://${API_ADDRESS}`, pki.cert), join(workDir, 'agent.sock'))
      await lab.spawnReady(topology.nodeNs, [...tsxArgv('./kube-netns-proxy.ts'), '--listen', API_ADDRESS, '--unix', join(workDir, 'api.sock')])
      for (const ns of new Set(pods.map((p) => p.namespace))) server.apply('namespaces', { metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } } })
      for (const p of pods) server.apply('pods', podObject(p))
      return lab
    } catch (err) {
      await prober?.close().catch(() => undefined)
      await topology.destroy().catch(() => undefined)
      await server.close()
      rmSync(workDir, { recursive: true, force: true })
      throw err
    }
  }

  ip(key: string): string {
    return this.pods.get(key)!.ip
  }

  /** Probes key → key's port over TCP with real packets. */
  probe(from: string, to: string, timeoutMs = 300): Promise<{ ok: boolean; ms: number }> {
    const dst = this.pods.get(to)!
    return this.prober.probe(from, dst.ip, dst.port, 'TCP', timeoutMs)
  }

  /** Starts a child in namespace `ns` and resolves when it prints a ready line. */
  async spawnReady(ns: string, argv: readonly string[]): Promise<ChildProcess> {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.children.push(child)
    let err = ''
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${argv.join(' ')}: not ready: ${err}`)), 20_000)
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`)) })
      createInterface({ input: child.stdout! }).once('line', () => { clearTimeout(timer); resolve() })
    })
    return child
  }

  /** Starts the agent (not waiting for it to be ready). */
  startAgent(extra: readonly string[] = []): ChildProcess {
    const argv = ['ip', 'netns', 'exec', this.topology.nodeNs, ...tsxArgv('../../src/agent/main.ts'), 'run',
      '--source', 'kube', '--kubeconfig', this.kubeconfig, '--node', NODE_NAME, '--control-socket', this.controlSocket,
      '--metrics', METRICS_ADDRESS, '--queue', '100', '--fail-mode', 'closed', '--log-level', 'warn', ...extra]
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    const keep = (d: Buffer) => (this.agentOutput = (this.agentOutput + d.toString()).slice(-6000))
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    this.agent = child
    return child
  }

  output(): string {
    return this.agentOutput
  }

  status<T = Record<string, unknown>>(): Promise<T> {
    return getControlJson<T>(this.controlSocket, '/status', 1000)
  }

  /** Waits until the agent's status satisfies `pred` (e.g. ready, or deny-all rules in place). */
  async waitStatus(pred: (s: Record<string, any>) => boolean, timeoutMs = 30_000): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.agent && (this.agent.exitCode !== null || this.agent.signalCode !== null)) throw new Error(`agent exited:\n${this.agentOutput}`)
      const st = await this.status().catch(() => undefined)
      if (st && pred(st)) return st
      await new Promise((r) => setTimeout(r, 20))
    }
    throw new Error(`agent status condition not met in ${timeoutMs} ms:\n${this.agentOutput}`)
  }

  /** GET a path of the agent's metrics/health endpoint, from inside the node namespace. */
  async http(path: string): Promise<{ code: number; body: string }> {
    const script = `fetch(${JSON.stringify(`http://${METRICS_ADDRESS}${path}`)}, { signal: AbortSignal.timeout(3000) }).then(async (r) => process.stdout.write((await r.text()) + '\\n' + r.status))`
    const out = await this.topology.exec(this.topology.nodeNs, [process.execPath, '-e', script])
    const i = out.lastIndexOf('\n')
    return { code: Number(out.slice(i + 1)), body: out.slice(0, i) }
  }

  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const agent = this.agent
    if (!agent || agent.exitCode !== null || agent.signalCode !== null) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => agent.kill('SIGKILL'), 5000)
      agent.once('exit', () => { clearTimeout(timer); resolve() })
      agent.kill(signal)
    })
  }

  async close(): Promise<void> {
    await this.stopAgent()
    // The agent's rules live in the node namespace, which goes away with the topology.
    for (const c of this.children) if (c.exitCode === null) { c.stdin?.end(); c.kill('SIGTERM') }
    await this.prober.close().catch(() => undefined)
    await this.topology.destroy().catch(() => undefined)
    await this.server.close()
    rmSync(this.workDir, { recursive: true, force: true })
  }
}
