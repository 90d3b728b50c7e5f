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
  /**
   * Audit mode: allowed (the traffic passed), but policies in audit mode would have denied it;
   * egress/ingress then describe that would-be denial (the denying side(s) say `audit: true`).
   */
  audit?: true
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
  /** The engine's current generation: pod names are cached until it changes. */
  generation?(): number
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

const NONE = 0xffffffff // "no pod" in the pod-name cache

/**
 * Raw record → the reader-facing record (for filters and tests; the JSON bytes come from
 * LineEncoder). The two sides are memoised by (reason code, table ref) — tables are immutable and
 * their ids never reused, so a ref always describes the same way; pod names by IP until the
 * generation changes; the time's text per second.
 */
export class TapFormatter {
  private readonly egressSides = new Map<number, SideVerdict>()
  private readonly ingressSides = new Map<number, SideVerdict>()
  /** Audit slots' refs point into the auditing engine's tables: memoised apart. */
  private readonly auditEgressSides = new Map<number, SideVerdict>()
  private readonly auditIngressSides = new Map<number, SideVerdict>()
  private readonly pods = new Map<string, string | number>()
  private podsGeneration = -1
  private second = -1
  private secondText = ''
  constructor(private readonly ctx: TapContext) {}

  record(raw: RawRecord): TapRecord {
    const slot = raw.slot
    let egress: SideVerdict, ingress: SideVerdict
    // describe() knows the engine's codes; the unsynced evaluator's 'not-synced' it would call allowed.
    if (slot.egressCode === NOT_SYNCED || slot.ingressCode === NOT_SYNCED) egress = ingress = NOT_SYNCED_SIDE
    else {
      const ek = sideKey(slot.egressCode, slot.egressRef)
      const ik = sideKey(slot.ingressCode, slot.ingressRef)
      const egressSides = slot.audit ? this.auditEgressSides : this.egressSides
      const ingressSides = slot.audit ? this.auditIngressSides : this.ingressSides
      let e = egressSides.get(ek)
      let i = ingressSides.get(ik)
      if (e === undefined || i === undefined) {
        if (egressSides.size + ingressSides.size > 100_000) {
          egressSides.clear()
          ingressSides.clear()
        }
        const v = this.ctx.describe(slot)
        egressSides.set(ek, (e = v.egress))
        ingressSides.set(ik, (i = v.ingress))
      }
      egress = e
      ingress = i
    }
    const srcIp = ipText(raw.family, raw.src)
    const dstIp = ipText(raw.family, raw.dst)
    const srcPod = this.podName(srcIp, slot.generation)
    const dstPod = this.podName(dstIp, slot.generation)
    const directions: ('egress' | 'ingress')[] = []
    if (egress.reason === 'rule' || egress.reason === 'no-rule-matched') directions.push('egress')
    if (ingress.reason === 'rule' || ingress.reason === 'no-rule-matched') directions.push('ingress')
    const rec: TapRecord = {
      type: 'verdict',
      time: this.timeText(raw.time),
      ...(this.ctx.nodeName ? { node: this.ctx.nodeName } : {}),
      src: srcPod !== undefined ? { ip: srcIp, port: raw.srcPort, pod: srcPod } : { ip: srcIp, port: raw.srcPort },
      dst: dstPod !== undefined ? { ip: dstIp, port: raw.dstPort, pod: dstPod } : { ip: dstIp, port: raw.dstPort },
      protocol: protocolName(raw.proto),
      verdict: slot.allowed ? 'allow' : 'deny',
      ...(slot.audit ? { audit: true as const } : {}),
      directions,
      egress,
      ingress,
      fromCache: raw.fromCache,
      generation: slot.generation,
    }
    if (isStale(egress) || isStale(ingress)) rec.stale = true
    return rec
  }

  private podName(ip: string, generation: number): string | undefined {
    const gen = this.ctx.generation?.() ?? generation
    if (gen !== this.podsGeneration || this.pods.size > 100_000) {
      this.pods.clear()
      this.podsGeneration = gen
    }
    let p = this.pods.get(ip)
    if (p === undefined) this.pods.set(ip, (p = this.ctx.podName(ip) ?? NONE))
    return p === NONE ? undefined : (p as string)
  }

  private timeText(ms: number): string {
    const sec = Math.floor(ms / 1000)
    if (sec !== this.second) {
      this.second = sec
      this.secondText = new Date(sec * 1000).toISOString().slice(0, 20) // "2026-01-02T03:04:05."
    }
    const m = Math.floor(ms - sec * 1000)
    return `${this.secondText}${m < 10 ? '00' : m < 100 ? '0' : ''}${m}Z`
  }
}

/** Memo key of one side: only rule / no-rule-matched sides depend on the table ref. */
export function sideKey(code: number, ref: number): number {
  return code === REASON_CODE.rule || code === REASON_CODE['no-rule-matched'] ? code * 2 ** 48 + ref + 1 : code * 2 ** 48
}

// A rule/no-rule side always names its isolating policies unless its table is gone.
function isStale(s: SideVerdict): boolean {
  return (s.reason === 'rule' || s.reason === 'no-rule-matched') && (s.isolatedBy === undefined || s.isolatedBy.length === 0)
}
