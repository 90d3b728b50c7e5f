// The native conntrack path: ctnetlink through the addon, in the namespace this process runs in
// (the agent runs in the node's). One dump per listing, batched exact deletes, off the event loop.
import { CT, CT_HAS, CT_NO_STATE, CT_RECORD_SIZE, type ConntrackBinding } from '../native/binding.js'
import { formatIPv4, formatIPv6, parseIPv4Into, parseIPv6Into } from '../native/ip-bytes.js'
import { NativeError } from '../native/native-error.js'
import { checkFamilies, flowMatches, PROTO_NAMES, type Flow, type FlowFilter } from './conntrack-flow.js'

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
  const flows: Flow[] = []
  for (let i = 0; i < n; i++) {
    const o = i * CT_RECORD_SIZE
    const protoNum = records[o + CT.PROTO]!
    const protocol = PROTO_NAMES[protoNum] ?? String(protoNum)
    // Cheap checks on the record before any strings are made.
    if (filter?.protocol !== undefined && protocol !== filter.protocol) continue
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
    if (flowMatches(f, filter)) flows.push(f)
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
