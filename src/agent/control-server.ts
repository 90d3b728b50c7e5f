// The agent's local control socket: a root-only unix socket speaking HTTP, for `netpol` tools on
// the node (status; the live tap log streams here too). A unix socket reaches across network
// namespaces, which is how the lab talks to an agent running inside its node namespace.
import { chmodSync, mkdirSync, rmSync } from 'node:fs'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { dirname } from 'node:path'

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void

export class ControlServer {
  private readonly server: Server
  private readonly routes = new Map<string, RouteHandler>()

  constructor(private readonly socketPath: string) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!
      const handler = this.routes.get(path)
      if (!handler) {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: `no such endpoint: ${path}`, endpoints: [...this.routes.keys()] }))
        return
      }
      try {
        handler(req, res)
      } catch (err) {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: String(err) }))
      }
    })
  }

  route(path: string, handler: RouteHandler): this {
    this.routes.set(path, handler)
    return this
  }

  /** GET path → the JSON of `produce()`. */
  json(path: string, produce: () => unknown): this {
    return this.route(path, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(produce()))
    })
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true, mode: 0o700 })
    rmSync(this.socketPath, { force: true }) // a stale socket from a killed agent
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.socketPath, () => resolve())
    })
    chmodSync(this.socketPath, 0o600) // verdicts name pods and peers: root only
  }

  async close(): Promise<void> {
    this.server.closeAllConnections?.()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    rmSync(this.socketPath, { force: true })
  }
}

/** GET a JSON endpoint of an agent's control socket. */
export function getControlJson<T>(socketPath: string, path: string, timeoutMs = 2000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${path}: HTTP ${res.statusCode}: ${body}`))
        try {
          resolve(JSON.parse(body) as T)
        } catch (err) {
          reject(new Error(`${path}: bad JSON from agent: ${String(err)}`))
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer from ${socketPath} in ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}
