// Every shared conformance case through the engine: each step, each probe (loopback included,
// answered with the plain policy result), one assertion per probe; and every invalidPolicies
// entry must be rejected by validation with an error naming a field.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { ClusterDelta, ClusterState } from '../src/api/types.js'
import { parseClusterFile, type ClusterStep } from '../src/model/cluster-file.js'
import { PolicyEngine } from '../src/engine/index.js'
import { validateNetworkPolicy } from '../src/validate/network-policy.js'

const DIR = process.env.NETPOL_CONFORMANCE_DIR ?? join(import.meta.dirname, '../../shared/conformance')

function ipOf(step: ClusterStep, endpoint: string): string {
  if (!endpoint.includes('/')) return endpoint
  const pod = step.state.pods.find((p) => `${p.namespace}/${p.name}` === endpoint)
  if (!pod || pod.ips.length === 0) throw new Error(`probe endpoint ${endpoint} has no IP`)
  return pod.ips[0]!
}

/** Deltas turning `from` into `to`: deletes for what is gone, upserts for everything else. */
function deltas(from: ClusterState, to: ClusterState): ClusterDelta[] {
  const out: ClusterDelta[] = []
  const key = (ns: string | undefined, name: string) => `${ns ?? 'default'}/${name}`
  const keep = new Set(to.policies.map((p) => key(p.metadata.namespace, p.metadata.name)))
  for (const p of from.policies) if (!keep.has(key(p.metadata.namespace, p.metadata.name))) out.push({ kind: 'NetworkPolicy', op: 'delete', namespace: p.metadata.namespace ?? 'default', name: p.metadata.name })
  const pods = new Set(to.pods.map((p) => key(p.namespace, p.name)))
  for (const p of from.pods) if (!pods.has(key(p.namespace, p.name))) out.push({ kind: 'Pod', op: 'delete', namespace: p.namespace, name: p.name })
  for (const n of to.namespaces) out.push({ kind: 'Namespace', op: 'upsert', object: n })
  for (const p of to.pods) out.push({ kind: 'Pod', op: 'upsert', object: p })
  for (const p of to.policies) out.push({ kind: 'NetworkPolicy', op: 'upsert', object: p })
  return out
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
t.ok(files.length >= 51, `found ${files.length} conformance cases in ${DIR}`)

for (const file of files) {
  t.test(file, async (t) => {
    const parsed = parseClusterFile(JSON.parse(readFileSync(join(DIR, file), 'utf8')), file)
    // One engine across the steps: each step is loaded as a whole new state, as upstream does.
    const engine = new PolicyEngine()
    // A second engine reaches each later step through apply() (the agent's incremental path).
    const incremental = new PolicyEngine()
    parsed.steps.forEach((step, s) => {
      const res = engine.load(step.state)
      t.same(res.issues.filter((i) => i.severity === 'error'), [], `step ${s}: valid policies validate cleanly`)
      if (s === 0) incremental.load(step.state)
      else incremental.apply(deltas(parsed.steps[s - 1]!.state, step.state))
      let incrementalDiffers = 0
      step.probes.forEach((probe, i) => {
        if (probe.expect === undefined) return
        const flow = { src: ipOf(step, probe.from), dst: ipOf(step, probe.to), protocol: probe.protocol, port: probe.port }
        const v = engine.classify(flow)
        const name = `step ${s} probe ${i}: ${probe.from} -> ${probe.to} ${probe.protocol}/${probe.port}${probe.loopback ? ' (loopback)' : ''}`
        t.equal(v.allowed, probe.expect, name, { egress: v.egress, ingress: v.ingress })
        if (JSON.stringify(incremental.classify(flow)) !== JSON.stringify(v)) incrementalDiffers++
      })
      if (s > 0) t.equal(incrementalDiffers, 0, `step ${s}: apply() from step ${s - 1} gives the same verdicts as load()`)
      step.invalidPolicies.forEach((inv, i) => {
        const errors = validateNetworkPolicy(inv.policy).filter((x) => x.severity === 'error' && x.field !== '')
        t.ok(errors.length > 0, `step ${s} invalidPolicies[${i}] rejected (${inv.reason})`, { errors })
      })
    })
  })
}
