// Every conformance case through the real dataplane: pods as network namespaces, the agent in the
// node namespace, real TCP/UDP/SCTP packets. Cases over the same pods share one lab; each case's
// steps are applied live to the running agent. Loopback probes are left out (pod-to-own-IP traffic
// never leaves the pod), as are probes the lab cannot send (endpoints outside the cluster).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Lab, labPods } from '../src/lab/lab.js'
import { parseClusterFile, type ClusterFile } from '../src/model/cluster-file.js'
import { e2e } from './helpers/e2e.js'

const DIR = new URL('../../shared/conformance/', import.meta.url).pathname
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
const cases = files.map((f) => ({ name: f, file: parseClusterFile(JSON.parse(readFileSync(join(DIR, f), 'utf8')), f) }))

function podSignature(file: ClusterFile): string {
  return [...labPods(file).values()].map((p) => `${p.namespace}/${p.name}=${p.ips.join(',')}:${p.ports.map((x) => `${x.containerPort}/${x.protocol}`).join(',')}`).sort().join(';')
}

const groups = new Map<string, typeof cases>()
for (const c of cases) {
  const sig = podSignature(c.file)
  groups.set(sig, [...(groups.get(sig) ?? []), c])
}

t.test('conformance cases with real packets', e2e(['iptables', 'conntrack']), async (t) => {
  for (const group of groups.values()) {
    const lab = await Lab.start(group[0]!.file)
    t.teardown(() => lab.close())
    for (const c of group) {
      await t.test(c.name, async (t) => {
        for (const [i, step] of c.file.steps.entries()) {
          await lab.applyState(step.state)
          const results = await lab.probe(step.probes, 1000)
          results.forEach((r, j) => {
            if (r.loopback || r.allowed === null || r.expect === undefined) return
            t.equal(r.allowed, r.expect, `step ${i + 1} ${r.from} -> ${r.to} ${r.protocol}/${r.port}${r.note ? ` (${r.note})` : ''}`, { probe: step.probes[j] })
          })
        }
      })
    }
    await lab.close()
  }
})
