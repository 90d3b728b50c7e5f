// What one policy's peers resolve to in the current cluster, per direction: rules with no peers
// (any address), peers matching every pod, peers matching whole namespaces, peers matching
// specific identities, and ipBlocks. Atom bases are policy-local; a table adds its policy offset.
import type { ClusterIndex, Identity, NsState } from './cluster-index.js'
import type { CidrEntry } from './cidr-table.js'
import type { CompiledDirection, CompiledPolicy } from './policy.js'
import type { PortEntry } from './port-matcher.js'
import { tuning } from './table.js'

/** One peer and the namespaces / identities it matched. */
export interface PeerGroup {
  readonly entry: PortEntry
  readonly members: Set<number>
  /**
   * Checked by membership rather than expanded into per-identity maps (see Table). Broad groups'
   * member sets are updated in place when identities come and go, so a new deployment matching
   * "tier=frontend in team=web namespaces" does not rebuild every table holding that peer.
   */
  readonly broad: boolean
}

export interface ResolvedDirection {
  readonly anyPeer: PortEntry[]
  readonly anyPod: PortEntry[]
  /** Peers matching every pod of some namespaces (members: namespace ids). */
  readonly byNs: PeerGroup[]
  /** Peers matching specific identities (members: identity ids). */
  readonly byId: PeerGroup[]
  readonly cidr4: readonly CidrEntry[]
  readonly cidr6: readonly CidrEntry[]
}

export function resolveDirection(cp: CompiledPolicy, dir: CompiledDirection, index: ClusterIndex): ResolvedDirection {
  const out: ResolvedDirection = { anyPeer: [], anyPod: [], byNs: [], byId: [], cidr4: dir.cidr4, cidr6: dir.cidr6 }
  for (const rule of dir.rules) {
    if (rule.peers === null) {
      out.anyPeer.push({ base: rule.base, ports: rule.ports })
      continue
    }
    const width = rule.ports?.length || 1
    rule.peers.forEach((peer, j) => {
      const e: PortEntry = { base: rule.base + j * width, ports: rule.ports }
      if (peer.kind === 'ipblock') return // dir.cidr4 / dir.cidr6
      if (peer.kind !== 'pods') return
      // Absent namespaceSelector: the policy's own namespace. Empty: every namespace.
      const allNs = peer.nsSel !== null && peer.nsSel.empty
      const nss: readonly NsState[] | null = allNs ? null : peer.nsSel === null ? [index.namespace(cp.namespace)] : index.matchNamespaces(peer.nsSel)
      const allPods = peer.podSel === null || peer.podSel.empty
      if (allPods) {
        if (nss === null) out.anyPod.push(e)
        else if (nss.length > 0) out.byNs.push({ entry: e, members: new Set(nss.map((n) => n.id)), broad: false })
        return
      }
      const nsKey = nss === null ? '*' : peer.nsSel === null ? `=${cp.namespace}` : `?${peer.nsSel.key}`
      const members = index.peerMembers(nsKey, nss, peer.podSel!)
      if (members.size > 0) out.byId.push({ entry: e, members, broad: members.size > tuning.expandLimit })
    })
  }
  return out
}

/**
 * A new identity appeared: adds it to the broad groups of `r` whose peer matches it, in place.
 * Returns true if a non-broad peer matches it, i.e. the policy must be resolved again.
 */
export function joinBroadGroups(cp: CompiledPolicy, dir: CompiledDirection, r: ResolvedDirection, id: Identity): boolean {
  let rebuild = false
  for (const { peer, base } of dir.podPeers) {
    if (!peer.podSel!.matches(id.labels)) continue
    if (!(peer.nsSel === null ? id.ns.name === cp.namespace : peer.nsSel.matches(id.ns.labels))) continue
    const g = r.byId.find((x) => x.entry.base === base)
    if (g !== undefined && g.broad) g.members.add(id.id)
    else rebuild = true
  }
  return rebuild
}

/** An identity disappeared: removes it from broad groups in place; true if a small group had it. */
export function leaveGroups(r: ResolvedDirection, id: number): boolean {
  let rebuild = false
  for (const g of r.byId) {
    if (!g.members.has(id)) continue
    if (g.broad) g.members.delete(id)
    else rebuild = true
  }
  return rebuild
}
