// SCTP for the pod helper over raw sockets: answers INITs to served ports with an INIT-ACK (and
// INITs to other ports with an ABORT, like a closed port), and probes by sending an INIT and
// waiting for the INIT-ACK that carries our initiate tag as its verification tag.
import { randomInt } from 'node:crypto'
import { isIPv6 } from 'node:net'
import { IPPROTO } from '../api/types.js'
import { openRawSocket, type RawSocket } from './pod-helper-raw.js'
import { buildAbort, buildInit, buildInitAck, parseInitParams, parseSctp, SCTP_ABORT, SCTP_INIT, SCTP_INIT_ACK } from './sctp.js'
import type { ProbeOutcome } from './pod-helper-probes.js'

interface Pending {
  readonly started: number
  readonly dst: string
  readonly srcPort: number
  readonly dstPort: number
  readonly done: (r: ProbeOutcome) => void
}

export class SctpEndpoint {
  private readonly socks = new Map<4 | 6, RawSocket>()
  /** In-flight probes by their initiate tag. */
  private readonly pending = new Map<number, Pending>()

  private constructor(private readonly served: ReadonlySet<number>) {}

  static async open(served: Iterable<number>): Promise<SctpEndpoint> {
    const ep = new SctpEndpoint(new Set(served))
    for (const family of [4, 6] as const) {
      ep.socks.set(family, await openRawSocket(family, IPPROTO.SCTP, (src, payload) => ep.onPacket(family, src, payload)))
    }
    return ep
  }

  private onPacket(family: 4 | 6, src: string, payload: Buffer): void {
    const pkt = parseSctp(payload)
    const chunk = pkt?.chunks[0]
    if (!pkt || !chunk || !pkt.checksumOk) return
    const sock = this.socks.get(family)!
    if (chunk.type === SCTP_INIT) {
      const peer = parseInitParams(chunk)
      if (!peer) return
      if (this.served.has(pkt.dstPort)) {
        sock.send(src, buildInitAck(pkt, { initiateTag: randomTag(), aRwnd: 65535, outStreams: 1, inStreams: 1, initialTsn: randomTag() }))
      } else {
        sock.send(src, buildAbort(pkt.dstPort, pkt.srcPort, peer.initiateTag))
      }
      return
    }
    const p = this.pending.get(pkt.vtag)
    if (!p || p.dst !== src || pkt.srcPort !== p.dstPort || pkt.dstPort !== p.srcPort) return
    if (chunk.type === SCTP_INIT_ACK) {
      const peer = parseInitParams(chunk)
      // Tear the half-open association down so conntrack does not keep it around.
      if (peer) sock.send(src, buildAbort(p.srcPort, p.dstPort, peer.initiateTag))
      this.finish(pkt.vtag, { ok: true, ms: performance.now() - p.started })
    } else if (chunk.type === SCTP_ABORT) {
      this.finish(pkt.vtag, { ok: false, ms: performance.now() - p.started, error: 'refused' })
    }
  }

  private finish(tag: number, r: ProbeOutcome): void {
    const p = this.pending.get(tag)
    if (!p) return
    this.pending.delete(tag)
    p.done(r)
  }

  probe(to: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
    const started = performance.now()
    let tag = randomTag()
    while (this.pending.has(tag)) tag = randomTag()
    const srcPort = randomInt(32768, 61000)
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.finish(tag, { ok: false, ms: performance.now() - started, error: 'timeout' }), timeoutMs)
      this.pending.set(tag, { started, dst: to, srcPort, dstPort: port, done: (r) => { clearTimeout(timer); resolve(r) } })
      const sock = this.socks.get(isIPv6(to) ? 6 : 4)!
      sock.send(to, buildInit(srcPort, port, { initiateTag: tag, aRwnd: 65535, outStreams: 1, inStreams: 1, initialTsn: randomTag() }))
    })
  }

  close(): void {
    for (const s of this.socks.values()) s.close()
    this.socks.clear()
  }
}

function randomTag(): number {
  return randomInt(1, 0xffffffff)
}
