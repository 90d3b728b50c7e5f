// nft script for the same rules, for kernels with the nftables `queue` expression (most real
// clusters; not this development kernel, where only its text is tested). One `nft -f` run is one
// transaction: create-if-missing, delete, recreate our table = atomic replace, nothing else touched.
import { isIPv6 } from 'node:net'
import { effectiveTargets, validateRuleInput, type PodRuleTarget, type RuleOptions } from './rules-types.js'

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`

function set(name: string, type: string, elements: readonly string[], flags = ''): string[] {
  const els = elements.length ? ` elements = { ${elements.join(', ')} }` : ''
  return [`\tset ${name} {`, `\t\ttype ${type}${flags}`, ...(els ? [`\t\t${els.trim()}`] : []), '\t}']
}

export function renderNftRuleset(targets: readonly PodRuleTarget[], opts: RuleOptions): string {
  validateRuleInput(targets, opts)
  const pods = effectiveTargets(targets, opts)
  const t = opts.table
  const q = `queue num ${opts.queueCount > 1 ? `${opts.queueNum}-${opts.queueNum + opts.queueCount - 1}` : opts.queueNum}${opts.failOpen ? ' bypass' : ''}`
  const quote = (s: string): string => `"${s}"`
  const egressIfs = pods.filter((p) => p.egress).map((p) => quote(p.ifname))
  const ingressIfs = pods.filter((p) => p.ingress).map((p) => quote(p.ifname))
  const ingress4 = pods.filter((p) => p.ingress).flatMap((p) => p.ips.filter((ip) => !isIPv6(ip)))
  const ingress6 = pods.filter((p) => p.ingress).flatMap((p) => p.ips.filter((ip) => isIPv6(ip)))
  const egress4 = pods.filter((p) => p.egress).flatMap((p) => p.ips.filter((ip) => !isIPv6(ip)))
  const egress6 = pods.filter((p) => p.egress).flatMap((p) => p.ips.filter((ip) => isIPv6(ip)))

  const L: string[] = [
    `table inet ${t}`,
    `delete table inet ${t}`,
    `table inet ${t} {`,
  ]
  if (opts.bridge) {
    // Bridged pods share one interface: match their addresses on the bridge. Bridged pod <-> pod
    // frames reach the inet hooks through br_netfilter (bridge-nf-call-iptables=1, as kubeadm requires).
    L.push(...set('egress4', 'ipv4_addr', egress4), ...set('egress6', 'ipv6_addr', egress6),
      ...set('ingress4', 'ipv4_addr', ingress4), ...set('ingress6', 'ipv6_addr', ingress6))
  } else {
    L.push(...set('egress_ifs', 'ifname', egressIfs), ...set('ingress_ifs', 'ifname', ingressIfs))
  }
  const fromPod = opts.bridge
    ? [`iifname "${opts.bridge}" ip saddr @egress4`, `iifname "${opts.bridge}" ip6 saddr @egress6`]
    : ['iifname @egress_ifs']
  const toPod = opts.bridge
    ? [`oifname "${opts.bridge}" ip daddr @ingress4`, `oifname "${opts.bridge}" ip6 daddr @ingress6`]
    : ['oifname @ingress_ifs']

  const chain = (name: string, hook: string, matches: readonly string[]): void => {
    L.push(`\tchain ${name} {`, `\t\ttype filter hook ${hook} priority filter - 5; policy accept;`,
      '\t\tct state established,related accept')
    if (opts.decidedMark !== undefined) L.push(`\t\tct mark & ${hex(opts.decidedMark)} == ${hex(opts.decidedMark)} accept`)
    L.push('\t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept')
    // NEW and INVALID: see rules-iptables.ts.
    for (const m of matches) L.push(`\t\t${m} ct state { new, invalid } ${q}`)
    L.push('\t}')
  }
  chain('forward', 'forward', [...fromPod, ...toPod])
  if (opts.enforceNodeTraffic) {
    chain('input', 'input', fromPod)
    chain('output', 'output', toPod)
  }
  if (opts.decidedMark !== undefined) {
    const m = hex(opts.decidedMark)
    L.push('\tchain postrouting {', '\t\ttype filter hook postrouting priority mangle; policy accept;',
      `\t\tmeta mark & ${m} == ${m} ct mark set ct mark | ${m}`, '\t}')
  }
  L.push('}')
  return L.join('\n') + '\n'
}

/** Script that removes our table (create-if-missing first, so it never fails). */
export function renderNftRemoval(opts: Pick<RuleOptions, 'table'>): string {
  return `table inet ${opts.table}\ndelete table inet ${opts.table}\n`
}
