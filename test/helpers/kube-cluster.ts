// Bridges between the engine's model, API objects on the test API server, and the store: random
// changes applied as API writes, and comparisons that name every lost or stale object.
import type { ClusterState, FlowKey, NetworkPolicy, PodInfo } from '../../src/api/types.js'
import { namespaceFromObject, podFromObject, policyFromObject } from '../../src/model/objects.js'
import { stateToList } from '../../src/lab/state-manifests.js'
import { ClusterStore } from '../../src/store/cluster-store.js'
import { sameNamespace, samePod, samePolicy } from '../../src/store/semantic-equal.js'
import { PolicyEngine } from '../../src/engine/index.js'
import type { FakeApiServer, KubeObject, Resource } from './fake-apiserver.js'
import { type Gen, genNamespace, genPod, genPolicy } from './cluster-gen.js'

const RESOURCE_OF: Record<string, Resource> = { Namespace: 'namespaces', Pod: 'pods', NetworkPolicy: 'networkpolicies' }

/** Writes a whole model state to the server (creates/replaces; deletes nothing). */
export function applyState(server: FakeApiServer, state: ClusterState): void {
  for (const item of (stateToList(state).items as KubeObject[])) server.apply(RESOURCE_OF[item.kind!]!, item)
}

export function podObject(p: PodInfo): KubeObject {
  return (stateToList({ namespaces: [], pods: [p], policies: [] }).items as KubeObject[])[0]!
}

export function policyObject(p: NetworkPolicy): KubeObject {
  return (stateToList({ namespaces: [], pods: [], policies: [p] }).items as KubeObject[])[0]!
}

/** The server's objects as the engine's model. */
export function serverState(server: FakeApiServer): ClusterState {
  return {
    namespaces: server.list('namespaces').map(namespaceFromObject),
    pods: server.list('pods').map(podFromObject),
    policies: server.list('networkpolicies').map(policyFromObject),
  }
}

/** One random API write (create, update or delete of a namespace, pod or policy). */
export function randomChange(g: Gen, server: FakeApiServer): string {
  const k = g.int(10)
  const nss = ['x', 'y', 'z', 'w']
  if (k === 0) {
    const ns = genNamespace(g, g.pick(nss))
    server.apply('namespaces', { metadata: { name: ns.name, labels: { ...ns.labels } } })
    return `ns ${ns.name}`
  }
  if (k === 1) {
    const name = g.pick(nss)
    return server.delete('namespaces', undefined, name) ? `-ns ${name}` : 'noop'
  }
  const pods = server.list('pods')
  if (k <= 4) {
    const base = pods.length > 0 && g.chance(0.6) ? g.pick(pods) : undefined
    if (base && g.chance(0.5)) {
      // A label change only (the common update).
      const next = structuredClone(base)
      next.metadata.labels = { app: g.pick(['a', 'b', 'c']), tier: g.pick(['fe', 'be']) }
      server.apply('pods', next)
      return `pod~ ${base.metadata.namespace}/${base.metadata.name}`
    }
    const pod = genPod(g, base?.metadata.namespace ?? g.pick(nss), base?.metadata.name ?? `q${g.int(60)}`)
    server.apply('pods', podObject(pod))
    return `pod ${pod.namespace}/${pod.name}`
  }
  if (k === 5 && pods.length > 0) {
    const p = g.pick(pods)
    server.delete('pods', p.metadata.namespace, p.metadata.name)
    return `-pod ${p.metadata.namespace}/${p.metadata.name}`
  }
  const pols = server.list('networkpolicies')
  if (k === 6 && pols.length > 0) {
    const p = g.pick(pols)
    server.delete('networkpolicies', p.metadata.namespace, p.metadata.name)
    return `-np ${p.metadata.namespace}/${p.metadata.name}`
  }
  const base = pols.length > 0 && g.chance(0.5) ? g.pick(pols) : undefined
  const pol = genPolicy(g, { pods: pods.map(podFromObject) }, base?.metadata.namespace ?? g.pick(nss), base?.metadata.name ?? `nq${g.int(40)}`)
  server.apply('networkpolicies', policyObject(pol))
  return `np ${pol.metadata.namespace}/${pol.metadata.name}`
}

export interface Divergence {
  readonly lost: string[]
  readonly stale: string[]
  readonly extra: string[]
}

/** Objects the store lacks (lost), holds in an older form (stale) or holds after their deletion (extra). */
export function diverges(store: ClusterStore, server: FakeApiServer): Divergence {
  const want = serverState(server)
  const out: Divergence = { lost: [], stale: [], extra: [] }
  const have = store.state()
  const haveNs = new Map(have.namespaces.map((n) => [n.name, n]))
  for (const n of want.namespaces) {
    const h = haveNs.get(n.name)
    if (!h) out.lost.push(`Namespace ${n.name}`)
    else if (!sameNamespace(h, n)) out.stale.push(`Namespace ${n.name}`)
    haveNs.delete(n.name)
  }
  for (const n of haveNs.keys()) out.extra.push(`Namespace ${n}`)
  const havePods = new Set(have.pods.map((p) => `${p.namespace}/${p.name}`))
  for (const p of want.pods) {
    const key = `${p.namespace}/${p.name}`
    const h = store.getPod(p.namespace, p.name) // as written (before IP-conflict resolution)
    if (!h) out.lost.push(`Pod ${key}`)
    else if (!samePod(h, p)) out.stale.push(`Pod ${key}`)
    havePods.delete(key)
  }
  for (const k of havePods) out.extra.push(`Pod ${k}`)
  const havePol = new Map(have.policies.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]))
  for (const p of want.policies) {
    const key = `${p.metadata.namespace}/${p.metadata.name}`
    const h = havePol.get(key)
    if (!h) out.lost.push(`NetworkPolicy ${key}`)
    else if (!samePolicy(h, p)) out.stale.push(`NetworkPolicy ${key}`)
    havePol.delete(key)
  }
  for (const k of havePol.keys()) out.extra.push(`NetworkPolicy ${k}`)
  return out
}

/** A fresh compile of the server's objects (through a fresh store, as the agent would). */
export function freshEngine(server: FakeApiServer): PolicyEngine {
  const store = new ClusterStore()
  store.replaceAll(serverState(server))
  const engine = new PolicyEngine({})
  engine.load(store.state())
  return engine
}

/** Flows whose verdicts differ between two engines (allowed, reasons, deciding policy/rule). */
export function verdictDiffs(a: PolicyEngine, b: PolicyEngine, flows: readonly FlowKey[]): string[] {
  const diffs: string[] = []
  for (const f of flows) {
    const va = a.classify(f)
    const vb = b.classify(f)
    const ka = JSON.stringify({ ...va, generation: 0 })
    const kb = JSON.stringify({ ...vb, generation: 0 })
    if (ka !== kb) diffs.push(`${f.src} -> ${f.dst} ${f.protocol}/${f.port}: ${va.allowed} vs ${vb.allowed}`)
  }
  return diffs
}
