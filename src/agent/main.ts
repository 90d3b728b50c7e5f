#!/usr/bin/env node
// `netpol-agent`: the node agent process (also the container entrypoint).
//   netpol-agent run [options]      enforce NetworkPolicy on this node until SIGTERM/SIGINT
//   netpol-agent cleanup [options]  remove every rule a previous agent left behind
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { ConfigError, FLAG_HELP, parseAgentFlags, type AgentConfig } from './config.js'
import { ControlServer } from './control-server.js'
import { HealthServer } from './health.js'
import { makeKubeSource } from './kube-source.js'
import { makeManifestDirSource } from './manifest-source.js'
import { AgentMetrics, type StatusView } from './metrics.js'
import type { KubeSync } from '../sync/kube-informers.js'
import { NodeAgent, ruleOptionsOf, type AgentDeps } from './node-agent.js'
import { detectBackend } from '../dataplane/backend-detect.js'
import { RuleManager } from '../dataplane/rules.js'
import { run as exec } from '../lab/netns.js'
import { loadBinding } from '../native/index.js'
import { attachTap } from '../tap/attach.js'

const USAGE = `usage: netpol-agent run [options]
       netpol-agent cleanup [--table NAME]

Enforces Kubernetes NetworkPolicy on this node: new connections of isolated pods are queued
(NFQUEUE) and decided by the compiled policy engine; established traffic stays in the kernel.

${FLAG_HELP}
`

export async function runAgent(config: AgentConfig): Promise<void> {
  const log = pino({ level: config.logLevel, base: { node: config.nodeName || undefined } })
  const source = config.source
  let kubeSync: KubeSync | undefined
  // Metrics read the agent at scrape time; `agent` exists before anything can scrape.
  const metrics = new AgentMetrics({
    status: () => agent.status() as StatusView,
    sync: () => kubeSync,
    queues: Array.from({ length: config.queueCount }, (_, i) => config.queueNum + i),
  })
  const deps: AgentDeps = {
    binding: loadBinding(),
    exec,
    log,
    makeSource: (store, onChange) => source.kind === 'dir'
      ? makeManifestDirSource(source.path, store, onChange)
      : makeKubeSource(config, store, onChange, {
        log,
        onStoreChange: () => metrics.tracker.eventSeen(),
        onSync: (s) => (kubeSync = s),
      }),
  }
  const agent = new NodeAgent(config, deps)
  const health = config.metricsAddress
    ? new HealthServer({ address: config.metricsAddress, metrics, status: () => agent.status() as StatusView, sync: () => kubeSync, maxSyncIntervalMs: config.maxSyncIntervalMs })
    : undefined
  const control = new ControlServer(config.controlSocket)
    .json('/status', () => agent.status())
    .route('/resync', (_req, res) => {
      agent.resync().then(
        (record) => {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ ...record, status: agent.status() }))
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: String(err) }))
        },
      )
    })
  const tap = attachTap(agent, control, config, log)
  await control.listen()
  // Before the first sync: /readyz says "not yet" while the agent waits for the API server.
  if (health) log.info({ address: await health.listen() }, 'metrics and health endpoints')
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal, failMode: config.failMode }, 'stopping')
    await agent.stop().catch((err: unknown) => log.error({ err: String(err) }, 'stop failed'))
    await tap.close().catch(() => undefined)
    await control.close()
    metrics.tracker.stop()
    await health?.close().catch(() => undefined)
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
  await agent.start()
}

async function cleanup(config: AgentConfig): Promise<void> {
  const rules = new RuleManager(await detectBackend(exec), ruleOptionsOf(config), exec)
  await rules.remove()
}

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || rest.includes('--help')) {
    ;(cmd === undefined ? process.stderr : process.stdout).write(USAGE)
    return cmd === undefined ? 2 : 0
  }
  let config: AgentConfig
  try {
    config = parseAgentFlags(rest)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`netpol-agent: ${err.message}\n`)
    return 2
  }
  if (cmd === 'run') {
    await runAgent(config)
    return -1 // keeps running until a signal
  }
  if (cmd === 'cleanup') {
    await cleanup(config)
    return 0
  }
  process.stderr.write(`netpol-agent: unknown command "${cmd}"\n\n${USAGE}`)
  return 2
}

function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code
    },
    (err: unknown) => {
      const message = err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
      process.stderr.write(`netpol-agent: ${message}\n`)
      process.exit(1)
    },
  )
}
