// The conformance cluster-file format (../shared/conformance/README.md), also the input of
// `netpol verdict --cluster FILE`: one state, or `steps` whose namespaces/pods are inherited from
// the previous step when absent. Policies are passed on unvalidated: the engine validates them.
import type { ClusterState, ContainerPortInfo, NamespaceInfo, NetworkPolicy, PodInfo, PolicyProtocol } from '../api/types.js'
import { parseIP, formatIP } from '../engine/ip.js'
import { InputError } from './errors.js'

export interface Probe {
  from: string
  to: string
  port: number
  protocol: PolicyProtocol
  expect?: boolean
  loopback?: boolean
}
export interface ClusterStep {
  description?: string
  state: ClusterState
  invalidPolicies: { reason: string; policy: unknown }[]
  probes: Probe[]
}
export interface ClusterFile {
  name?: string
  steps: ClusterStep[]
}

type Obj = Record<string, unknown>
const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP']

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

class Reader {
  constructor(readonly source: string) {}
  fail(field: string, message: string): never {
    throw new InputError(this.source, field, message)
  }
  obj(v: unknown, field: string): Obj {
    if (!isObject(v)) this.fail(field, `must be an object, got ${show(v)}`)
    return v
  }
  list(v: unknown, field: string): unknown[] {
    if (v === undefined || v === null) return []
    if (!Array.isArray(v)) this.fail(field, `must be a list, got ${show(v)}`)
    return v
  }
  str(v: unknown, field: string): string {
    if (typeof v !== 'string' || v === '') this.fail(field, v === undefined ? 'required' : `must be a non-empty string, got ${show(v)}`)
    return v
  }
  optStr(v: unknown, field: string): string | undefined {
    return v === undefined || v === null ? undefined : this.str(v, field)
  }
  bool(v: unknown, field: string): boolean | undefined {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${show(v)}`)
    return v
  }
  labels(v: unknown, field: string): Record<string, string> {
    if (v === undefined || v === null) return {}
    const o = this.obj(v, field)
    for (const [k, val] of Object.entries(o)) if (typeof val !== 'string') this.fail(`${field}.${k}`, `must be a string, got ${show(val)}`)
    return o as Record<string, string>
  }
  ip(v: unknown, field: string): string {
    const s = this.str(v, field)
    const p = parseIP(s)
    if (!p) this.fail(field, `"${s}" is not an IP address`)
    return formatIP(p)
  }
  port(v: unknown, field: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) this.fail(field, `${show(v)} is not a port number (1-65535)`)
    return v
  }
  protocol(v: unknown, field: string): PolicyProtocol {
    if (v === undefined || v === null) return 'TCP'
    if (typeof v !== 'string' || !PROTOCOLS.includes(v)) this.fail(field, `${show(v)} is not one of TCP, UDP, SCTP`)
    return v as PolicyProtocol
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return `"${v}"`
  if (Array.isArray(v)) return 'a list'
  if (v === null) return 'null'
  return typeof v === 'object' ? 'an object' : String(v)
}

export function parseClusterFile(json: unknown, source: string): ClusterFile {
  const r = new Reader(source)
  const top = r.obj(json, '')
  const name = typeof top.name === 'string' ? top.name : undefined
  let namespaces = top.namespaces === undefined ? [] : parseNamespaces(r, top.namespaces, 'namespaces')
  let pods = top.pods === undefined ? [] : parsePods(r, top.pods, 'pods')
  if (top.steps === undefined) {
    return { name, steps: [parseStep(r, top, '', namespaces, pods)] }
  }
  if (top.policies !== undefined || top.probes !== undefined) r.fail('steps', 'a file has either `steps` or top-level `policies`/`probes`, not both')
  const steps = r.list(top.steps, 'steps')
  if (steps.length === 0) r.fail('steps', 'must have at least one step')
  return {
    name,
    steps: steps.map((s, i) => {
      const p = `steps[${i}]`
      const so = r.obj(s, p)
      if (so.namespaces !== undefined) namespaces = parseNamespaces(r, so.namespaces, `${p}.namespaces`)
      if (so.pods !== undefined) pods = parsePods(r, so.pods, `${p}.pods`)
      return parseStep(r, so, `${p}.`, namespaces, pods)
    }),
  }
}

function parseStep(r: Reader, o: Obj, prefix: string, namespaces: NamespaceInfo[], pods: PodInfo[]): ClusterStep {
  const policies = r.list(o.policies, `${prefix}policies`).map((p, i) => r.obj(p, `${prefix}policies[${i}]`) as unknown as NetworkPolicy)
  const invalidPolicies = r.list(o.invalidPolicies, `${prefix}invalidPolicies`).map((e, i) => {
    const f = `${prefix}invalidPolicies[${i}]`
    const eo = r.obj(e, f)
    return { reason: typeof eo.reason === 'string' ? eo.reason : '', policy: eo.policy }
  })
  const podNames = new Set(pods.map((p) => `${p.namespace}/${p.name}`))
  const probes = r.list(o.probes, `${prefix}probes`).map((e, i) => parseProbe(r, e, `${prefix}probes[${i}]`, podNames))
  const description = typeof o.description === 'string' ? o.description : undefined
  return { description, state: { namespaces, pods, policies }, invalidPolicies, probes }
}

function parseNamespaces(r: Reader, v: unknown, field: string): NamespaceInfo[] {
  const seen = new Set<string>()
  return r.list(v, field).map((e, i) => {
    const f = `${field}[${i}]`
    const o = r.obj(e, f)
    const name = r.str(o.name, `${f}.name`)
    if (seen.has(name)) r.fail(`${f}.name`, `duplicate namespace "${name}"`)
    seen.add(name)
    return { name, labels: r.labels(o.labels, `${f}.labels`) }
  })
}

function parsePods(r: Reader, v: unknown, field: string): PodInfo[] {
  const seen = new Set<string>()
  return r.list(v, field).map((e, i) => {
    const f = `${field}[${i}]`
    const o = r.obj(e, f)
    const namespace = r.str(o.namespace, `${f}.namespace`)
    const name = r.str(o.name, `${f}.name`)
    const key = `${namespace}/${name}`
    if (seen.has(key)) r.fail(`${f}.name`, `duplicate pod "${key}"`)
    seen.add(key)
    const ips: string[] = []
    if (o.ip !== undefined && o.ip !== null) ips.push(r.ip(o.ip, `${f}.ip`))
    r.list(o.ips, `${f}.ips`).forEach((ip, j) => {
      const s = r.ip(ip, `${f}.ips[${j}]`)
      if (!ips.includes(s)) ips.push(s)
    })
    const ports: ContainerPortInfo[] = r.list(o.ports, `${f}.ports`).map((p, j) => {
      const pf = `${f}.ports[${j}]`
      const po = r.obj(p, pf)
      const portName = r.optStr(po.name, `${pf}.name`)
      const containerPort = r.port(po.containerPort, `${pf}.containerPort`)
      const protocol = r.protocol(po.protocol, `${pf}.protocol`)
      return portName === undefined ? { containerPort, protocol } : { name: portName, containerPort, protocol }
    })
    const pod: PodInfo = {
      namespace,
      name,
      labels: r.labels(o.labels, `${f}.labels`),
      ips,
      ports,
      nodeName: r.optStr(o.nodeName, `${f}.nodeName`),
      hostNetwork: r.bool(o.hostNetwork, `${f}.hostNetwork`),
      terminated: r.bool(o.terminated, `${f}.terminated`),
    }
    return pod
  })
}

function parseProbe(r: Reader, e: unknown, f: string, pods: Set<string>): Probe {
  const o = r.obj(e, f)
  const endpoint = (v: unknown, field: string): string => {
    const s = r.str(v, field)
    if (s.includes('/')) {
      if (!pods.has(s)) r.fail(field, `no pod "${s}" in this step`)
      return s
    }
    return r.ip(s, field)
  }
  const probe: Probe = {
    from: endpoint(o.from, `${f}.from`),
    to: endpoint(o.to, `${f}.to`),
    port: r.port(o.port, `${f}.port`),
    protocol: r.protocol(o.protocol, `${f}.protocol`),
  }
  const expect = r.bool(o.expect, `${f}.expect`)
  if (expect !== undefined) probe.expect = expect
  const loopback = r.bool(o.loopback, `${f}.loopback`)
  if (loopback !== undefined) probe.loopback = loopback
  return probe
}
