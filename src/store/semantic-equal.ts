// "Did this object change in a way the engine cares about?" API objects churn on every write
// (resourceVersion, managedFields, status timestamps) without changing any verdict; those updates
// must not cost a recompile.
import type { NamespaceInfo, NetworkPolicy, PodInfo } from '../api/types.js'

/** Metadata fields the API server rewrites on every write; never part of a policy's meaning. */
const VOLATILE_METADATA = new Set(['resourceVersion', 'managedFields', 'generation', 'uid', 'creationTimestamp', 'selfLink'])
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

/** Deep equality for JSON-like data; key order does not matter, array order does. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    if (a.length !== bb.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], bb[i])) return false
    return true
  }
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  // Absent and undefined are the same thing in JSON.
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined)
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined)
  if (ak.length !== bk.length) return false
  for (const k of ak) if (!jsonEqual(ao[k], bo[k])) return false
  return true
}

/** The parts of a policy that can change a verdict or a message: identity, labels, annotations, spec. */
export function policyEssence(p: NetworkPolicy): unknown {
  const meta: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(p.metadata)) if (!VOLATILE_METADATA.has(k)) meta[k] = v
  if (meta.namespace === undefined) meta.namespace = 'default'
  const ann = p.metadata.annotations
  if (ann && LAST_APPLIED in ann) {
    const rest = { ...ann }
    delete rest[LAST_APPLIED]
    meta.annotations = Object.keys(rest).length > 0 ? rest : undefined
  }
  return { metadata: meta, spec: p.spec }
}

export function samePolicy(a: NetworkPolicy, b: NetworkPolicy): boolean {
  return jsonEqual(policyEssence(a), policyEssence(b))
}

/** Pods: container port order is irrelevant to a verdict, so compare ports as a set. */
export function samePod(a: PodInfo, b: PodInfo): boolean {
  if (a.ports.length !== b.ports.length) return false
  const key = (p: PodInfo['ports'][number]): string => `${p.name ?? ''}/${p.containerPort}/${p.protocol}`
  const ap = a.ports.map(key).sort()
  const bp = b.ports.map(key).sort()
  for (let i = 0; i < ap.length; i++) if (ap[i] !== bp[i]) return false
  return jsonEqual(podRest(a), podRest(b))
}

function podRest(p: PodInfo): unknown {
  // false and absent flags mean the same.
  return { ...p, ports: undefined, hostNetwork: p.hostNetwork || undefined, terminated: p.terminated || undefined }
}

export function sameNamespace(a: NamespaceInfo, b: NamespaceInfo): boolean {
  return jsonEqual(a, b)
}
