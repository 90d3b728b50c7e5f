// The cluster as the compiler sees it: namespaces, identities (pods of one namespace with equal
// labels share one, so selectors are evaluated per identity, not per pod), a label index to
// narrow selector candidates, and interned container-port names.
import type { Labels, PodInfo } from '../api/types.js'
import type { CompiledSelector } from './selector.js'
import type { Table } from './table.js'
import type { PortSetCache } from './port-matcher.js'

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name'

export interface NsState {
  readonly id: number
  readonly name: string
  labels: Labels
  /** False for a namespace only known from its pods (labels: just the name label). */
  declared: boolean
  readonly identities: Set<Identity>
}

export interface Identity {
  readonly id: number
  readonly key: string
  readonly ns: NsState
  readonly labels: Labels
  readonly pods: Set<PodState>
  /** Pods of this identity enforced on this node: tables are built only when > 0. */
  localPods: number
  /** Policies whose podSelector selects this identity. */
  readonly selectedBy: Set<string>
  /** Compiled per-direction tables (null: not isolated). Swapped by reference on update. */
  ingress: Table | null
  egress: Table | null
}

/** What the packet path finds for an address: one record per pod IP. */
export interface PodEntry {
  readonly pod: PodState
  /** hostNetwork pod: never selected, matched as a peer only by ipBlock. */
  readonly host: boolean
  /** Enforced on this node (EngineOptions.localNode). */
  readonly local: boolean
  readonly identity: Identity | null
  /** identity.id (0 for hostNetwork pods), copied here to save the packet path a hop. */
  readonly idn: number
  readonly nsId: number
  /** (protocol index << 16 | port) -> nameId*4 + protocol index, for named-port rules. */
  readonly namedPorts: Map<number, number> | null
  /** The identity's current tables, mirrored here on every swap (one dependent load less). */
  ingress: Table | null
  egress: Table | null
}

export interface PodState {
  readonly key: string
  readonly info: PodInfo
  readonly identity: Identity | null
  readonly entry: PodEntry
  /** Isolation last reported in ApplyResult.isolationChanged ('' = never / not enforced). */
  reported: string
}

export class ClusterIndex {
  readonly namespaces = new Map<string, NsState>()
  readonly identities = new Map<string, Identity>()
  readonly byId = new Map<number, Identity>()
  private readonly labelIndex = new Map<string, Set<Identity>>()
  private readonly portNames = new Map<string, number>()
  /** PortSets shared by every single-peer matcher of a rule (see port-matcher.ts). */
  readonly portSets: PortSetCache = new WeakMap()
  private nextNs = 1
  private nextIdentity = 1
  private nsCache = new Map<string, NsState[]>()

  namespace(name: string): NsState {
    let ns = this.namespaces.get(name)
    if (!ns) {
      ns = { id: this.nextNs++, name, labels: { [NAMESPACE_NAME_LABEL]: name }, declared: false, identities: new Set() }
      this.namespaces.set(name, ns)
      this.nsCache.clear()
      this.peerCache.clear()
    }
    return ns
  }

  /** The API server adds kubernetes.io/metadata.name to every namespace; so do we. */
  setNamespace(name: string, labels: Labels | null): void {
    const ns = this.namespace(name)
    ns.labels = { ...(labels ?? {}), [NAMESPACE_NAME_LABEL]: name }
    ns.declared = labels !== null
    this.nsCache.clear()
    this.peerCache.clear()
  }

  /** Namespaces a namespaceSelector matches (cached per selector until namespaces change). */
  matchNamespaces(sel: CompiledSelector): NsState[] {
    let r = this.nsCache.get(sel.key)
    if (!r) {
      r = []
      for (const ns of this.namespaces.values()) if (sel.matches(ns.labels)) r.push(ns)
      this.nsCache.set(sel.key, r)
    }
    return r
  }

  identityFor(ns: NsState, labels: Labels): Identity {
    const key = identityKey(ns.name, labels)
    let id = this.identities.get(key)
    if (!id) {
      id = { id: this.nextIdentity++, key, ns, labels, pods: new Set(), localPods: 0, selectedBy: new Set(), ingress: null, egress: null }
      this.identities.set(key, id)
      this.byId.set(id.id, id)
      ns.identities.add(id)
      this.peerCache.clear()
      for (const [k, v] of Object.entries(labels)) {
        const lk = `${k}=${v}`
        let s = this.labelIndex.get(lk)
        if (!s) this.labelIndex.set(lk, (s = new Set()))
        s.add(id)
      }
    }
    return id
  }

  dropIdentity(id: Identity): void {
    this.identities.delete(id.key)
    this.byId.delete(id.id)
    id.ns.identities.delete(id)
    this.peerCache.clear()
    for (const [k, v] of Object.entries(id.labels)) this.labelIndex.get(`${k}=${v}`)?.delete(id)
  }

  /**
   * Identity ids matched by a pod-selector peer: `podSel` within `namespaces` (null = all).
   * Cached per (namespaces, selector) until identities or namespaces change, so the many
   * policies sharing a peer ("tier=db in my namespace") resolve it once and share one Set.
   * Callers must not mutate the result.
   */
  peerMembers(nsKey: string, namespaces: readonly NsState[] | null, podSel: CompiledSelector): Set<number> {
    const key = `${nsKey}\u0004${podSel.key}`
    let r = this.peerCache.get(key)
    if (r) return r
    r = new Set<number>()
    const hint = podSel.indexHint()
    let viaNs = 0
    if (namespaces !== null) for (const ns of namespaces) viaNs += ns.identities.size
    let viaHint = Infinity
    if (hint) {
      viaHint = 0
      for (const v of hint.values) viaHint += this.labelIndex.get(`${hint.key}=${v}`)?.size ?? 0
    }
    if (namespaces !== null && viaNs <= viaHint) {
      for (const ns of namespaces) for (const id of ns.identities) if (podSel.matches(id.labels)) r.add(id.id)
    } else {
      const nsIds = namespaces === null ? null : new Set(namespaces.map((n) => n.id))
      const scan = (ids: Iterable<Identity>) => {
        for (const id of ids) if ((nsIds === null || nsIds.has(id.ns.id)) && podSel.matches(id.labels)) r!.add(id.id)
      }
      if (hint) for (const v of hint.values) scan(this.labelIndex.get(`${hint.key}=${v}`) ?? [])
      else scan(this.identities.values())
    }
    this.peerCache.set(key, r)
    return r
  }
  private peerCache = new Map<string, Set<number>>()

  portNameId(name: string): number {
    let id = this.portNames.get(name)
    if (id === undefined) this.portNames.set(name, (id = this.portNames.size + 1))
    return id
  }
}

export function identityKey(ns: string, labels: Labels): string {
  const keys = Object.keys(labels).sort()
  let s = ns
  for (const k of keys) s += `\u0000${k}\u0001${labels[k]}`
  return s
}
