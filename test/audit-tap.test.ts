// Audit mode in the tap: the ring carries the flag, JSON lines say "audit":true with the verdict
// allowed (bytes = JSON.stringify of the formatter's record), the human line says "AUDIT would
// deny", `--verdict audit` selects them, and audit sides are never confused with enforced ones.
import t from 'tap'
import type { ClusterState, NetworkPolicy } from '../src/api/types.js'
import { AuditingEvaluator } from '../src/agent/audit-evaluator.js'
import { PacketClassifier } from '../src/dataplane/packet-classifier.js'
import { ClusterStore } from '../src/store/cluster-store.js'
import { matches, parseFilter } from '../src/tap/filter.js'
import { formatRecord } from '../src/tap/format.js'
import { LineEncoder } from '../src/tap/line-encoder.js'
import { newRawRecord, RecordRing } from '../src/tap/record-ring.js'
import { Tap, type TapReader } from '../src/tap/tap.js'
import { TapFormatter, type TapContext, type TapLine, type TapRecord } from '../src/tap/tap-record.js'
import { batchOf, RecordingVerdicts } from './helpers/fake-batch.js'
import { ipv4, ipv6, tcp } from './helpers/packets.js'

// x/web: enforced, TCP 80 from x/client only. y: default-deny ingress in audit mode.
const policies: NetworkPolicy[] = [
  { metadata: { name: 'web-from-client', namespace: 'x' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 80 }] }] } },
  { metadata: { name: 'deny-all', namespace: 'y', annotations: { 'netpol.dev/audit': 'true' } }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
]
const state: ClusterState = {
  namespaces: [{ name: 'x', labels: {} }, { name: 'y', labels: {} }],
  pods: [
    { namespace: 'x', name: 'client', labels: { app: 'client' }, ips: ['10.0.0.1', 'fd00::1'], ports: [] },
    { namespace: 'x', name: 'web', labels: { app: 'web' }, ips: ['10.0.0.2', 'fd00::2'], ports: [] },
    { namespace: 'y', name: 'db', labels: { app: 'db' }, ips: ['10.0.1.5', 'fd00::1:5'], ports: [] },
  ],
  policies,
}
const syn = (src: string, dst: string, dport: number) =>
  src.includes(':') ? ipv6({ src, dst, proto: 6, payload: tcp({ sport: 40000, dport }) }) : ipv4({ src, dst, proto: 6, payload: tcp({ sport: 40000, dport }) })

const rows = [
  { name: 'enforced allow', packet: syn('10.0.0.1', '10.0.0.2', 80), verdict: 'allow', audit: false },
  { name: 'enforced deny', packet: syn('10.0.0.1', '10.0.0.2', 81), verdict: 'deny', audit: false },
  { name: 'audit: would be denied by y/deny-all', packet: syn('10.0.0.1', '10.0.1.5', 5432), verdict: 'allow', audit: true },
  { name: 'audit over IPv6', packet: syn('fd00::2', 'fd00::1:5', 22), verdict: 'allow', audit: true },
] as const

function setup() {
  const store = new ClusterStore()
  const ev = new AuditingEvaluator({}, { snapshot: () => store.state() })
  store.replaceAll(state)
  ev.apply(store.drain())
  const byIp = new Map<string, string>()
  for (const p of state.pods) for (const ip of p.ips) byIp.set(ip, `${p.namespace}/${p.name}`)
  const ctx: TapContext = { describe: (s) => ev.describe(s), podName: (ip) => byIp.get(ip), generation: () => ev.generation }
  const classifier = new PacketClassifier(ev.active, { failOpen: false, cacheSize: 0 })
  return { ev, ctx, classifier }
}

t.test('ring → record → JSON line: audit records say so, and their reasons are the would-be denial', async (t) => {
  const { ev, ctx, classifier } = setup()
  t.equal(ev.active, ev, 'an audit policy: the auditing evaluator classifies')
  const ring = new RecordRing(16)
  classifier.setSink({ record: (p, d, s, c) => void ring.write(Date.UTC(2026, 0, 2, 3, 4, 5), p, d, s, c) })
  classifier.handleBatch(batchOf(rows.map((r) => r.packet)), new RecordingVerdicts())
  const f = new TapFormatter(ctx)
  const enc = new LineEncoder(ctx)
  const raw = newRawRecord()
  for (const r of rows) {
    t.ok(ring.read(raw), r.name)
    t.equal(raw.slot.audit, r.audit, `${r.name}: the ring keeps the flag`)
    const rec = f.record(raw)
    t.equal(enc.encode(raw).toString(), JSON.stringify(rec) + '\n', `${r.name}: bytes = JSON.stringify(record)`)
    t.equal(rec.verdict, r.verdict, `${r.name}: verdict`)
    t.equal(rec.audit, r.audit ? true : undefined, `${r.name}: audit field`)
    if (r.audit) {
      t.match(rec.ingress, { allowed: false, reason: 'no-rule-matched', isolatedBy: ['y/deny-all'], audit: true }, `${r.name}: names the audit policy`)
      t.same(rec.directions, ['ingress'], `${r.name}: the side the audit policy isolates`)
      t.match(formatRecord(rec, false), /AUDIT would deny TCP .* ingress: isolated by y\/deny-all, no rule matched \(audit mode: not enforced\)/, `${r.name}: human line`)
      t.notMatch(formatRecord(rec, false), /egress:/, `${r.name}: only the would-deny side`)
    } else {
      t.notOk(rec.ingress.audit || rec.egress.audit, `${r.name}: no audit side`)
    }
  }
})

t.test('audit and enforced sides are memoised apart (their refs index different engines)', async (t) => {
  const { ev, ctx, classifier } = setup()
  const ring = new RecordRing(64)
  classifier.setSink({ record: (p, d, s, c) => void ring.write(0, p, d, s, c) })
  // Interleaved, twice: every record must equal a fresh describe of its own slot.
  const packets = [...rows, ...rows].map((r) => r.packet)
  classifier.handleBatch(batchOf(packets), new RecordingVerdicts())
  const f = new TapFormatter(ctx)
  const enc = new LineEncoder(ctx)
  const raw = newRawRecord()
  let n = 0
  while (ring.read(raw)) {
    const want = ev.describe(raw.slot)
    const rec = f.record(raw)
    t.same([rec.egress, rec.ingress], [want.egress, want.ingress], `record ${n}: formatter`)
    t.same(JSON.parse(enc.encode(raw).toString()).ingress, JSON.parse(JSON.stringify(want.ingress)), `record ${n}: encoder`)
    n++
  }
  t.equal(n, packets.length)
})

t.test('filter --verdict audit; allow includes audit records (the traffic passed)', async (t) => {
  t.same(parseFilter((k) => (k === 'verdict' ? 'AUDIT' : undefined)), { verdict: 'audit' })
  t.throws(() => parseFilter((k) => (k === 'verdict' ? 'maybe' : undefined)), /not allow, deny or audit/)
  const { ctx, classifier } = setup()
  const lines: TapLine[] = []
  const reader: TapReader = { filter: { verdict: 'audit' }, send: (l) => (lines.push(JSON.parse(Buffer.from(l).toString()) as TapLine), true) }
  const tap = new Tap(classifier, ctx, { now: () => 0 })
  tap.addReader(reader)
  classifier.handleBatch(batchOf(rows.map((r) => r.packet)), new RecordingVerdicts())
  tap.drain()
  const recs = lines as TapRecord[]
  t.same(recs.map((r) => r.dst.pod), ['y/db', 'y/db'], 'only the audit records reach an audit reader')
  t.ok(recs.every((r) => r.audit === true && r.verdict === 'allow'))
  t.ok(matches({ verdict: 'allow' }, recs[0]!), '--verdict allow includes audit records')
  t.notOk(matches({ verdict: 'deny' }, recs[0]!))
  t.ok(matches({ policy: 'y/deny-all' }, recs[0]!), '--policy finds the audit policy')
  await tap.close()
})
