// Shared by `verdict` and `explain`: engine options from flags, stepping an engine through a
// cluster file's states the way the agent does (a full load, then store-computed deltas), and
// turning a probe's "ns/name" endpoints into the IPs of a flow.
import { isIP } from 'node:net'
import type { ClusterState, FlowKey, PodInfo, PolicyProtocol, ValidationIssue } from '../api/types.js'
import { AuditingEvaluator } from '../agent/audit-evaluator.js'
import type { PolicyEngine } from '../engine/index.js'
import type { ClusterFile, ClusterStep, Probe } from '../model/cluster-file.js'
import { InputError } from '../model/errors.js'
import type { LoadedCluster } from '../model/load-cluster.js'
import { ClusterStore } from '../store/cluster-store.js'
import { boolFlag, stringFlag, UsageError, type FlagSpec, type ParsedArgs } from './command.js'

export const ENGINE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  'no-ipblock-pod-ips': { type: 'boolean', help: 'ipBlock never matches pod IPs (GKE Dataplane V2 style); default: it does, as upstream' },
  'deny-node-traffic': { type: 'boolean', help: 'do not exempt traffic between a pod and its own node (kubelet probes)' },
  node: { type: 'string', value: 'NAME', help: 'enforce as the agent on this node would (other nodes\' pods: "not-local")' },
  'node-ip': { type: 'string', value: 'IP', multiple: true, help: 'an IP of that node (repeatable): pod <-> node traffic is "node-local"' },
  'audit-all': { type: 'boolean', help: 'every policy in audit mode, as the agent\'s --audit-all: would-be denials are reported ("audit": true) but allowed; per policy: annotation netpol.dev/audit: "true"' },
}

export type EngineOptions = ConstructorParameters<typeof PolicyEngine>[0]
/** Engine options, and audit mode for every policy (the agent's --audit-all). */
export type RunOptions = NonNullable<EngineOptions> & { auditAll?: boolean }

export function engineOptions(args: ParsedArgs): RunOptions {
  const node = stringFlag(args, 'node')
  const nodeIPs = (args.flags['node-ip'] as string[] | undefined) ?? []
  for (const ip of nodeIPs) if (!isIP(ip)) throw new UsageError(`option --node-ip: "${ip}" is not an IP address`)
  return {
    ...(node !== undefined ? { localNode: node } : {}),
    ...(nodeIPs.length > 0 ? { nodeIPs } : {}),
    allowNodeTraffic: !boolFlag(args, 'deny-node-traffic'),
    ipBlockMatchesPodIPs: !boolFlag(args, 'no-ipblock-pod-ips'),
    ...(boolFlag(args, 'audit-all') ? { auditAll: true } : {}),
  }
}

/**
 * Calls `each` with an engine holding each step's state in turn. Steps after the first reach the
 * engine as deltas from the ClusterStore, exercising the incremental path the agent uses. The
 * engine is the agent's AuditingEvaluator, so audit mode (annotation or auditAll) decides alike.
 * Returns the problems the engine reported along the way (each once).
 */
export async function forEachStep(
  cluster: ClusterFile,
  options: RunOptions | undefined,
  each: (step: ClusterStep, engine: AuditingEvaluator, index: number) => void | Promise<void>,
): Promise<ValidationIssue[]> {
  const { auditAll, ...engineOptions } = options ?? {}
  const store = new ClusterStore()
  const engine = new AuditingEvaluator(engineOptions, { auditAll, snapshot: () => store.state() })
  const issues = new Map<string, ValidationIssue>()
  for (let i = 0; i < cluster.steps.length; i++) {
    const step = cluster.steps[i]!
    const deltas = store.replaceAll(step.state)
    const result = i === 0 ? engine.load(store.state()) : engine.apply(deltas)
    for (const issue of result.issues) issues.set(formatIssue(issue), issue)
    await each(step, engine, i)
  }
  return [...issues.values()]
}

export function formatIssue(i: ValidationIssue): string {
  return `${i.severity}: ${i.object}${i.field ? `: ${i.field}` : ''}: ${i.message}`
}

/**
 * To stderr, so stdout stays one JSON document / the explanation: policies the engine flagged,
 * and policies of manifests left out as invalid (a cluster file's invalidPolicies are expected).
 */
export function reportProblems(path: string, cluster: LoadedCluster, engineIssues: readonly ValidationIssue[], err: (s: string) => void): void {
  for (const i of engineIssues) err(`${formatIssue(i.object.startsWith('file ') ? i : { ...i, object: `file ${path}: ${i.object}` })}\n`)
  if (cluster.format !== 'manifests') return
  for (const step of cluster.steps) {
    for (const r of step.invalidPolicies) err(`note: left out, the API server would reject it: ${r.reason}\n`)
  }
}

/** `--probe-from/--probe-to/--port/--protocol`, when given, as one probe. */
export function probeFromFlags(args: ParsedArgs, prefix: string, port: number | undefined): Probe | undefined {
  const from = stringFlag(args, `${prefix}from`)
  const to = stringFlag(args, `${prefix}to`)
  if (from === undefined && to === undefined) return undefined
  if (from === undefined) throw new UsageError(`--${prefix}to needs --${prefix}from`)
  if (to === undefined) throw new UsageError(`--${prefix}from needs --${prefix}to`)
  if (port === undefined) throw new UsageError('missing required option --port')
  return { from, to, port, protocol: protocolFlag(args) }
}

export function protocolFlag(args: ParsedArgs): PolicyProtocol {
  const p = (stringFlag(args, 'protocol') ?? 'TCP').toUpperCase()
  if (p !== 'TCP' && p !== 'UDP' && p !== 'SCTP') throw new UsageError(`option --protocol: "${p}" is not TCP, UDP or SCTP`)
  return p
}

/**
 * The flow a probe stands for: addressed to the destination's (first) IP, from the source's IP
 * of the same family. Endpoints are "ns/name" pods or bare IPs (outside the cluster).
 */
export function flowOf(state: ClusterState, probe: Probe, object: string): FlowKey {
  const dst = endpointIPs(state, probe.to, object, 'to')[0]!
  const family = isIP(dst)
  const srcIPs = endpointIPs(state, probe.from, object, 'from')
  const src = srcIPs.find((ip) => isIP(ip) === family)
  if (src === undefined) throw new InputError(object, 'from', `${probe.from} has no IPv${family} address to reach ${probe.to} (${dst})`)
  return { src, dst, protocol: probe.protocol, port: probe.port }
}

function endpointIPs(state: ClusterState, endpoint: string, object: string, field: string): readonly string[] {
  if (isIP(endpoint)) return [endpoint]
  const slash = endpoint.indexOf('/')
  if (slash <= 0 || slash === endpoint.length - 1) {
    throw new InputError(object, field, `"${endpoint}" is neither "namespace/pod" nor an IP address`)
  }
  const ns = endpoint.slice(0, slash)
  const name = endpoint.slice(slash + 1)
  const pod: PodInfo | undefined = state.pods.find((p) => p.namespace === ns && p.name === name)
  if (!pod) throw new InputError(object, field, `no pod ${endpoint} in the cluster`)
  if (pod.ips.length === 0) throw new InputError(object, field, `pod ${endpoint} has no IP address`)
  return pod.ips
}
