// What the informers keep of each object. The agent watches every pod of the cluster, and
// client-node's ListWatch caches whole objects: full pod specs (env, volumes, managedFields) would
// cost gigabytes on a large cluster. Pods are cut down to the fields the model reads (see
// src/model/objects.ts podFromObject) as they arrive, before anything caches them; managedFields
// (the largest metadata, never read) go from every kind.
type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function pick(o: unknown, keys: readonly string[]): Obj | undefined {
  if (!isObj(o)) return o as undefined
  const out: Obj = {}
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]
  return out
}

function containers(list: unknown, withRestartPolicy: boolean): unknown {
  if (!Array.isArray(list)) return list
  return list.map((c) => pick(c, withRestartPolicy ? ['name', 'ports', 'restartPolicy'] : ['name', 'ports']))
}

function metadata(meta: unknown): unknown {
  if (!isObj(meta) || meta.managedFields === undefined) return meta
  const { managedFields: _drop, ...rest } = meta
  return rest
}

/** A pod with only what the model reads; other kinds without managedFields. Malformed input passes through (the model reports it). */
export function trimObject(resource: string, obj: unknown): unknown {
  if (!isObj(obj)) return obj
  if (resource !== 'pods') return obj.metadata !== undefined && isObj(obj.metadata) && obj.metadata.managedFields !== undefined ? { ...obj, metadata: metadata(obj.metadata) } : obj
  const out: Obj = { ...pick(obj, ['apiVersion', 'kind']), metadata: pick(obj.metadata, ['name', 'namespace', 'labels', 'resourceVersion', 'uid', 'deletionTimestamp']) }
  if (isObj(obj.spec)) {
    const spec = pick(obj.spec, ['nodeName', 'hostNetwork'])!
    if (obj.spec.containers !== undefined) spec.containers = containers(obj.spec.containers, false)
    if (obj.spec.initContainers !== undefined) spec.initContainers = containers(obj.spec.initContainers, true)
    out.spec = spec
  } else if (obj.spec !== undefined) out.spec = obj.spec
  if (obj.status !== undefined) out.status = isObj(obj.status) ? pick(obj.status, ['phase', 'podIP', 'podIPs']) : obj.status
  return out
}
