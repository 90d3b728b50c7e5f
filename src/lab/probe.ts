// Runs one pod helper per pod of a Topology (inside the pod's namespace), serving the pod's
// declared ports, and probes between pods through them: many probes in flight at once over each
// helper's JSON-lines stdin/stdout.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { PolicyProtocol } from '../api/types.js'
import type { Topology } from './topology.js'

export interface ServedPort {
  readonly port: number
  readonly protocol: PolicyProtocol
}

export interface ProbeResult {
  ok: boolean
  ms: number
  error?: string
}

export interface LabProberOptions {
  /** Also run a helper in the node namespace, under this key (e.g. for kubelet-style probes). */
  readonly nodeKey?: string
  /** How long helpers may take to report ready (default 20 s). */
  readonly readyTimeoutMs?: number
  /**
   * Most probes in flight at once, over all helpers (default 128). Thousands at once on a small
   * machine starve the helpers' event loops and turn slow answers into false timeouts.
   */
  readonly maxInFlight?: number
}

interface Helper {
  readonly key: string
  readonly child: ChildProcess
  readonly pending: Map<number, (r: ProbeResult) => void>
  sctp: string | false
}

let bundled: Promise<string | undefined> | undefined

/**
 * Development (running from .ts): one esbuild bundle of the helper per process, so each helper
 * starts as plain JS (under tsx every helper pays ~3x the CPU to compile itself; with 30 pods on
 * 2 cores that is seconds). It lives in <root>/node_modules/.netpol-lab/, two levels below the
 * package root like src/native/, so the addon's own relative path still finds native/build.
 */
function bundleHelper(srcDir: string): Promise<string | undefined> {
  bundled ??= (async () => {
    try {
      const esbuild = await import('esbuild')
      const outDir = path.resolve(srcDir, '../../node_modules/.netpol-lab')
      const outfile = path.join(outDir, `pod-helper.${process.pid}.mjs`)
      mkdirSync(outDir, { recursive: true })
      const entry = [
        `import { setNativeLoader } from ${JSON.stringify(path.join(srcDir, 'pod-helper-raw.ts'))}`,
        `setNativeLoader(() => import(${JSON.stringify(path.resolve(srcDir, '../native/index.ts'))}))`,
        `await import(${JSON.stringify(path.join(srcDir, 'pod-helper.ts'))})`,
      ].join('\n')
      await esbuild.build({
        stdin: { contents: entry, resolveDir: srcDir, loader: 'ts' },
        bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'silent',
        // createRequire for the addon's .node file must stay a runtime require.
        external: ['*.node'],
      })
      process.once('exit', () => rmSync(outfile, { force: true }))
      return outfile
    } catch {
      return undefined
    }
  })()
  return bundled
}

/** argv that starts the helper: compiled JS when this module is compiled, a bundle (or tsx) in development. */
async function helperArgv(): Promise<string[]> {
  const self = fileURLToPath(import.meta.url)
  if (!self.endsWith('.ts')) return [process.execPath, self.replace(/probe\.js$/, 'pod-helper.js')]
  const bundle = process.env.NETPOL_LAB_HELPER === 'tsx' ? undefined : await bundleHelper(path.dirname(self))
  if (bundle) return [process.execPath, bundle]
  return [process.execPath, '--import', import.meta.resolve('tsx'), self.replace(/probe\.ts$/, 'pod-helper.ts')]
}

const live = new Set<LabProber>()
let exitHookInstalled = false

export class LabProber {
  private readonly helpers = new Map<string, Helper>()
  private nextId = 1
  private inFlight = 0
  private readonly slots: (() => void)[] = []
  private closed = false

  constructor(
    private readonly topo: Topology,
    /** Ports each pod serves, by pod key (pods without an entry serve nothing but still probe). */
    private readonly ports: ReadonlyMap<string, readonly ServedPort[]>,
    private readonly opts: LabProberOptions = {},
  ) {}

  /** Starts every helper and waits until all are listening. */
  async start(): Promise<this> {
    if (!exitHookInstalled) {
      exitHookInstalled = true
      // Helpers also exit when their stdin closes; this covers a parent that exits normally.
      process.on('exit', () => { for (const p of live) p.killAll() })
    }
    live.add(this)
    const targets: [string, string][] = [...this.topo.pods].map(([key, p]) => [key, p.ns])
    if (this.opts.nodeKey) targets.push([this.opts.nodeKey, this.topo.nodeNs])
    try {
      const argv = await helperArgv()
      await Promise.all(targets.map(([key, ns]) => this.startHelper(key, ns, argv)))
    } catch (e) {
      await this.close()
      throw e
    }
    return this
  }

  private startHelper(key: string, ns: string, helper0: readonly string[]): Promise<void> {
    const serve = (this.ports.get(key) ?? []).map((p) => `${p.port}/${p.protocol}`).join(',')
    const argv = ['ip', 'netns', 'exec', ns, ...helper0, '--name', key, '--serve', serve]
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    const helper: Helper = { key, child, pending: new Map(), sctp: false }
    this.helpers.set(key, helper)
    child.stdin!.on('error', () => {})
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000) })
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pod helper ${key} not ready after ${this.opts.readyTimeoutMs ?? 20000} ms: ${stderr}`)), this.opts.readyTimeoutMs ?? 20000)
      child.on('error', (e) => { clearTimeout(timer); reject(e) })
      child.on('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`pod helper ${key} exited (${code}): ${stderr.trim()}`))
        for (const done of helper.pending.values()) done({ ok: false, ms: 0, error: 'helper exited' })
        helper.pending.clear()
      })
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let msg: { ready?: boolean; sctp?: string | false; id?: number } & ProbeResult
        try { msg = JSON.parse(line) as typeof msg } catch { return }
        if (msg.ready) {
          helper.sctp = msg.sctp ?? false
          clearTimeout(timer)
          resolve()
          return
        }
        const done = msg.id === undefined ? undefined : helper.pending.get(msg.id)
        if (!done) return
        helper.pending.delete(msg.id!)
        done(msg.error === undefined ? { ok: msg.ok, ms: msg.ms } : { ok: msg.ok, ms: msg.ms, error: msg.error })
      })
    })
  }

  /** Which raw-socket implementation a pod's helper uses for SCTP ('native', or false when SCTP is unavailable). */
  sctpImpl(key: string): string | false {
    return this.helpers.get(key)?.sctp ?? false
  }

  /** Probes from pod `fromKey` to toIp:port. Resolves (never rejects) with the outcome. */
  async probe(fromKey: string, toIp: string, port: number, protocol: PolicyProtocol, timeoutMs = 1000): Promise<ProbeResult> {
    if (this.inFlight >= (this.opts.maxInFlight ?? 128)) await new Promise<void>((resolve) => this.slots.push(resolve))
    else this.inFlight++
    try {
      const h = this.helpers.get(fromKey)
      if (this.closed) return { ok: false, ms: 0, error: 'closed' }
      if (!h) return { ok: false, ms: 0, error: `no helper for ${fromKey}` }
      const id = this.nextId++
      return await new Promise<ProbeResult>((resolve) => {
        h.pending.set(id, resolve)
        h.child.stdin!.write(JSON.stringify({ id, op: 'probe', to: toIp, port, protocol, timeoutMs }) + '\n')
      })
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.slots.shift()
      if (next) next()
      else this.inFlight--
    }
  }

  private killAll(): void {
    for (const h of this.helpers.values()) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL')
  }

  /** Stops every helper and waits until they are gone. */
  async close(): Promise<void> {
    this.closed = true
    live.delete(this)
    await Promise.all([...this.helpers.values()].map((h) => new Promise<void>((resolve) => {
      if (h.child.exitCode !== null || h.child.signalCode !== null) return resolve()
      const timer = setTimeout(() => h.child.kill('SIGKILL'), 2000)
      h.child.once('exit', () => { clearTimeout(timer); resolve() })
      h.child.stdin!.end()
      h.child.kill('SIGTERM')
    })))
    this.helpers.clear()
  }
}
