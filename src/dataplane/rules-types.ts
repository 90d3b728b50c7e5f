// What the rule renderers and the RuleManager take: which pods to queue for, and how.

export interface PodRuleTarget {
  /** Host-side interface of the pod (routed veth, or the bridge port when bridged). */
  readonly ifname: string
  readonly ips: readonly string[]
  /** Some policy isolates the pod for ingress: queue new connections to it. */
  readonly ingress: boolean
  /** Some policy isolates the pod for egress: queue new connections from it. */
  readonly egress: boolean
}

export interface RuleOptions {
  readonly queueNum: number
  /** > 1: spread over queueNum .. queueNum+queueCount-1 (--queue-balance / `queue num a-b`). */
  readonly queueCount: number
  /** No program bound (agent gone) → the kernel accepts instead of dropping (--queue-bypass / bypass). */
  readonly failOpen: boolean
  /** Also queue node <-> pod traffic (INPUT/OUTPUT). Off: kubelet probes are always allowed. */
  readonly enforceNodeTraffic: boolean
  /** Bridge name when the pods' veths are enslaved to a bridge (bridge CNI shape). */
  readonly bridge?: string
  /** Deny-until-synced at startup: queue new connections of every listed pod, both directions. */
  readonly denyAll?: boolean
  /**
   * Optional "already decided" bit: when the agent's accept verdict sets this packet-mark bit, it
   * is copied to the connection's ctmark and later packets of that connection that conntrack
   * still calls NEW (one-way UDP, SYN retransmits) are not queued again. Deleting the conntrack
   * entry (policy change) clears it.
   */
  readonly decidedMark?: number
  /** Our own table / chain name prefix, e.g. "netpol" (table inet netpol, chains NETPOL-…). */
  readonly table: string
}

export type Backend = 'nft' | 'iptables'

/** Targets with denyAll applied: what actually gets queued, per direction. */
export function effectiveTargets(targets: readonly PodRuleTarget[], opts: RuleOptions): PodRuleTarget[] {
  const out: PodRuleTarget[] = []
  for (const t of targets) {
    const ingress = opts.denyAll === true || t.ingress
    const egress = opts.denyAll === true || t.egress
    if (ingress || egress) out.push({ ifname: t.ifname, ips: t.ips, ingress, egress })
  }
  // Sorted, so that the same set of targets renders the same text (sync skips unchanged rules).
  return out.sort((a, b) => (a.ifname < b.ifname ? -1 : a.ifname > b.ifname ? 1 : 0))
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9_]{0,15}$/
const IFNAME_RE = /^[A-Za-z0-9_.@:-]{1,15}$/

/** Throws TypeError listing every problem (names end up in rule text: keep them tame). */
export function validateRuleInput(targets: readonly PodRuleTarget[], opts: RuleOptions): void {
  const problems: string[] = []
  if (!NAME_RE.test(opts.table)) problems.push(`table ${JSON.stringify(opts.table)}: want [A-Za-z][A-Za-z0-9_]{0,15}`)
  if (!Number.isInteger(opts.queueNum) || opts.queueNum < 0 || opts.queueNum > 65535) problems.push(`queueNum ${opts.queueNum}`)
  if (!Number.isInteger(opts.queueCount) || opts.queueCount < 1 || opts.queueNum + opts.queueCount - 1 > 65535) problems.push(`queueCount ${opts.queueCount}`)
  if (opts.bridge !== undefined && !IFNAME_RE.test(opts.bridge)) problems.push(`bridge ${JSON.stringify(opts.bridge)}`)
  if (opts.decidedMark !== undefined && (!Number.isInteger(opts.decidedMark) || opts.decidedMark <= 0 || opts.decidedMark > 0xffffffff)) {
    problems.push(`decidedMark ${opts.decidedMark}`)
  }
  for (const t of targets) if (!IFNAME_RE.test(t.ifname)) problems.push(`ifname ${JSON.stringify(t.ifname)}`)
  if (problems.length) throw new TypeError(`invalid rule input: ${problems.join('; ')}`)
}
