// The lab's per-pod program, started inside a pod's network namespace:
//   node dist/lab/pod-helper.js --name ns/pod --serve 80/TCP,53/UDP,9000/SCTP
// Serves the ports (TCP: accept, write a line, close; UDP: echo; SCTP: INIT → INIT-ACK over raw
// sockets), prints {"ready":true,...} once listening, then answers JSON-lines probe commands on
// stdin, many in flight at once:
//   → {"id":1,"op":"probe","to":"10.0.2.22","port":80,"protocol":"TCP","timeoutMs":1000}
//   ← {"id":1,"ok":true,"ms":0.4}   |   {"id":1,"ok":false,"ms":1000.2,"error":"timeout"}
// Exits when stdin closes, so a dead parent never leaves helpers behind.
import { createInterface } from 'node:readline'
import { probeTcp, probeUdp, serveTcp, serveUdp, type ProbeOutcome } from './pod-helper-probes.js'
import { SctpEndpoint } from './pod-helper-sctp.js'
import { rawSocketImpl } from './pod-helper-raw.js'

interface ServePort { port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }

function parseArgs(argv: readonly string[]): { name: string; serve: ServePort[] } {
  let name = 'pod'
  const serve: ServePort[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--name') name = argv[++i] ?? name
    else if (a === '--serve') {
      for (const item of (argv[++i] ?? '').split(',').filter(Boolean)) {
        const [p, proto = 'TCP'] = item.split('/')
        const port = Number(p)
        const protocol = proto.toUpperCase()
        if (!Number.isInteger(port) || port < 1 || port > 65535 || !['TCP', 'UDP', 'SCTP'].includes(protocol)) {
          throw new Error(`bad --serve item ${item} (want PORT/TCP|UDP|SCTP)`)
        }
        serve.push({ port, protocol: protocol as ServePort['protocol'] })
      }
    } else throw new Error(`unknown argument ${a}`)
  }
  return { name, serve }
}

function reply(obj: object): void {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

async function main(): Promise<void> {
  const { name, serve } = parseArgs(process.argv.slice(2))
  const closers: (() => void)[] = []
  for (const s of serve) {
    if (s.protocol === 'TCP') { const srv = await serveTcp(s.port, name); closers.push(() => srv.close()) }
    if (s.protocol === 'UDP') { const sock = await serveUdp(s.port); closers.push(() => sock.close()) }
  }
  // Raw SCTP sockets always: a pod that serves nothing on SCTP still probes with it.
  let sctp: SctpEndpoint | undefined
  let sctpError: string | undefined
  try {
    sctp = await SctpEndpoint.open(serve.filter((s) => s.protocol === 'SCTP').map((s) => s.port))
    closers.push(() => sctp!.close())
  } catch (e) {
    sctpError = (e as Error).message
    if (serve.some((s) => s.protocol === 'SCTP')) throw e
  }
  const shutdown = (): never => { for (const c of closers) c(); process.exit(0) }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)

  const rl = createInterface({ input: process.stdin })
  rl.on('close', shutdown)
  rl.on('line', (line) => {
    if (!line.trim()) return
    let cmd: { id?: unknown; op?: unknown; to?: unknown; port?: unknown; protocol?: unknown; timeoutMs?: unknown }
    try { cmd = JSON.parse(line) as typeof cmd } catch { reply({ ok: false, error: 'bad json' }); return }
    const id = cmd.id
    if (cmd.op !== 'probe' || typeof cmd.to !== 'string' || typeof cmd.port !== 'number') {
      reply({ id, ok: false, ms: 0, error: 'bad command' })
      return
    }
    const timeoutMs = typeof cmd.timeoutMs === 'number' ? cmd.timeoutMs : 1000
    let p: Promise<ProbeOutcome>
    switch (cmd.protocol ?? 'TCP') {
      case 'TCP': p = probeTcp(cmd.to, cmd.port, timeoutMs); break
      case 'UDP': p = probeUdp(cmd.to, cmd.port, timeoutMs); break
      case 'SCTP': p = sctp ? sctp.probe(cmd.to, cmd.port, timeoutMs) : Promise.resolve({ ok: false, ms: 0, error: `sctp unavailable: ${sctpError}` }); break
      default: p = Promise.resolve({ ok: false, ms: 0, error: 'bad protocol' })
    }
    p.then((r) => reply({ id, ...r }), (e: Error) => reply({ id, ok: false, ms: 0, error: e.message }))
  })
  reply({ ready: true, name, sctp: sctp ? await rawSocketImpl() : false })
}

main().catch((e: Error) => {
  process.stderr.write(`pod-helper: ${e.message}\n`)
  process.exit(1)
})
