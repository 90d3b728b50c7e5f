// Tap log: ring buffer, drain (records → JSON with the engine's reasons), overload drop counting,
// install/uninstall in the classifier, file rotation.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { ClusterState } from '../src/api/types.js'
import { newDecodedPacket, decodePacket } from '../src/dataplane/decode.js'
import { PacketClassifier, type VerdictSink } from '../src/dataplane/packet-classifier.js'
import { PolicyEngine } from '../src/engine/index.js'
import { UnsyncedEvaluator } from '../src/agent/unsynced-evaluator.js'
import { FileSink } from '../src/tap/file-sink.js'
import { LineEncoder } from '../src/tap/line-encoder.js'
import { newRawRecord, RecordRing } from '../src/tap/record-ring.js'
import { Tap, type TapReader } from '../src/tap/tap.js'
import { ipText, TapFormatter, type TapContext, type TapLine, type TapRecord } from '../src/tap/tap-record.js'
import { batchOf, RecordingVerdicts } from './helpers/fake-batch.js'
import { icmp, ipv4, ipv6, sctp, tcp, udp } from './helpers/packets.js'

// x/web accepts TCP 80 from x/client; y/db is isolated by two policies, and x/client's egress is
// isolated (allowing everything in x and y).
const cluster: ClusterState = {
  namespaces: [{ name: 'x', labels: { ns: 'x' } }, { name: 'y', labels: { ns: 'y' } }],
  pods: [
    { namespace: 'x', name: 'web', labels: { app: 'web' }, ips: ['10.0.0.2', 'fd00::2'], ports: [] },
    { namespace: 'x', name: 'client', labels: { app: 'client' }, ips: ['10.0.0.1', 'fd00::1'], ports: [] },
    { namespace: 'y', name: 'db', labels: { app: 'db' }, ips: ['10.0.1.5', 'fd00::1:5'], ports: [] },
  ],
  policies: [
    { metadata: { name: 'web-from-client', namespace: 'x' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 80 }] }] } },
    { metadata: { name: 'client-egress', namespace: 'x' }, spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }, { namespaceSelector: { matchLabels: { ns: 'y' } } }] }] } },
    { metadata: { name: 'deny-all', namespace: 'y' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
    { metadata: { name: 'db-5432', namespace: 'y' }, spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ ports: [{ port: 5432 }] }] } },
  ],
}

const syn = (src: string, dst: string, dport: number, sport = 40000) =>
  src.includes(':') ? ipv6({ src, dst, proto: 6, payload: tcp({ sport, dport }) }) : ipv4({ src, dst, proto: 6, payload: tcp({ sport, dport }) })

const flows: { name: string; packet: Buffer; src: string; dst: string; protocol: string; port: number }[] = [
  { name: 'allowed by a rule on both sides', packet: syn('10.0.0.1', '10.0.0.2', 80), src: '10.0.0.1', dst: '10.0.0.2', protocol: 'TCP', port: 80 },
  { name: 'denied: no rule matched on ingress', packet: syn('10.0.0.1', '10.0.0.2', 81), src: '10.0.0.1', dst: '10.0.0.2', protocol: 'TCP', port: 81 },
  { name: 'two isolating policies, one allows', packet: syn('10.0.0.1', '10.0.1.5', 5432), src: '10.0.0.1', dst: '10.0.1.5', protocol: 'TCP', port: 5432 },
  { name: 'two isolating policies, none allows', packet: syn('10.0.0.2', '10.0.1.5', 22), src: '10.0.0.2', dst: '10.0.1.5', protocol: 'TCP', port: 22 },
  { name: 'external destination', packet: ipv4({ src: '10.0.0.2', dst: '192.0.2.9', proto: 17, payload: udp({ sport: 5353, dport: 53 }) }), src: '10.0.0.2', dst: '192.0.2.9', protocol: 'UDP', port: 53 },
  { name: 'IPv6 allowed', packet: syn('fd00::1', 'fd00::2', 80), src: 'fd00::1', dst: 'fd00::2', protocol: 'TCP', port: 80 },
  { name: 'IPv6 denied', packet: syn('fd00::2', 'fd00::1:5', 80), src: 'fd00::2', dst: 'fd00::1:5', protocol: 'TCP', port: 80 },
  { name: 'SCTP denied', packet: ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 132, payload: sctp({ sport: 1, dport: 80 }) }), src: '10.0.0.1', dst: '10.0.0.2', protocol: 'SCTP', port: 80 },
]

function context(engine: PolicyEngine, nodeName?: string): TapContext {
  const byIp = new Map<string, string>()
  for (const p of cluster.pods) for (const ip of p.ips) byIp.set(ip, `${p.namespace}/${p.name}`)
  return { nodeName, describe: (s) => engine.describe(s), podName: (ip) => byIp.get(ip) }
}

class ListReader implements TapReader {
  readonly lines: TapLine[] = []
  constructor(readonly filter = {}, private room = Infinity) {}
  send(line: Uint8Array): boolean {
    if (this.room <= 0) return false
    this.room--
    const text = Buffer.from(line).toString()
    if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) throw new Error(`not one line: ${JSON.stringify(text)}`)
    this.lines.push(JSON.parse(text) as TapLine)
    return true
  }
  setRoom(n: number): void {
    this.room = n
  }
}

function setup(options: { cacheSize?: number; ringSize?: number } = {}) {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const classifier = new PacketClassifier(engine, { failOpen: false, cacheSize: options.cacheSize ?? 0 })
  const tap = new Tap(classifier, context(engine, 'node-1'), { ringSize: options.ringSize ?? 64, now: () => Date.UTC(2026, 0, 2, 3, 4, 5, 678) })
  return { engine, classifier, tap }
}

t.test('ring: records round-trip through the fixed-size slots (IPv4, IPv6, wrap-around, table refs past 2^32)', async (t) => {
  const ring = new RecordRing(3)
  const pkt = newDecodedPacket()
  const raw = newRawRecord()
  const rows = [
    { bytes: syn('10.1.2.3', '10.4.5.6', 443, 51000), src: '10.1.2.3', dst: '10.4.5.6' },
    { bytes: syn('fd00::a:b', '2001:db8::1', 8080, 1), src: 'fd00::a:b', dst: '2001:db8::1' },
    { bytes: ipv4({ src: '255.255.255.255', dst: '0.0.0.1', proto: 1, payload: icmp({ type: 8, code: 3 }) }), src: '255.255.255.255', dst: '0.0.0.1' },
  ]
  for (let round = 0; round < 3; round++) {
    for (const [i, r] of rows.entries()) {
      t.equal(decodePacket(r.bytes, 0, r.bytes.length, pkt), 0)
      const slot = { allowed: i % 2 === 0, generation: 7 + round, egressCode: 2, ingressCode: 7, egressRef: 2 ** 24 * 5000 + 77, ingressRef: -1, audit: false }
      t.ok(ring.write(1e12 + i + 0.5, pkt, r.bytes, slot, i === 1))
    }
    for (const [i, r] of rows.entries()) {
      t.ok(ring.read(raw), `round ${round} record ${i}`)
      t.equal(raw.time, 1e12 + i + 0.5)
      t.equal(ipText(raw.family, raw.src), r.src)
      t.equal(ipText(raw.family, raw.dst), r.dst)
      t.equal(raw.fromCache, i === 1)
      t.same(raw.slot, { allowed: i % 2 === 0, generation: 7 + round, egressCode: 2, ingressCode: 7, egressRef: 2 ** 24 * 5000 + 77, ingressRef: -1, audit: false })
    }
    t.notOk(ring.read(raw), 'empty')
  }
  t.equal(raw.proto, 1)
  t.same([raw.icmpType, raw.icmpCode], [8, 3])
  t.equal(ring.dropped, 0)
})

t.test('ring: a full ring drops the newest record and counts it', async (t) => {
  const ring = new RecordRing(4)
  const pkt = newDecodedPacket()
  const bytes = syn('10.0.0.1', '10.0.0.2', 80)
  decodePacket(bytes, 0, bytes.length, pkt)
  const slot = { allowed: true, generation: 1, egressCode: 0, ingressCode: 0, egressRef: -1, ingressRef: -1, audit: false }
  const ok = Array.from({ length: 10 }, (_, i) => ring.write(i, pkt, bytes, slot, false))
  t.same(ok, [true, true, true, true, false, false, false, false, false, false])
  t.equal(ring.dropped, 6)
  const raw = newRawRecord()
  const times: number[] = []
  while (ring.read(raw)) times.push(raw.time)
  t.same(times, [0, 1, 2, 3], 'the oldest records survive')
})

t.test('ipText writes IPv6 the RFC 5952 way', async (t) => {
  const rows: [string, number[]][] = [
    ['::', Array(16).fill(0)],
    ['::1', [...Array(15).fill(0), 1]],
    ['2001:db8::1', [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1]],
    ['2001:db8:0:1:1:1:1:1', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]],
    ['fe80::1:0:0:1', [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]],
  ]
  for (const [text, bytes] of rows) t.equal(ipText(6, Uint8Array.from(bytes)), text)
})

t.test('drain: each record carries the reasons engine.describe / classify give for the flow', async (t) => {
  const { engine, classifier, tap } = setup()
  const reader = new ListReader()
  tap.addReader(reader)
  classifier.handleBatch(batchOf(flows.map((f) => f.packet)), new RecordingVerdicts())
  t.equal(tap.drain(), flows.length)
  const recs = reader.lines as TapRecord[]
  t.equal(recs.length, flows.length)
  for (const [i, f] of flows.entries()) {
    const r = recs[i]!
    const v = engine.classify({ src: f.src, dst: f.dst, protocol: f.protocol as 'TCP', port: f.port })
    t.test(f.name, async (t) => {
      t.equal(r.type, 'verdict')
      t.equal(r.node, 'node-1')
      t.equal(r.time, '2026-01-02T03:04:05.678Z')
      t.same([r.src.ip, r.dst.ip, r.dst.port, r.protocol], [f.src, f.dst, f.port, f.protocol])
      t.equal(r.verdict, v.allowed ? 'allow' : 'deny')
      t.same(r.egress, v.egress, 'egress reasons = engine.classify')
      t.same(r.ingress, v.ingress, 'ingress reasons = engine.classify')
      t.equal(r.generation, engine.generation)
      t.equal(r.fromCache, false)
    })
  }
  t.equal(recs[0]!.src.pod, 'x/client')
  t.equal(recs[0]!.dst.pod, 'x/web')
  t.equal(recs[0]!.src.port, 40000)
  t.same(recs[0]!.directions, ['egress', 'ingress'])
  t.same(recs[3]!.ingress.isolatedBy, ['y/db-5432', 'y/deny-all'])
  t.equal(recs[4]!.dst.pod, undefined, 'an external IP names no pod')
  t.same(recs[4]!.directions, [], 'x/web has no egress isolation, 192.0.2.9 is not a pod')
  t.equal(recs[6]!.dst.pod, 'y/db')
})

t.test('encoder: the line bytes are exactly JSON.stringify of the record; times keep their milliseconds', async (t) => {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const classifier = new PacketClassifier(engine, { failOpen: false, cacheSize: 0 })
  for (const node of ['node-1', undefined]) {
    const ring = new RecordRing(64)
    classifier.setSink({ record: (p, d, s, c) => void ring.write(Date.UTC(2026, 0, 2, 3, 4, 5) + ring.written * 37.6, p, d, s, c) })
    classifier.handleBatch(batchOf([...flows.map((f) => f.packet), ...flows.map((f) => f.packet)]), new RecordingVerdicts())
    const f = new TapFormatter(context(engine, node))
    const enc = new LineEncoder(context(engine, node))
    const raw = newRawRecord()
    const times: string[] = []
    while (ring.read(raw)) {
      const rec = f.record(raw)
      t.equal(enc.encode(raw).toString(), JSON.stringify(rec) + '\n')
      times.push(rec.time.slice(17))
    }
    t.same(times.slice(0, 5), ['05.000Z', '05.037Z', '05.075Z', '05.112Z', '05.150Z'])
    // A ref whose table is gone (replaced since): described without rule details, marked stale.
    const stale = newRawRecord()
    stale.slot.egressCode = 2
    stale.slot.egressRef = 2 ** 24 * 999 + 1
    const rec = f.record(stale)
    t.equal(rec.stale, true)
    t.equal(enc.encode(stale).toString(), JSON.stringify(rec) + '\n')
    // Unsynced verdicts, IPv6, big numbers.
    const odd = newRawRecord()
    odd.family = 6
    odd.src.set([0xfd, 0, ...Array(13).fill(0), 1])
    odd.dst.set([0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 9])
    odd.srcPort = 65535
    odd.dstPort = 0
    odd.proto = 250
    odd.time = Date.UTC(2030, 11, 31, 23, 59, 59, 999)
    odd.slot.egressCode = 7
    odd.slot.ingressCode = 7
    odd.slot.generation = 1234567890
    t.equal(enc.encode(odd).toString(), JSON.stringify(f.record(odd)) + '\n')
  }
})

t.test('drain: cached verdicts say so, and unsynced ones say not-synced', async (t) => {
  const { classifier, tap } = setup({ cacheSize: 100 })
  const reader = new ListReader()
  tap.addReader(reader)
  classifier.handleBatch(batchOf([flows[0]!.packet, flows[0]!.packet]), new RecordingVerdicts())
  classifier.setEvaluator(new UnsyncedEvaluator())
  classifier.handleBatch(batchOf([syn('10.0.0.3', '10.0.0.4', 1)]), new RecordingVerdicts())
  tap.drain()
  const recs = reader.lines as TapRecord[]
  t.same(recs.map((r) => r.fromCache), [false, true, false])
  t.same(recs[2]!.egress, { allowed: false, reason: 'not-synced' })
  t.equal(recs[2]!.verdict, 'deny')
})

t.test('the sink is installed only while someone reads', async (t) => {
  const { classifier, tap } = setup()
  const sinkOf = () => (classifier as unknown as { sink: VerdictSink | undefined }).sink
  t.equal(sinkOf(), undefined, 'no reader, no file: nothing installed')
  const a = new ListReader()
  const b = new ListReader()
  tap.addReader(a)
  t.equal(sinkOf(), tap)
  tap.addReader(b)
  tap.removeReader(a)
  t.equal(sinkOf(), tap, 'still one reader')
  classifier.handleBatch(batchOf([flows[0]!.packet]), new RecordingVerdicts())
  tap.removeReader(b)
  t.equal(sinkOf(), undefined, 'last reader gone: uninstalled')
  t.equal(tap.ring.size, 0, 'what was waiting is forgotten')
  t.notOk(tap.stats().installed)
})

t.test('drain runs by itself off the packet path (setImmediate), bounded per turn', async (t) => {
  const engine = new PolicyEngine()
  engine.load(cluster)
  const classifier = new PacketClassifier(engine, { failOpen: false, cacheSize: 0 })
  const tap = new Tap(classifier, context(engine), { ringSize: 1000, maxPerTurn: 10 })
  const reader = new ListReader()
  tap.addReader(reader)
  classifier.handleBatch(batchOf(Array.from({ length: 35 }, () => flows[1]!.packet)), new RecordingVerdicts())
  t.equal(reader.lines.length, 0, 'nothing formatted during the batch')
  await new Promise((r) => setImmediate(r))
  t.equal(reader.lines.length, 10, 'one turn: at most maxPerTurn')
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  t.equal(reader.lines.length, 35)
  t.equal(tap.stats().records, 35)
})

t.test('overload: ring drops are counted and reported in the stream; slow readers lose lines, not packets', async (t) => {
  const { classifier, tap } = setup({ ringSize: 16 })
  const fast = new ListReader()
  const slow = new ListReader({}, 5)
  tap.addReader(fast)
  tap.addReader(slow)
  const out = new RecordingVerdicts()
  classifier.handleBatch(batchOf(Array.from({ length: 40 }, () => flows[0]!.packet)), out)
  t.equal(out.verdicts.length, 40, 'every packet got its verdict')
  t.ok(out.verdicts.every((v) => v === 1))
  tap.drain()
  const st = tap.stats()
  t.equal(st.ring.written, 16)
  t.equal(st.ring.dropped, 24)
  const notice = fast.lines.at(-1)!
  t.same({ ...notice, time: undefined }, { type: 'dropped', time: undefined, node: 'node-1', count: 24, where: 'ring' })
  t.equal(fast.lines.filter((l) => l.type === 'verdict').length, 16)
  t.equal(slow.lines.length, 5, 'the slow reader took 5 lines')
  t.equal(st.readerDrops, 12, '11 records + the ring notice missed by the slow reader')
  // The slow reader catches up: first it hears how many lines it missed.
  slow.setRoom(Infinity)
  classifier.handleBatch(batchOf([flows[1]!.packet]), out)
  tap.drain()
  t.same(slow.lines.slice(5).map((l) => l.type === 'dropped' ? `${l.where}:${l.count}` : l.verdict), ['reader:12', 'deny'])
})

t.test('filters are applied per reader before formatting is shared', async (t) => {
  const { classifier, tap } = setup()
  const rows: { filter: Record<string, unknown>; want: number[] }[] = [
    { filter: { verdict: 'deny' }, want: [1, 3, 6, 7] },
    { filter: { verdict: 'allow', protocol: 'TCP' }, want: [0, 2, 5] },
    { filter: { pod: 'y/db' }, want: [2, 3, 6] },
    { filter: { namespace: 'y' }, want: [2, 3, 6] },
    { filter: { policy: 'y/deny-all' }, want: [2, 3, 6] },
    { filter: { policy: 'x/web-from-client', verdict: 'allow' }, want: [0, 5] },
    { filter: { port: 53 }, want: [4] },
    { filter: { protocol: 'SCTP' }, want: [7] },
  ]
  const readers = rows.map((r) => new ListReader(r.filter))
  for (const r of readers) tap.addReader(r)
  classifier.handleBatch(batchOf(flows.map((f) => f.packet)), new RecordingVerdicts())
  tap.drain()
  rows.forEach((row, i) => {
    const got = (readers[i]!.lines as TapRecord[]).map((r) => flows.findIndex((f) => f.src === r.src.ip && f.dst === r.dst.ip && f.port === r.dst.port && f.protocol === r.protocol))
    t.same(got, row.want, JSON.stringify(row.filter))
  })
})

t.test('file sink: JSON lines, rotated by size, FILE.1 … FILE.keep', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-tap-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'tap.jsonl')
  const { classifier, tap } = setup({ ringSize: 4096 })
  const file = new FileSink({ path, maxBytes: 4096, keep: 2 })
  tap.setFile(file)
  t.ok(tap.stats().installed, 'a file sink installs the tap')
  const n = 100
  for (let i = 0; i < n; i++) classifier.handleBatch(batchOf([flows[i % flows.length]!.packet]), new RecordingVerdicts())
  tap.drain()
  const st = file.stats()
  await tap.close()
  t.notOk(tap.stats().installed)
  const files = readdirSync(dir).sort()
  t.same(files, ['tap.jsonl', 'tap.jsonl.1', 'tap.jsonl.2'], 'two rotated files kept, the oldest deleted')
  t.ok(st.rotations >= 3, `${st.rotations} rotations`)
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8')
    t.ok(text.length <= 4096, `${f}: ${text.length} bytes ≤ maxBytes`)
    t.ok(text.endsWith('\n'))
    for (const line of text.trimEnd().split('\n')) t.equal((JSON.parse(line) as TapRecord).type, 'verdict')
  }
  // The newest lines are in FILE, in order.
  const last = readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as TapRecord)
  t.equal(last.at(-1)!.dst.port, flows[(n - 1) % flows.length]!.port)
})

t.test('file sink: when the disk falls behind, lines are dropped and counted, never buffered without bound', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-tap-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'tap.jsonl')
  const { classifier, tap } = setup({ ringSize: 4096 })
  const file = new FileSink({ path, maxBytes: 1 << 30, keep: 1, maxBufferedBytes: 2000 })
  tap.setFile(file)
  classifier.handleBatch(batchOf(Array.from({ length: 50 }, () => flows[0]!.packet)), new RecordingVerdicts())
  tap.drain()
  const st = file.stats()
  t.ok(st.lines > 0 && st.lines < 50, `${st.lines} lines kept`)
  t.equal(st.lines + st.dropped, 50, 'every record either written or counted')
  t.equal(tap.stats().file?.dropped, st.dropped)
  await tap.close()
  t.equal(readFileSync(path, 'utf8').trimEnd().split('\n').length, st.lines)
})
