// Connection state for replay, as conntrack gives it to the dataplane: the first packet of a flow
// is decided by the policy engine; later packets in either direction follow that decision (an
// accepted flow's packets and replies pass, a denied flow's are dropped). A TCP flow that ended
// (RST, or FIN both ways) and is opened again by a SYN is a new flow; UDP/ICMP/other flows idle
// past conntrack's default timeouts are decided again.
import type { PolicyEvaluator, SideVerdict, VerdictSlot } from '../api/types.js'
import { newVerdictSlot } from '../api/types.js'
import type { DecodedPacket } from '../dataplane/decode.js'
import { ipText, protocolName, type TapEndpoint } from '../tap/tap-record.js'

const TCP = 6, UDP = 17, SCTP = 132, ICMP = 1, ICMPV6 = 58
const FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10
/** nf_conntrack_udp_timeout (unreplied) and _stream (replied), seconds; ICMP and others alike. */
const IDLE_UNREPLIED = 30
const IDLE_REPLIED = 120

export interface ReplayFlow {
  /** 1-based, in order of each flow's first packet. */
  id: number
  protocol: string
  src: TapEndpoint
  dst: TapEndpoint
  verdict: 'allow' | 'deny'
  /** Allowed, but policies in audit mode would deny it: egress/ingress describe that denial. */
  audit?: true
  egress: SideVerdict
  ingress: SideVerdict
  generation: number
  /** Packet index (1-based) and time (seconds) of the deciding first packet. */
  firstPacket: number
  firstTime: number
  packets: { forward: number; reply: number }
  /** The capture starts inside this TCP connection (its first packet is no SYN): decided as conntrack would, from the first packet seen. */
  midstream?: true
}

interface FlowState {
  flow: ReplayFlow
  initiator: string
  lastTime: number
  replied: boolean
  finFwd: boolean
  finRev: boolean
  closed: boolean
}

export class FlowTable {
  readonly flows: ReplayFlow[] = []
  private readonly byKey = new Map<string, FlowState>()
  private readonly slot: VerdictSlot = newVerdictSlot()

  constructor(
    private readonly engine: PolicyEvaluator,
    private readonly podName: (ip: string) => string | undefined,
  ) {}

  /**
   * One decoded packet; returns its flow, whose verdict the packet gets. `icmpId`: the ICMP echo
   * identifier (-1 when not an echo), which conntrack keys echo flows by.
   */
  packet(pkt: DecodedPacket, data: Uint8Array, index: number, time: number, icmpId = -1): ReplayFlow {
    const src = addr(pkt, data, pkt.srcOff)
    const dst = addr(pkt, data, pkt.dstOff)
    const ports = pkt.proto === TCP || pkt.proto === UDP || pkt.proto === SCTP
    let a: string
    let key: string
    if (ports) {
      a = `${src}|${pkt.srcPort}`
      const b = `${dst}|${pkt.dstPort}`
      key = a < b ? `${pkt.proto}|${a}|${b}` : `${pkt.proto}|${b}|${a}`
    } else if (pkt.proto === ICMP || pkt.proto === ICMPV6) {
      // Echo request and reply are one flow, oriented by the request; other types (errors,
      // which the kernel relates to the connection they report on) are keyed per direction.
      a = src
      const t = pkt.icmpType
      if (t === 8 || t === 128) key = `${pkt.proto}|echo|${src}|${dst}|${icmpId}`
      else if (t === 0 || t === 129) key = `${pkt.proto}|echo|${dst}|${src}|${icmpId}`
      else key = `${pkt.proto}|${t}|${src}|${dst}`
    } else {
      a = src
      key = src < dst ? `${pkt.proto}|${src}|${dst}` : `${pkt.proto}|${dst}|${src}`
    }
    let st = this.byKey.get(key)
    const forward = st !== undefined && st.initiator === a
    if (st !== undefined && this.expired(st, pkt, forward, time)) st = undefined
    if (st === undefined) {
      st = this.open(pkt, data, src, dst, ports, index, time)
      st.initiator = a
      this.byKey.set(key, st)
      this.track(st, pkt, true, time)
      return st.flow
    }
    this.track(st, pkt, forward, time)
    return st.flow
  }

  private expired(st: FlowState, pkt: DecodedPacket, forward: boolean, time: number): boolean {
    if (pkt.proto === TCP) return st.closed && forward && (pkt.tcpFlags & (SYN | ACK)) === SYN
    if (pkt.proto === SCTP) return false
    return time - st.lastTime > (st.replied ? IDLE_REPLIED : IDLE_UNREPLIED)
  }

  private track(st: FlowState, pkt: DecodedPacket, forward: boolean, time: number): void {
    st.lastTime = time
    if (forward) st.flow.packets.forward++
    else {
      st.flow.packets.reply++
      st.replied = true
    }
    if (pkt.proto === TCP) {
      if (pkt.tcpFlags & RST) st.closed = true
      if (pkt.tcpFlags & FIN) {
        if (forward) st.finFwd = true
        else st.finRev = true
        if (st.finFwd && st.finRev) st.closed = true
      }
    }
  }

  private open(pkt: DecodedPacket, data: Uint8Array, src: string, dst: string, ports: boolean, index: number, time: number): FlowState {
    // The dataplane's decision: port 0 for protocols without ports, as the classifier does.
    const port = ports ? pkt.dstPort : 0
    const slot = this.slot
    if (pkt.family === 4) this.engine.classifyV4(pkt.src4, pkt.dst4, pkt.proto, port, slot)
    else this.engine.classifyV6(data, pkt.srcOff, pkt.dstOff, pkt.proto, port, slot)
    const v = this.engine.describe(slot)
    const endpoint = (ip: string, p: number): TapEndpoint => {
      const pod = this.podName(ip)
      return pod === undefined ? { ip, port: p } : { ip, port: p, pod }
    }
    const flow: ReplayFlow = {
      id: this.flows.length + 1,
      protocol: protocolName(pkt.proto),
      src: endpoint(src, ports ? pkt.srcPort : 0),
      dst: endpoint(dst, port),
      verdict: slot.allowed ? 'allow' : 'deny',
      ...(slot.audit ? { audit: true as const } : {}),
      egress: v.egress,
      ingress: v.ingress,
      generation: slot.generation,
      firstPacket: index,
      firstTime: time,
      packets: { forward: 0, reply: 0 },
    }
    if (pkt.proto === TCP && (pkt.tcpFlags & (SYN | ACK)) !== SYN) flow.midstream = true
    this.flows.push(flow)
    return { flow, initiator: '', lastTime: time, replied: false, finFwd: false, finRev: false, closed: false }
  }
}

function addr(pkt: DecodedPacket, data: Uint8Array, off: number): string {
  return ipText(pkt.family, data.subarray(off, off + (pkt.family === 4 ? 4 : 16)))
}
