// `netpol verdict`: every probe of every step of a cluster, as one JSON document on stdout.
import { loadCluster } from '../model/load-cluster.js'
import { ENGINE_FLAGS, engineOptions, flowOf, forEachStep, reportProblems, probeFromFlags } from './cluster-run.js'
import { intFlag, requiredFlag, type Command } from './command.js'

export const verdictCommand: Command = {
  name: 'verdict',
  summary: 'Decide every probe of a cluster file (or one ad-hoc probe) and print the verdicts as JSON.',
  usage: '--cluster FILE [--probe-from NS/POD|IP --probe-to NS/POD|IP --port N [--protocol TCP|UDP|SCTP]] [options]',
  flags: {
    cluster: { type: 'string', value: 'FILE', help: 'a cluster file (JSON/YAML, single state or steps) or Kubernetes manifests (file or directory)' },
    'probe-from': { type: 'string', value: 'NS/POD|IP', help: 'decide this one probe in every step instead of the file\'s probes' },
    'probe-to': { type: 'string', value: 'NS/POD|IP', help: 'destination of the ad-hoc probe' },
    port: { type: 'string', value: 'N', help: 'destination port of the ad-hoc probe' },
    protocol: { type: 'string', value: 'PROTO', help: 'TCP (default), UDP or SCTP' },
    ...ENGINE_FLAGS,
  },
  details: `Output: one JSON document,
  {"steps":[{"results":[{"from":"x/a","to":"y/b","port":80,"protocol":"TCP","allowed":true,
                         "egress":{"allowed":true,"reason":"not-isolated"},"ingress":{...}}]}]}
one entry in "steps" per state of the file (one for a single-state file or manifests), results in
probe order. A connection that policies in audit mode (annotation netpol.dev/audit: "true", or
--audit-all) would deny is allowed, with "audit": true and the would-be denial as its reasons
(the denying side says "audit": true). "expect" in the file is not consulted. A probe addresses the destination pod's first
IP, from the source pod's IP of the same family. Manifests have no probes: use --probe-from/--probe-to.
Policies the API server would reject (invalidPolicies, or invalid ones in manifests) are left out.

exit status: 0 when every probe was decided (with --probe-from: 0 allowed, 1 denied);
2 on bad input or usage.

example:
  netpol verdict --cluster examples/demo-cluster.json
  netpol verdict --cluster examples/demo-manifests --probe-from frontend/web --probe-to backend/api --port 8080`,
  async run(args, io) {
    const path = requiredFlag(args, 'cluster')
    const cluster = await loadCluster(path)
    const adHoc = probeFromFlags(args, 'probe-', intFlag(args, 'port', 1, 65535))
    let denied = false
    const steps: { results: unknown[] }[] = []
    const problems = await forEachStep(cluster, engineOptions(args), (step, engine, i) => {
      const probes = adHoc ? [adHoc] : step.probes
      const results = probes.map((probe, j) => {
        const flow = flowOf(step.state, probe, adHoc ? 'probe' : `file ${path}: step ${i + 1} probes[${j}]`)
        const v = engine.classify(flow)
        if (!v.allowed) denied = true
        // Audit mode: allowed, and the sides say what the audit-mode policies would deny.
        const audit = v.egress.audit === true || v.ingress.audit === true
        return { from: probe.from, to: probe.to, port: probe.port, protocol: probe.protocol, allowed: v.allowed, ...(audit ? { audit: true } : {}), egress: v.egress, ingress: v.ingress }
      })
      steps.push({ results })
    })
    reportProblems(path, cluster, problems, io.err)
    io.out(JSON.stringify({ steps }, null, 2) + '\n')
    return adHoc && denied ? 1 : 0
  },
}
