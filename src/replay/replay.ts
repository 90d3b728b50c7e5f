// Pcap replay: every packet of a capture through the compiled policies as the dataplane would
// see it (link-layer header stripped, the same decode, per-flow connection state), with the
// verdict and reasons of each flow and a per-policy summary.
import type { PolicyEvaluator } from '../api/types.js'
import { DECODE_ERROR_NAMES, DecodeError, decodePacket, newDecodedPacket } from '../dataplane/decode.js'
import { FlowTable, type ReplayFlow } from './flow-table.js'
import { ipOffset, LINK_TYPES, NOT_IP, SUPPORTED_LINK_TYPES } from './link-layer.js'
import { readPcap, PcapFormatError, type PcapInfo } from './pcap-reader.js'

export interface PolicyCount {
  policy: string
  /** Flows one of its rules allowed (on a side it isolates). */
  allowed: number
  /** Denied flows on a side it isolates (no rule of any isolating policy matched). */
  denied: number
  /** Flows it would deny as a policy in audit mode (they passed); only when there are any. */
  audit?: number
}

export interface Undecodable {
  packet: number
  offset: number
  error: string
}

export interface ReplayReport {
  file: string
  linkType?: number
  linkName?: string
  packets: number
  flows: ReplayFlow[]
  summary: {
    flows: number
    allowed: number
    denied: number
    /** Of the allowed flows: those policies in audit mode would deny (only when there are any). */
    audit?: number
    /** Packets given each verdict (what the kernel would have passed or dropped). */
    packetsAllowed: number
    packetsDenied: number
    policies: PolicyCount[]
    nonIp: number
    /** Later fragments: the kernel reassembles before conntrack, so they follow their datagram. */
    fragments: number
    undecodable: Undecodable[]
  }
  /** The capture is corrupt or truncated from `offset` on; everything above is from before it. */
  error?: { offset: number; message: string }
}

export async function replayCapture(file: string, engine: PolicyEvaluator, podName: (ip: string) => string | undefined): Promise<ReplayReport> {
  const table = new FlowTable(engine, podName)
  const pkt = newDecodedPacket()
  let linkType = -1
  let packetsAllowed = 0, packetsDenied = 0, nonIp = 0, fragments = 0
  const undecodable: Undecodable[] = []
  const onInfo = (info: PcapInfo) => {
    if (LINK_TYPES[info.linkType] === undefined) throw new PcapFormatError(20, `link type ${info.linkType} is not supported; replay reads ${SUPPORTED_LINK_TYPES}`)
    linkType = info.linkType
  }
  const result = await readPcap(file, onInfo, (p) => {
    const off = ipOffset(linkType, p.data)
    if (off === NOT_IP) {
      nonIp++
      return
    }
    const err = off < 0 ? DecodeError.TRUNCATED : decodePacket(p.data, off, p.data.length - off, pkt)
    if (err === DecodeError.NON_FIRST_FRAGMENT) {
      fragments++
      return
    }
    if (err !== DecodeError.OK) {
      undecodable.push({ packet: p.index, offset: p.offset, error: off < 0 ? 'frame shorter than its link-layer header' : DECODE_ERROR_NAMES[err] ?? `error ${err}` })
      return
    }
    // ICMP echo identifier (conntrack keys echo flows by it): right after the type/code/checksum.
    let icmpId = -1
    if (pkt.proto === 1 || pkt.proto === 58) {
      const l4 = pkt.family === 4 ? off + ((p.data[off]! & 0x0f) << 2) : p.data[off + 6] === 58 ? off + 40 : -1
      if (l4 >= 0 && l4 + 8 <= p.data.length) icmpId = (p.data[l4 + 4]! << 8) | p.data[l4 + 5]!
    }
    const flow = table.packet(pkt, p.data, p.index, p.time, icmpId)
    if (flow.verdict === 'allow') packetsAllowed++
    else packetsDenied++
  }).catch((err: unknown) => {
    // onInfo's unsupported link type surfaces here as the reader's callback error.
    if (err instanceof PcapFormatError) return { packets: 0, error: err, info: undefined }
    throw err
  })
  const flows = table.flows
  const report: ReplayReport = {
    file,
    ...(linkType >= 0 ? { linkType, linkName: LINK_TYPES[linkType] } : {}),
    packets: result.packets,
    flows,
    summary: {
      flows: flows.length,
      allowed: flows.filter((f) => f.verdict === 'allow').length,
      denied: flows.filter((f) => f.verdict === 'deny').length,
      packetsAllowed,
      packetsDenied,
      policies: perPolicy(flows),
      nonIp,
      fragments,
      undecodable,
    },
  }
  const audit = flows.filter((f) => f.audit === true).length
  if (audit > 0) report.summary.audit = audit
  if (result.error) report.error = { offset: result.error.offset, message: result.error.message }
  return report
}

function perPolicy(flows: readonly ReplayFlow[]): PolicyCount[] {
  const counts = new Map<string, PolicyCount>()
  const get = (policy: string) => {
    let c = counts.get(policy)
    if (!c) counts.set(policy, (c = { policy, allowed: 0, denied: 0 }))
    return c
  }
  for (const f of flows) {
    const allowedBy = new Set<string>()
    const deniedBy = new Set<string>()
    for (const s of [f.egress, f.ingress]) {
      if (s.reason === 'rule' && s.policy) allowedBy.add(s.policy)
      if (s.reason === 'no-rule-matched') for (const p of s.isolatedBy ?? []) deniedBy.add(p)
    }
    for (const p of allowedBy) get(p).allowed++
    for (const p of deniedBy) {
      const c = get(p)
      if (f.audit) c.audit = (c.audit ?? 0) + 1
      else c.denied++
    }
  }
  return [...counts.values()].sort((a, b) => a.policy.localeCompare(b.policy))
}
