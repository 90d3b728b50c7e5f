// The cluster state between sync and engine. Sources (API informers, a manifest directory, a
// cluster file) write whole objects; the store hands the engine only what changed, as deltas.
//
// Pod IPs: the engine must see at most one pod per IP. When two pods claim an IP — a new pod got
// the IP of a terminating one, or the delete of an old pod has not arrived yet — the live pod wins
// over a terminated one, and among equals the pod that claimed the IP last wins. The losing pod is
// handed on with that IP removed, and gets it back if the winner goes away first. hostNetwork pods
// stay out of this: they share their node's IPs by design, and policies never select them.
import type { ClusterDelta, ClusterState, NamespaceInfo, NetworkPolicy, PodInfo } from '../api/types.js'
import { sameNamespace, samePod, samePolicy } from './semantic-equal.js'

type Kind = ClusterDelta['kind']
type Model = NamespaceInfo | PodInfo | NetworkPolicy
export type ChangeListener = (deltas: readonly ClusterDelta[]) => void

const KIND_ORDER: readonly Kind[] = ['Namespace', 'Pod', 'NetworkPolicy']

function policyId(p: NetworkPolicy): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`
}
function podId(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`
}
function same(kind: Kind, a: Model, b: Model): boolean {
  if (kind === 'Pod') return samePod(a as PodInfo, b as PodInfo)
  if (kind === 'Namespace') return sameNamespace(a as NamespaceInfo, b as NamespaceInfo)
  return samePolicy(a as NetworkPolicy, b as NetworkPolicy)
}
function upsertDelta(kind: Kind, object: Model): ClusterDelta {
  return { kind, op: 'upsert', object } as ClusterDelta
}
function deleteDelta(kind: Kind, id: string): ClusterDelta {
  if (kind === 'Namespace') return { kind, op: 'delete', name: id }
  const slash = id.indexOf('/')
  return { kind, op: 'delete', namespace: id.slice(0, slash), name: id.slice(slash + 1) }
}

function claimed(pod: PodInfo | undefined): readonly string[] {
  return pod && !pod.hostNetwork ? pod.ips : []
}

export class ClusterStore {
  /** What the engine sees (pods with lost IPs removed), per kind, by identity. */
  private readonly views: Record<Kind, Map<string, Model>> = { Namespace: new Map(), Pod: new Map(), NetworkPolicy: new Map() }
  /** Pods as written by the source. */
  private readonly rawPods = new Map<string, PodInfo>()
  /** ip → (pod id → claim sequence number). */
  private readonly claims = new Map<string, Map<string, number>>()
  private seq = 0
  /** For drain(): each identity touched since the last drain, with its view at that drain. */
  private readonly baseline: Record<Kind, Map<string, Model | undefined>> = { Namespace: new Map(), Pod: new Map(), NetworkPolicy: new Map() }
  private readonly listeners = new Set<ChangeListener>()
  /** Deltas of the mutation in progress (for onChange). */
  private batch: ClusterDelta[] = []

  /** Called synchronously after every mutation that changed something, with its deltas. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  upsertNamespace(ns: NamespaceInfo): ClusterDelta[] {
    return this.mutate(() => this.set('Namespace', ns.name, ns))
  }
  deleteNamespace(name: string): ClusterDelta[] {
    return this.mutate(() => this.set('Namespace', name, undefined))
  }
  upsertPolicy(policy: NetworkPolicy): ClusterDelta[] {
    return this.mutate(() => this.set('NetworkPolicy', policyId(policy), policy))
  }
  deletePolicy(namespace: string, name: string): ClusterDelta[] {
    return this.mutate(() => this.set('NetworkPolicy', `${namespace}/${name}`, undefined))
  }
  upsertPod(pod: PodInfo): ClusterDelta[] {
    return this.mutate(() => this.writePod(podId(pod), pod))
  }
  deletePod(namespace: string, name: string): ClusterDelta[] {
    return this.mutate(() => this.writePod(`${namespace}/${name}`, undefined))
  }

  /** Makes the store hold exactly `state` (a relist, a rescanned directory, a cluster-file step). */
  replaceAll(state: ClusterState): ClusterDelta[] {
    return this.mutate(() => {
      const nsIds = new Set(state.namespaces.map((n) => n.name))
      const podIds = new Set(state.pods.map(podId))
      const polIds = new Set(state.policies.map(policyId))
      for (const id of [...this.views.NetworkPolicy.keys()]) if (!polIds.has(id)) this.set('NetworkPolicy', id, undefined)
      for (const id of [...this.rawPods.keys()]) if (!podIds.has(id)) this.writePod(id, undefined)
      for (const id of [...this.views.Namespace.keys()]) if (!nsIds.has(id)) this.set('Namespace', id, undefined)
      for (const n of state.namespaces) this.set('Namespace', n.name, n)
      for (const p of state.pods) this.writePod(podId(p), p)
      for (const p of state.policies) this.set('NetworkPolicy', policyId(p), p)
    })
  }

  /** Everything that changed since the last drain, coalesced: one delta per identity at most. */
  drain(): ClusterDelta[] {
    const ups: ClusterDelta[] = []
    const dels: ClusterDelta[] = []
    for (const kind of KIND_ORDER) {
      for (const [id, before] of this.baseline[kind]) {
        const now = this.views[kind].get(id)
        if (now === undefined) {
          if (before !== undefined) dels.push(deleteDelta(kind, id))
        } else if (before === undefined || !same(kind, before, now)) {
          ups.push(upsertDelta(kind, now))
        }
      }
      this.baseline[kind].clear()
    }
    return [...ups, ...dels.reverse()] // deletes: policies first, namespaces last
  }

  state(): ClusterState {
    return {
      namespaces: [...this.views.Namespace.values()] as NamespaceInfo[],
      pods: [...this.views.Pod.values()] as PodInfo[],
      policies: [...this.views.NetworkPolicy.values()] as NetworkPolicy[],
    }
  }

  /** The pod that owns an IP (the live one when a terminated pod still claims it). */
  podByIP(ip: string): PodInfo | undefined {
    const owner = this.ownerOf(ip)
    return owner === undefined ? undefined : this.rawPods.get(owner)
  }

  getPod(namespace: string, name: string): PodInfo | undefined {
    return this.rawPods.get(`${namespace}/${name}`)
  }

  private mutate(fn: () => void): ClusterDelta[] {
    this.batch = []
    fn()
    const deltas = this.batch
    this.batch = []
    if (deltas.length > 0) for (const l of this.listeners) l(deltas)
    return deltas
  }

  /** Sets the engine's view of one identity, recording a delta if it changed. */
  private set(kind: Kind, id: string, next: Model | undefined): void {
    const view = this.views[kind]
    const prev = view.get(id)
    if (prev === undefined && next === undefined) return
    if (prev !== undefined && next !== undefined && same(kind, prev, next)) {
      view.set(id, next) // keep the newest object (fresh resourceVersion) without a delta
      return
    }
    if (!this.baseline[kind].has(id)) this.baseline[kind].set(id, prev)
    if (next === undefined) {
      view.delete(id)
      this.batch.push(deleteDelta(kind, id))
    } else {
      view.set(id, next)
      this.batch.push(upsertDelta(kind, next))
    }
  }

  private writePod(id: string, pod: PodInfo | undefined): void {
    const old = this.rawPods.get(id)
    const oldIps = claimed(old)
    const newIps = claimed(pod)
    for (const ip of oldIps) if (!newIps.includes(ip)) this.claims.get(ip)?.delete(id)
    for (const ip of newIps) {
      let c = this.claims.get(ip)
      if (!c) this.claims.set(ip, (c = new Map()))
      if (!c.has(id)) c.set(id, ++this.seq)
    }
    if (pod) this.rawPods.set(id, pod)
    else this.rawPods.delete(id)
    // Every other pod claiming one of these IPs may have won or lost it: refresh those first.
    const affected = new Set<string>()
    for (const ip of [...oldIps, ...newIps]) {
      const c = this.claims.get(ip)
      if (!c) continue
      if (c.size === 0) this.claims.delete(ip)
      for (const other of c.keys()) if (other !== id) affected.add(other)
    }
    for (const other of affected) this.set('Pod', other, this.podView(other))
    this.set('Pod', id, pod && this.podView(id))
  }

  private podView(id: string): PodInfo | undefined {
    const pod = this.rawPods.get(id)
    if (!pod || pod.hostNetwork) return pod
    const ips = pod.ips.filter((ip) => this.ownerOf(ip) === id)
    return ips.length === pod.ips.length ? pod : { ...pod, ips }
  }

  private ownerOf(ip: string): string | undefined {
    const c = this.claims.get(ip)
    if (!c) return undefined
    let best: string | undefined
    let bestLive = false
    let bestSeq = -1
    for (const [id, seq] of c) {
      const live = this.rawPods.get(id)?.terminated !== true
      if (best === undefined || (live && !bestLive) || (live === bestLive && seq > bestSeq)) {
        best = id
        bestLive = live
        bestSeq = seq
      }
    }
    return best
  }
}
