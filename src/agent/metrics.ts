// Prometheus metrics (prom-client). Nothing here runs on the packet path: every figure the packet
// path keeps (classifier counters, verdict cache, latency histogram, queue stats) is read from the
// agent's status() when Prometheus scrapes, and queue drops from the kernel's own table,
// /proc/net/netfilter/nfnetlink_queue. The one thing measured here is "policy realised": the time
// from a watch event changing the store to the sync that enforces it having finished.
import { readFileSync } from 'node:fs'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { KubeSync } from '../sync/kube-informers.js'

/** The parts of NodeAgent.status() read here (all optional: the agent may not have started yet). */
export interface StatusView {
  ready?: boolean
  synced?: boolean
  generation?: number
  lastSync?: { at: number; tookMs: number; generation: number; cut?: { tookMs: number } }
  syncErrors?: number
  isolatedPods?: number
  enforcedPods?: number
  issues?: readonly unknown[]
  counters?: { packets: number; allowed: number; denied: number; decodeErrors: number; internalErrors: number; batches: number }
  cache?: { hits: number; misses: number; size: number; hitRatio: number }
  latencyUs?: { p50: number; p99: number; count: number }
  queues?: readonly { packets?: number; enobufs?: number; overflow?: number; netlinkErrors?: number }[]
  rules?: { applied: number; skipped: number }
}

export interface MetricsSources {
  readonly status: () => StatusView
  readonly sync?: () => KubeSync | undefined
  /** Own queue numbers, to pick our rows out of nfnetlink_queue. */
  readonly queues: readonly number[]
  readonly procQueuePath?: string
}

/** One row of /proc/net/netfilter/nfnetlink_queue. */
export interface KernelQueueRow {
  queue: number
  portId: number
  waiting: number
  copyMode: number
  copyRange: number
  /** Dropped because the queue was full (queue_maxlen). */
  queueDropped: number
  /** Dropped because the netlink socket was full (the agent fell behind). */
  userDropped: number
  lastId: number
}

export function parseNfQueueProc(text: string): KernelQueueRow[] {
  const rows: KernelQueueRow[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number)
    if (f.length < 8 || f.some((n) => Number.isNaN(n))) continue
    rows.push({ queue: f[0]!, portId: f[1]!, waiting: f[2]!, copyMode: f[3]!, copyRange: f[4]!, queueDropped: f[5]!, userDropped: f[6]!, lastId: f[7]! })
  }
  return rows
}

/** Watch event → enforced: pending event times, settled when a sync that started after them ends. */
export class PolicyRealisedTracker {
  private pending: number[] = []
  private lastSeenSyncAt = 0
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly lastSync: () => { at: number; tookMs: number; cut?: { tookMs: number } } | undefined,
    private readonly observe: (seconds: number) => void,
    private readonly pollMs = 5,
  ) {}

  /** A watch event changed the store now. */
  eventSeen(at = Date.now()): void {
    if (this.pending.length < 100_000) this.pending.push(at)
    this.timer ??= setInterval(() => this.check(), this.pollMs)
  }

  check(): void {
    const rec = this.lastSync()
    if (rec && rec.at !== this.lastSeenSyncAt) {
      this.lastSeenSyncAt = rec.at
      // A sync drains the store at its start and has the rules in place `tookMs` later; cutting
      // now-denied established flows comes after that (and is not part of "enforced for new
      // connections"). Events seen before the drain are enforced at that point.
      const enforcedAt = rec.at - (rec.cut?.tookMs ?? 0)
      const started = enforcedAt - rec.tookMs
      const still: number[] = []
      for (const t of this.pending) {
        if (t <= started) this.observe(Math.max(0, enforcedAt - t) / 1000)
        else still.push(t)
      }
      this.pending = still
    }
    if (this.pending.length === 0) this.stop()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }
}

export class AgentMetrics {
  readonly registry = new Registry()
  readonly realised: Histogram
  readonly tracker: PolicyRealisedTracker
  private cached: { at: number; view: StatusView } | undefined

  constructor(private readonly src: MetricsSources) {
    const r = this.registry
    collectDefaultMetrics({ register: r, prefix: 'netpol_process_' })
    const status = () => this.status()
    this.realised = new Histogram({
      name: 'netpol_policy_realised_seconds', registers: [r],
      help: 'Time from a watch event changing the cluster state to the sync that enforces it having finished (rules in place).',
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    })
    this.tracker = new PolicyRealisedTracker(() => this.src.status().lastSync, (s) => this.realised.observe(s))

    counter(r, 'netpol_packets_total', 'Packets the agent was asked to decide (queued first packets of new connections).', [], () => [[{}, status().counters?.packets]])
    counter(r, 'netpol_verdicts_total', 'Verdicts by outcome: allowed, denied (by policy), decode_error and internal_error (given the fail-mode verdict).', ['outcome'], () => {
      const c = status().counters
      return [[{ outcome: 'allowed' }, c?.allowed], [{ outcome: 'denied' }, c?.denied], [{ outcome: 'decode_error' }, c?.decodeErrors], [{ outcome: 'internal_error' }, c?.internalErrors]]
    })
    counter(r, 'netpol_verdict_cache_lookups_total', 'Verdict cache lookups by result (hit ratio = hit / (hit + miss)).', ['result'], () => {
      const c = status().cache
      return [[{ result: 'hit' }, c?.hits], [{ result: 'miss' }, c?.misses]]
    })
    gauge(r, 'netpol_verdict_cache_hit_ratio', 'Verdict cache hits / lookups since start.', [], () => [[{}, status().cache?.hitRatio]])
    gauge(r, 'netpol_verdict_latency_seconds', 'Per-packet verdict latency (batch handling time) since start, as quantiles of the packet path histogram.', ['quantile'], () => {
      const l = status().latencyUs
      return [[{ quantile: '0.5' }, l && l.p50 / 1e6], [{ quantile: '0.99' }, l && l.p99 / 1e6]]
    })
    counter(r, 'netpol_queue_user_overflow_total', 'Packets the native queue verdicted with the default because a batch was full.', [], () => [[{}, sum(status().queues, 'overflow')]])
    counter(r, 'netpol_queue_enobufs_total', 'ENOBUFS on the queue socket (the kernel dropped messages to the agent).', [], () => [[{}, sum(status().queues, 'enobufs')]])
    counter(r, 'netpol_queue_kernel_dropped_total', 'Packets the kernel dropped for our queues, from /proc/net/netfilter/nfnetlink_queue: reason queue_full (queue_maxlen) or user (netlink socket full).', ['queue', 'reason'], () => {
      const out: Sample[] = []
      for (const row of this.kernelQueues()) {
        out.push([{ queue: String(row.queue), reason: 'queue_full' }, row.queueDropped], [{ queue: String(row.queue), reason: 'user' }, row.userDropped])
      }
      return out
    })
    gauge(r, 'netpol_queue_waiting', 'Packets waiting in the kernel for a verdict, per queue.', ['queue'], () => this.kernelQueues().map((row) => [{ queue: String(row.queue) }, row.waiting] as Sample))
    gauge(r, 'netpol_last_sync_seconds', 'Duration of the last sync pass (recompile and rule update).', [], () => [[{}, status().lastSync && status().lastSync!.tookMs / 1000]])
    gauge(r, 'netpol_engine_generation', 'Generation of the compiled policy tables in force.', [], () => [[{}, status().generation]])
    gauge(r, 'netpol_pods', 'Local pods by enforcement: isolated (queued by some policy) or enforced (all local pods known to the engine).', ['state'], () => [[{ state: 'isolated' }, status().isolatedPods], [{ state: 'local' }, status().enforcedPods]])
    gauge(r, 'netpol_store_objects', 'Objects in the cluster store, by kind.', ['kind'], () => {
      const st = this.src.sync?.()?.store.state()
      return st ? [[{ kind: 'Namespace' }, st.namespaces.length], [{ kind: 'Pod' }, st.pods.length], [{ kind: 'NetworkPolicy' }, st.policies.length]] : []
    })
    counter(r, 'netpol_rule_syncs_total', 'Rule syncs by result: applied (kernel rules rewritten) or skipped (already right).', ['result'], () => {
      const x = status().rules
      return [[{ result: 'applied' }, x?.applied], [{ result: 'skipped' }, x?.skipped]]
    })
    gauge(r, 'netpol_policy_issues', 'Problems with cluster objects (rejected or suspicious policies, malformed objects).', [], () => [[{}, status().issues?.length]])
    gauge(r, 'netpol_ready', '1 when the first full sync is enforced and the queues are bound.', [], () => [[{}, status().ready ? 1 : 0]])
    counter(r, 'netpol_sync_errors_total', 'Errors: sync passes that failed (source="agent"), informer errors by resource (source="informer").', ['source', 'resource'], () => {
      const out: Sample[] = [[{ source: 'agent', resource: '' }, status().syncErrors]]
      for (const [res, s] of Object.entries(this.src.sync?.()?.stats() ?? {})) out.push([{ source: 'informer', resource: res }, s.errors])
      return out
    })
    counter(r, 'netpol_relists_total', 'Full relists after the first list, by resource (410 Gone, periodic resync).', ['resource'], () =>
      Object.entries(this.src.sync?.()?.stats() ?? {}).map(([res, s]) => [{ resource: res }, s.relists] as Sample))
    counter(r, 'netpol_watch_events_total', 'Watch events that reached the store (added, modified, deleted), by resource.', ['resource'], () =>
      Object.entries(this.src.sync?.()?.stats() ?? {}).map(([res, s]) => [{ resource: res }, s.events] as Sample))
  }

  /** status() once per scrape (every collector reads it). */
  private status(): StatusView {
    const now = performance.now()
    if (!this.cached || now - this.cached.at > 200) this.cached = { at: now, view: this.src.status() }
    return this.cached.view
  }

  private kernelQueues(): KernelQueueRow[] {
    let text: string
    try {
      text = readFileSync(this.src.procQueuePath ?? '/proc/net/netfilter/nfnetlink_queue', 'utf8')
    } catch {
      return []
    }
    return parseNfQueueProc(text).filter((row) => this.src.queues.includes(row.queue))
  }

  metrics(): Promise<string> {
    this.cached = undefined
    return this.registry.metrics()
  }
}

type Sample = [Record<string, string>, number | undefined]

function sum(rows: StatusView['queues'], key: 'overflow' | 'enobufs'): number | undefined {
  return rows?.reduce((acc, q) => acc + (q[key] ?? 0), 0)
}

function gauge(r: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  new Gauge({
    name, help, labelNames, registers: [r],
    collect() {
      this.reset()
      for (const [labels, v] of read()) if (v !== undefined && Number.isFinite(v)) this.set(labels, v)
    },
  })
}

/** A counter whose total lives elsewhere (the packet path's own counters), read at scrape time. */
function counter(r: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  new Counter({
    name, help, labelNames, registers: [r],
    collect() {
      this.reset()
      for (const [labels, v] of read()) if (v !== undefined && Number.isFinite(v) && v >= 0) this.inc(labels, v)
    },
  })
}
