// `netpol replay`: captures written byte by byte (every supported link type, both byte orders,
// nanosecond timestamps) through the demo cluster's policies; per-flow connection state; and
// truncated, corrupt and garbage files (clear error with the byte offset, earlier packets kept).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../src/cli/main.js'
import { loadCluster } from '../src/model/load-cluster.js'
import { PolicyEngine } from '../src/engine/index.js'
import type { ReplayReport } from '../src/replay/replay.js'
import { ROOT } from './helpers/run-cli.js'
import { arp, ethernet, loopback, pcapFile, sll, sll2, type Frame } from './fixtures/pcap/pcap-writer.js'
import { icmp, ipv4, ipv6, tcp, udp } from './helpers/packets.js'

const DEMO = join(ROOT, 'examples/demo-cluster.json')
const WEB = '10.10.1.10', API = '10.10.2.20', PG = '10.10.3.30', EXT = '203.0.113.7', EXT2 = '198.51.100.9'
const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04, PSH = 0x08

const seg = (src: string, dst: string, sport: number, dport: number, flags: number) => ipv4({ src, dst, proto: 6, payload: tcp({ sport, dport, flags }) })
const dgram = (src: string, dst: string, sport: number, dport: number) => ipv4({ src, dst, proto: 17, payload: udp({ sport, dport, payload: Buffer.from('hi') }) })

/** The scenario: IP packets in capture order, with the time each is seen. */
function scenario(): { time: number; ip?: Buffer; frame?: Buffer }[] {
  let time = 1_700_000_000
  const at = (ip: Buffer, dt = 0.001) => ({ time: (time += dt), ip })
  return [
    // 1: web -> api:8080, allowed; a whole connection, closed by FIN both ways.
    at(seg(WEB, API, 40000, 8080, SYN)),
    at(seg(API, WEB, 8080, 40000, SYN | ACK)),
    at(seg(WEB, API, 40000, 8080, ACK)),
    at(seg(WEB, API, 40000, 8080, PSH | ACK)),
    { time: (time += 0.001), frame: arp() },
    at(seg(API, WEB, 8080, 40000, FIN | ACK)),
    at(seg(WEB, API, 40000, 8080, FIN | ACK)),
    // 2: web -> postgres:5432, denied (SYN and its retransmission).
    at(seg(WEB, PG, 40001, 5432, SYN)),
    at(seg(WEB, PG, 40001, 5432, SYN), 1),
    // 3: api -> postgres:5432, allowed, reply passes.
    at(seg(API, PG, 40002, 5432, SYN)),
    at(seg(PG, API, 5432, 40002, SYN | ACK)),
    // 4: postgres -> external 443, denied by its no-egress policy.
    at(seg(PG, EXT, 40003, 443, SYN)),
    // 5: the same ports as 1 reopened after the close: a new flow, decided again.
    at(seg(WEB, API, 40000, 8080, SYN)),
    // 6: capture starts inside a connection to web:8080 (allowed from anywhere): midstream.
    at(seg(EXT, WEB, 50000, 8080, ACK)),
    at(seg(WEB, EXT, 8080, 50000, ACK)),
    // 7/8: UDP between two outside addresses (no policy applies), idle past the unreplied timeout.
    at(dgram(EXT, EXT2, 5000, 53)),
    at(dgram(EXT, EXT2, 5000, 53), 31),
    // 9: IPv6 between addresses that are no pods.
    at(ipv6({ src: 'fd00::1', dst: 'fd00::2', proto: 6, payload: tcp({ sport: 1, dport: 2, flags: SYN }) })),
    // 10: web -> api:9090 (metrics): denied, then RST; a later SYN on the same ports is a new flow, still denied.
    at(seg(WEB, API, 40004, 9090, SYN)),
    at(seg(WEB, API, 40004, 9090, RST)),
    at(seg(WEB, API, 40004, 9090, SYN)),
  ]
}

function frames(link: (ip: Buffer) => Buffer): Frame[] {
  return scenario().map((s) => ({ time: s.time, data: s.frame ?? link(s.ip!) }))
}

let dir: string
t.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'netpol-replay-'))
})
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function write(name: string, bytes: Buffer): string {
  const p = join(dir, name)
  writeFileSync(p, bytes)
  return p
}

async function replay(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = ''
  const code = await main(['replay', '--cluster', DEMO, ...args], { out: (s) => void (out += s), err: (s) => void (err += s) })
  return { code, out, err }
}

async function replayJson(file: string): Promise<{ code: number; report: ReplayReport; err: string }> {
  const r = await replay([file, '--json'])
  return { code: r.code, report: JSON.parse(r.out) as ReplayReport, err: r.err }
}

t.test('per-flow verdicts and reasons follow connection state, and equal the engine\'s', async (t) => {
  const file = write('demo.pcap', pcapFile({ linkType: 1 }, frames((ip) => ethernet(ip))))
  const { code, report, err } = await replayJson(file)
  t.equal(code, 0, err)
  t.equal(report.packets, 21)
  t.equal(report.linkName, 'Ethernet')
  const want: { verdict: string; src: string; dst: string; port: number; fwd: number; rev: number; first: number; midstream?: boolean }[] = [
    { verdict: 'allow', src: WEB, dst: API, port: 8080, fwd: 4, rev: 2, first: 1 },
    { verdict: 'deny', src: WEB, dst: PG, port: 5432, fwd: 2, rev: 0, first: 8 },
    { verdict: 'allow', src: API, dst: PG, port: 5432, fwd: 1, rev: 1, first: 10 },
    { verdict: 'deny', src: PG, dst: EXT, port: 443, fwd: 1, rev: 0, first: 12 },
    { verdict: 'allow', src: WEB, dst: API, port: 8080, fwd: 1, rev: 0, first: 13 },
    { verdict: 'allow', src: EXT, dst: WEB, port: 8080, fwd: 1, rev: 1, first: 14, midstream: true },
    { verdict: 'allow', src: EXT, dst: EXT2, port: 53, fwd: 1, rev: 0, first: 16 },
    { verdict: 'allow', src: EXT, dst: EXT2, port: 53, fwd: 1, rev: 0, first: 17 },
    { verdict: 'allow', src: 'fd00::1', dst: 'fd00::2', port: 2, fwd: 1, rev: 0, first: 18 },
    { verdict: 'deny', src: WEB, dst: API, port: 9090, fwd: 2, rev: 0, first: 19 },
    { verdict: 'deny', src: WEB, dst: API, port: 9090, fwd: 1, rev: 0, first: 21 },
  ]
  t.equal(report.flows.length, want.length)
  const cluster = await loadCluster(DEMO)
  const engine = new PolicyEngine()
  engine.load(cluster.steps[0]!.state)
  want.forEach((w, i) => {
    const f = report.flows[i]!
    t.test(`flow ${i + 1}: ${w.verdict} ${w.src} -> ${w.dst}:${w.port}`, async (t) => {
      t.same([f.verdict, f.src.ip, f.dst.ip, f.dst.port, f.packets.forward, f.packets.reply, f.firstPacket, f.midstream === true],
        [w.verdict, w.src, w.dst, w.port, w.fwd, w.rev, w.first, w.midstream === true])
      const v = engine.classify({ src: w.src, dst: w.dst, protocol: f.protocol as 'TCP', port: w.port })
      t.same([f.egress, f.ingress], [v.egress, v.ingress], 'reasons = engine.classify (as netpol verdict)')
    })
  })
  t.equal(report.flows[0]!.src.pod, 'frontend/web')
  t.equal(report.flows[0]!.dst.pod, 'backend/api')
  t.same(report.flows[0]!.ingress, { allowed: true, reason: 'rule', policy: 'backend/allow-api-from-frontend', rule: 0, peer: 0, port: 0, isolatedBy: ['backend/allow-api-from-frontend', 'backend/default-deny-ingress'] })
  t.same(report.flows[3]!.egress, { allowed: false, reason: 'no-rule-matched', isolatedBy: ['db/postgres-no-egress'] })
  const s = report.summary
  t.same([s.flows, s.allowed, s.denied, s.packetsAllowed, s.packetsDenied, s.nonIp, s.fragments, s.undecodable.length], [11, 7, 4, 14, 6, 1, 0, 0])
  t.same(s.policies, [
    { policy: 'backend/allow-api-from-frontend', allowed: 2, denied: 2 },
    { policy: 'backend/default-deny-ingress', allowed: 0, denied: 2 },
    { policy: 'db/allow-postgres-from-backend', allowed: 1, denied: 1 },
    { policy: 'db/default-deny-ingress', allowed: 0, denied: 1 },
    { policy: 'db/postgres-no-egress', allowed: 0, denied: 1 },
    { policy: 'frontend/allow-web-from-anywhere', allowed: 1, denied: 0 },
  ])
})

t.test('text output: one line per flow with its reasons, then the per-policy summary', async (t) => {
  const file = write('demo-text.pcap', pcapFile({ linkType: 1 }, frames((ip) => ethernet(ip))))
  const r = await replay([file])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /demo-text.pcap: Ethernet, 21 packet\(s\), 11 flow\(s\): 7 allowed, 4 denied/)
  t.match(r.out, /#1 ALLOW TCP frontend\/web 10.10.1.10:40000 -> backend\/api 10.10.2.20:8080  6 packet\(s\) \(4 ->, 2 <-\), first #1\n    egress: not isolated; ingress: allowed by backend\/allow-api-from-frontend spec.ingress\[0\] from\[0\] ports\[0\]/)
  t.match(r.out, /#2 DENY  TCP frontend\/web 10.10.1.10:40001 -> db\/postgres 10.10.3.30:5432  2 packet\(s\) \(2 ->, 0 <-\), first #8\n    egress: not isolated; ingress: isolated by db\/allow-postgres-from-backend, db\/default-deny-ingress, no rule matched/)
  t.match(r.out, /#6 ALLOW TCP 203.0.113.7:50000 -> frontend\/web 10.10.1.10:8080 .*midstream/)
  t.match(r.out, /flows per policy:\n  backend\/allow-api-from-frontend   allowed 2  denied 2\n/)
  t.match(r.out, /packets: 14 passed, 6 dropped/)
  t.match(r.out, /skipped: 1 non-IP frame\(s\)/)
})

t.test('every supported link type and file variant gives the same flows', async (t) => {
  const base = (await replayJson(write('base.pcap', pcapFile({ linkType: 1 }, frames((ip) => ethernet(ip)))))).report
  const key = (r: ReplayReport) => r.flows.map((f) => `${f.verdict} ${f.src.ip}:${f.src.port}>${f.dst.ip}:${f.dst.port} ${f.packets.forward}/${f.packets.reply}`)
  const rows: { name: string; link: number; frame: (ip: Buffer) => Buffer; byteOrder?: 'BE'; nanoseconds?: boolean; linkName: string }[] = [
    { name: 'Ethernet, big-endian file', link: 1, frame: (ip) => ethernet(ip), byteOrder: 'BE', linkName: 'Ethernet' },
    { name: 'Ethernet, nanosecond timestamps', link: 1, frame: (ip) => ethernet(ip), nanoseconds: true, linkName: 'Ethernet' },
    { name: 'Ethernet with an 802.1Q tag', link: 1, frame: (ip) => ethernet(ip, 42), linkName: 'Ethernet' },
    { name: 'Linux cooked (SLL)', link: 113, frame: sll, linkName: 'Linux cooked (SLL)' },
    { name: 'Linux cooked v2 (SLL2)', link: 276, frame: sll2, linkName: 'Linux cooked v2 (SLL2)' },
    { name: 'raw IP (101)', link: 101, frame: (ip) => ip, linkName: 'raw IP' },
    { name: 'raw IP (DLT_RAW 12)', link: 12, frame: (ip) => ip, linkName: 'raw IP' },
    { name: 'BSD loopback', link: 0, frame: loopback, linkName: 'BSD loopback' },
  ]
  for (const row of rows) {
    const file = write(`${row.link}-${row.byteOrder ?? 'LE'}-${row.nanoseconds ? 'ns' : 'us'}-${row.name.length}.pcap`,
      pcapFile({ linkType: row.link, byteOrder: row.byteOrder, nanoseconds: row.nanoseconds }, frames(row.frame)))
    const { code, report, err } = await replayJson(file)
    t.equal(code, 0, `${row.name}: ${err}`)
    t.equal(report.linkName, row.linkName)
    // The ARP frame is Ethernet-only; on the other link types the builder wraps it as-is (non-IP or undecodable).
    t.same(key(report), key(base), row.name)
  }
  const ns = (await replayJson(write('ns-time.pcap', pcapFile({ linkType: 101, nanoseconds: true }, [{ time: 1_700_000_000.123456789, data: seg(WEB, API, 1, 8080, SYN) }])))).report
  t.ok(Math.abs(ns.flows[0]!.firstTime - 1_700_000_000.123456789) < 1e-6, 'nanosecond timestamps kept')
})

t.test('truncated, corrupt and garbage captures: the error names the byte offset, earlier packets are reported', async (t) => {
  const good = pcapFile({ linkType: 1 }, frames((ip) => ethernet(ip)))
  // Offsets of the record headers in the good file.
  const offsets: number[] = []
  for (let off = 24; off < good.length; off += 16 + good.readUInt32LE(off + 8)) offsets.push(off)
  const corrupt = Buffer.from(good)
  corrupt.writeUInt32LE(0x7fffff00, offsets[4]! + 8)
  const rows: { name: string; bytes: Buffer; packets: number; offset: number; message: RegExp }[] = [
    { name: 'empty file', bytes: Buffer.alloc(0), packets: 0, offset: 0, message: /empty file: not a pcap capture/ },
    { name: 'half a global header', bytes: good.subarray(0, 10), packets: 0, offset: 0, message: /truncated global header: 10 of 24 bytes/ },
    { name: 'cut inside the 3rd record header', bytes: good.subarray(0, offsets[2]! + 7), packets: 2, offset: offsets[2]!, message: /truncated packet record 3: 7 of 16 header bytes/ },
    { name: 'cut inside the 4th record\'s data', bytes: good.subarray(0, offsets[3]! + 16 + 20), packets: 3, offset: offsets[3]!, message: /truncated packet record 4: its header says 54 captured bytes, 20 follow/ },
    { name: 'corrupt captured length', bytes: corrupt, packets: 4, offset: offsets[4]!, message: /corrupt packet record 5: it claims 2147483392 captured bytes/ },
    { name: 'garbage', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), packets: 0, offset: 0, message: /not a pcap capture: unknown magic number 0x47455420/ },
    { name: 'pcapng', bytes: Buffer.from([0x0a, 0x0d, 0x0d, 0x0a, ...Array(60).fill(0)]), packets: 0, offset: 0, message: /pcapng file; replay reads libpcap/ },
    { name: 'unsupported link type (802.11)', bytes: pcapFile({ linkType: 105 }, []), packets: 0, offset: 20, message: /link type 105 is not supported/ },
  ]
  for (const row of rows) {
    const file = write(`bad-${row.name.replace(/\W+/g, '-')}.pcap`, row.bytes)
    const { code, report, err } = await replayJson(file)
    t.test(row.name, async (t) => {
      t.equal(code, 1, 'exit 1')
      t.equal(report.packets, row.packets, 'packets before the error are replayed')
      t.equal(report.error?.offset, row.offset, 'offset')
      t.match(report.error?.message, row.message)
      t.match(report.error?.message, new RegExp(`at byte offset ${row.offset}\\)$`))
      t.match(err, /netpol replay: .*: .*byte offset \d+.*; \d+ packet\(s\) before it were replayed/)
    })
  }
  const r = await replayJson(write('cut.pcap', good.subarray(0, offsets[8]! + 3)))
  t.same(r.report.flows.map((f) => f.firstPacket), [1, 8], 'flows of the packets before the cut')
  const text = await replay([join(dir, 'cut.pcap')])
  t.match(text.out, /#2 DENY  TCP frontend\/web/)
  t.match(text.err, /truncated packet record 9: 3 of 16 header bytes \(at byte offset \d+\); 8 packet\(s\) before it were replayed \(above\)/)
})

t.test('undecodable packets are listed, not fatal; usage errors', async (t) => {
  const file = write('undecodable.pcap', pcapFile({ linkType: 101 }, [
    { time: 1, data: Buffer.from([0x45, 0, 0, 40, 0]) },
    { time: 2, data: seg(WEB, API, 1, 8080, SYN) },
    { time: 3, data: Buffer.from([0x15, 1, 2, 3]) },
  ]))
  const { code, report } = await replayJson(file)
  t.equal(code, 0)
  t.same(report.summary.undecodable, [{ packet: 1, offset: 24, error: 'truncated' }, { packet: 3, offset: 24 + 16 + 5 + 16 + 40, error: 'bad version' }])
  t.equal(report.flows.length, 1)
  const missing = await replay([join(dir, 'nope.pcap')])
  t.equal(missing.code, 2)
  t.match(missing.err, /nope.pcap: no such file/)
  const none = await main(['replay', '--cluster', DEMO], { out: () => {}, err: () => {} })
  t.equal(none, 2, 'capture missing: usage error')
  t.ok(readFileSync(file).length > 0)
})

t.test('ICMP and later fragments: echo and reply are one flow decided with port 0; fragments follow their datagram', async (t) => {
  const echo = (src: string, dst: string, type: number) => ipv4({ src, dst, proto: 1, payload: icmp({ type }) })
  const file = write('icmp.pcap', pcapFile({ linkType: 101 }, [
    { time: 1, data: echo(EXT, WEB, 8) }, // to web: only port 8080 is allowed, so ICMP is denied
    { time: 1.1, data: echo(EXT, WEB, 8) },
    { time: 2, data: echo(WEB, EXT, 8) }, // web's egress is not isolated, EXT is no pod: allowed
    { time: 2.1, data: echo(EXT, WEB, 0) }, // the reply passes with its flow
    { time: 3, data: ipv4({ src: WEB, dst: API, proto: 17, payload: udp({ sport: 1, dport: 2 }), fragOffset: 100 }) },
  ]))
  const { code, report } = await replayJson(file)
  t.equal(code, 0)
  t.same(report.flows.map((f) => [f.protocol, f.verdict, f.src.ip, f.dst.ip, f.dst.port, f.packets.forward, f.packets.reply]), [
    ['ICMP', 'deny', EXT, WEB, 0, 2, 0],
    ['ICMP', 'allow', WEB, EXT, 0, 1, 1],
  ])
  t.same(report.flows[0]!.ingress.isolatedBy, ['frontend/allow-web-from-anywhere', 'frontend/default-deny-ingress'])
  t.equal(report.summary.fragments, 1)
})
