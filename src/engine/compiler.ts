// The incremental compiler: owns cluster index, compiled policies and the table registry, and
// turns one batch of changes into the minimal set of table rebuilds. Tables are immutable; a
// rebuild creates a new Table and swaps each user identity's reference (the publication step).
import type { Labels, NamespaceInfo, NetworkPolicy, PodInfo, ValidationIssue } from '../api/types.js'
import { ClusterIndex, type Identity, type PodEntry, type PodState } from './cluster-index.js'
import { compilePolicy, policyKeyOf, type CompiledPolicy } from './policy.js'
import { joinBroadGroups, leaveGroups, resolveDirection, type ResolvedDirection } from './resolve.js'
import type { Dir, Table } from './table.js'
import { TableRegistry } from './table-registry.js'

export interface PolicyState {
  readonly cp: CompiledPolicy
  readonly selected: Set<Identity>
  ingress: ResolvedDirection | null
  egress: ResolvedDirection | null
}

export interface CompilerOptions {
  localNode?: string
}

const DIRS: readonly Dir[] = ['ingress', 'egress']

export class Compiler {
  readonly index = new ClusterIndex()
  readonly pods = new Map<string, PodState>()
  readonly policies = new Map<string, PolicyState>()
  readonly policiesByNs = new Map<string, Set<PolicyState>>()
  readonly tables = new TableRegistry()

  // Work queued by the current batch.
  private dirtyPolicies = new Set<PolicyState>()
  private dirtyIdentities = new Set<Identity>()
  private touchedPods = new Set<PodState>()
  /** Pods removed in this batch: reported with ingress=egress=false. */
  removedPods: PodState[] = []
  /** Called when a pod's IP entries appear/disappear, so the engine can update its IP maps. */
  onPodEntry: (pod: PodState, added: boolean) => void = () => {}

  constructor(private readonly options: CompilerOptions) {}

  // ----------------------------------------------------------------------------------- objects

  upsertNamespace(ns: NamespaceInfo | { name: string; labels: null }): void {
    const before = this.index.namespaces.get(ns.name)?.labels
    this.index.setNamespace(ns.name, ns.labels)
    if (before && sameLabels(before, this.index.namespaces.get(ns.name)!.labels)) return
    // Namespace labels only matter to namespaceSelectors: re-resolve the policies using one.
    this.namespacesChanged = true
  }

  /**
   * A namespace first seen through a pod or policy (not declared) still has labels
   * (kubernetes.io/metadata.name), so namespaceSelectors elsewhere may start matching it.
   */
  private ensureNamespace(name: string) {
    const known = this.index.namespaces.get(name)
    if (known) return known
    const ns = this.index.namespace(name)
    this.namespacesChanged = true
    return ns
  }

  upsertPod(info: PodInfo): void {
    const key = `${info.namespace}/${info.name}`
    const old = this.pods.get(key)
    const ns = this.ensureNamespace(info.namespace)
    const live = !info.terminated && info.ips.length > 0
    const host = live && info.hostNetwork === true
    const identity = live && !host ? this.index.identityFor(ns, info.labels) : null
    const local = identity !== null && (this.options.localNode === undefined || info.nodeName === this.options.localNode)
    const entry: PodEntry & { pod: PodState } = {
      pod: undefined as unknown as PodState,
      host,
      local,
      identity,
      idn: identity?.id ?? 0,
      nsId: ns.id,
      namedPorts: host ? null : this.namedPorts(info),
      ingress: identity?.ingress ?? null,
      egress: identity?.egress ?? null,
    }
    // hostNetwork pods count as outside endpoints: named ports never resolve on them.
    const pod: PodState = { key, info, identity, entry, reported: old?.reported ?? '' }
    entry.pod = pod
    this.pods.set(key, pod)
    // Join the new identity before leaving the old one, so a relabel-free update keeps it alive.
    if (identity) {
      if (identity.pods.size === 0) this.identityAdded(identity)
      identity.pods.add(pod)
      // With localNode set, only identities with a pod on this node need tables: an agent
      // compiles for its ~100 pods, not the cluster's 50k (peers still resolve cluster-wide).
      if (local && identity.localPods++ === 0) this.dirtyIdentities.add(identity)
    }
    if (old) {
      this.detachPod(old)
      this.touchedPods.delete(old)
    }
    if (live) this.onPodEntry(pod, true)
    this.touchedPods.add(pod)
  }

  deletePod(namespace: string, name: string): void {
    const old = this.pods.get(`${namespace}/${name}`)
    if (!old) return
    this.detachPod(old)
    this.pods.delete(old.key)
    this.touchedPods.delete(old)
    this.removedPods.push(old)
  }

  upsertPolicy(policy: NetworkPolicy): void {
    const { namespace, name } = policyKeyOf(policy)
    this.deletePolicy(namespace, name)
    const cp = compilePolicy(policy)
    const ps: PolicyState = { cp, selected: new Set(), ingress: null, egress: null }
    this.policies.set(cp.key, ps)
    let set = this.policiesByNs.get(cp.namespace)
    if (!set) this.policiesByNs.set(cp.namespace, (set = new Set()))
    set.add(ps)
    const ns = this.ensureNamespace(cp.namespace)
    if (cp.podSelector.valid) {
      for (const id of ns.identities) {
        if (!cp.podSelector.matches(id.labels)) continue
        ps.selected.add(id)
        id.selectedBy.add(cp.key)
        this.dirtyIdentities.add(id)
      }
    }
    this.dirtyPolicies.add(ps)
    this.rebuildTablesOf(cp.key)
    this.upserted.add(cp.key)
  }

  /** Policies upserted since the last commit (their issues are this batch's issues). */
  private upserted = new Set<string>()
  batchIssues(): ValidationIssue[] {
    const out: ValidationIssue[] = []
    for (const k of this.upserted) {
      const ps = this.policies.get(k)
      if (ps) out.push(...ps.cp.issues)
    }
    return out
  }

  deletePolicy(namespace: string, name: string): void {
    const key = `${namespace}/${name}`
    const ps = this.policies.get(key)
    if (!ps) return
    this.policies.delete(key)
    this.policiesByNs.get(namespace)?.delete(ps)
    this.dirtyPolicies.delete(ps)
    for (const id of ps.selected) {
      id.selectedBy.delete(key)
      this.dirtyIdentities.add(id)
    }
  }

  issues(): ValidationIssue[] {
    const out: ValidationIssue[] = []
    for (const ps of this.policies.values()) out.push(...ps.cp.issues)
    return out
  }

  // ------------------------------------------------------------------------------- bookkeeping

  /** Pods of one template repeat one port list: share one map per distinct list. */
  private readonly portMaps = new Map<string, Map<number, number>>()

  private namedPorts(info: PodInfo): Map<number, number> | null {
    let sig = ''
    for (const p of info.ports) if (p.name) sig += `${p.name}/${p.protocol}/${p.containerPort};`
    if (sig === '') return null
    const hit = this.portMaps.get(sig)
    if (hit) return hit
    let m: Map<number, number> | null = null
    for (const p of info.ports) {
      if (!p.name) continue
      const proto = p.protocol === 'UDP' ? 1 : p.protocol === 'SCTP' ? 2 : 0
      m ??= new Map()
      const k = (proto << 16) | p.containerPort
      if (!m.has(k)) m.set(k, this.index.portNameId(p.name) * 4 + proto)
    }
    if (m) this.portMaps.set(sig, m)
    return m
  }

  private detachPod(pod: PodState): void {
    if (pod.info.ips.length > 0 && !pod.info.terminated) this.onPodEntry(pod, false)
    const id = pod.identity
    if (!id) return
    id.pods.delete(pod)
    if (pod.entry.local && --id.localPods === 0) this.dirtyIdentities.add(id)
    if (id.pods.size === 0) this.identityRemoved(id)
  }

  private identityAdded(id: Identity): void {
    for (const ps of this.policiesByNs.get(id.ns.name) ?? []) {
      if (ps.cp.podSelector.matches(id.labels)) {
        ps.selected.add(id)
        id.selectedBy.add(ps.cp.key)
      }
    }
    this.dirtyIdentities.add(id)
    for (const ps of this.policies.values()) {
      if (this.dirtyPolicies.has(ps)) continue // resolved from scratch at commit anyway
      const a = ps.cp.ingress !== null && ps.ingress !== null && joinBroadGroups(ps.cp, ps.cp.ingress, ps.ingress, id)
      const b = ps.cp.egress !== null && ps.egress !== null && joinBroadGroups(ps.cp, ps.cp.egress, ps.egress, id)
      if (a || b) this.dirtyPolicies.add(ps)
    }
  }

  private identityRemoved(id: Identity): void {
    for (const key of id.selectedBy) this.policies.get(key)?.selected.delete(id)
    id.selectedBy.clear()
    this.dirtyIdentities.add(id)
    for (const ps of this.policies.values()) {
      const a = ps.ingress !== null && leaveGroups(ps.ingress, id.id)
      const b = ps.egress !== null && leaveGroups(ps.egress, id.id)
      if (a || b) this.dirtyPolicies.add(ps)
    }
    this.index.dropIdentity(id)
  }

  private rebuildTablesOf(key: string): void {
    for (const t of this.tables.containing(key)) this.staleTables.add(t)
  }
  private staleTables = new Set<Table>()

  // ----------------------------------------------------------------------------------- compile

  /**
   * Namespace labels changed or a namespace appeared in this batch: the policies with a
   * namespaceSelector are re-resolved once at commit (not once per namespace event).
   */
  private namespacesChanged = false

  /** Applies queued work; returns the pods whose isolation or IPs may have changed. */
  commit(): { pods: Set<PodState>; removed: PodState[]; issues: ValidationIssue[] } {
    if (this.namespacesChanged) {
      for (const ps of this.policies.values()) if (usesNamespaceLabels(ps.cp)) this.dirtyPolicies.add(ps)
      this.namespacesChanged = false
    }
    for (const ps of this.dirtyPolicies) {
      if (this.policies.get(ps.cp.key) !== ps) continue
      ps.ingress = ps.cp.ingress ? resolveDirection(ps.cp, ps.cp.ingress, this.index) : null
      ps.egress = ps.cp.egress ? resolveDirection(ps.cp, ps.cp.egress, this.index) : null
      this.rebuildTablesOf(ps.cp.key)
    }
    // Rebuild every live table containing a changed policy, before identities pick tables, so
    // no identity can be left holding an outdated one. A table that contains a deleted policy (or one
    // that no longer has this direction) is skipped: all its users were selected by that policy,
    // so they are all re-signed below.
    for (const t of this.staleTables) {
      if (!this.tables.isLive(t)) continue
      if (t.policies.some((p) => !this.policies.get(p.key)?.[t.dir])) continue
      const users = this.tables.usersOf(t)
      this.tables.remove(t)
      const nt = this.build(t.dir, t.signature)
      for (const id of users) {
        id[t.dir] = nt
        for (const p of id.pods) p.entry[t.dir] = nt
        this.tables.use(nt, id)
      }
    }
    const pods = this.touchedPods
    for (const id of this.dirtyIdentities) {
      const live = this.index.byId.get(id.id) === id
      for (const dir of DIRS) {
        const sig = live ? this.signature(id, dir) : ''
        const cur = id[dir]
        if ((cur?.signature ?? '') === sig && (cur === null || this.tables.get(sig) === cur)) continue
        if (cur) this.tables.release(cur, id)
        let t: Table | null = null
        if (sig !== '') {
          t = this.tables.get(sig) ?? this.build(dir, sig)
          this.tables.use(t, id)
        }
        id[dir] = t
        for (const p of id.pods) p.entry[dir] = t
      }
      for (const p of id.pods) pods.add(p)
    }
    const removed = this.removedPods
    const issues = this.batchIssues()
    this.upserted = new Set()
    this.dirtyPolicies = new Set()
    this.dirtyIdentities = new Set()
    this.touchedPods = new Set()
    this.staleTables = new Set()
    this.removedPods = []
    return { pods, removed, issues }
  }

  private signature(id: Identity, dir: Dir): string {
    if (id.localPods === 0) return ''
    const keys: string[] = []
    for (const k of id.selectedBy) if (this.policies.get(k)?.cp[dir]) keys.push(k)
    if (keys.length === 0) return ''
    keys.sort()
    return `${dir}\n${keys.join('\n')}`
  }

  private build(dir: Dir, sig: string): Table {
    const parts = sig
      .split('\n')
      .slice(1)
      .map((k) => {
        const ps = this.policies.get(k)!
        return { cp: ps.cp, resolved: ps[dir]! }
      })
    return this.tables.build(dir, sig, parts, this.index)
  }
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  for (const k of ka) if (a[k] !== b[k]) return false
  return true
}

function usesNamespaceLabels(cp: CompiledPolicy): boolean {
  for (const d of [cp.ingress, cp.egress]) {
    for (const r of d?.rules ?? []) for (const p of r.peers ?? []) if (p.nsSel !== null && !p.nsSel.empty) return true
  }
  return false
}
