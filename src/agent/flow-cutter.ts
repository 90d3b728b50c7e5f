// Cuts established connections that a new policy generation denies: conntrack's table is read
// (ctnetlink, through the addon, in the namespace the agent runs in), every flow is re-decided
// against the current engine, and exactly the denied flows' entries are deleted. Allowed flows are
// untouched. This runs when the generation changes, not on a timer sweep (kube-network-policies
// sweeps every 30 s; Calico never cuts).
import type { PolicyEvaluator, PolicyProtocol } from '../api/types.js'
import { deleteFlowsNative, listFlowsNative, type Flow } from '../dataplane/conntrack.js'
import type { ConntrackBinding } from '../native/binding.js'

export interface CutResult {
  readonly examined: number
  readonly deleted: number
  readonly tookMs: number
}

const POLICY_PROTOCOLS = new Set<string>(['TCP', 'UDP', 'SCTP'])

export async function cutDeniedFlows(engine: PolicyEvaluator, binding: ConntrackBinding): Promise<CutResult> {
  const started = performance.now()
  const flows = await listFlowsNative(binding)
  const denied: Flow[] = []
  for (const flow of flows) {
    if (!POLICY_PROTOCOLS.has(flow.protocol)) continue
    const verdict = engine.classify({ src: flow.src, dst: flow.dst, protocol: flow.protocol as PolicyProtocol, port: flow.dport })
    if (!verdict.allowed) denied.push(flow)
  }
  const deleted = denied.length > 0 ? await deleteFlowsNative(binding, denied) : 0
  return { examined: flows.length, deleted, tookMs: performance.now() - started }
}
