// What one policy's peers resolve to in the current cluster, per direction: rules with no peers
// (any address), peers matching every pod, peers matching whole namespaces, peers matching
// specific identities, and ipBlocks. Atom bases are policy-local; a table adds its policy offset.
import type { ClusterIndex, Identity, NsState } from './cluster-index.js'
import type { CidrEntry } from './cidr-table.js'
import type { CompiledDirection, CompiledPolicy } from './policy.js'
import type { PortEntry } from './port-matcher.js'

/** One peer and the namespaces / identities it matched. */
export interface PeerGroup {
  readonly entry: PortEntry
  readonly members: Set<number>
}

export interface ResolvedDirection {
  readonly anyPeer: PortEntry[]
  readonly anyPod: PortEntry[]
  /** Peers matching every pod of some namespaces (members: namespace ids). */
  readonly byNs: PeerGroup[]
  /** Peers matching specific identities (members: identity ids). */
  readonly byId: PeerGroup[]
  readonly cidr4: CidrEntry[]
  readonly cidr6: CidrEntry[]
}

export function resolveDirection(cp: CompiledPolicy, dir: CompiledDirection, index: ClusterIndex): ResolvedDirection {
  const out: ResolvedDirection = { anyPeer: [], anyPod: [], byNs: [], byId: [], cidr4: [], cidr6: [] }
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
        else if (nss.length > 0) out.byNs.push({ entry: e, members: new Set(nss.map((n) => n.id)) })
        return
      }
      const nsKey = nss === null ? '*' : peer.nsSel === null ? `=${cp.namespace}` : `?${peer.nsSel.key}`
      const members = index.peerMembers(nsKey, nss, peer.podSel!)
      if (members.size > 0) out.byId.push({ entry: e, members })
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
