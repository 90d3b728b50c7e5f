// Audit mode with real packets (pods as network namespaces, the real agent): a default-deny in
// audit mode lets traffic through and the tap logs each would-be denial with its reason; the same
// policy enforced blocks. Needs root, iptables and conntrack (see test/helpers/e2e.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { ClusterState, NetworkPolicy } from '../src/api/types.js'
import { Lab } from '../src/lab/lab.js'
import { loadCluster } from '../src/model/load-cluster.js'
import { e2e } from './helpers/e2e.js'
import { endpointIs as is, readTap } from './helpers/tap-reader.js'
import { ROOT, runCli } from './helpers/run-cli.js'

const DEMO = join(ROOT, 'examples/demo-cluster.json')

interface Result { from: string; to: string; port: number; protocol: string; allowed: boolean; audit?: boolean; egress: unknown; ingress: unknown }
interface VerdictOut { steps: { results: Result[] }[] }

const tapOf = (lab: Lab) => readTap(lab.controlSocket)

t.test('lab --audit-all: the demo\'s denied probes pass, each logged as audit with netpol verdict\'s reason', e2e(['iptables', 'conntrack']), async (t) => {
  const cluster = await loadCluster(DEMO)
  const enforced = JSON.parse((await runCli(['verdict', '--cluster', DEMO])).stdout) as VerdictOut
  const audited = JSON.parse((await runCli(['verdict', '--cluster', DEMO, '--audit-all'])).stdout) as VerdictOut
  const lab = await Lab.start(cluster, { agentArgs: ['--audit-all'] })
  t.teardown(() => lab.close())
  const tap = await tapOf(lab)
  t.teardown(tap.stop)
  const results = await lab.probe(cluster.steps[0]!.probes, 1000)
  await new Promise((r) => setTimeout(r, 300))
  let wouldDeny = 0
  results.forEach((r, j) => {
    if (r.allowed === null || r.loopback) return
    const what = `${r.from} -> ${r.to}:${r.port}`
    t.equal(r.allowed, true, `${what}: passes (nothing is enforced)`)
    const was = enforced.steps[0]!.results[j]!
    const want = audited.steps[0]!.results[j]!
    if (was.allowed) return
    wouldDeny++
    t.equal(want.audit, true, `${what}: netpol verdict --audit-all marks it`)
    const rec = tap.records.find((x) => is(x.src, r.from) && is(x.dst, r.to) && x.dst.port === r.port && x.protocol === r.protocol)
    if (!rec) {
      t.fail(`${what}: no tap record`, { records: tap.records.length })
      return
    }
    t.same({ verdict: rec.verdict, audit: rec.audit, egress: rec.egress, ingress: rec.ingress }, { verdict: 'allow', audit: true, egress: want.egress, ingress: want.ingress }, `${what}: tap record = netpol verdict --audit-all`)
    // The would-be denial is the enforced denial, marked audit.
    const mark = (s: { allowed: boolean }) => (s.allowed ? s : { ...s, audit: true })
    t.same([rec.egress, rec.ingress], [mark(was.egress as { allowed: boolean }), mark(was.ingress as { allowed: boolean })], `${what}: reason = the enforced denial's`)
  })
  t.ok(wouldDeny >= 2, `${wouldDeny} would-be denials logged`)
})

t.test('lab: netpol.dev/audit on a default-deny lets traffic through and logs it; without it, blocked', e2e(['iptables', 'conntrack']), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-auditlab-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const deny = (audit: boolean): NetworkPolicy => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'default-deny', namespace: 'x', ...(audit ? { annotations: { 'netpol.dev/audit': 'true' } } : {}) },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  })
  const file = join(dir, 'cluster.json')
  writeFileSync(file, JSON.stringify({
    namespaces: [{ name: 'x', labels: {} }],
    pods: [
      { namespace: 'x', name: 'client', labels: { app: 'client' }, ip: '10.20.0.1' },
      { namespace: 'x', name: 'db', labels: { app: 'db' }, ip: '10.20.0.3', ports: [{ containerPort: 5432, protocol: 'TCP' }] },
    ],
    policies: [deny(true)],
    probes: [{ from: 'x/client', to: 'x/db', port: 5432 }],
  }))
  const cluster = await loadCluster(file)
  const lab = await Lab.start(cluster)
  t.teardown(() => lab.close())
  const tap = await tapOf(lab)
  t.teardown(tap.stop)
  const probes = cluster.steps[0]!.probes
  const state = cluster.steps[0]!.state

  const [audited] = await lab.probe(probes, 1000)
  t.equal(audited!.allowed, true, 'audit mode: the connection passes')
  await new Promise((r) => setTimeout(r, 300))
  const rec = tap.records.find((x) => x.src.pod === 'x/client' && x.dst.pod === 'x/db' && x.dst.port === 5432)
  t.match(rec, { verdict: 'allow', audit: true, directions: ['ingress'], ingress: { allowed: false, reason: 'no-rule-matched', isolatedBy: ['x/default-deny'], audit: true } }, 'logged as a would-be denial with its reason')

  const enforced: ClusterState = { ...state, policies: [deny(false)] }
  const { generation } = await lab.applyState(enforced)
  tap.records.length = 0
  const [blocked] = await lab.probe(probes, 1000)
  t.equal(blocked!.allowed, false, 'the same policy without the annotation blocks')
  await new Promise((r) => setTimeout(r, 300))
  const denied = tap.records.find((x) => x.generation === generation && x.src.pod === 'x/client' && x.dst.pod === 'x/db')
  t.match(denied, { verdict: 'deny', ingress: { allowed: false, reason: 'no-rule-matched', isolatedBy: ['x/default-deny'] } }, 'logged as a denial')
  t.equal(denied?.audit, undefined, 'not marked audit')
  t.equal(denied?.ingress.audit, undefined)

  // And back: turning audit on again passes new connections (flow cutting never reads audit policies).
  await lab.applyState(state)
  const [again] = await lab.probe(probes, 1000)
  t.equal(again!.allowed, true, 'audit again: passes')
})
