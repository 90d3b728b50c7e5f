// Which host-side interface leads to which pod IP, read from the node's own state: host routes
// (/32, /128) via a veth for routed CNIs (ptp, Calico), and neighbour + bridge fdb entries for
// pods behind a bridge (the bridge port their MAC was seen on). Re-run when pods come and go.
import type { Exec } from '../lab/netns.js'

interface JsonRoute { dst?: string; dev?: string; gateway?: string; type?: string }
interface JsonLink { ifname: string; master?: string; linkinfo?: { info_kind?: string } }
interface JsonNeigh { dst?: string; dev?: string; lladdr?: string; state?: string[] }
interface JsonFdb { mac?: string; ifname?: string; master?: string; flags?: string[] }

function parse<T>(out: string): T[] {
  const s = out.trim()
  if (!s) return []
  const v = JSON.parse(s) as unknown
  return Array.isArray(v) ? (v as T[]) : []
}

/** "10.0.1.11", "10.0.1.11/32", "fd00::1/128" → the address when it is a host route, else undefined. */
function hostRouteAddr(dst: string | undefined): string | undefined {
  if (!dst || dst === 'default') return undefined
  const slash = dst.indexOf('/')
  if (slash < 0) return dst
  const len = dst.slice(slash + 1)
  const addr = dst.slice(0, slash)
  return (len === '32' && !addr.includes(':')) || len === '128' ? addr : undefined
}

/**
 * Map pod IP → host interface (a veth: the routed veth itself, or the bridge port). `exec` runs
 * in the node's network namespace.
 */
export async function discoverPodInterfaces(exec: Exec): Promise<Map<string, string>> {
  const [links, r4, r6, neigh] = await Promise.all([
    exec(['ip', '-j', '-d', 'link', 'show']).then((o) => parse<JsonLink>(o)),
    exec(['ip', '-j', '-4', 'route', 'show', 'table', 'main']).then((o) => parse<JsonRoute>(o)),
    exec(['ip', '-j', '-6', 'route', 'show', 'table', 'main']).then((o) => parse<JsonRoute>(o)),
    exec(['ip', '-j', 'neigh', 'show']).then((o) => parse<JsonNeigh>(o)),
  ])
  const kind = new Map(links.map((l) => [l.ifname, l.linkinfo?.info_kind]))
  const bridges = new Set(links.filter((l) => l.linkinfo?.info_kind === 'bridge').map((l) => l.ifname))
  const out = new Map<string, string>()

  for (const r of [...r4, ...r6]) {
    const ip = hostRouteAddr(r.dst)
    if (!ip || !r.dev || r.gateway || (r.type && r.type !== 'unicast')) continue
    if (kind.get(r.dev) === 'veth') out.set(ip, r.dev)
  }

  if (bridges.size) {
    const fdb = parse<JsonFdb>(await exec(['bridge', '-j', 'fdb', 'show']))
    // MAC → bridge port, only for veth ports of our bridges (not the bridge's own entries).
    const portOf = new Map<string, string>()
    for (const f of fdb) {
      if (!f.mac || !f.ifname || !f.master || !bridges.has(f.master) || kind.get(f.ifname) !== 'veth') continue
      portOf.set(`${f.master}|${f.mac.toLowerCase()}`, f.ifname)
    }
    for (const n of neigh) {
      if (!n.dst || !n.dev || !n.lladdr || !bridges.has(n.dev)) continue
      if (n.state?.some((s) => s === 'FAILED' || s === 'INCOMPLETE')) continue
      const port = portOf.get(`${n.dev}|${n.lladdr.toLowerCase()}`)
      // A host route wins: it is what the kernel actually uses.
      if (port && !out.has(n.dst)) out.set(n.dst, port)
    }
  }
  return out
}
