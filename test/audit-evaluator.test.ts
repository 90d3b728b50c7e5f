// Audit mode: the AuditingEvaluator against plain engines (one with only the enforced policies,
// one with every policy), table-driven; annotation toggles through deltas; the classifier and its
// verdict cache across audit/non-audit generations.
import t from 'tap'
import { newVerdictSlot, type ClusterState, type NetworkPolicy, type VerdictSlot } from '../src/api/types.js'
import { AuditingEvaluator } from '../src/agent/audit-evaluator.js'
import { PacketClassifier, type VerdictSink } from '../src/dataplane/packet-classifier.js'
import { NF_ACCEPT, NF_DROP } from '../src/dataplane/queue-types.js'
import { PolicyEngine, ipv4ToNumber } from '../src/engine/index.js'
import { ClusterStore } from '../src/store/cluster-store.js'
import { validateAnnotations } from '../src/validate/annotations.js'
import { batchOf, RecordingVerdicts } from './helpers/fake-batch.js'
import { ip6Bytes, ipv4, tcp } from './helpers/packets.js'

const audit = (p: NetworkPolicy, value = 'true'): NetworkPolicy => ({ ...p, metadata: { ...p.metadata, annotations: { 'netpol.dev/audit': value } } })

// web accepts TCP 80 from client (enforced); db: default-deny ingress; web egress only to db:5432.
const allowWeb: NetworkPolicy = {
  metadata: { name: 'web-from-client', namespace: 'x' },
  spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 80 }] }] },
}
const denyDb: NetworkPolicy = { metadata: { name: 'db-deny', namespace: 'x' }, spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] } }
const denyAll: NetworkPolicy = { metadata: { name: 'default-deny', namespace: 'x' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } }

const base = (policies: NetworkPolicy[]): ClusterState => ({
  namespaces: [{ name: 'x', labels: {} }],
  pods: [
    { namespace: 'x', name: 'client', labels: { app: 'client' }, ips: ['10.0.0.1', 'fd00::1'], ports: [] },
    { namespace: 'x', name: 'web', labels: { app: 'web' }, ips: ['10.0.0.2', 'fd00::2'], ports: [] },
    { namespace: 'x', name: 'db', labels: { app: 'db' }, ips: ['10.0.0.3', 'fd00::3'], ports: [] },
  ],
  policies,
})

const IP: Record<string, [string, string]> = { client: ['10.0.0.1', 'fd00::1'], web: ['10.0.0.2', 'fd00::2'], db: ['10.0.0.3', 'fd00::3'] }

/** The evaluator, stepped through the store as the agent does (drained deltas). */
function evaluatorFor(policies: NetworkPolicy[], auditAll = false): { ev: AuditingEvaluator; store: ClusterStore } {
  const store = new ClusterStore()
  const ev = new AuditingEvaluator({}, { auditAll, snapshot: () => store.state() })
  store.replaceAll(base(policies))
  ev.apply(store.drain())
  return { ev, store }
}

function plain(policies: NetworkPolicy[]): PolicyEngine {
  const e = new PolicyEngine()
  e.load(base(policies))
  return e
}

const v4 = (ev: { classifyV4: PolicyEngine['classifyV4'] }, from: string, to: string, port: number, out: VerdictSlot) =>
  ev.classifyV4(ipv4ToNumber(IP[from]![0]), ipv4ToNumber(IP[to]![0]), 6, port, out)

const rows: { name: string; policies: NetworkPolicy[]; auditAll?: boolean; from: string; to: string; port: number; allowed: boolean; audit: boolean; auditPolicies: number }[] = [
  { name: 'audit default-deny lets traffic through and marks it', policies: [audit(denyAll)], from: 'client', to: 'web', port: 80, allowed: true, audit: true, auditPolicies: 1 },
  { name: '--audit-all: the same without an annotation', policies: [denyAll], auditAll: true, from: 'client', to: 'db', port: 5432, allowed: true, audit: true, auditPolicies: 1 },
  { name: 'enforcing allow + audit deny (web allows client:80, audit default-deny adds nothing)', policies: [allowWeb, audit(denyAll)], from: 'client', to: 'web', port: 80, allowed: true, audit: false, auditPolicies: 1 },
  { name: 'enforcing allow + audit deny on another pod (db isolated only by audit)', policies: [allowWeb, audit(denyAll)], from: 'client', to: 'db', port: 5432, allowed: true, audit: true, auditPolicies: 1 },
  { name: 'enforcing deny stays deny and is not marked audit', policies: [allowWeb, audit(denyDb)], from: 'db', to: 'web', port: 80, allowed: false, audit: false, auditPolicies: 1 },
  { name: 'enforcing deny under --audit-all is impossible: nothing enforces', policies: [allowWeb], auditAll: true, from: 'db', to: 'web', port: 80, allowed: true, audit: true, auditPolicies: 1 },
  { name: 'annotation "false" enforces', policies: [audit(denyDb, 'false')], from: 'client', to: 'db', port: 5432, allowed: false, audit: false, auditPolicies: 0 },
  { name: 'an invalid annotation value enforces', policies: [audit(denyDb, 'yes')], from: 'client', to: 'db', port: 5432, allowed: false, audit: false, auditPolicies: 0 },
]

t.test('AuditingEvaluator vs plain engines', async (t) => {
  for (const r of rows) {
    const { ev } = evaluatorFor(r.policies, r.auditAll)
    const isAudit = (p: NetworkPolicy) => r.auditAll === true || p.metadata.annotations?.['netpol.dev/audit'] === 'true'
    const enforcingOnly = plain(r.policies.filter((p) => !isAudit(p)))
    const everything = plain(r.policies)
    const slot = newVerdictSlot()
    const want = newVerdictSlot()
    t.equal(ev.auditCount, r.auditPolicies, `${r.name}: audit policies`)
    t.equal(ev.active === ev.enforcing, r.auditPolicies === 0, `${r.name}: the plain engine is active iff no audit policy`)
    t.equal(v4(ev, r.from, r.to, r.port, slot), r.allowed, `${r.name}: allowed`)
    t.equal(slot.audit, r.audit, `${r.name}: audit flag`)
    t.equal(slot.generation, ev.generation, `${r.name}: slot stamped with the combined generation`)
    // Enforcement = the engine without audit policies; the reasons of an audit slot = the engine with all.
    t.equal(v4(enforcingOnly, r.from, r.to, r.port, want), r.allowed, `${r.name}: = the enforcing-only engine`)
    const described = ev.describe(slot)
    if (r.audit) {
      t.equal(v4(everything, r.from, r.to, r.port, want), false, `${r.name}: the all-policies engine denies`)
      const full = everything.describe(want)
      t.same(described, {
        allowed: true,
        egress: full.egress.allowed ? full.egress : { ...full.egress, audit: true },
        ingress: full.ingress.allowed ? full.ingress : { ...full.ingress, audit: true },
        generation: ev.generation,
      }, `${r.name}: describe = the would-be denial, denying side(s) marked audit`)
      const denying = [described.egress, described.ingress].filter((s) => !s.allowed)
      t.ok(denying.length > 0 && denying.every((s) => s.reason === 'no-rule-matched' && s.isolatedBy!.length > 0), `${r.name}: names the isolating policies, no rule matched`)
    } else {
      t.notOk(described.egress.audit || described.ingress.audit, `${r.name}: no side marked audit`)
    }
    // IPv6 agrees, and so does classify() off the packet path.
    const buf = Buffer.concat([ip6Bytes(IP[r.from]![1]), ip6Bytes(IP[r.to]![1])])
    const s6 = newVerdictSlot()
    t.equal(ev.classifyV6(buf, 0, 16, 6, r.port, s6), r.allowed, `${r.name}: IPv6 allowed`)
    t.equal(s6.audit, r.audit, `${r.name}: IPv6 audit flag`)
    const v = ev.classify({ src: IP[r.from]![0], dst: IP[r.to]![0], protocol: 'TCP', port: r.port })
    t.same(v, described, `${r.name}: classify() = describe(slot)`)
  }
})

t.test('annotation toggled by an update: audit on, then off again', async (t) => {
  const { ev, store } = evaluatorFor([denyDb])
  const slot = newVerdictSlot()
  t.notOk(v4(ev, 'client', 'db', 5432, slot), 'enforced: denied')
  t.equal(ev.active, ev.enforcing, 'no audit policy: plain engine')
  t.equal(ev.auditing, undefined, 'no auditing engine until an audit policy appears')
  store.upsertPolicy(audit(denyDb))
  const g1 = ev.apply(store.drain()).generation
  t.ok(v4(ev, 'client', 'db', 5432, slot), 'audit on: allowed')
  t.ok(slot.audit, 'marked audit')
  t.equal(slot.generation, g1)
  t.equal(ev.active, ev, 'audit policy: the auditing evaluator is active')
  t.same(ev.isolation().find((p) => p.name === 'db'), { namespace: 'x', name: 'db', ips: ['10.0.0.3', 'fd00::3'], ingress: true, egress: false }, 'db still isolated for the rules (audit needs its traffic queued)')
  t.notOk(ev.enforcing.isolation().find((p) => p.name === 'db')?.ingress, 'but not by the enforcing engine (flow cutting reads it)')
  store.upsertPolicy(audit(denyDb, 'false'))
  const g2 = ev.apply(store.drain()).generation
  t.notOk(v4(ev, 'client', 'db', 5432, slot), 'audit off: denied again')
  t.notOk(slot.audit)
  t.ok(g2 > g1, 'every update changes the generation')
  t.equal(ev.active, ev.enforcing, 'back to the plain engine')
  store.deletePolicy('x', 'db-deny')
  ev.apply(store.drain())
  t.ok(v4(ev, 'client', 'db', 5432, slot), 'deleted: not isolated')
  t.equal(ev.auditCount, 0)
})

t.test('invalid annotation: an issue naming the object and field, policy enforced', async (t) => {
  const { ev } = evaluatorFor([audit(denyDb, 'yes')])
  const want = { object: 'NetworkPolicy x/db-deny', field: 'metadata.annotations["netpol.dev/audit"]', severity: 'warning' }
  t.match(ev.issues(), [want], 'evaluator reports it')
  t.match(validateAnnotations(audit(denyDb, 'yes')), [{ ...want, message: /must be "true" or "false"/ }])
  t.same(validateAnnotations(audit(denyDb, 'true')), [])
  t.same(validateAnnotations(denyDb), [])
})

t.test('the verdict cache does not mix audit and non-audit generations', async (t) => {
  const { ev, store } = evaluatorFor([denyDb])
  const records: { allowed: boolean; audit: boolean; fromCache: boolean; generation: number }[] = []
  const sink: VerdictSink = { record: (_p, _d, s, fromCache) => records.push({ allowed: s.allowed, audit: s.audit, fromCache, generation: s.generation }) }
  const classifier = new PacketClassifier(ev.active, { failOpen: false, cacheSize: 64, sink })
  const syn = (sport: number) => ipv4({ src: '10.0.0.1', dst: '10.0.0.3', proto: 6, payload: tcp({ sport, dport: 5432 }) })
  const run = () => {
    const out = new RecordingVerdicts()
    classifier.handleBatch(batchOf([syn(1000), syn(1001)]), out)
    return out.verdicts
  }
  const swap = () => classifier.setEvaluator(ev.active) // what the agent does after every update
  t.same(run(), [NF_DROP, NF_DROP], 'enforced')
  store.upsertPolicy(audit(denyDb))
  ev.apply(store.drain())
  swap()
  t.same(run(), [NF_ACCEPT, NF_ACCEPT], 'audit: passes')
  store.upsertPolicy(denyDb)
  ev.apply(store.drain())
  swap()
  t.same(run(), [NF_DROP, NF_DROP], 'enforced again: no cached audit verdict leaks')
  store.upsertPolicy(allowWeb) // unrelated: new generation, plain engine, an allowed flow
  ev.apply(store.drain())
  swap()
  const out = new RecordingVerdicts()
  classifier.handleBatch(batchOf([ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, payload: tcp({ sport: 5, dport: 80 }) })]), out)
  t.same(out.verdicts, [NF_ACCEPT])
  t.same(records.map((r) => `${r.allowed ? 'A' : 'D'}${r.audit ? 'audit' : ''}${r.fromCache ? '(cached)' : ''}`), [
    'D', 'D(cached)', 'Aaudit', 'Aaudit(cached)', 'D', 'D(cached)', 'A',
  ], 'each generation decided afresh, then cached; the audit flag never outlives audit mode')
})

t.test('the plain path: no audit policy means the plain engine, no second classify', async (t) => {
  const { ev } = evaluatorFor([allowWeb, denyDb])
  t.equal(ev.active, ev.enforcing)
  t.equal(ev.auditing, undefined)
  const slot: VerdictSlot = { ...newVerdictSlot(), audit: true }
  t.notOk(v4(ev, 'client', 'db', 5432, slot))
  t.notOk(slot.audit, 'the evaluator itself always writes the flag')
})
