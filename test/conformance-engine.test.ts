// Every shared conformance case through the engine: each step, each probe (loopback included,
// answered with the plain policy result), one assertion per probe; and every invalidPolicies
// entry must be rejected by validation with an error naming a field.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
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

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
t.ok(files.length >= 51, `found ${files.length} conformance cases in ${DIR}`)

for (const file of files) {
  t.test(file, async (t) => {
    const parsed = parseClusterFile(JSON.parse(readFileSync(join(DIR, file), 'utf8')), file)
    // One engine across the steps: each step is loaded as a whole new state, as upstream does.
    const engine = new PolicyEngine()
    parsed.steps.forEach((step, s) => {
      const res = engine.load(step.state)
      t.same(res.issues.filter((i) => i.severity === 'error'), [], `step ${s}: valid policies validate cleanly`)
      step.probes.forEach((probe, i) => {
        if (probe.expect === undefined) return
        const v = engine.classify({ src: ipOf(step, probe.from), dst: ipOf(step, probe.to), protocol: probe.protocol, port: probe.port })
        const name = `step ${s} probe ${i}: ${probe.from} -> ${probe.to} ${probe.protocol}/${probe.port}${probe.loopback ? ' (loopback)' : ''}`
        t.equal(v.allowed, probe.expect, name, { egress: v.egress, ingress: v.ingress })
      })
      step.invalidPolicies.forEach((inv, i) => {
        const errors = validateNetworkPolicy(inv.policy).filter((x) => x.severity === 'error' && x.field !== '')
        t.ok(errors.length > 0, `step ${s} invalidPolicies[${i}] rejected (${inv.reason})`, { errors })
      })
    })
  })
}
