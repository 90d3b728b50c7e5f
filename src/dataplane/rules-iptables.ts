// iptables-restore text for the NFQUEUE rules (the path this kernel supports). Everything lives in
// our own chains (NETPOL-FORWARD, -INPUT, -OUTPUT, -QUEUE; mangle NETPOL-POSTROUTING for the
// decided mark), which `iptables-restore --noflush` replaces atomically: declaring a chain
// flushes it, and nothing else in the table is touched. Base chains only get one jump each.
import { isIPv6 } from 'node:net'
import { effectiveTargets, validateRuleInput, type PodRuleTarget, type RuleOptions } from './rules-types.js'

export interface IptablesChains {
  readonly forward: string
  readonly input: string
  readonly output: string
  readonly queue: string
  readonly postrouting: string
}

export function iptablesChains(opts: Pick<RuleOptions, 'table'>): IptablesChains {
  const p = opts.table.toUpperCase()
  return { forward: `${p}-FORWARD`, input: `${p}-INPUT`, output: `${p}-OUTPUT`, queue: `${p}-QUEUE`, postrouting: `${p}-POSTROUTING` }
}

/** Base chain → our chain, per table: the jumps RuleManager makes sure exist. */
export function iptablesJumps(opts: RuleOptions): { table: 'filter' | 'mangle'; from: string; to: string }[] {
  const c = iptablesChains(opts)
  const jumps: { table: 'filter' | 'mangle'; from: string; to: string }[] = [{ table: 'filter', from: 'FORWARD', to: c.forward }]
  if (opts.enforceNodeTraffic) jumps.push({ table: 'filter', from: 'INPUT', to: c.input }, { table: 'filter', from: 'OUTPUT', to: c.output })
  if (opts.decidedMark !== undefined) jumps.push({ table: 'mangle', from: 'POSTROUTING', to: c.postrouting })
  return jumps
}

export interface IptablesRenderOptions {
  /** 4: iptables-restore, 6: ip6tables-restore. */
  readonly family?: 4 | 6
  /** Insert these base-chain jumps (those that do not exist yet). Default: all of them. */
  readonly missingJumps?: readonly { from: string; to: string }[]
}

function queueTarget(opts: RuleOptions): string {
  const q = opts.queueCount > 1 ? `--queue-balance ${opts.queueNum}:${opts.queueNum + opts.queueCount - 1}` : `--queue-num ${opts.queueNum}`
  return `-j NFQUEUE ${q}${opts.failOpen ? ' --queue-bypass' : ''}`
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`

export function renderIptablesRestore(targets: readonly PodRuleTarget[], opts: RuleOptions, ro: IptablesRenderOptions = {}): string {
  validateRuleInput(targets, opts)
  const family = ro.family ?? 4
  const c = iptablesChains(opts)
  const jumps = iptablesJumps(opts)
  const missing = ro.missingJumps ?? jumps
  const pods = effectiveTargets(targets, opts)
  const ipsOf = (t: PodRuleTarget): string[] => t.ips.filter((ip) => isIPv6(ip) === (family === 6))
  const plen = family === 6 ? 128 : 32
  const L: string[] = ['*filter']
  const ours = [c.forward, c.queue, ...(opts.enforceNodeTraffic ? [c.input, c.output] : [])]
  for (const ch of ours) L.push(`:${ch} - [0:0]`)

  // Matches for "from pod" / "to pod". Routed: the veth. Bridged: the bridge port for what the
  // pod sends (physdev works for bridged and for routed-from-bridge packets), and the bridge plus
  // the pod's address for what it receives (physdev-out is unknown for routed packets in FORWARD).
  const from = (t: PodRuleTarget): string[] => (opts.bridge ? [`-m physdev --physdev-in ${t.ifname}`] : [`-i ${t.ifname}`])
  const to = (t: PodRuleTarget): string[] => (opts.bridge ? ipsOf(t).map((ip) => `-o ${opts.bridge} -d ${ip}/${plen}`) : [`-o ${t.ifname}`])

  const head = (chain: string): void => {
    // Common case first: packets of known connections leave our chain at once.
    L.push(`-A ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`)
    if (opts.decidedMark !== undefined) L.push(`-A ${chain} -m connmark --mark ${hex(opts.decidedMark)}/${hex(opts.decidedMark)} -j RETURN`)
    if (family === 6) {
      // Neighbour discovery is how pods reach their gateway (and, bridged, each other: br_netfilter
      // hands L2 frames to FORWARD); conntrack does not track it as connections.
      for (const type of ['router-solicitation', 'router-advertisement', 'neighbour-solicitation', 'neighbour-advertisement', 'redirect']) {
        L.push(`-A ${chain} -p ipv6-icmp -m icmp6 --icmpv6-type ${type} -j RETURN`)
      }
    }
  }
  head(c.forward)
  for (const t of pods) {
    if (t.egress) for (const m of from(t)) L.push(`-A ${c.forward} ${m} -j ${c.queue}`)
    if (t.ingress) for (const m of to(t)) L.push(`-A ${c.forward} ${m} -j ${c.queue}`)
  }
  if (opts.enforceNodeTraffic) {
    head(c.input)
    head(c.output)
    for (const t of pods) {
      if (t.egress) for (const m of from(t)) L.push(`-A ${c.input} ${m} -j ${c.queue}`)
      if (t.ingress) for (const m of to(t)) L.push(`-A ${c.output} ${m} -j ${c.queue}`)
    }
  }
  // NEW, and INVALID too: a mid-stream packet whose conntrack entry was deleted (policy change,
  // nf_conntrack_tcp_loose=0) or an SCTP INIT with a bad checksum must not slip through unjudged.
  L.push(`-A ${c.queue} -m conntrack --ctstate NEW,INVALID ${queueTarget(opts)}`)
  for (const j of missing) if (jumps.some((x) => x.table === 'filter' && x.from === j.from && x.to === j.to)) L.push(`-I ${j.from} 1 -j ${j.to}`)
  L.push('COMMIT')

  if (opts.decidedMark !== undefined) {
    // After the verdict (mangle POSTROUTING runs after filter FORWARD/OUTPUT): remember it on the connection.
    const m = hex(opts.decidedMark)
    L.push('*mangle', `:${c.postrouting} - [0:0]`, `-A ${c.postrouting} -m mark --mark ${m}/${m} -j CONNMARK --or-mark ${m}`)
    for (const j of missing) if (j.from === 'POSTROUTING' && j.to === c.postrouting) L.push(`-I POSTROUTING 1 -j ${c.postrouting}`)
    L.push('COMMIT')
  }
  return L.join('\n') + '\n'
}

/** Restore text that removes our jumps and chains, given `iptables -S` output per table. */
export function renderIptablesRemoval(opts: Pick<RuleOptions, 'table'>, listing: { filter: string; mangle: string }): string {
  const prefix = `${opts.table.toUpperCase()}-`
  const out: string[] = []
  for (const table of ['filter', 'mangle'] as const) {
    const lines = listing[table].split('\n')
    const jumpLines = lines.filter((l) => /^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /.test(l) && l.includes(` -j ${prefix}`))
    const chains = lines.filter((l) => l.startsWith(`-N ${prefix}`)).map((l) => l.slice(3).trim())
    if (!jumpLines.length && !chains.length) continue
    out.push(`*${table}`)
    for (const l of jumpLines) out.push(`-D${l.slice(2)}`)
    for (const ch of chains) out.push(`-F ${ch}`)
    for (const ch of chains) out.push(`-X ${ch}`)
    out.push('COMMIT')
  }
  return out.length ? out.join('\n') + '\n' : ''
}
