// What one policy's peers resolve to in the current cluster, per direction: rules with no peers
// (any address), peers matching every pod, peers matching whole namespaces, peers matching
// specific identities, and ipBlocks. Atom bases are policy-local; a table adds its policy offset.
import type { ClusterIndex, Identity, NsState } from './cluster-index.js'
import type { CidrEntry } from './cidr-table.js'
import type { CompiledDirection, CompiledPolicy } from './policy.js'
import type { PortEntry } from './port-matcher.js'

export interface ResolvedDirection {
  readonly anyPeer: PortEntry[]
  readonly anyPod: PortEntry[]
  readonly byNs: Map<number, PortEntry[]>
  readonly byId: Map<number, PortEntry[]>
  readonly cidr4: CidrEntry[]
  readonly cidr6: CidrEntry[]
}

function push<K>(m: Map<K, PortEntry[]>, k: K, e: PortEntry): void {
  const l = m.get(k)
  if (l) l.push(e)
  else m.set(k, [e])
}

export function resolveDirection(cp: CompiledPolicy, dir: CompiledDirection, index: ClusterIndex): ResolvedDirection {
  const out: ResolvedDirection = { anyPeer: [], anyPod: [], byNs: new Map(), byId: new Map(), cidr4: [], cidr6: [] }
  for (const rule of dir.rules) {
    if (rule.peers === null) {
      out.anyPeer.push({ base: rule.base, ports: rule.ports })
      continue
    }
    const width = rule.ports?.length || 1
    rule.peers.forEach((peer, j) => {
      const e: PortEntry = { base: rule.base + j * width, ports: rule.ports }
      if (peer.kind === 'ipblock') {
        const c: CidrEntry = { base: e.base, ports: e.ports, cidr: peer.cidr!, except: peer.except }
        ;(peer.cidr!.family === 4 ? out.cidr4 : out.cidr6).push(c)
        return
      }
      if (peer.kind !== 'pods') return
      // Absent namespaceSelector: the policy's own namespace. Empty: every namespace.
      const allNs = peer.nsSel !== null && peer.nsSel.empty
      const nss: readonly NsState[] | null = allNs ? null : peer.nsSel === null ? [index.namespace(cp.namespace)] : index.matchNamespaces(peer.nsSel)
      const allPods = peer.podSel === null || peer.podSel.empty
      if (allPods) {
        if (nss === null) out.anyPod.push(e)
        else for (const ns of nss) push(out.byNs, ns.id, e)
        return
      }
      const nsIds = nss === null ? null : new Set(nss.map((n) => n.id))
      const seen = new Set<Identity>()
      for (const id of index.candidates(peer.podSel!, nss)) {
        if (seen.has(id)) continue
        seen.add(id)
        if (nsIds !== null && !nsIds.has(id.ns.id)) continue
        if (peer.podSel!.matches(id.labels)) push(out.byId, id.id, e)
      }
    })
  }
  return out
}

/** Whether a resolution would change if `id` appeared or disappeared (pod-selector peers only). */
export function peersCouldMatch(cp: CompiledPolicy, dir: CompiledDirection, id: Identity, index: ClusterIndex): boolean {
  for (const rule of dir.rules) {
    if (rule.peers === null) continue
    for (const peer of rule.peers) {
      if (peer.kind !== 'pods' || peer.podSel === null || peer.podSel.empty) continue
      if (!peer.podSel.matches(id.labels)) continue
      if (peer.nsSel === null ? id.ns.name === cp.namespace : peer.nsSel.matches(id.ns.labels)) return true
    }
  }
  void index
  return false
}
