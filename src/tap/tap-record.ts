// The tap's record as readers see it (one JSON line each), and the off-packet-path conversion of a
// raw ring record into it: addresses as text, pod names, and reasons from the engine's describe().
import { REASON_CODE, type SideVerdict, type Verdict, type VerdictSlot } from '../api/types.js'
import type { RawRecord } from './record-ring.js'

export interface TapEndpoint {
  ip: string
  /** 0 for protocols without ports. */
  port: number
  /** "namespace/name" when the IP is a pod's. */
  pod?: string
}

export interface TapRecord {
  type: 'verdict'
  /** ISO 8601, millisecond precision. */
  time: string
  node?: string
  src: TapEndpoint
  dst: TapEndpoint
  /** TCP, UDP, SCTP, ICMP, ICMPv6, or the IP protocol number as text. */
  protocol: string
  verdict: 'allow' | 'deny'
  /** Sides on which a policy isolates the pod (where a rule had to match). */
  directions: ('egress' | 'ingress')[]
  egress: SideVerdict
  ingress: SideVerdict
  fromCache: boolean
  generation: number
  /** The deciding tables were replaced before the record was described: rule details lost. */
  stale?: true
}

/** Emitted in the stream where records were lost (ring full, or this reader too slow). */
export interface TapDropNotice {
  type: 'dropped'
  time: string
  node?: string
  count: number
  where: 'ring' | 'reader' | 'file'
}

export type TapLine = TapRecord | TapDropNotice

/** What the drain needs from the agent, read-only. */
export interface TapContext {
  readonly nodeName?: string
  /** The engine's describe (VerdictSlot → reasons). */
  describe(slot: VerdictSlot): Verdict
  /** "ns/name" of the pod owning an IP (canonical text), if any. */
  podName(ip: string): string | undefined
}

const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' }
export const protocolName = (p: number): string => PROTOCOLS[p] ?? String(p)

const NOT_SYNCED = REASON_CODE['not-synced']
const NOT_SYNCED_SIDE: SideVerdict = { allowed: false, reason: 'not-synced' }

export function ipText(family: 4 | 6, b: Uint8Array): string {
  if (family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
  // RFC 5952: lowercase, leading zeros dropped, the longest run (≥ 2) of zero groups as "::".
  const g: number[] = []
  for (let i = 0; i < 8; i++) g.push((b[i * 2]! << 8) | b[i * 2 + 1]!)
  let best = -1, bestLen = 0
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i }
    i = j
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':')
  if (best < 0) return hex(g)
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`
}

/** Turns one raw record into the reader-facing record. */
export function toTapRecord(raw: RawRecord, ctx: TapContext): TapRecord {
  const slot = raw.slot
  // describe() knows the engine's codes; the unsynced evaluator's 'not-synced' it would call allowed.
  const v = slot.egressCode === NOT_SYNCED || slot.ingressCode === NOT_SYNCED
    ? { allowed: false, egress: NOT_SYNCED_SIDE, ingress: NOT_SYNCED_SIDE, generation: slot.generation }
    : ctx.describe(slot)
  const srcIp = ipText(raw.family, raw.src)
  const dstIp = ipText(raw.family, raw.dst)
  const srcPod = ctx.podName(srcIp)
  const dstPod = ctx.podName(dstIp)
  const directions: ('egress' | 'ingress')[] = []
  if (v.egress.reason === 'rule' || v.egress.reason === 'no-rule-matched') directions.push('egress')
  if (v.ingress.reason === 'rule' || v.ingress.reason === 'no-rule-matched') directions.push('ingress')
  const rec: TapRecord = {
    type: 'verdict',
    time: new Date(raw.time).toISOString(),
    ...(ctx.nodeName ? { node: ctx.nodeName } : {}),
    src: srcPod !== undefined ? { ip: srcIp, port: raw.srcPort, pod: srcPod } : { ip: srcIp, port: raw.srcPort },
    dst: dstPod !== undefined ? { ip: dstIp, port: raw.dstPort, pod: dstPod } : { ip: dstIp, port: raw.dstPort },
    protocol: protocolName(raw.proto),
    verdict: slot.allowed ? 'allow' : 'deny',
    directions,
    egress: v.egress,
    ingress: v.ingress,
    fromCache: raw.fromCache,
    generation: slot.generation,
  }
  if (isStale(v.egress) || isStale(v.ingress)) rec.stale = true
  return rec
}

// A rule/no-rule side always names its isolating policies unless its table is gone.
function isStale(s: SideVerdict): boolean {
  return (s.reason === 'rule' || s.reason === 'no-rule-matched') && (s.isolatedBy === undefined || s.isolatedBy.length === 0)
}
