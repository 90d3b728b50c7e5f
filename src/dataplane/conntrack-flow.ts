// What a conntrack entry is to the agent, shared by the tool path (conntrack.ts) and the native
// path (conntrack-native.ts).
import { isIPv6 } from 'node:net'

export const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 33: 'DCCP', 47: 'GRE', 58: 'ICMPv6', 132: 'SCTP', 136: 'UDPLITE' }

export type FlowProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'ICMPv6' | 'DCCP' | 'GRE' | 'UDPLITE' | string

export interface Flow {
  readonly family: 4 | 6
  /** Upper-case name for known protocols, else the protocol number as text. */
  readonly protocol: FlowProtocol
  readonly protoNum: number
  /** Original direction. */
  readonly src: string
  readonly dst: string
  /** 0 for protocols without ports. */
  readonly sport: number
  readonly dport: number
  /** TCP/SCTP/DCCP state (ESTABLISHED, SYN_SENT, COOKIE_WAIT, …). */
  readonly state?: string
  readonly icmp?: { readonly type: number; readonly code: number; readonly id: number }
  readonly zone?: number
  readonly mark?: number
  /** [UNREPLIED], [ASSURED], … */
  readonly flags?: readonly string[]
  /** IPS_* status bits (native path only). */
  readonly status?: number
}

export interface FlowFilter {
  readonly family?: 4 | 6
  readonly protocol?: FlowProtocol
  readonly src?: string
  readonly dst?: string
  readonly sport?: number
  readonly dport?: number
  /** Flows with src or dst in this set. */
  readonly anyIp?: ReadonlySet<string>
}

/** Whether a flow passes a filter (all given fields must match). */
export function flowMatches(f: Flow, filter: FlowFilter | undefined): boolean {
  if (!filter) return true
  if (filter.family !== undefined && f.family !== filter.family) return false
  if (filter.protocol !== undefined && f.protocol !== filter.protocol) return false
  if (filter.src !== undefined && f.src !== filter.src) return false
  if (filter.dst !== undefined && f.dst !== filter.dst) return false
  if (filter.sport !== undefined && f.sport !== filter.sport) return false
  if (filter.dport !== undefined && f.dport !== filter.dport) return false
  if (filter.anyIp && !filter.anyIp.has(f.src) && !filter.anyIp.has(f.dst)) return false
  return true
}

/** An entry's identity (original tuple + zone) as one line, e.g. "4 1 10.0.1.11 10.0.2.22 8 0 77 zone=0". */
export function deleteRequestLine(f: Flow): string {
  const tail = f.icmp ? `${f.icmp.type} ${f.icmp.code} ${f.icmp.id}` : `${f.sport} ${f.dport}`
  return `${f.family} ${f.protoNum} ${f.src} ${f.dst} ${tail} zone=${f.zone ?? 0}`
}

/** Throws TypeError for a flow whose addresses are not of its family. */
export function checkFamilies(flows: readonly Flow[]): void {
  for (const f of flows) {
    if (isIPv6(f.src) !== (f.family === 6)) throw new TypeError(`flow ${f.src} -> ${f.dst}: family ${f.family} does not match`)
  }
}
