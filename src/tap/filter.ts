// Tap record filters, shared by the agent's /tap endpoint (so a reader only receives what it asked
// for) and `netpol tap` (the same filters over a saved file). Every given condition must hold.
import type { TapRecord } from './tap-record.js'

export interface TapFilter {
  /** "ns/name": either endpoint is this pod. */
  pod?: string
  /** Either endpoint is a pod of this namespace. */
  namespace?: string
  /** 'audit': only would-be denials of audit-mode policies (the traffic passed; 'allow' includes them). */
  verdict?: 'allow' | 'deny' | 'audit'
  /** "ns/name": the policy decided a side (allowed by its rule) or isolates a side that denied. */
  policy?: string
  /** Destination port (only a connection's first packets are queued: the destination is the service). */
  port?: number
  /** TCP, UDP, SCTP, ICMP, ICMPv6 (case-insensitive). */
  protocol?: string
}

export const FILTER_KEYS = ['pod', 'namespace', 'verdict', 'policy', 'port', 'protocol'] as const

/** Parses filter values (query parameters or CLI flags); throws Error naming the bad one. */
export function parseFilter(get: (key: string) => string | undefined): TapFilter {
  const f: TapFilter = {}
  const pod = get('pod')
  if (pod !== undefined) {
    if (!/^[^/\s]+\/[^/\s]+$/.test(pod)) throw new Error(`pod: "${pod}" is not namespace/name`)
    f.pod = pod
  }
  const ns = get('namespace')
  if (ns !== undefined) f.namespace = ns
  const verdict = get('verdict')
  if (verdict !== undefined) {
    const v = verdict.toLowerCase()
    if (v === 'allow' || v === 'allowed') f.verdict = 'allow'
    else if (v === 'deny' || v === 'denied') f.verdict = 'deny'
    else if (v === 'audit') f.verdict = 'audit'
    else throw new Error(`verdict: "${verdict}" is not allow, deny or audit`)
  }
  const policy = get('policy')
  if (policy !== undefined) {
    if (!/^[^/\s]+\/[^/\s]+$/.test(policy)) throw new Error(`policy: "${policy}" is not namespace/name`)
    f.policy = policy
  }
  const port = get('port')
  if (port !== undefined) {
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new Error(`port: "${port}" is not a port number`)
    f.port = Number(port)
  }
  const protocol = get('protocol')
  if (protocol !== undefined) {
    const p = protocol.toUpperCase()
    if (!['TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPV6'].includes(p)) throw new Error(`protocol: "${protocol}" is not TCP, UDP, SCTP, ICMP or ICMPv6`)
    f.protocol = p
  }
  return f
}

/** The filter as query parameters for the agent's /tap endpoint. */
export function filterQuery(f: TapFilter): string {
  const q = new URLSearchParams()
  for (const k of FILTER_KEYS) if (f[k] !== undefined) q.set(k, String(f[k]))
  const s = q.toString()
  return s ? `?${s}` : ''
}

export function isEmptyFilter(f: TapFilter): boolean {
  return FILTER_KEYS.every((k) => f[k] === undefined)
}

export function matches(f: TapFilter, r: TapRecord): boolean {
  if (f.verdict !== undefined && (f.verdict === 'audit' ? r.audit !== true : r.verdict !== f.verdict)) return false
  if (f.port !== undefined && r.dst.port !== f.port) return false
  if (f.protocol !== undefined && r.protocol.toUpperCase() !== f.protocol) return false
  if (f.pod !== undefined && r.src.pod !== f.pod && r.dst.pod !== f.pod) return false
  if (f.namespace !== undefined) {
    const prefix = `${f.namespace}/`
    if (!r.src.pod?.startsWith(prefix) && !r.dst.pod?.startsWith(prefix)) return false
  }
  if (f.policy !== undefined && !involves(r, f.policy)) return false
  return true
}

/** The policy allowed a side by its rule, or isolates a side (and so took part in the verdict). */
function involves(r: TapRecord, policy: string): boolean {
  for (const s of [r.egress, r.ingress]) {
    if (s.policy === policy) return true
    if (s.isolatedBy?.includes(policy)) return true
  }
  return false
}
