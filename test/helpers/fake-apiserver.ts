// A test Kubernetes API server for Namespaces, Pods and NetworkPolicies that speaks the real
// list/watch wire protocol, with fault injection. What it does as the real one does:
//   - one global, increasing resourceVersion; every object carries metadata.resourceVersion
//   - lists: {kind: PodList, metadata: {resourceVersion, continue, remainingItemCount}, items};
//     limit= pages with continue tokens served from the list's snapshot; an expired token → 410
//   - watches (?watch=true&resourceVersion=N): chunked `{"type","object"}\n` lines, replayed from
//     an event log; a resourceVersion older than the log's compaction point → HTTP 200 and an ERROR
//     event carrying a Status (code 410, reason Expired), then the stream ends
//   - allowWatchBookmarks=true → periodic BOOKMARK events; timeoutSeconds= → the stream ends
//   - a bearer token is required when `token` is set (401 Status otherwise)
// Faults (queued with inject(), each used once): drop a stream mid-event, a garbage line, a slow
// response, 410 on resume, 5xx bursts, clean stream closes, compaction.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { rmSync } from 'node:fs'

export type Resource = 'namespaces' | 'pods' | 'networkpolicies'
export type KubeObject = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown }

const PATHS: Record<string, Resource> = {
  '/api/v1/namespaces': 'namespaces',
  '/api/v1/pods': 'pods',
  '/apis/networking.k8s.io/v1/networkpolicies': 'networkpolicies',
}
const KINDS: Record<Resource, { kind: string; apiVersion: string }> = {
  namespaces: { kind: 'Namespace', apiVersion: 'v1' },
  pods: { kind: 'Pod', apiVersion: 'v1' },
  networkpolicies: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1' },
}

export type Fault =
  /** The next watch event is cut in half and the connection destroyed. */
  | { kind: 'drop-mid-event' }
  /** The next watch event is written as a line of garbage (a corrupted event). */
  | { kind: 'garbage' }
  /** The next request (of `on`, default any) waits this long before answering. */
  | { kind: 'slow'; ms: number; on?: 'list' | 'watch' }
  /** The next watch that resumes from a resourceVersion gets 410 (as an ERROR event, or as HTTP 410). */
  | { kind: 'gone-on-resume'; http?: boolean }
  /** The next `count` requests answer this 5xx code with a Status body. */
  | { kind: '5xx'; code?: number; count: number }
  /** Every open watch stream ends cleanly now. */
  | { kind: 'close-streams' }
  /** The event log is compacted to the current revision (resumes from older versions get 410). */
  | { kind: 'compact' }
  /** The next continue token presented is expired (410). */
  | { kind: 'expire-continue' }

interface Event { rv: number; resource: Resource; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject }
interface Watcher { resource: Resource; res: ServerResponse; sentRv: number; bookmarks: boolean; timer?: NodeJS.Timeout; bookmarkTimer?: NodeJS.Timeout }

export interface FakeApiServerOptions {
  /** Required bearer token; undefined accepts anything. */
  readonly token?: string
  readonly bookmarkIntervalMs?: number
  /** Events kept for watch resumes before the oldest are compacted away. */
  readonly logSize?: number
  /** Serve HTTPS with this key and certificate (PEM), as a real API server does. */
  readonly tls?: { readonly key: string; readonly cert: string }
}

export class FakeApiServer {
  private readonly server: Server
  private rv = 1000
  private compactedRv = 1000
  private readonly objects: Record<Resource, Map<string, KubeObject>> = { namespaces: new Map(), pods: new Map(), networkpolicies: new Map() }
  private readonly log: Event[] = []
  private readonly watchers = new Set<Watcher>()
  private readonly faults: Fault[] = []
  private readonly snapshots = new Map<number, { rv: number; items: KubeObject[] }>()
  private nextSnapshot = 1
  private listenPath: string | undefined
  private readonly sockets = new Set<Socket>()
  /** What was served, for assertions. */
  readonly stats = { lists: 0, watches: 0, watchEvents: 0, bookmarks: 0, gone: 0, faults: 0, unauthorized: 0 }
  /** Called with the time each event was written to at least one watch stream (latency tests). */
  onEventSent: ((ev: { resource: Resource; type: string; name: string; rv: number; at: number }) => void) | undefined

  constructor(private readonly options: FakeApiServerOptions = {}) {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res)
    this.server = options.tls ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, handler) : createServer(handler)
    // Every raw connection, so close() can cut them all (TLS handshakes in flight included).
    this.server.on('connection', (sock: Socket) => {
      this.sockets.add(sock)
      sock.on('close', () => this.sockets.delete(sock))
    })
  }

  /** Listens on a TCP port of 127.0.0.1 (0: any) or on a unix socket path. */
  async listen(where: number | string = 0): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      if (typeof where === 'string') {
        rmSync(where, { force: true })
        this.listenPath = where
        this.server.listen(where, resolve)
      } else this.server.listen(where, '127.0.0.1', resolve)
    })
    if (this.listenPath) return this.listenPath
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async close(): Promise<void> {
    for (const w of this.watchers) this.endWatch(w)
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    for (const sock of this.sockets) sock.destroy()
    await closed
    if (this.listenPath) rmSync(this.listenPath, { force: true })
  }

  inject(...faults: Fault[]): void {
    for (const f of faults) {
      if (f.kind === 'close-streams') {
        this.stats.faults++
        for (const w of [...this.watchers]) this.endWatch(w)
      } else if (f.kind === 'compact') {
        this.stats.faults++
        this.compact(this.rv)
      } else this.faults.push(f)
    }
  }

  /** Drops faults that never triggered (e.g. expire-continue when no list was paged). */
  clearFaults(): number {
    return this.faults.splice(0).length
  }

  /** Open watch streams on a resource. */
  watching(resource: Resource): number {
    let n = 0
    for (const w of this.watchers) if (w.resource === resource) n++
    return n
  }

  /** Faults queued but not yet triggered. */
  pendingFaults(): number {
    return this.faults.length
  }

  get resourceVersion(): number {
    return this.rv
  }

  // ---- object store -----------------------------------------------------------------------

  /** Creates or replaces an object (ADDED or MODIFIED). Returns the stored copy. */
  apply(resource: Resource, obj: KubeObject): KubeObject {
    const key = keyOf(obj)
    const had = this.objects[resource].has(key)
    const stored: KubeObject = structuredClone({ ...KINDS[resource], ...obj })
    stored.metadata.resourceVersion = String(++this.rv)
    stored.metadata.uid ??= `uid-${resource}-${key}`
    this.objects[resource].set(key, stored)
    this.emit({ rv: this.rv, resource, type: had ? 'MODIFIED' : 'ADDED', object: stored })
    return stored
  }

  delete(resource: Resource, namespace: string | undefined, name: string): boolean {
    const key = namespace ? `${namespace}/${name}` : name
    const had = this.objects[resource].get(key)
    if (!had) return false
    this.objects[resource].delete(key)
    const gone: KubeObject = structuredClone(had)
    gone.metadata.resourceVersion = String(++this.rv)
    this.emit({ rv: this.rv, resource, type: 'DELETED', object: gone })
    return true
  }

  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects[resource].get(namespace ? `${namespace}/${name}` : name)
  }

  list(resource: Resource): KubeObject[] {
    return [...this.objects[resource].values()].map((o) => structuredClone(o))
  }

  private emit(ev: Event): void {
    this.log.push(ev)
    const max = this.options.logSize ?? 10_000
    if (this.log.length > max) this.compact(this.log[this.log.length - max]!.rv)
    let sent = false
    for (const w of [...this.watchers]) if (w.resource === ev.resource) sent = this.send(w, ev) || sent
    if (sent) this.onEventSent?.({ resource: ev.resource, type: ev.type, name: keyOf(ev.object), rv: ev.rv, at: performance.now() })
  }

  private compact(uptoRv: number): void {
    this.compactedRv = Math.max(this.compactedRv, uptoRv)
    while (this.log.length > 0 && this.log[0]!.rv <= this.compactedRv) this.log.shift()
    for (const [id, s] of this.snapshots) if (s.rv < this.compactedRv) this.snapshots.delete(id)
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private takeFault<K extends Fault['kind']>(kind: K, pred: (f: Extract<Fault, { kind: K }>) => boolean = () => true): Extract<Fault, { kind: K }> | undefined {
    const i = this.faults.findIndex((f) => f.kind === kind && pred(f as Extract<Fault, { kind: K }>))
    if (i < 0) return undefined
    this.stats.faults++
    return this.faults.splice(i, 1)[0] as Extract<Fault, { kind: K }>
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const resource = PATHS[url.pathname]
    if (this.options.token !== undefined && req.headers.authorization !== `Bearer ${this.options.token}`) {
      this.stats.unauthorized++
      return status(res, 401, 'Unauthorized', 'Unauthorized')
    }
    if (req.method !== 'GET' || !resource) return status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`)
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1'
    const burst = this.faults.find((f) => f.kind === '5xx')
    if (burst && burst.kind === '5xx') {
      this.stats.faults++
      if (--burst.count <= 0) this.faults.splice(this.faults.indexOf(burst), 1)
      return status(res, burst.code ?? 503, 'ServiceUnavailable', 'injected fault: the server is currently unable to handle the request')
    }
    const slow = this.takeFault('slow', (f) => f.on === undefined || f.on === (watch ? 'watch' : 'list'))
    if (slow) await new Promise((r) => setTimeout(r, slow.ms))
    if (watch) this.startWatch(resource, url, res)
    else this.serveList(resource, url, res)
  }

  private serveList(resource: Resource, url: URL, res: ServerResponse): void {
    this.stats.lists++
    const limit = Number(url.searchParams.get('limit') ?? 0)
    const token = url.searchParams.get('continue')
    let snap: { rv: number; items: KubeObject[] }
    let start = 0
    if (token) {
      const t = decodeToken(token)
      const s = t && this.snapshots.get(t.id)
      if (!t || !s || this.takeFault('expire-continue')) {
        return status(res, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.')
      }
      snap = s
      start = t.start
    } else {
      const items = [...this.objects[resource].values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)))
      snap = { rv: this.rv, items: items.map((o) => structuredClone(o)) }
    }
    const end = limit > 0 ? Math.min(snap.items.length, start + limit) : snap.items.length
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) }
    if (end < snap.items.length) {
      let id = token ? decodeToken(token)!.id : 0
      if (!id) this.snapshots.set((id = this.nextSnapshot++), snap)
      metadata.continue = encodeToken({ id, start: end })
      metadata.remainingItemCount = snap.items.length - end
    }
    const { kind, apiVersion } = KINDS[resource]
    json(res, 200, { kind: `${kind}List`, apiVersion, metadata, items: snap.items.slice(start, end) })
  }

  private startWatch(resource: Resource, url: URL, res: ServerResponse): void {
    this.stats.watches++
    const rvParam = url.searchParams.get('resourceVersion') ?? ''
    const from = rvParam === '' || rvParam === '0' ? -1 : Number(rvParam)
    const gone = from > 0 ? this.takeFault('gone-on-resume') : undefined
    if (gone?.http) {
      this.stats.gone++
      return status(res, 410, 'Expired', `too old resource version: ${from} (${this.rv})`)
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' })
    res.flushHeaders()
    if (gone || (from >= 0 && from < this.compactedRv)) {
      this.stats.gone++
      const st = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv + 1})`, reason: 'Expired', code: 410 }
      res.end(JSON.stringify({ type: 'ERROR', object: st }) + '\n')
      return
    }
    const w: Watcher = { resource, res, sentRv: from, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' }
    this.watchers.add(w)
    res.on('close', () => this.endWatch(w))
    if (from < 0) {
      // resourceVersion unset/0: the current state as ADDED events first, as the real server does.
      for (const o of this.objects[resource].values()) if (!this.send(w, { rv: Number(o.metadata.resourceVersion), resource, type: 'ADDED', object: o })) return
      w.sentRv = this.rv
    } else {
      for (const ev of this.log) if (ev.resource === resource && ev.rv > from) if (!this.send(w, ev)) return
    }
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0)
    if (timeout > 0) w.timer = setTimeout(() => this.endWatch(w), timeout * 1000)
    if (w.bookmarks) {
      w.bookmarkTimer = setInterval(() => {
        const { kind, apiVersion } = KINDS[resource]
        this.stats.bookmarks++
        this.write(w, JSON.stringify({ type: 'BOOKMARK', object: { kind, apiVersion, metadata: { resourceVersion: String(this.rv) } } }) + '\n')
      }, this.options.bookmarkIntervalMs ?? 1000)
    }
  }

  /** Writes one event to one watcher (applying stream faults); false when the stream died. */
  private send(w: Watcher, ev: Event): boolean {
    if (ev.rv <= w.sentRv || !this.watchers.has(w)) return this.watchers.has(w)
    const line = JSON.stringify({ type: ev.type, object: ev.object }) + '\n'
    if (this.takeFault('garbage')) {
      // The event itself arrives mangled (the server counts it as sent): a client that skips
      // lines it cannot parse loses this event.
      w.sentRv = ev.rv
      this.write(w, line.slice(0, line.length >> 1) + '\u0000garbage]]\n')
      return true
    }
    if (this.takeFault('drop-mid-event')) {
      w.res.write(line.slice(0, Math.max(1, line.length >> 1)))
      w.res.socket?.destroy()
      this.endWatch(w)
      return false
    }
    w.sentRv = ev.rv
    this.stats.watchEvents++
    this.write(w, line)
    return true
  }

  private write(w: Watcher, data: string): void {
    if (!w.res.writableEnded) w.res.write(data)
  }

  private endWatch(w: Watcher): void {
    if (!this.watchers.delete(w)) return
    clearTimeout(w.timer)
    clearInterval(w.bookmarkTimer)
    if (!w.res.writableEnded) w.res.end()
  }
}

function keyOf(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name
}
function encodeToken(t: { id: number; start: number }): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url')
}
function decodeToken(s: string): { id: number; start: number } | undefined {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString()) as { id: number; start: number }
    return Number.isInteger(t.id) && Number.isInteger(t.start) ? t : undefined
  } catch {
    return undefined
  }
}
function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
function status(res: ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code })
}
