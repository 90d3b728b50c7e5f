// Conntrack entries as the agent needs them: list the flows (original direction) and delete
// exactly the ones a new policy denies, so established connections are cut at once (the next
// packet is judged afresh: NEW when nf_conntrack_tcp_loose picks it up, else INVALID; both are
// queued by our rules).
//
// The agent uses the native path (conntrack-native.ts, re-exported here: listFlowsNative /
// deleteFlowsNative / FlowDeleter): ctnetlink through the addon, in the namespace the process runs
// in, one dump and batched exact deletes.
// listFlows / deleteFlows(exec) are the `conntrack` tool path, for a namespace this process is not
// in (tests, the lab) or where the addon cannot load; its deletion is one `conntrack -D` per flow
// (each dumps the table: slow for thousands).
import type { Exec } from '../lab/netns.js'
import { checkFamilies, flowMatches, PROTO_NAMES, type Flow, type FlowFilter } from './conntrack-flow.js'

export { deleteRequestLine, PROTO_NAMES, type Flow, type FlowFilter, type FlowProtocol } from './conntrack-flow.js'
export { decodeFlows, deleteFlowsNative, encodeFlows, FlowDeleter, listFlowsNative } from './conntrack-native.js'

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
      if (f && flowMatches(f, filter)) flows.push(f)
    }
  }
  return flows
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
