import t from 'tap'
import type { ClusterState } from '../src/api/types.js'
import { UnsyncedEvaluator } from '../src/agent/unsynced-evaluator.js'
import { PacketClassifier } from '../src/dataplane/packet-classifier.js'
import { NF_ACCEPT, NF_DROP } from '../src/dataplane/queue-types.js'
import { PolicyEngine } from '../src/engine/index.js'
import { batchOf, RecordingVerdicts } from './helpers/fake-batch.js'
import { icmp, ipv4, ipv6, sctp, tcp, udp } from './helpers/packets.js'

// web (x/web) accepts TCP 80 and SCTP 80 from x/client only; x/client is not isolated.
const cluster: ClusterState = {
  namespaces: [{ name: 'x', labels: {} }],
  pods: [
    { namespace: 'x', name: 'web', labels: { app: 'web' }, ips: ['10.0.0.2', 'fd00::2'], ports: [] },
    { namespace: 'x', name: 'client', labels: { app: 'client' }, ips: ['10.0.0.1', 'fd00::1'], ports: [] },
    { namespace: 'x', name: 'other', labels: { app: 'other' }, ips: ['10.0.0.3', 'fd00::3'], ports: [] },
  ],
  policies: [{
    metadata: { name: 'web-from-client', namespace: 'x' },
    spec: {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 80 }, { protocol: 'SCTP', port: 80 }] }],
    },
  }],
}

const syn = (src: string, dst: string, dport: number) =>
  src.includes(':') ? ipv6({ src, dst, proto: 6, payload: tcp({ sport: 40000, dport }) }) : ipv4({ src, dst, proto: 6, payload: tcp({ sport: 40000, dport }) })

const rows: { name: string; packet: Buffer; verdict: number }[] = [
  { name: 'TCP 80 from the allowed client', packet: syn('10.0.0.1', '10.0.0.2', 80), verdict: NF_ACCEPT },
  { name: 'TCP 81 from the allowed client', packet: syn('10.0.0.1', '10.0.0.2', 81), verdict: NF_DROP },
  { name: 'TCP 80 from another pod', packet: syn('10.0.0.3', '10.0.0.2', 80), verdict: NF_DROP },
  { name: 'UDP 80 (protocol not allowed)', packet: ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, payload: udp({ sport: 5, dport: 80 }) }), verdict: NF_DROP },
  { name: 'SCTP 80 INIT from the client', packet: ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 132, payload: sctp({ sport: 5, dport: 80 }) }), verdict: NF_ACCEPT },
  { name: 'ICMP echo: only port-less rules could allow it', packet: ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 1, payload: icmp({ type: 8 }) }), verdict: NF_DROP },
  { name: 'IPv6 TCP 80 from the client', packet: syn('fd00::1', 'fd00::2', 80), verdict: NF_ACCEPT },
  { name: 'IPv6 TCP 80 from another pod', packet: syn('fd00::3', 'fd00::2', 80), verdict: NF_DROP },
  { name: 'to a non-isolated pod', packet: syn('10.0.0.2', '10.0.0.3', 22), verdict: NF_ACCEPT },
  { name: 'garbage bytes (fail-closed drops)', packet: Buffer.from([0x45, 0, 0]), verdict: NF_DROP },
]

t.test('each packet of a batch gets the engine verdict', async (t) => {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const classifier = new PacketClassifier(engine, { failOpen: false, cacheSize: 0 })
  const out = new RecordingVerdicts()
  classifier.handleBatch(batchOf(rows.map((r) => r.packet)), out)
  rows.forEach((r, i) => t.equal(out.verdicts[i], r.verdict, r.name))
  t.equal(classifier.counters.decodeErrors, 1)
  t.equal(classifier.counters.packets, rows.length)
})

t.test('fail-open accepts what cannot be decoded', async (t) => {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const classifier = new PacketClassifier(engine, { failOpen: true, cacheSize: 0 })
  const out = new RecordingVerdicts()
  classifier.handleBatch(batchOf([Buffer.from([0x45, 0, 0]), syn('10.0.0.3', '10.0.0.2', 80)]), out)
  t.same(out.verdicts, [NF_ACCEPT, NF_DROP], 'garbage accepted, policy still enforced')
})

t.test('the verdict cache answers repeats and misses after a policy change', async (t) => {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const classifier = new PacketClassifier(engine, { failOpen: false, cacheSize: 1024 })
  const out = new RecordingVerdicts()
  const packets = [syn('10.0.0.1', '10.0.0.2', 80), syn('10.0.0.1', '10.0.0.2', 80), syn('fd00::1', 'fd00::2', 80), syn('fd00::1', 'fd00::2', 80)]
  classifier.handleBatch(batchOf(packets), out)
  t.same(out.verdicts, [NF_ACCEPT, NF_ACCEPT, NF_ACCEPT, NF_ACCEPT])
  t.equal(classifier.cache!.stats().hits, 2)
  // Deleting the policy publishes a new generation: cached verdicts are not reused for it.
  engine.apply([{ kind: 'NetworkPolicy', op: 'delete', namespace: 'x', name: 'web-from-client' }])
  const again = new RecordingVerdicts()
  classifier.handleBatch(batchOf([syn('10.0.0.3', '10.0.0.2', 80)]), again)
  t.same(again.verdicts, [NF_ACCEPT], 'no longer isolated')
  t.equal(classifier.cache!.stats().hits, 2, 'the change caused a miss, not a stale hit')
})

t.test('deny-until-synced: the unsynced evaluator denies, then the engine takes over', async (t) => {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const classifier = new PacketClassifier(new UnsyncedEvaluator(), { failOpen: false, cacheSize: 1024 })
  const before = new RecordingVerdicts()
  classifier.handleBatch(batchOf([syn('10.0.0.2', '10.0.0.3', 22)]), before)
  t.same(before.verdicts, [NF_DROP], 'held before the first sync')
  classifier.setEvaluator(engine)
  const after = new RecordingVerdicts()
  classifier.handleBatch(batchOf([syn('10.0.0.2', '10.0.0.3', 22)]), after)
  t.same(after.verdicts, [NF_ACCEPT], 'decided by policy after it')
})

t.test('the tap sink sees every verdict with its reason', async (t) => {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const seen: string[] = []
  const classifier = new PacketClassifier(engine, {
    failOpen: false,
    cacheSize: 16,
    sink: { record: (_p, _d, slot, fromCache) => void seen.push(`${engine.describe(slot).ingress.reason}:${fromCache}`) },
  })
  classifier.handleBatch(batchOf([syn('10.0.0.1', '10.0.0.2', 80), syn('10.0.0.1', '10.0.0.2', 80), syn('10.0.0.3', '10.0.0.2', 80)]), new RecordingVerdicts())
  t.same(seen, ['rule:false', 'rule:true', 'no-rule-matched:false'])
})

t.test('accepted packets get the decided mark OR-ed into their mark; drops get none', async (t) => {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const classifier = new PacketClassifier(engine, { failOpen: false, cacheSize: 0, decidedMark: 0x400000 })
  const marks: (number | undefined)[] = []
  const batch = { ...batchOf([syn('10.0.0.1', '10.0.0.2', 80), syn('10.0.0.3', '10.0.0.2', 80)]), mark: () => 0x4000 }
  classifier.handleBatch(batch, { set: (_i, _v, mark) => void marks.push(mark) })
  t.same(marks, [0x404000, undefined], 'kube-proxy style 0x4000 survives; the denied packet is left alone')
})
