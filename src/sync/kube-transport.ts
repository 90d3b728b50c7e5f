// HTTP to the API server for the informers: client-node's KubeConfig does configuration and auth
// (in-cluster service account, kubeconfig files, exec plugins, client certificates, CA), and
// client-node's ListWatch does the informer logic. Requests go out through node:http(s) here,
// because the stock Watch of @kubernetes/client-node 1.x has three gaps that lose or stall updates:
//   - it silently skips a line it cannot parse: the event is lost until the next relist. Here a bad
//     line ends the stream with an error, and the informer resumes from the last good version,
//     so the server sends the event again;
//   - it never asks for bookmarks: quiet resources then resume from versions that age out (410);
//   - it has no inactivity timeout (a half-open connection hangs the informer forever). Here the
//     server is asked to close after timeoutSeconds, and a stream silent for longer is aborted.
// Lists are read as wire JSON (the generated clients rename fields, e.g. `from` → `_from`).
import * as http from 'node:http'
import * as https from 'node:https'
import { createInterface } from 'node:readline'
import type { KubeConfig } from '@kubernetes/client-node'

export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super(message)
    this.name = 'KubeApiError'
  }
  /** client-node's ListWatch reads `code` / `statusCode` 410 as "relist". */
  get code(): number {
    return this.statusCode
  }
}

export class WatchDecodeError extends Error {
  override readonly name = 'WatchDecodeError'
}

export type WatchCallback = (phase: string, obj: any, watchObj?: any) => void // eslint-disable-line @typescript-eslint/no-explicit-any
export type DoneCallback = (err: any) => void // eslint-disable-line @typescript-eslint/no-explicit-any

export interface TransportOptions {
  /** Server-side watch timeout; each watch gets this plus up to 10% jitter (spreads reconnects). */
  readonly watchTimeoutSeconds: number
  /** Abort a watch stream that has said nothing (not even a bookmark) for this long. */
  readonly inactivityMs: number
  readonly requestTimeoutMs: number
  /** Observes every watch event received (metrics, latency tracking). */
  readonly onWatchEvent?: (path: string, phase: string) => void
}

export class KubeTransport {
  /** Per path: how many watches in a row ended quickly without an event (reconnect backoff). */
  private readonly quickEnds = new Map<string, number>()

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: TransportOptions,
  ) {}

  private async request(path: string, query: Record<string, string>, timeoutMs: number): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
    const cluster = this.kc.getCurrentCluster()
    if (!cluster) throw new Error('kubeconfig: no current cluster')
    const url = new URL(cluster.server.replace(/\/+$/, '') + path)
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
    const opts: https.RequestOptions = {}
    await this.kc.applyToHTTPSOptions(opts)
    const secure = url.protocol === 'https:'
    if (!secure) delete opts.agent // plain http (a local proxy): the TLS agent does not apply
    opts.method = 'GET'
    opts.headers = { ...(opts.headers as Record<string, string>), accept: 'application/json' }
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, opts, (res) => resolve({ req, res }))
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path}: no response in ${timeoutMs} ms`)))
      req.on('error', reject)
      req.end()
    })
  }

  /** GET → parsed JSON; non-2xx → KubeApiError with the Status reason. */
  async getJson(path: string, query: Record<string, string>): Promise<unknown> {
    const { req, res } = await this.request(path, query, this.options.requestTimeoutMs)
    let body = ''
    res.setEncoding('utf8')
    for await (const chunk of res) body += chunk as string
    req.setTimeout(0)
    const code = res.statusCode ?? 0
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch {
      if (code >= 200 && code < 300) throw new Error(`GET ${path}: unparseable JSON response`)
    }
    if (code < 200 || code >= 300) {
      const st = (parsed ?? {}) as { reason?: string; message?: string }
      throw new KubeApiError(code, st.reason ?? String(code), `GET ${path}: HTTP ${code} ${st.reason ?? ''}: ${st.message ?? body.slice(0, 200)}`)
    }
    return parsed
  }

  /** The `watch` ListWatch calls: streams events to `callback`, then calls `done` exactly once. */
  async watch(path: string, queryParams: Record<string, string | undefined>, callback: WatchCallback, done: DoneCallback): Promise<AbortController> {
    const controller = new AbortController()
    // ListWatch reconnects at once after a clean close; a server that keeps closing at once would
    // make that a hot loop, so back off (with jitter) while watches end quickly and empty.
    const quick = this.quickEnds.get(path) ?? 0
    if (quick > 0) await sleep(Math.min(30_000, 100 * 2 ** Math.min(quick, 9)) * (0.5 + Math.random()))
    const startedAt = performance.now()
    let events = 0
    const timeout = Math.round(this.options.watchTimeoutSeconds * (1 + Math.random() * 0.1))
    const query: Record<string, string> = { watch: 'true', allowWatchBookmarks: 'true', timeoutSeconds: String(timeout) }
    for (const [k, v] of Object.entries(queryParams)) if (v !== undefined && v !== '') query[k] = String(v)
    let finished = false
    let req: http.ClientRequest | undefined
    const finish = (err: unknown) => {
      if (finished) return
      finished = true
      req?.destroy()
      this.quickEnds.set(path, events === 0 && performance.now() - startedAt < 1000 ? quick + 1 : 0)
      // Asynchronously: ListWatch's done handler starts the next list/watch and must not run
      // inside our own stack (it aborts `controller`, which would re-enter here).
      setImmediate(() => done(err))
    }
    controller.signal.addEventListener('abort', () => finish(null), { once: true })
    try {
      const r = await this.request(path, query, this.options.requestTimeoutMs)
      req = r.req
      const res = r.res
      if (controller.signal.aborted) {
        req.destroy()
        return controller
      }
      if (res.statusCode !== 200) {
        let body = ''
        res.setEncoding('utf8')
        for await (const chunk of res) body += chunk as string
        const st = safeParse(body) as { reason?: string; message?: string } | undefined
        finish(new KubeApiError(res.statusCode ?? 0, st?.reason ?? '', `watch ${path}: HTTP ${res.statusCode}: ${st?.message ?? body.slice(0, 200)}`))
        return controller
      }
      // Inactivity: the server sends bookmarks or events well within the timeout it was given.
      // Silence is not an error: end this stream and let ListWatch resume from the last version.
      req.setTimeout(this.options.inactivityMs, () => finish(null))
      res.on('error', (err) => finish(err))
      res.on('aborted', () => finish(new Error(`watch ${path}: connection aborted`)))
      const lines = createInterface({ input: res, crlfDelay: Infinity })
      lines.on('error', (err) => finish(err)) // readline re-emits the stream's errors
      lines.on('line', (line) => {
        if (finished || line === '') return
        let ev: { type?: unknown; object?: { metadata?: unknown } } | undefined
        try {
          ev = JSON.parse(line) as typeof ev
        } catch {
          ev = undefined
        }
        if (!ev || typeof ev.type !== 'string' || typeof ev.object !== 'object' || ev.object === null || (ev.type !== 'ERROR' && typeof ev.object.metadata !== 'object')) {
          return finish(new WatchDecodeError(`watch ${path}: undecodable event line (${line.length} bytes): ${line.slice(0, 80)}`))
        }
        events++
        this.options.onWatchEvent?.(path, ev.type)
        callback(ev.type, ev.object, ev)
      })
      // A stream cut mid-line ends without the newline: that last partial line is never delivered
      // (readline emits it on close, but `finished` is set first when the socket errored).
      res.on('end', () => finish(res.complete ? null : new Error(`watch ${path}: stream ended early`)))
      res.on('close', () => finish(res.complete ? null : new Error(`watch ${path}: connection closed mid-stream`)))
    } catch (err) {
      finish(err)
    }
    return controller
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}
