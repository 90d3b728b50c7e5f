// The tap over the agent's control socket (GET /tap streaming with filters, the sink installed
// only while a reader is connected) and `netpol tap`, live and over saved files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { ClusterState } from '../src/api/types.js'
import { ControlServer, getControlJson } from '../src/agent/control-server.js'
import { main } from '../src/cli/main.js'
import { parseSince } from '../src/cli/tap.js'
import { PacketClassifier } from '../src/dataplane/packet-classifier.js'
import { PolicyEngine } from '../src/engine/index.js'
import { ClusterStore } from '../src/store/cluster-store.js'
import { attachTap } from '../src/tap/attach.js'
import { followTap, type TapStreamLine } from '../src/tap/tap-client.js'
import type { TapRecord } from '../src/tap/tap-record.js'
import { batchOf, RecordingVerdicts } from './helpers/fake-batch.js'
import { ipv4, tcp } from './helpers/packets.js'

const cluster: ClusterState = {
  namespaces: [{ name: 'a', labels: {} }, { name: 'b', labels: {} }],
  pods: [
    { namespace: 'a', name: 'web', labels: { app: 'web' }, ips: ['10.1.0.1'], ports: [] },
    { namespace: 'a', name: 'cli', labels: { app: 'cli' }, ips: ['10.1.0.2'], ports: [] },
    { namespace: 'b', name: 'db', labels: { app: 'db' }, ips: ['10.2.0.1'], ports: [] },
  ],
  policies: [
    { metadata: { namespace: 'b', name: 'db-from-web' }, spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] }] } },
  ],
}
const syn = (src: string, dst: string, dport: number) => ipv4({ src, dst, proto: 6, payload: tcp({ sport: 33000, dport }) })
const PACKETS = [
  syn('10.1.0.1', '10.2.0.1', 5432), // allow, b/db-from-web
  syn('10.1.0.2', '10.2.0.1', 5432), // deny
  syn('10.1.0.2', '10.1.0.1', 80), // allow, not isolated
  syn('10.1.0.1', '10.2.0.1', 22), // deny
]

async function agentLike(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-tapsock-'))
  const engine = new PolicyEngine()
  const store = new ClusterStore()
  store.replaceAll(cluster)
  engine.load(store.state())
  const classifier = new PacketClassifier(engine, { failOpen: false, cacheSize: 1024 })
  const control = new ControlServer(join(dir, 'agent.sock'))
  const log = { warn: () => {}, info: () => {} }
  const tap = attachTap({ classifier, engine, store }, control, { nodeName: 'node-7', tapFile: '', tapFileMaxBytes: 1 << 20, tapFileKeep: 1, tapRingSize: 1024 }, log)
  await control.listen()
  t.teardown(async () => {
    await tap.close()
    await control.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const send = () => classifier.handleBatch(batchOf(PACKETS), new RecordingVerdicts())
  return { socket: join(dir, 'agent.sock'), tap, classifier, send, dir }
}

/** Collects lines from /tap until `n` verdict records arrived. */
async function collect(socket: string, filter: Record<string, string | number>, n: number, onStart: () => void): Promise<TapStreamLine[]> {
  const got: TapStreamLine[] = []
  let verdicts = 0
  const f = followTap(socket, filter, (line) => {
    got.push(line)
    if (line.type === 'start') onStart()
    if (line.type === 'verdict') verdicts++
    return verdicts < n
  })
  await f.done
  return got
}

t.test('GET /tap streams matching records as NDJSON; the sink exists only while readers do', async (t) => {
  const a = await agentLike(t)
  const status = () => getControlJson<{ installed: boolean; readers: number }>(a.socket, '/tap/status')
  t.same(await status().then((s) => [s.installed, s.readers]), [false, 0], 'nobody listening: not installed')
  const rows: { name: string; filter: Record<string, string | number>; want: [string, string, number][] }[] = [
    { name: 'no filter', filter: {}, want: [['allow', '10.1.0.1', 5432], ['deny', '10.1.0.2', 5432], ['allow', '10.1.0.2', 80], ['deny', '10.1.0.1', 22]] },
    { name: 'denied only', filter: { verdict: 'deny' }, want: [['deny', '10.1.0.2', 5432], ['deny', '10.1.0.1', 22]] },
    { name: 'one pod', filter: { pod: 'a/cli' }, want: [['deny', '10.1.0.2', 5432], ['allow', '10.1.0.2', 80]] },
    { name: 'policy and port', filter: { policy: 'b/db-from-web', port: 5432 }, want: [['allow', '10.1.0.1', 5432], ['deny', '10.1.0.2', 5432]] },
    { name: 'namespace', filter: { namespace: 'b', verdict: 'allow' }, want: [['allow', '10.1.0.1', 5432]] },
  ]
  for (const row of rows) {
    const lines = await collect(a.socket, row.filter, row.want.length, () => setImmediate(a.send))
    t.equal(lines[0]!.type, 'start', `${row.name}: a start line first`)
    const recs = lines.filter((l): l is TapRecord => l.type === 'verdict')
    t.same(recs.map((r) => [r.verdict, r.src.ip, r.dst.port]), row.want, row.name)
    t.ok(recs.every((r) => r.node === 'node-7'))
  }
  const rec = (await collect(a.socket, { verdict: 'allow', port: 5432 }, 1, () => setImmediate(a.send))).find((l): l is TapRecord => l.type === 'verdict')!
  t.same([rec.src.pod, rec.dst.pod, rec.ingress.reason, rec.ingress.policy], ['a/web', 'b/db', 'rule', 'b/db-from-web'])
  // Readers gone: the server notices the hang-up and uninstalls the sink.
  for (let i = 0; i < 50 && (await status()).installed; i++) await new Promise((r) => setTimeout(r, 20))
  t.same(await status().then((s) => [s.installed, s.readers]), [false, 0], 'uninstalled after the last reader left')
})

t.test('GET /tap with a bad filter is a 400 naming it', async (t) => {
  const a = await agentLike(t)
  const body = await new Promise<{ code: number; body: string }>((resolve, reject) => {
    request({ socketPath: a.socket, path: '/tap?verdict=maybe' }, (res) => {
      let b = ''
      res.on('data', (c: Buffer) => (b += c.toString()))
      res.on('end', () => resolve({ code: res.statusCode!, body: b }))
    }).on('error', reject).end()
  })
  t.equal(body.code, 400)
  t.same(JSON.parse(body.body), { error: 'verdict: "maybe" is not allow, deny or audit' })
})

interface Captured { out: string; err: string }
async function cli(argv: string[]): Promise<Captured & { code: number }> {
  const c: Captured = { out: '', err: '' }
  const code = await main(argv, { out: (s) => void (c.out += s), err: (s) => void (c.err += s) })
  return { ...c, code }
}

t.test('netpol tap follows the live tap (text and --json, --count)', async (t) => {
  const a = await agentLike(t)
  const send = setInterval(a.send, 20)
  t.teardown(() => clearInterval(send))
  const text = await cli(['tap', '--socket', a.socket, '--verdict', 'deny', '--count', '2', '--color', 'never'])
  t.equal(text.code, 0, text.err)
  const lines = text.out.trimEnd().split('\n')
  t.equal(lines.length, 2)
  t.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} DENY  TCP a\/cli:33000 -> b\/db:5432  ingress: isolated by b\/db-from-web, no rule matched  \(gen 1(, cached)?, node-7\)$/)
  t.match(lines[1]!, /DENY  TCP a\/web:33000 -> b\/db:22  ingress: isolated by b\/db-from-web, no rule matched/)
  t.match(text.err, /following the tap of node node-7/)
  const js = await cli(['tap', '--socket', a.socket, '--json', '--count', '3', '--pod', 'a/web'])
  t.equal(js.code, 0, js.err)
  const recs = js.out.trimEnd().split('\n').map((l) => JSON.parse(l) as TapRecord)
  t.equal(recs.length, 3)
  t.ok(recs.every((r) => r.src.pod === 'a/web' || r.dst.pod === 'a/web'))
  const coloured = await cli(['tap', '--socket', a.socket, '--count', '1', '--verdict', 'allow', '--color', 'always'])
  t.match(coloured.out, /\x1b\[32mALLOW\x1b\[0m/)
})

t.test('netpol tap: unreachable agent and usage errors', async (t) => {
  const r = await cli(['tap', '--socket', '/nonexistent/agent.sock'])
  t.equal(r.code, 1)
  t.match(r.err, /cannot reach the agent at \/nonexistent\/agent.sock: ENOENT \(is the agent running/)
  const rows: [string[], RegExp][] = [
    [['tap', '--verdict', 'maybe'], /option --verdict: "maybe" is not allow, deny or audit/],
    [['tap', '--pod', 'web'], /option --pod: "web" is not namespace\/name/],
    [['tap', '--since', '5m'], /--since needs --file/],
    [['tap', '--file', 'x', '--since', 'yesterday-ish'], /"yesterday-ish" is neither a duration/],
    [['tap', '--port', '70000'], /port: "70000" is not a port number/],
  ]
  for (const [argv, re] of rows) {
    const u = await cli(argv)
    t.equal(u.code, 2, argv.join(' '))
    t.match(u.err, re)
  }
})

t.test('netpol tap --file: filters, --since, rotated files oldest first, bad lines reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-tapfile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'tap.jsonl')
  const rec = (minute: number, verdict: 'allow' | 'deny', src: string, dport: number, policy?: string): TapRecord => ({
    type: 'verdict', time: `2026-03-04T05:${String(minute).padStart(2, '0')}:00.000Z`, node: 'n1',
    src: { ip: '10.0.0.1', port: 40000, pod: src }, dst: { ip: '10.0.0.2', port: dport, pod: 'db/pg' }, protocol: 'TCP', verdict,
    directions: ['ingress'], egress: { allowed: true, reason: 'not-isolated' },
    ingress: verdict === 'allow' ? { allowed: true, reason: 'rule', policy, rule: 0, peer: 0, port: 0, isolatedBy: [policy!] } : { allowed: false, reason: 'no-rule-matched', isolatedBy: ['db/deny'] },
    fromCache: false, generation: 3,
  })
  const jsonl = (rs: object[]) => rs.map((r) => JSON.stringify(r)).join('\n') + '\n'
  writeFileSync(`${path}.2`, jsonl([rec(1, 'deny', 'fe/web', 5432)]))
  writeFileSync(`${path}.1`, jsonl([rec(2, 'allow', 'be/api', 5432, 'db/allow-api'), { type: 'dropped', time: '2026-03-04T05:02:30.000Z', count: 7, where: 'ring' }]))
  writeFileSync(path, jsonl([rec(3, 'deny', 'fe/web', 22), rec(4, 'allow', 'be/api', 5432, 'db/allow-api')]) + '{"torn line\n')
  const minutes = (out: string) => out.trimEnd().split('\n').filter(Boolean).map((l) => Number((JSON.parse(l) as TapRecord).time.slice(14, 16)))
  const rows: { name: string; args: string[]; want: number[] }[] = [
    { name: 'everything, oldest file first', args: [], want: [1, 2, 3, 4] },
    { name: '--verdict deny', args: ['--verdict', 'deny'], want: [1, 3] },
    { name: '--pod', args: ['--pod', 'be/api'], want: [2, 4] },
    { name: '--policy (allowing)', args: ['--policy', 'db/allow-api'], want: [2, 4] },
    { name: '--policy (isolating, denied)', args: ['--policy', 'db/deny'], want: [1, 3] },
    { name: '--port', args: ['--port', '22'], want: [3] },
    { name: '--namespace', args: ['--namespace', 'fe'], want: [1, 3] },
    { name: '--protocol udp', args: ['--protocol', 'udp'], want: [] },
    { name: '--since a date', args: ['--since', '2026-03-04T05:03:00Z'], want: [3, 4] },
    { name: '--count', args: ['--count', '2', '--verdict', 'allow'], want: [2, 4] },
  ]
  for (const row of rows) {
    const r = await cli(['tap', '--file', path, '--json', ...row.args])
    t.equal(r.code, 0, `${row.name}: ${r.err}`)
    t.same(minutes(r.out.split('\n').filter((l) => !l.includes('"dropped"')).join('\n')), row.want, row.name)
  }
  const all = await cli(['tap', '--file', path, '--json'])
  t.match(all.out, /"type":"dropped","time":"2026-03-04T05:02:30.000Z","count":7/, 'drop notices pass through --json')
  t.match(all.err, /skipped 1 line\(s\) that are not tap records \(first: .*tap.jsonl line 3\)/)
  const text = await cli(['tap', '--file', path, '--color', 'never'])
  t.match(text.out, /^05:02:00.000 ALLOW TCP be\/api:40000 -> db\/pg:5432  egress: not isolated; ingress: allowed by db\/allow-api spec.ingress\[0\] from\[0\] ports\[0\]  \(gen 3, n1\)$/m)
  t.match(text.err, /05:02:30.000 \.\.\. 7 record\(s\) dropped \(agent tap buffer full\)/)
  const missing = await cli(['tap', '--file', join(dir, 'nope.jsonl')])
  t.equal(missing.code, 1)
  t.match(missing.err, /nope.jsonl: no such file/)
})

t.test('--since durations', async (t) => {
  const now = Date.UTC(2026, 0, 1, 12)
  const rows: [string, number][] = [['90s', now - 90_000], ['15m', now - 900_000], ['2h', now - 7_200_000], ['1d', now - 86_400_000], ['2026-01-01T11:00:00Z', now - 3_600_000]]
  for (const [s, want] of rows) t.equal(parseSince(s, now), want, s)
})
