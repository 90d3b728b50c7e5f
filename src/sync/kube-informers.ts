// API-server sync: one client-node ListWatch informer per resource (Namespaces, Pods of every
// node — selectors reach across the cluster — and NetworkPolicies), feeding the ClusterStore.
//
//   list (paged, limit/continue) → store → watch from the list's resourceVersion (bookmarks on)
//   410 Gone (HTTP or ERROR event) → ListWatch relists; whatever vanished is deleted from the store
//   any other error → client-node stops the informer; we restart it with backoff + jitter,
//     resuming from the last resourceVersion seen (the server replays what we missed)
//   periodic full resync → a fresh informer relists; the store is reconciled against that list
//
// Malformed objects (model conversion fails) become issues and keep their last good version.
import { ListWatch, type KubeConfig } from '@kubernetes/client-node'
import type { NamespaceInfo, NetworkPolicy, PodInfo, ValidationIssue } from '../api/types.js'
import { InputError } from '../model/errors.js'
import { namespaceFromObject, podFromObject, policyFromObject } from '../model/objects.js'
import type { ClusterStore } from '../store/cluster-store.js'
import { KubeApiError, KubeTransport, type TransportOptions } from './kube-transport.js'
import { trimObject } from './kube-trim.js'

export type KubeResource = 'namespaces' | 'pods' | 'networkpolicies'

interface ResourceSpec {
  readonly resource: KubeResource
  readonly path: string
  readonly convert: (obj: unknown) => NamespaceInfo | PodInfo | NetworkPolicy
  readonly upsert: (store: ClusterStore, model: never) => unknown
  readonly remove: (store: ClusterStore, namespace: string, name: string) => unknown
}

const RESOURCES: readonly ResourceSpec[] = [
  { resource: 'namespaces', path: '/api/v1/namespaces', convert: namespaceFromObject, upsert: (s, m: NamespaceInfo) => s.upsertNamespace(m), remove: (s, _ns, name) => s.deleteNamespace(name) },
  { resource: 'pods', path: '/api/v1/pods', convert: podFromObject, upsert: (s, m: PodInfo) => s.upsertPod(m), remove: (s, ns, name) => s.deletePod(ns, name) },
  { resource: 'networkpolicies', path: '/apis/networking.k8s.io/v1/networkpolicies', convert: policyFromObject, upsert: (s, m: NetworkPolicy) => s.upsertPolicy(m), remove: (s, ns, name) => s.deletePolicy(ns, name) },
]

export interface KubeSyncOptions extends TransportOptions {
  /** Items per list page (limit=); 0 lists in one response. */
  readonly pageSize: number
  /** Full relist period (± 10% jitter); 0 disables. */
  readonly resyncPeriodMs: number
  readonly backoffBaseMs: number
  readonly backoffMaxMs: number
  readonly log?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void }
}

export const KUBE_SYNC_DEFAULTS = {
  pageSize: 500,
  resyncPeriodMs: 15 * 60_000,
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
  watchTimeoutSeconds: 300,
  inactivityMs: 90_000,
  requestTimeoutMs: 30_000,
} as const

export interface ResourceStats {
  listed: boolean
  lists: number
  relists: number
  events: number
  errors: number
  restarts: number
  lastError?: string
  /** performance.now() of the last sign of progress: an event, a finished list, a (re)connect attempt. */
  lastProgress: number
}

type KObj = { metadata?: { name?: string; namespace?: string; resourceVersion?: string } }
type Informer = ListWatch<KObj & { metadata: { name: string } }>
type WatchFn = KubeTransport['watch']

/** One resource's informer, restarted on errors and replaced on periodic resyncs. */
class Feed {
  informer: Informer | undefined
  /** Keys this feed put in the store (for reconciling after a list). */
  private readonly present = new Set<string>()
  private readonly issues = new Map<string, ValidationIssue>()
  private listKeys: Set<string> | undefined
  private attempt = 0
  private restartTimer: NodeJS.Timeout | undefined
  private stopped = false
  /** Resolved by the next completed list of the current informer. */
  private listWaiters: (() => void)[] = []
  readonly stats: ResourceStats = { listed: false, lists: 0, relists: 0, events: 0, errors: 0, restarts: 0, lastProgress: performance.now() }

  constructor(
    private readonly spec: ResourceSpec,
    private readonly sync: KubeSync,
  ) {}

  stop(): void {
    this.stopped = true
    clearTimeout(this.restartTimer)
    void this.informer?.stop()
  }

  allIssues(): ValidationIssue[] {
    return [...this.issues.values()]
  }

  /**
   * A fresh informer (first start, periodic or requested resync): lists, then watches. Resolves
   * once its list is in the store (errors are retried with backoff until it is).
   */
  replace(): Promise<void> {
    if (this.stopped) return Promise.resolve()
    const listed = new Promise<void>((resolve) => this.listWaiters.push(resolve))
    const old = this.informer
    const watch: WatchFn = (path, params, cb, done) => {
      // ListWatch calls watch() right after a list's items went through the handlers.
      if (this.informer === lw && this.listKeys) this.afterList()
      this.touch()
      const resource = this.spec.resource
      return this.sync.transport.watch(path, params, (phase, obj, ev) => cb(phase, phase === 'ERROR' ? obj : trimObject(resource, obj), ev), done)
    }
    // ListWatch only calls `watch.watch(...)`: our transport stands in for client-node's Watch.
    const lw: Informer = new ListWatch<KObj & { metadata: { name: string } }>(this.spec.path, { watch } as never, () => this.list(lw) as never, false)
    const mine = (fn: (obj: KObj) => void) => (obj: KObj) => { if (this.informer === lw) fn(obj) }
    lw.on('add', mine((o) => this.upsert(o)))
    lw.on('update', mine((o) => this.upsert(o)))
    lw.on('delete', mine((o) => this.remove(o)))
    lw.on('error', (err: unknown) => { if (this.informer === lw) this.failed(err) })
    this.informer = lw
    void old?.stop()
    this.run()
    return listed
  }

  private run(): void {
    this.stats.lastProgress = performance.now()
    this.informer!.start().catch((err: unknown) => this.failed(err))
  }

  private failed(err: unknown): void {
    if (this.stopped) return
    this.stats.errors++
    this.stats.lastError = String(err instanceof Error ? err.message : err)
    this.sync.errorCount++
    const { backoffBaseMs, backoffMaxMs } = this.sync.options
    const delay = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(this.attempt++, 16)) * (0.5 + Math.random() / 2)
    this.sync.options.log?.warn({ resource: this.spec.resource, err: this.stats.lastError, retryInMs: Math.round(delay) }, 'informer stopped; restarting')
    clearTimeout(this.restartTimer)
    this.restartTimer = setTimeout(() => {
      this.stats.restarts++
      this.run() // resumes from the last resourceVersion, or lists if there is none
    }, delay)
    this.stats.lastProgress = performance.now()
  }

  /** The list function ListWatch calls: every page, from one consistent snapshot. */
  private async list(lw: Informer): Promise<{ metadata: { resourceVersion: string }; items: KObj[] }> {
    const { pageSize } = this.sync.options
    for (let tries = 0; ; tries++) {
      const items: KObj[] = []
      let cont = ''
      let rv = ''
      try {
        do {
          const query: Record<string, string> = {}
          if (pageSize > 0) query.limit = String(pageSize)
          if (cont) query.continue = cont
          const page = (await this.sync.transport.getJson(this.spec.path, query)) as { metadata?: { resourceVersion?: string; continue?: string }; items?: KObj[] }
          for (const item of page.items ?? []) items.push(trimObject(this.spec.resource, item) as KObj)
          rv = page.metadata?.resourceVersion ?? ''
          cont = page.metadata?.continue ?? ''
        } while (cont)
      } catch (err) {
        // An expired continue token: start the list over (as client-go's pager does).
        if (err instanceof KubeApiError && err.statusCode === 410 && tries < 3) continue
        throw err
      }
      if (this.informer !== lw) throw new Error('superseded')
      if (this.stats.lists++ > 0) {
        this.stats.relists++
        this.sync.relistCount++
      }
      this.listKeys = new Set(items.map(keyOf))
      this.stats.lastProgress = performance.now()
      this.attempt = 0
      return { metadata: { resourceVersion: rv }, items }
    }
  }

  /** After a list: whatever the store holds that the list lacks is gone (missed deletes). */
  private afterList(): void {
    const keys = this.listKeys!
    this.listKeys = undefined
    for (const key of [...this.present]) {
      if (keys.has(key)) continue
      const slash = key.indexOf('/')
      this.removeKey(slash < 0 ? '' : key.slice(0, slash), slash < 0 ? key : key.slice(slash + 1))
    }
    this.stats.listed = true
    for (const resolve of this.listWaiters.splice(0)) resolve()
  }

  private upsert(obj: KObj): void {
    this.progress()
    const key = keyOf(obj)
    let model: NamespaceInfo | PodInfo | NetworkPolicy
    try {
      model = this.spec.convert(obj)
    } catch (err) {
      if (!(err instanceof InputError)) throw err
      this.issues.set(key, { object: err.object, field: err.field, message: err.message, severity: 'error' })
      return // the last good version (if any) stays in force
    }
    this.issues.delete(key)
    this.present.add(key)
    this.sync.changed(this.spec.upsert(this.sync.store, model as never) as unknown[])
  }

  private remove(obj: KObj): void {
    this.progress()
    this.removeKey(obj.metadata?.namespace ?? '', obj.metadata?.name ?? '')
  }

  private removeKey(namespace: string, name: string): void {
    const key = namespace ? `${namespace}/${name}` : name
    this.issues.delete(key)
    this.present.delete(key)
    this.sync.changed(this.spec.remove(this.sync.store, namespace || 'default', name) as unknown[])
  }

  touch(): void {
    this.stats.lastProgress = performance.now()
  }

  private progress(): void {
    this.stats.events++
    this.stats.lastProgress = performance.now()
    this.attempt = 0
  }
}

function keyOf(o: KObj): string {
  const ns = o.metadata?.namespace
  return ns ? `${ns}/${o.metadata?.name ?? ''}` : (o.metadata?.name ?? '')
}

export class KubeSync {
  readonly transport: KubeTransport
  private readonly feeds: Feed[]
  private resyncTimer: NodeJS.Timeout | undefined
  errorCount = 0
  relistCount = 0
  private syncedAt: number | undefined

  constructor(
    kc: KubeConfig,
    readonly store: ClusterStore,
    private readonly onChange: () => void,
    readonly options: KubeSyncOptions,
  ) {
    const byPath = new Map<string, Feed>()
    // Bookmarks never reach the informer's handlers, but they are progress (for /healthz).
    this.transport = new KubeTransport(kc, {
      ...options,
      onWatchEvent: (path, phase) => {
        byPath.get(path)?.touch()
        options.onWatchEvent?.(path, phase)
      },
    })
    this.feeds = RESOURCES.map((spec) => new Feed(spec, this))
    RESOURCES.forEach((spec, i) => byPath.set(spec.path, this.feeds[i]!))
  }

  /** Resolves once all three resources are listed into the store. */
  async start(): Promise<void> {
    await this.resync()
    this.syncedAt = performance.now()
    this.armResync()
  }

  /** A full relist of every resource now (also what the periodic resync does); resolves when listed. */
  async resync(): Promise<void> {
    await Promise.all(this.feeds.map((f) => f.replace()))
  }

  async stop(): Promise<void> {
    clearTimeout(this.resyncTimer)
    for (const f of this.feeds) f.stop()
  }

  get synced(): boolean {
    return this.syncedAt !== undefined
  }

  issues(): ValidationIssue[] {
    return this.feeds.flatMap((f) => f.allIssues())
  }

  stats(): Record<KubeResource, ResourceStats> {
    return Object.fromEntries(RESOURCES.map((r, i) => [r.resource, this.feeds[i]!.stats])) as Record<KubeResource, ResourceStats>
  }

  /** ms since the stalest resource last made progress (an event, a list, a reconnect attempt). */
  stalestMs(): number {
    const now = performance.now()
    return Math.max(...this.feeds.map((f) => now - f.stats.lastProgress))
  }

  /** @internal a feed changed the store. */
  changed(deltas: readonly unknown[]): void {
    if (deltas.length > 0) this.onChange()
  }

  private armResync(): void {
    const period = this.options.resyncPeriodMs
    if (period <= 0) return
    this.resyncTimer = setTimeout(() => {
      this.options.log?.info({}, 'periodic full resync')
      void this.resync()
      this.armResync()
    }, period * (0.9 + Math.random() * 0.2))
    this.resyncTimer.unref?.()
  }
}
