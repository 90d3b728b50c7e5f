// The agent's HTTP endpoint on --metrics host:port (hostNetwork: the kubelet probes it there):
//   /metrics  Prometheus text format
//   /readyz   200 once the first full sync is enforced and the queues are bound; 503 before
//   /healthz  200 while the process serves and its sync loops are not wedged; 503 otherwise
// Liveness deliberately does not depend on the API server: restarting an agent that cannot reach
// the API server gains nothing and drops its in-memory state.
import { createServer, type Server } from 'node:http'
import type { AgentMetrics, StatusView } from './metrics.js'
import type { KubeSync } from '../sync/kube-informers.js'

export interface HealthOptions {
  readonly address: string
  readonly metrics: AgentMetrics
  readonly status: () => StatusView
  readonly sync?: () => KubeSync | undefined
  /** The agent's sync loop runs at least this often (its max interval). */
  readonly maxSyncIntervalMs: number
  /** An informer that has made no progress (event, bookmark, list, reconnect attempt) for this long is wedged. */
  readonly informerWedgedMs?: number
}

export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1')
  return { host: host || '0.0.0.0', port: Number(address.slice(i + 1)) }
}

/** Why the agent is not live, or undefined when it is. */
export function wedged(o: Pick<HealthOptions, 'status' | 'sync' | 'maxSyncIntervalMs' | 'informerWedgedMs'>, now = Date.now()): string | undefined {
  const st = o.status()
  // The bounded-frequency runner syncs at least every maxSyncIntervalMs; a sync may take a while.
  const limit = 2 * o.maxSyncIntervalMs + 30_000
  if (st.synced && st.lastSync && now - st.lastSync.at > limit) return `no sync pass for ${Math.round((now - st.lastSync.at) / 1000)} s`
  const sync = o.sync?.()
  const stalest = sync?.stalestMs() ?? 0
  const informerLimit = o.informerWedgedMs ?? 5 * 60_000
  if (stalest > informerLimit) return `an informer made no progress for ${Math.round(stalest / 1000)} s`
  return undefined
}

export class HealthServer {
  private readonly server: Server

  constructor(private readonly o: HealthOptions) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]
      const reply = (code: number, type: string, body: string) => {
        res.writeHead(code, { 'content-type': type })
        res.end(body)
      }
      try {
        if (path === '/metrics') {
          o.metrics.metrics().then(
            (text) => reply(200, o.metrics.registry.contentType, text),
            (err: unknown) => reply(500, 'text/plain', String(err)),
          )
        } else if (path === '/readyz') {
          const st = o.status()
          const informers = o.sync?.()?.stats()
          const body = JSON.stringify({ ready: st.ready === true, synced: st.synced === true, generation: st.generation, informers })
          reply(st.ready ? 200 : 503, 'application/json', body)
        } else if (path === '/healthz') {
          const why = wedged(o)
          reply(why ? 503 : 200, 'application/json', JSON.stringify(why ? { ok: false, reason: why } : { ok: true }))
        } else reply(404, 'text/plain', 'endpoints: /metrics /readyz /healthz\n')
      } catch (err) {
        reply(500, 'text/plain', String(err))
      }
    })
  }

  async listen(): Promise<string> {
    const { host, port } = splitHostPort(this.o.address)
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => resolve())
    })
    const a = this.server.address()
    return typeof a === 'object' && a ? `${a.address}:${a.port}` : this.o.address
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
