// The lab's network: one isolated "node" namespace and one namespace per pod, wired like the
// ptp CNI / Calico (routed veths, /32 + /128, proxy ARP and an fe80::1 gateway) or, with
// `bridge: true`, like the bridge CNI (veths enslaved to a bridge, pods on one L2 segment).
// See ../shared/ENVIRONMENT.md. Nothing here touches the host's own namespace: every `ip` command
// runs with `-n <ns>` or creates/deletes namespaces. Each namespace is configured by one
// `ip -batch` process, and the pod namespaces in parallel, so 30 pods take well under a second.
import { isIPv6 } from 'node:net'
import { ipBatch, listNamespaces, nsArgv, run } from './netns.js'

export interface TopologySpec {
  /** Unique per run; every namespace name starts with `${prefix}-`. */
  readonly prefix: string
  readonly pods: readonly { readonly key: string; readonly ips: readonly string[] }[]
  /** Bridge-CNI shape instead of routed veths. */
  readonly bridge?: boolean
  /**
   * Turn conntrack on in the node namespace from the start (default true), as on a real node
   * where kube-proxy / the CNI use it. Without it a namespace tracks nothing until the first
   * conntrack rule appears, and connections opened before that look NEW mid-stream.
   */
  readonly conntrack?: boolean
}

export interface TopologyPod {
  /** Network namespace of the pod. */
  readonly ns: string
  /** Host-side veth, in the node namespace. */
  readonly hostIf: string
  readonly ips: readonly string[]
  /** MAC address of the pod's eth0. */
  readonly mac: string
}

export interface Topology {
  readonly prefix: string
  readonly nodeNs: string
  /** Bridge name in the node namespace (bridged variant only). */
  readonly bridge?: string
  readonly pods: ReadonlyMap<string, TopologyPod>
  /** The node's own addresses, as pods see them (IPv4 gateway, and an IPv6 one when pods have IPv6). */
  readonly nodeIPs: readonly string[]
  /** Runs argv inside namespace `ns`; resolves to stdout. */
  exec(ns: string, argv: readonly string[], stdin?: string): Promise<string>
  destroy(): Promise<void>
}

export const NODE_IPV4 = '169.254.1.1'
/** A node address for pods to reach over IPv6 (their gateway is the link-local fe80::1). */
export const NODE_IPV6 = 'fd69:254::1'
export const GATEWAY_IPV6 = 'fe80::1'
export const BRIDGE_NAME = 'npbr0'

/** A rule that only counts, so that the kernel tracks connections in the node namespace. */
const CONNTRACK_ON = `table inet lab_conntrack {
	chain prerouting {
		type filter hook prerouting priority raw + 1; policy accept;
		ct state new counter
	}
	chain output {
		type filter hook output priority raw + 1; policy accept;
		ct state new counter
	}
}
`

const NAME_RE = /^[A-Za-z0-9_.-]{1,40}$/

/** Deterministic, locally administered MAC for pod index i (unique within one topology). */
function podMac(i: number): string {
  return `02:6e:70:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`
}

export async function buildTopology(spec: TopologySpec): Promise<Topology> {
  if (!NAME_RE.test(spec.prefix)) throw new TypeError(`buildTopology: bad prefix ${JSON.stringify(spec.prefix)}`)
  const nodeNs = `${spec.prefix}-node`
  const bridge = spec.bridge ? BRIDGE_NAME : undefined
  const pods = new Map<string, TopologyPod>()
  spec.pods.forEach((p, i) => {
    if (pods.has(p.key)) throw new TypeError(`buildTopology: duplicate pod ${p.key}`)
    // IFNAMSIZ is 16 with the NUL: "np" + index always fits, whatever the pod is called.
    pods.set(p.key, { ns: `${spec.prefix}-p${i}`, hostIf: `np${i}`, ips: [...p.ips], mac: podMac(i + 1) })
  })
  const anyV6 = spec.pods.some((p) => p.ips.some((ip) => isIPv6(ip)))
  const nodeIPs = anyV6 ? [NODE_IPV4, NODE_IPV6] : [NODE_IPV4]
  const allNs = [nodeNs, ...[...pods.values()].map((p) => p.ns)]

  const topo: Topology = {
    prefix: spec.prefix,
    nodeNs,
    bridge,
    pods,
    nodeIPs,
    exec: (ns, argv, stdin) => run(nsArgv(ns, argv), stdin),
    destroy: () => deleteNamespaces(allNs),
  }

  try {
    await ipBatch(undefined, allNs.map((ns) => `netns add ${ns}`))
    await ipBatch(nodeNs, nodeLines(pods, bridge, anyV6))
    if (bridge) {
      // Static fdb entries make the pod <-> port mapping known before any traffic (discovery).
      await run(['bridge', '-n', nodeNs, '-batch', '-'],
        [...pods.values()].map((p) => `fdb replace ${p.mac} dev ${p.hostIf} master static`).join('\n') + '\n')
    }
    await run(nsArgv(nodeNs, ['sysctl', '-qw', ...nodeSysctls(pods, bridge)]))
    if (spec.conntrack !== false) await run(nsArgv(nodeNs, ['nft', '-f', '-']), CONNTRACK_ON)
    await Promise.all([...pods.values()].map((p) => ipBatch(p.ns, podLines(p, bridge !== undefined))))
  } catch (e) {
    await topo.destroy().catch(() => {})
    throw e
  }
  return topo
}

function nodeLines(pods: ReadonlyMap<string, TopologyPod>, bridge: string | undefined, anyV6: boolean): string[] {
  const gwDev = bridge ?? 'lo'
  const lines = ['link set lo up']
  if (bridge) {
    // No MLD snooping: without a querier it can swallow the pods' neighbour solicitations.
    // A fixed MAC: otherwise the bridge takes its ports' lowest MAC and every change of it
    // flushes the bridge's neighbour entries (permanent ones too).
    lines.push(`link add ${bridge} address 02:6e:70:ff:ff:fe type bridge mcast_snooping 0`, `link set ${bridge} up`,
      `addr add ${GATEWAY_IPV6}/64 dev ${bridge} nodad`)
  }
  lines.push(`addr add ${NODE_IPV4}/32 dev ${gwDev}`)
  if (anyV6) lines.push(`addr add ${NODE_IPV6}/128 dev ${gwDev} nodad`)
  const neighbours: string[] = []
  for (const p of pods.values()) {
    lines.push(`link add ${p.hostIf} type veth peer name eth0 netns ${p.ns} address ${p.mac}`)
    if (bridge) lines.push(`link set ${p.hostIf} master ${bridge}`)
    else lines.push(`addr add ${GATEWAY_IPV6}/64 dev ${p.hostIf} nodad`)
    lines.push(`link set ${p.hostIf} up`)
    for (const ip of p.ips) {
      const v6 = isIPv6(ip)
      lines.push(`route add ${ip}/${v6 ? 128 : 32} dev ${bridge ?? p.hostIf}`)
      // Bridged: pin the neighbour so node -> pod traffic and discovery need no prior traffic.
      if (bridge) neighbours.push(`neigh replace ${ip} lladdr ${p.mac} dev ${bridge} nud permanent`)
    }
  }
  return [...lines, ...neighbours]
}

function nodeSysctls(pods: ReadonlyMap<string, TopologyPod>, bridge: string | undefined): string[] {
  const s = ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']
  if (bridge) {
    // Bridged pod <-> pod frames reach iptables FORWARD only through br_netfilter (as kubeadm requires).
    s.push('net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1')
  } else {
    for (const p of pods.values()) s.push(`net.ipv4.conf.${p.hostIf}.proxy_arp=1`)
  }
  return s
}

function podLines(p: TopologyPod, bridged: boolean): string[] {
  const lines = ['link set lo up', 'link set eth0 up']
  const v4 = p.ips.filter((ip) => !isIPv6(ip))
  const v6 = p.ips.filter((ip) => isIPv6(ip))
  for (const ip of v4) lines.push(`addr add ${ip}/32 dev eth0`)
  for (const ip of v6) lines.push(`addr add ${ip}/128 dev eth0 nodad`)
  if (bridged) {
    // One L2 segment: resolve every destination (pods and the node's bridge address) directly.
    lines.push('route add 0.0.0.0/0 dev eth0')
    if (v6.length) lines.push('route add ::/0 dev eth0')
  } else {
    lines.push(`route add ${NODE_IPV4} dev eth0`, `route add 0.0.0.0/0 via ${NODE_IPV4} dev eth0`)
    if (v6.length) lines.push(`route add ::/0 via ${GATEWAY_IPV6} dev eth0`)
  }
  return lines
}

async function deleteNamespaces(names: readonly string[]): Promise<void> {
  const existing = new Set(await listNamespaces())
  const doomed = names.filter((n) => existing.has(n))
  // -force: one missing namespace must not stop the rest from being deleted.
  await ipBatch(undefined, doomed.map((n) => `netns del ${n}`), true).catch(() => {})
  const left = new Set(await listNamespaces())
  const stuck = doomed.filter((n) => left.has(n))
  if (stuck.length) throw new Error(`could not delete namespaces: ${stuck.join(' ')}`)
}

/** Deletes every namespace named `${prefix}-…` (stale labs of a crashed run). */
export async function destroyByPrefix(prefix: string): Promise<number> {
  if (!NAME_RE.test(prefix)) throw new TypeError(`destroyByPrefix: bad prefix ${JSON.stringify(prefix)}`)
  const names = (await listNamespaces()).filter((n) => n.startsWith(`${prefix}-`))
  await deleteNamespaces(names)
  return names.length
}
