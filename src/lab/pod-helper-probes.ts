// The pod helper's servers and client probes for TCP (connect + one line) and UDP (echo).
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { connect, createServer, isIPv6, type Server } from 'node:net'

export interface ProbeOutcome {
  ok: boolean
  ms: number
  error?: string
}

/** errno codes → the short reasons a probe reports. */
function reason(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED': return 'refused'
    case 'ECONNRESET': return 'reset'
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'unreachable'
    case 'EPERM': case 'EACCES': return 'denied'
    default: return e.code ?? e.message
  }
}

/** Accepts on [::]:port (IPv4 too), writes one line and closes. */
export function serveTcp(port: number, line: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((sock) => {
      sock.on('error', () => {})
      sock.end(line + '\n')
    })
    srv.on('error', reject)
    srv.listen({ port, host: '::', ipv6Only: false }, () => resolve(srv))
  })
}

/** Echoes every datagram on [::]:port (IPv4 too). */
export function serveUdp(port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: 'udp6', ipv6Only: false })
    sock.on('error', reject)
    sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address))
    sock.bind(port, '::', () => resolve(sock))
  })
}

export function probeTcp(to: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const started = performance.now()
  return new Promise((resolve) => {
    let settled = false
    let got = ''
    const sock = connect({ host: to, port })
    const done = (r: Omit<ProbeOutcome, 'ms'>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      sock.destroy()
      resolve({ ...r, ms: performance.now() - started })
    }
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeoutMs)
    sock.setEncoding('utf8')
    sock.on('data', (d: string) => {
      got += d
      if (got.includes('\n')) done({ ok: true })
    })
    sock.on('end', () => done({ ok: false, error: 'closed' }))
    sock.on('error', (e) => done({ ok: false, error: reason(e) }))
  })
}

export function probeUdp(to: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const started = performance.now()
  const token = randomBytes(8)
  return new Promise((resolve) => {
    let settled = false
    const sock = createSocket(isIPv6(to) ? 'udp6' : 'udp4')
    const done = (r: Omit<ProbeOutcome, 'ms'>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      sock.close()
      resolve({ ...r, ms: performance.now() - started })
    }
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeoutMs)
    sock.on('message', (msg, rinfo) => {
      if (rinfo.port === port && msg.equals(token)) done({ ok: true })
    })
    sock.on('error', (e) => done({ ok: false, error: reason(e) }))
    // Connected, so that an ICMP port unreachable comes back as ECONNREFUSED ('refused').
    sock.connect(port, to, () => sock.send(token, (e) => { if (e) done({ ok: false, error: reason(e) }) }))
  })
}
