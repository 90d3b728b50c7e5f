// Conntrack entries as the agent needs them: list the flows (original direction) and delete
// exactly the ones a new policy denies, so established connections are cut at once (the next
// packet is judged afresh: NEW when nf_conntrack_tcp_loose picks it up, else INVALID; both are
// queued by our rules).
//
// The agent uses the native path (listFlowsNative / deleteFlowsNative / FlowDeleter): ctnetlink
// through the addon, in the namespace the process runs in, a dump and batched exact deletes.
// listFlows / deleteFlows(exec) are the `conntrack` tool path, for a namespace this process is not
// in (tests, the lab) or where the addon cannot load; its deletion is one `conntrack -D` per flow
// (each dumps the table: slow for thousands).
import { isIPv6 } from 'node:net'
import type { Exec } from '../lab/netns.js'
import { CT, CT_HAS, CT_NO_STATE, CT_RECORD_SIZE, type ConntrackBinding } from '../native/binding.js'
import { formatIPv4, formatIPv6, parseIPv4Into, parseIPv6Into } from '../native/ip-bytes.js'
import { NativeError } from '../native/native-error.js'

const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 33: 'DCCP', 47: 'GRE', 58: 'ICMPv6', 132: 'SCTP', 136: 'UDPLITE' }

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

/** Parses one line of `conntrack -L -o extended`; undefined for lines that are not entries. */
export function parseConntrackLine(line: string): Flow | undefined {
  const tok = line.trim().split(/\s+/)
  if (tok.length < 6 || (tok[0] !== 'ipv4' && tok[0] !== 'ipv6')) return undefined
  const family = tok[0] === 'ipv4' ? 4 : 6
  const protoNum = Number(tok[3])
  if (!Number.isInteger(protoNum)) return undefined
  let i = 5 // after the timeout
  let state: string | undefined
  if (tok[i] && !tok[i]!.includes('=') && !tok[i]!.startsWith('[')) state = tok[i++]
  const kv = new Map<string, string>()
  const flags: string[] = []
  for (; i < tok.length; i++) {
    const t = tok[i]!
    if (t.startsWith('[')) { flags.push(t.slice(1, -1)); continue }
    const eq = t.indexOf('=')
    if (eq <= 0) continue
    const k = t.slice(0, eq)
    // The first src/dst/sport/… is the original direction; the reply tuple repeats the keys.
    if (!kv.has(k)) kv.set(k, t.slice(eq + 1))
  }
  const src = kv.get('src')
  const dst = kv.get('dst')
  if (!src || !dst) return undefined
  const num = (k: string): number | undefined => (kv.has(k) ? Number(kv.get(k)) : undefined)
  const icmp = protoNum === 1 || protoNum === 58
  const zone = num('zone')
  const mark = num('mark')
  return {
    family,
    protocol: PROTO_NAMES[protoNum] ?? String(protoNum),
    protoNum,
    src,
    dst,
    sport: num('sport') ?? 0,
    dport: num('dport') ?? 0,
    ...(state ? { state } : {}),
    ...(icmp ? { icmp: { type: num('type') ?? 0, code: num('code') ?? 0, id: num('id') ?? 0 } } : {}),
    ...(zone !== undefined ? { zone } : {}),
    ...(mark !== undefined ? { mark } : {}),
    ...(flags.length ? { flags } : {}),
  }
}

function matches(f: Flow, filter: FlowFilter | undefined): boolean {
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

/**
 * Conntrack entries of the namespace `exec` runs in, through the `conntrack` tool (original
 * direction, optionally filtered). In the process's own namespace use listFlowsNative.
 */
export async function listFlows(exec: Exec, filter?: FlowFilter): Promise<Flow[]> {
  // `conntrack -L` without -f lists IPv4 only.
  const families = filter?.family ? [filter.family] : [4, 6]
  const outs = await Promise.all(families.map((fam) => exec(['conntrack', '-L', '-o', 'extended', '-f', fam === 4 ? 'ipv4' : 'ipv6'])))
  const flows: Flow[] = []
  for (const out of outs) {
    for (const line of out.split('\n')) {
      const f = parseConntrackLine(line)
      if (f && matches(f, filter)) flows.push(f)
    }
  }
  return flows
}


/** An entry's identity (original tuple + zone) as one line, e.g. "4 1 10.0.1.11 10.0.2.22 8 0 77 zone=0". */
export function deleteRequestLine(f: Flow): string {
  const tail = f.icmp ? `${f.icmp.type} ${f.icmp.code} ${f.icmp.id}` : `${f.sport} ${f.dport}`
  return `${f.family} ${f.protoNum} ${f.src} ${f.dst} ${tail} zone=${f.zone ?? 0}`
}

function checkFamilies(flows: readonly Flow[]): void {
  for (const f of flows) {
    if (isIPv6(f.src) !== (f.family === 6)) throw new TypeError(`flow ${f.src} -> ${f.dst}: family ${f.family} does not match`)
  }
}

/**
 * The `conntrack` tool path: deletes exactly these entries (by original tuple and zone), one
 * `conntrack -D` per flow, in the namespace `exec` runs in. Resolves to how many existed and were
 * deleted; entries already gone are not an error. In the process's own namespace use
 * deleteFlowsNative (batched, thousands in milliseconds).
 */
export async function deleteFlows(exec: Exec, flows: readonly Flow[]): Promise<number> {
  if (flows.length === 0) return 0
  checkFamilies(flows)
  let deleted = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < flows.length) {
      const f = flows[next++]!
      const argv = ['conntrack', '-D', '-f', f.family === 4 ? 'ipv4' : 'ipv6', '-s', f.src, '-d', f.dst, '-p', f.protocol.toLowerCase()]
      const icmp = f.protoNum === 58 ? '--icmpv6' : '--icmp'
      if (f.icmp) argv.push(`${icmp}-type`, String(f.icmp.type), `${icmp}-code`, String(f.icmp.code), `${icmp}-id`, String(f.icmp.id))
      else if (f.sport || f.dport) argv.push('--sport', String(f.sport), '--dport', String(f.dport))
      if (f.zone) argv.push('--zone', String(f.zone))
      // Exit status 1 with "0 flow entries" when it is already gone.
      const out = await exec(argv).catch(() => '')
      deleted += out.split('\n').filter((l) => l.trim()).length > 0 ? 1 : 0
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, flows.length) }, worker))
  return deleted
}

// ---- the native path (ctnetlink through the addon) ----

const TCP_STATES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2']
const SCTP_STATES = ['NONE', 'CLOSED', 'COOKIE_WAIT', 'COOKIE_ECHOED', 'ESTABLISHED', 'SHUTDOWN_SENT', 'SHUTDOWN_RECD', 'SHUTDOWN_ACK_SENT', 'HEARTBEAT_SENT', 'HEARTBEAT_ACKED']
const DCCP_STATES = ['NONE', 'REQUEST', 'RESPOND', 'PARTOPEN', 'OPEN', 'CLOSEREQ', 'CLOSING', 'TIMEWAIT', 'IGNORE', 'INVALID']
const STATE_NAMES: Readonly<Record<number, readonly string[]>> = { 6: TCP_STATES, 132: SCTP_STATES, 33: DCCP_STATES }
const IPS_SEEN_REPLY = 1 << 1
const IPS_ASSURED = 1 << 2
const IPS_OFFLOAD = 1 << 14
const IPS_HW_OFFLOAD = 1 << 15
/** Protocols whose tuple has ports (GRE's keys travel in the port attributes too). */
const PORT_PROTOCOLS = new Set([6, 17, 33, 47, 132, 136])

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** Decodes the addon's conntrack records (conntrackDump) into flows, keeping those the filter passes. */
export function decodeFlows(records: Uint8Array, filter?: FlowFilter): Flow[] {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength)
  const n = Math.floor(records.byteLength / CT_RECORD_SIZE)
  const want = filter?.protocol !== undefined ? filter.protocol : undefined
  const flows: Flow[] = []
  for (let i = 0; i < n; i++) {
    const o = i * CT_RECORD_SIZE
    const protoNum = records[o + CT.PROTO]!
    const protocol = PROTO_NAMES[protoNum] ?? String(protoNum)
    // Cheap checks on the record before any strings are made.
    if (want !== undefined && protocol !== want) continue
    const has = records[o + CT.HAS]!
    const family = records[o + CT.FAMILY] === 6 ? 6 : 4
    if (filter?.family !== undefined && family !== filter.family) continue
    const portsHere = (has & CT_HAS.PORTS) !== 0
    const sport = portsHere ? view.getUint16(o + CT.SPORT, true) : 0
    const dport = portsHere ? view.getUint16(o + CT.DPORT, true) : 0
    if (filter?.sport !== undefined && sport !== filter.sport) continue
    if (filter?.dport !== undefined && dport !== filter.dport) continue
    const f: Mutable<Flow> = {
      family,
      protocol,
      protoNum,
      src: family === 4 ? formatIPv4(records, o + CT.SRC) : formatIPv6(records, o + CT.SRC),
      dst: family === 4 ? formatIPv4(records, o + CT.DST) : formatIPv6(records, o + CT.DST),
      sport,
      dport,
    }
    const state = records[o + CT.STATE]!
    if (state !== CT_NO_STATE) {
      const name = STATE_NAMES[protoNum]?.[state]
      if (name) f.state = name
    }
    if (has & CT_HAS.ICMP) f.icmp = { type: records[o + CT.ICMP_TYPE]!, code: records[o + CT.ICMP_CODE]!, id: view.getUint16(o + CT.SPORT, true) }
    if (has & CT_HAS.ZONE) f.zone = view.getUint16(o + CT.ZONE, true)
    if (has & CT_HAS.MARK) f.mark = view.getUint32(o + CT.MARK, true)
    if (has & CT_HAS.STATUS) {
      const status = view.getUint32(o + CT.STATUS, true)
      f.status = status
      // As the conntrack tool shows them.
      const flags: string[] = []
      if (!(status & IPS_SEEN_REPLY)) flags.push('UNREPLIED')
      if (status & IPS_ASSURED) flags.push('ASSURED')
      if (status & IPS_OFFLOAD) flags.push('OFFLOAD')
      if (status & IPS_HW_OFFLOAD) flags.push('HW_OFFLOAD')
      if (flags.length) f.flags = flags
    }
    if (matches(f, filter)) flows.push(f)
  }
  return flows
}

/** Encodes flows as the addon's delete records (original tuple + zone). */
export function encodeFlows(flows: readonly Flow[]): Buffer {
  const out = Buffer.alloc(flows.length * CT_RECORD_SIZE)
  flows.forEach((f, i) => {
    const o = i * CT_RECORD_SIZE
    out[o + CT.FAMILY] = f.family
    out[o + CT.PROTO] = f.protoNum
    const ok = f.family === 4
      ? parseIPv4Into(f.src, out, o + CT.SRC) && parseIPv4Into(f.dst, out, o + CT.DST)
      : parseIPv6Into(f.src, out, o + CT.SRC) && parseIPv6Into(f.dst, out, o + CT.DST)
    if (!ok) throw new TypeError(`flow ${f.src} -> ${f.dst}: not IPv${f.family} addresses`)
    if (f.icmp) {
      out[o + CT.HAS] = CT_HAS.ICMP
      out[o + CT.ICMP_TYPE] = f.icmp.type
      out[o + CT.ICMP_CODE] = f.icmp.code
      out.writeUInt16LE(f.icmp.id, o + CT.SPORT)
    } else if (PORT_PROTOCOLS.has(f.protoNum)) {
      out[o + CT.HAS] = CT_HAS.PORTS
      out.writeUInt16LE(f.sport, o + CT.SPORT)
      out.writeUInt16LE(f.dport, o + CT.DPORT)
    }
    if (f.zone) {
      out[o + CT.HAS]! |= CT_HAS.ZONE
      out.writeUInt16LE(f.zone, o + CT.ZONE)
    }
  })
  return out
}

/**
 * Conntrack entries of the namespace this process runs in, through the addon (one ctnetlink dump,
 * off the event loop), original direction, optionally filtered.
 */
export async function listFlowsNative(binding: ConntrackBinding, filter?: FlowFilter): Promise<Flow[]> {
  return decodeFlows(await binding.conntrackDump(filter?.family ?? 0), filter)
}

/**
 * Deletes exactly these entries (original tuple + zone) in the namespace this process runs in:
 * batched IPCTNL_MSG_CT_DELETE requests, every ack counted. Resolves to how many existed and were
 * deleted (entries already gone are not an error); any other failure rejects with NativeError.
 */
export async function deleteFlowsNative(binding: ConntrackBinding, flows: readonly Flow[]): Promise<number> {
  if (flows.length === 0) return 0
  checkFamilies(flows)
  const r = await binding.conntrackDelete(encodeFlows(flows), flows.length)
  if (r.failed > 0) {
    const e = new NativeError('', 'IPCTNL_MSG_CT_DELETE', r.lastErrno)
    e.message = `IPCTNL_MSG_CT_DELETE: ${r.failed} of ${flows.length} deletions failed (${e.code})`
    throw Object.assign(e, { result: r })
  }
  return r.deleted
}

/** Deletes batches through one binding, one batch at a time (a cut never interleaves with another). */
export class FlowDeleter {
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false

  constructor(private readonly binding: ConntrackBinding) {}

  /** Deletes exactly these entries; resolves to how many existed. */
  delete(flows: readonly Flow[]): Promise<number> {
    if (this.closed) return Promise.reject(new Error('FlowDeleter closed'))
    const run = this.queue.then(() => deleteFlowsNative(this.binding, flows))
    this.queue = run.catch(() => {})
    return run
  }

  /** Idempotent; later deletes reject. */
  close(): void {
    this.closed = true
  }
}
