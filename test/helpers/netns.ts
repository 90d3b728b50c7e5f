// Shared helpers for real-packet tests: unique namespace prefixes per run (parallel runs must not
// collide) and a topology that is torn down when the test ends, also on failure.
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { buildTopology, type Topology, type TopologySpec } from '../../src/lab/topology.js'

/** e.g. "nptopo-3f9a1c": short, unique per call, safe in namespace names. */
export function uniquePrefix(tag: string): string {
  return `np${tag}-${randomBytes(3).toString('hex')}`
}

/** Builds a topology for test t and registers its teardown. */
export async function labTopology(t: Test, tag: string, pods: TopologySpec['pods'], bridge = false): Promise<Topology> {
  const topo = await buildTopology({ prefix: uniquePrefix(tag), pods, bridge })
  t.teardown(() => topo.destroy())
  return topo
}

import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/** A long-lived TCP connection between two pods (plain node echo server + line client). */
export interface TcpSession {
  /** Client's local port (for conntrack matching). */
  readonly sport: number
  /** Sends a line; true when its echo came back within timeoutMs. */
  roundTrip(line: string, timeoutMs?: number): Promise<boolean>
  close(): void
}

function nodeIn(ns: string, script: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] })
}

export async function tcpSession(t: Test, clientNs: string, serverNs: string, serverIp: string, port: number): Promise<TcpSession> {
  const server = nodeIn(serverNs, `require('net').createServer(s => { s.on('error', () => {}); s.pipe(s) }).listen(${port}, '::', () => console.log('listening'))`)
  const procs = [server]
  const kill = (): void => { for (const p of procs) p.kill('SIGKILL') }
  t.teardown(kill)
  const serverLines = createInterface({ input: server.stdout! })
  await new Promise<void>((resolve) => serverLines.once('line', () => resolve()))
  const client = nodeIn(clientNs, `const s = require('net').connect(${port}, ${JSON.stringify(serverIp)}, () => console.log('port ' + s.localPort));` +
    `s.on('error', e => console.log('error ' + e.code)); process.stdin.pipe(s); s.pipe(process.stdout)`)
  procs.push(client)
  const lines = createInterface({ input: client.stdout! })
  const waiting = new Map<string, () => void>()
  let first: ((l: string) => void) | undefined
  lines.on('line', (l) => {
    if (first) { const f = first; first = undefined; f(l); return }
    waiting.get(l)?.()
  })
  const hello = await new Promise<string>((resolve) => { first = resolve })
  if (!hello.startsWith('port ')) throw new Error(`tcp session: ${hello}`)
  return {
    sport: Number(hello.slice(5)),
    roundTrip: (line, timeoutMs = 1000) => new Promise((resolve) => {
      const timer = setTimeout(() => { waiting.delete(line); resolve(false) }, timeoutMs)
      waiting.set(line, () => { clearTimeout(timer); waiting.delete(line); resolve(true) })
      client.stdin!.write(line + '\n')
    }),
    close: kill,
  }
}
