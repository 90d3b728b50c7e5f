// Kubernetes API objects (as served by the API server or written in manifests) → the engine's model.
// Each converter throws InputError naming the object and field when the object is malformed; it
// does not judge policy semantics (that is src/validate's job).
import type { ContainerPortInfo, NamespaceInfo, NetworkPolicy, PodInfo, PolicyProtocol } from '../api/types.js'
import { Fields, isObject, describe, type Obj } from './fields.js'
import { InputError } from './errors.js'

const PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP'])
/** The API server labels every namespace with its name (since 1.21); manifests often omit it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name'

/** "Pod x/a", "Namespace x", "NetworkPolicy x/deny" — the display name used in every message. */
export function objectLabel(kind: string, obj: unknown, namespaced = true): string {
  const meta = isObject(obj) && isObject(obj.metadata) ? obj.metadata : {}
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : '<unnamed>'
  if (!namespaced) return `${kind} ${name}`
  const ns = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default'
  return `${kind} ${ns}/${name}`
}

function top(kind: string, obj: unknown, namespaced: boolean): { f: Fields; o: Obj; meta: Obj } {
  const f: Fields = new Fields(objectLabel(kind, obj, namespaced))
  if (!isObject(obj)) throw new InputError(f.object, '', `must be an object, got ${describe(obj)}`)
  if (obj.kind !== undefined && obj.kind !== kind) f.fail('kind', `expected ${kind}, got ${describe(obj.kind)}`)
  const meta = f.object_(obj.metadata, 'metadata')
  if (!meta) f.fail('metadata.name', 'required')
  f.requiredString(meta.name, 'metadata.name')
  return { f, o: obj, meta }
}

export function namespaceFromObject(obj: unknown): NamespaceInfo {
  const { f, meta } = top('Namespace', obj, false)
  const name = meta.name as string
  const labels = f.labels(meta.labels, 'metadata.labels')
  // As the API server does: the name label is always present and always equals the name.
  return { name, labels: { ...labels, [NAMESPACE_NAME_LABEL]: name } }
}

export function podFromObject(obj: unknown): PodInfo {
  const { f, o, meta } = top('Pod', obj, true)
  const spec = f.object_(o.spec, 'spec') ?? {}
  const status = f.object_(o.status, 'status') ?? {}

  const ips: string[] = []
  const podIPs = f.array(status.podIPs, 'status.podIPs')
  podIPs.forEach((entry, i) => {
    const e = f.object_(entry, `status.podIPs[${i}]`)
    const ip = f.ip(e?.ip, `status.podIPs[${i}].ip`)
    if (!ips.includes(ip)) ips.push(ip)
  })
  // Older API servers (and hand-written manifests) only set the singular podIP.
  if (ips.length === 0 && status.podIP !== undefined && status.podIP !== null && status.podIP !== '') {
    ips.push(f.ip(status.podIP, 'status.podIP'))
  }

  const ports: ContainerPortInfo[] = []
  containerPorts(f, spec.containers, 'spec.containers', ports, false)
  // Sidecars (init containers with restartPolicy Always) keep running and serve named ports too.
  containerPorts(f, spec.initContainers, 'spec.initContainers', ports, true)

  const phase = f.string(status.phase, 'status.phase')
  const deleting = meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null
  const pod: {
    -readonly [K in keyof PodInfo]: PodInfo[K]
  } = {
    namespace: namespaceOf(f, meta),
    name: meta.name as string,
    labels: f.labels(meta.labels, 'metadata.labels'),
    ips,
    ports,
  }
  const nodeName = f.string(spec.nodeName, 'spec.nodeName')
  if (nodeName) pod.nodeName = nodeName
  if (f.boolean(spec.hostNetwork, 'spec.hostNetwork')) pod.hostNetwork = true
  if (deleting || phase === 'Succeeded' || phase === 'Failed') pod.terminated = true
  return pod
}

function containerPorts(f: Fields, list: unknown, field: string, out: ContainerPortInfo[], sidecarsOnly: boolean): void {
  f.array(list, field).forEach((c, i) => {
    const cf = `${field}[${i}]`
    const container = f.object_(c, cf)
    if (!container) return
    if (sidecarsOnly && container.restartPolicy !== 'Always') return
    f.array(container.ports, `${cf}.ports`).forEach((p, j) => {
      const pf = `${cf}.ports[${j}]`
      const port = f.object_(p, pf)
      if (!port) return
      const n = port.containerPort
      if (n === undefined || n === null) f.fail(`${pf}.containerPort`, 'required')
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
        f.fail(`${pf}.containerPort`, `must be an integer between 1 and 65535, got ${describe(n)}`)
      }
      const protocol = f.string(port.protocol, `${pf}.protocol`) ?? 'TCP'
      if (!PROTOCOLS.has(protocol)) f.fail(`${pf}.protocol`, `unsupported protocol "${protocol}" (TCP, UDP or SCTP)`)
      const name = f.string(port.name, `${pf}.name`)
      out.push(name ? { name, containerPort: n, protocol: protocol as PolicyProtocol } : { containerPort: n, protocol: protocol as PolicyProtocol })
    })
  })
}

function namespaceOf(f: Fields, meta: Obj): string {
  return f.string(meta.namespace, 'metadata.namespace') || 'default'
}

/**
 * Keeps the NetworkPolicy as served (the validator and engine read the spec), with
 * metadata.namespace defaulted to "default" as kubectl does, and status dropped.
 * Only the shape needed to identify the object is checked here.
 */
export function policyFromObject(obj: unknown): NetworkPolicy {
  const { f, o, meta } = top('NetworkPolicy', obj, true)
  if (o.apiVersion !== undefined && o.apiVersion !== 'networking.k8s.io/v1') {
    f.fail('apiVersion', `expected networking.k8s.io/v1, got ${describe(o.apiVersion)}`)
  }
  const spec = f.object_(o.spec, 'spec')
  if (!spec) f.fail('spec', 'required')
  const policy: NetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { ...meta, name: meta.name as string, namespace: namespaceOf(f, meta) },
    spec: spec as NetworkPolicy['spec'],
  }
  return policy
}
