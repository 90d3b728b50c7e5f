// The addon's ctnetlink: record codec and address text (units), then dump and batched exact delete
// against real conntrack tables in namespaces this test creates (entries made with `conntrack -I`
// and with real traffic), checked against the conntrack tool's view.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { e2e } from './helpers/e2e.js'
import { labTopology, tcpSession, uniquePrefix } from './helpers/netns.js'
import { nsExec, run } from '../src/lab/netns.js'
import { decodeFlows, deleteFlowsNative, deleteRequestLine, encodeFlows, FlowDeleter, listFlows, type Flow } from '../src/dataplane/conntrack.js'
import { CT, CT_HAS, CT_RECORD_SIZE, type ConntrackBinding, type ConntrackDeleteResult } from '../src/native/binding.js'
import { formatIPv6, parseIPv6Into } from '../src/native/ip-bytes.js'
import { loadBinding, NativeError } from '../src/native/index.js'
import { cutDeniedFlows } from '../src/agent/flow-cutter.js'
import type { PolicyEvaluator } from '../src/api/types.js'

const AGENT = new URL('./fixtures/ctnetlink-agent.ts', import.meta.url).pathname

/** The ctnetlink fixture inside a namespace: request/answer by id over JSON lines. */
class CtAgent {
  private nextId = 1
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>()
  private constructor(readonly child: ChildProcess) {}
  static async start(t: Test, ns: string, wrap: string[] = []): Promise<CtAgent> {
    const child = spawn('ip', ['netns', 'exec', ns, ...wrap, process.execPath, '--import', 'tsx', AGENT], { stdio: ['pipe', 'pipe', 'inherit'] })
    const a = new CtAgent(child)
    t.teardown(() => { child.stdin!.end(); child.kill() })
    const ready = new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`ctnetlink agent exited (${code})`)))
      createInterface({ input: child.stdout! }).on('line', (l) => {
        const msg = JSON.parse(l) as Record<string, unknown>
        if (msg.ready) return resolve()
        a.waiting.get(msg.id as number)?.(msg)
        a.waiting.delete(msg.id as number)
      })
    })
    await ready
    return a
  }
  call<T = Record<string, unknown>>(req: object): Promise<T> {
    const id = this.nextId++
    return new Promise((resolve) => {
      this.waiting.set(id, resolve as (v: Record<string, unknown>) => void)
      this.child.stdin!.write(JSON.stringify({ id, ...req }) + '\n')
    })
  }
  async flows(filter?: object): Promise<Flow[]> {
    const r = await this.call<{ flows: Flow[]; error?: unknown }>({ op: 'list', filter })
    if (!r.flows) throw new Error(`list failed: ${JSON.stringify(r.error)}`)
    return r.flows
  }
}

/** Fills a namespace's table from `conntrack -I` argument lines (one -R file). */
async function insert(t: Test, ns: string, lines: string[]): Promise<void> {
  const file = join(tmpdir(), `${ns}.ct`)
  writeFileSync(file, lines.join('\n') + '\n')
  t.teardown(() => rmSync(file, { force: true }))
  await nsExec(ns)(['conntrack', '-R', file])
}

const key = deleteRequestLine

t.test('ip text <-> bytes, as inet_ntop writes it', async (t) => {
  const cases: [string, string][] = [
    ['::', '::'], ['::1', '::1'], ['fd00::1:11', 'fd00::1:11'], ['FD00:0:0:0:0:0:2:22', 'fd00::2:22'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'], ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'], ['1::2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['0:0:1::', '0:0:1::'], ['::ffff:10.0.0.1', '::ffff:10.0.0.1'], ['::1.2.3.4', '::1.2.3.4'], ['2001:db8::', '2001:db8::'],
  ]
  for (const [text, want] of cases) {
    const b = new Uint8Array(16)
    t.ok(parseIPv6Into(text, b, 0), `${text} parses`)
    t.equal(formatIPv6(b, 0), want, `${text} -> ${want}`)
  }
  for (const bad of ['1::2::3', ':::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', 'g::1', '1.2.3.4', '1:', '::1:', '12345::', '::ffff:1.2.3']) {
    t.notOk(parseIPv6Into(bad, new Uint8Array(16), 0), `${bad} rejected`)
  }
})

t.test('records: encode -> decode keeps the tuple and zone; state, status, mark decode', async (t) => {
  const flows: Flow[] = [
    { family: 4, protocol: 'TCP', protoNum: 6, src: '10.0.1.11', dst: '10.0.2.22', sport: 40000, dport: 80 },
    { family: 6, protocol: 'UDP', protoNum: 17, src: 'fd00::1:11', dst: 'fd00::2:22', sport: 5353, dport: 53, zone: 7 },
    { family: 4, protocol: 'ICMP', protoNum: 1, src: '10.0.1.11', dst: '10.0.2.22', sport: 0, dport: 0, icmp: { type: 8, code: 0, id: 77 } },
    { family: 6, protocol: 'ICMPv6', protoNum: 58, src: 'fd00::1', dst: 'fd00::2', sport: 0, dport: 0, icmp: { type: 128, code: 0, id: 9 } },
    { family: 4, protocol: 'GRE', protoNum: 47, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 },
  ]
  const recs = encodeFlows(flows)
  t.equal(recs.length, flows.length * CT_RECORD_SIZE)
  t.same(decodeFlows(recs).map(key), flows.map(key), 'tuples and zones survive')
  // What the dump adds: TCP state, status bits, mark.
  recs[CT.STATE] = 3
  recs[CT.HAS] |= CT_HAS.MARK | CT_HAS.STATUS
  recs.writeUInt32LE(0x42, CT.MARK)
  recs.writeUInt32LE(2 | 4 | 8, CT.STATUS)  // SEEN_REPLY | ASSURED | CONFIRMED
  t.match(decodeFlows(recs)[0], { state: 'ESTABLISHED', mark: 0x42, status: 14, flags: ['ASSURED'] })
  t.same(decodeFlows(recs, { protocol: 'UDP' }).map((f) => f.dport), [53], 'protocol filter on the record')
  t.same(decodeFlows(recs, { family: 6 }).length, 2, 'family filter')
  t.same(decodeFlows(recs, { anyIp: new Set(['10.0.0.2']) }).map((f) => f.protocol), ['GRE'], 'address filter')
  t.throws(() => encodeFlows([{ ...flows[0]!, src: 'fd00::1' }]), TypeError, 'address not of the family')
})

t.test('binding usage errors are TypeErrors', async (t) => {
  const b = loadBinding()
  t.throws(() => b.conntrackDump(5 as 4), { name: 'TypeError', message: /conntrackDump\(family/ })
  t.throws(() => b.conntrackDelete('x' as unknown as Uint8Array, 1), { name: 'TypeError', message: /conntrackDelete\(records/ })
  t.throws(() => b.conntrackDelete(Buffer.alloc(64), 2), { name: 'TypeError' }, 'fewer bytes than count records')
  t.throws(() => b.conntrackDelete(Buffer.alloc(64), 1), { name: 'TypeError', message: /family must be 4 or 6/ })
})

t.test('deleteFlowsNative and FlowDeleter over a fake binding: counts, NativeError, one batch at a time', async (t) => {
  const calls: number[] = []
  let release: (() => void) | undefined
  const fake = (result: Partial<ConntrackDeleteResult>, hold = false): ConntrackBinding => ({
    conntrackDump: async () => Buffer.alloc(0),
    conntrackDelete: async (_recs, count) => {
      calls.push(count)
      if (hold) await new Promise<void>((r) => { release = r })
      return { deleted: count, missing: 0, failed: 0, lastErrno: 0, ...result }
    },
  })
  const flow: Flow = { family: 4, protocol: 'TCP', protoNum: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }
  t.equal(await deleteFlowsNative(fake({ deleted: 1, missing: 1 }), [flow, flow]), 1, 'resolves to the deleted count')
  const err = await deleteFlowsNative(fake({ deleted: 0, failed: 2, lastErrno: 1 }), [flow, flow]).catch((e: unknown) => e)
  t.ok(err instanceof NativeError, 'failed acks reject with NativeError')
  t.match(err, { syscall: 'IPCTNL_MSG_CT_DELETE', errno: 1, code: 'EPERM', message: /2 of 2 deletions failed \(EPERM\)/ })
  t.equal(await deleteFlowsNative(fake({}), []), 0, 'nothing to do: no call')
  calls.length = 0
  const deleter = new FlowDeleter(fake({}, true))
  const first = deleter.delete([flow])
  const second = deleter.delete([flow, flow])
  await new Promise((r) => setTimeout(r, 20))
  t.same(calls, [1], 'the second batch waits for the first')
  release!()
  await first
  await new Promise((r) => setTimeout(r, 20))
  release!()
  t.equal(await second, 2)
  deleter.close()
  await t.rejects(deleter.delete([flow]), /closed/)
})

t.test('dump and batched delete: 5000 entries, IPv4 + IPv6, TCP/UDP/SCTP/ICMP, zones, marks', e2e(['conntrack']), async (t) => {
  const ns = `${uniquePrefix('ctn')}-node`
  await run(['ip', 'netns', 'add', ns])
  t.teardown(() => run(['ip', 'netns', 'del', ns]))
  const N = 5000
  const lines: string[] = []
  for (let i = 0; i < N; i++) {
    const v6 = i % 2 === 1
    const src = v6 ? `fd00::1:${(i + 1).toString(16)}` : `10.1.${i >> 8}.${i & 255}`
    const dst = v6 ? 'fd00::2:1' : '10.2.0.1'
    const zone = i % 7 === 0 ? ` --zone ${1 + (i % 3)}` : ''
    const mark = i % 11 === 0 ? ` --mark ${i}` : ''
    const extra = `--timeout 600${zone}${mark}`
    switch (i % 4) {
      case 0: lines.push(`-I -s ${src} -d ${dst} -p tcp --sport ${1000 + i} --dport 80 --state ESTABLISHED ${extra}`); break
      case 1: lines.push(`-I -s ${src} -d ${dst} -p udp --sport ${1000 + i} --dport 53 ${extra}`); break
      case 2: lines.push(`-I -s ${src} -d ${dst} -p sctp --sport ${1000 + i} --dport 9000 --state ESTABLISHED --orig-vtag 1 --reply-vtag 2 ${extra}`); break
      default: lines.push(v6
        ? `-I -s ${src} -d ${dst} -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id ${i} ${extra}`
        : `-I -s ${src} -d ${dst} -p icmp --icmp-type 8 --icmp-code 0 --icmp-id ${i} ${extra}`)
    }
  }
  await insert(t, ns, lines)
  const agent = await CtAgent.start(t, ns)

  const dumpMs: number[] = []
  for (let i = 0; i < 5; i++) {
    const r = await agent.call<{ count: number; ms: number }>({ op: 'dump', family: 0 })
    t.equal(r.count, N, `dump ${i}: every entry`)
    dumpMs.push(r.ms)
  }
  const listed = await agent.call<{ flows: Flow[]; ms: number }>({ op: 'list' })
  t.comment(`conntrackDump of ${N}: ${dumpMs.map((m) => m.toFixed(1)).join(' / ')} ms; listFlowsNative (dump + decode) ${listed.ms.toFixed(1)} ms`)
  const native = listed.flows
  const tool = await listFlows(nsExec(ns))
  t.equal(native.length, N)
  t.equal(tool.length, N)
  const byKey = new Map(tool.map((f) => [key(f), f]))
  let same = 0
  for (const f of native) {
    const o = byKey.get(key(f))
    if (o && o.state === f.state && o.mark === f.mark && o.zone === f.zone && o.protocol === f.protocol &&
        JSON.stringify(o.icmp) === JSON.stringify(f.icmp) && JSON.stringify(o.flags) === JSON.stringify(f.flags)) same++
  }
  t.equal(same, N, 'the addon and the conntrack tool see the same entries: tuple, zone, state, mark, icmp, flags')
  t.equal(native.filter((f) => f.zone).length, Math.ceil(N / 7), 'zones')
  t.ok(native.some((f) => f.protocol === 'ICMPv6' && f.icmp?.type === 128), 'ICMPv6 echo entries')
  t.same((await agent.flows({ family: 6, protocol: 'TCP' })).every((f) => f.family === 6 && f.protocol === 'TCP'), true, 'filtered dump')

  // 1000 deletions spread over every kind (families, protocols, zones, marks).
  const doomed = native.filter((_, i) => i % 5 === 2)
  t.equal(doomed.length, 1000)
  t.ok(doomed.some((f) => f.zone) && doomed.some((f) => f.icmp) && doomed.some((f) => f.family === 6), 'a mix of kinds')
  const del = await agent.call<{ result: ConntrackDeleteResult; ms: number }>({ op: 'delete', flows: doomed })
  t.same(del.result, { deleted: 1000, missing: 0, failed: 0, lastErrno: 0 }, 'every request acked: all deleted')
  t.comment(`conntrackDelete: 1000 entries in ${del.ms.toFixed(1)} ms`)
  const left = await agent.flows()
  const gone = new Set(doomed.map(key))
  t.equal(left.length, N - 1000, 'exactly the requested entries are gone')
  t.notOk(left.some((f) => gone.has(key(f))), 'none of them left')
  t.same(new Set(left.map(key)), new Set(native.filter((f) => !gone.has(key(f))).map(key)), 'every other entry is still there')
  t.same((await agent.call<{ result: ConntrackDeleteResult }>({ op: 'delete', flows: doomed.slice(0, 10) })).result,
    { deleted: 0, missing: 10, failed: 0, lastErrno: 0 }, 'deleting again: counted missing (ENOENT)')

  // The zone is part of the key.
  const zoned = left.find((f) => f.zone === 2)!
  const { zone: _z, ...unzoned } = zoned
  t.same((await agent.call<{ result: ConntrackDeleteResult }>({ op: 'delete', flows: [unzoned] })).result.missing, 1, 'same tuple, zone 0: not that entry')
  t.equal((await agent.call<{ deleted: number }>({ op: 'deleteFlows', flows: [zoned] })).deleted, 1, 'with its zone: deleted')

  // A request the kernel rejects (TCP without ports: EINVAL) is counted failed, with its errno.
  const bad = encodeFlows([left.find((f) => f.protocol === 'TCP')!])
  bad[CT.HAS] = 0
  t.same((await agent.call<{ result: ConntrackDeleteResult }>({ op: 'deleteRecords', records: bad.toString('base64') })).result,
    { deleted: 0, missing: 0, failed: 1, lastErrno: 22 }, 'failed ack: counted, errno EINVAL')
})

t.test('real traffic: TCP, UDP and ping entries over both families; exact cut, the rest untouched', e2e(['conntrack', 'ping']), async (t) => {
  const topo = await labTopology(t, 'ctr', [
    { key: 'x/a', ips: ['10.0.1.11', 'fd00::1:11'] },
    { key: 'x/b', ips: ['10.0.2.22', 'fd00::2:22'] },
  ])
  const a = topo.pods.get('x/a')!
  const b = topo.pods.get('x/b')!
  const s4 = await tcpSession(t, a.ns, b.ns, '10.0.2.22', 7201)
  const s6 = await tcpSession(t, a.ns, b.ns, 'fd00::2:22', 7202)
  const keep = await tcpSession(t, a.ns, b.ns, '10.0.2.22', 7203)
  for (const s of [s4, s6, keep]) t.ok(await s.roundTrip('hello'), 'session up')
  await topo.exec(a.ns, ['ping', '-c', '1', '-W', '2', '10.0.2.22'])
  await topo.exec(a.ns, ['ping', '-6', '-c', '1', '-W', '2', 'fd00::2:22'])
  const udp = `const s = require('dgram').createSocket('udp6'); s.send('x', 7204, 'fd00::2:22', () => s.close())`
  await topo.exec(a.ns, [process.execPath, '-e', udp])

  const agent = await CtAgent.start(t, topo.nodeNs)
  const flows = await agent.flows({ anyIp: ['10.0.1.11', 'fd00::1:11'] })
  const tcp4 = flows.find((f) => f.protocol === 'TCP' && f.dport === 7201)
  t.match(tcp4, { family: 4, src: '10.0.1.11', dst: '10.0.2.22', sport: s4.sport, state: 'ESTABLISHED', flags: ['ASSURED'] }, 'IPv4 TCP, established, assured')
  t.match(flows.find((f) => f.dport === 7202), { family: 6, src: 'fd00::1:11', dst: 'fd00::2:22', sport: s6.sport, state: 'ESTABLISHED' }, 'IPv6 TCP')
  t.match(flows.find((f) => f.protocol === 'ICMP'), { family: 4, icmp: { type: 8, code: 0 } }, 'ping: ICMP echo')
  t.match(flows.find((f) => f.protocol === 'ICMPv6' && f.icmp?.type === 128), { family: 6, icmp: { code: 0 } }, 'ping -6: ICMPv6 echo')
  t.match(flows.find((f) => f.protocol === 'UDP' && f.dport === 7204), { family: 6, flags: ['UNREPLIED'] }, 'UDP, unreplied')

  const cut = flows.filter((f) => f.dport === 7201 || f.dport === 7202 || f.protocol === 'ICMP')
  t.equal(cut.length, 3)
  t.equal((await agent.call<{ deleted: number }>({ op: 'deleteFlows', flows: cut })).deleted, 3, 'cut both TCP flows and the ICMP entry')
  const after = await agent.flows({ anyIp: ['10.0.1.11', 'fd00::1:11'] })
  t.same(after.map(key).sort(), flows.filter((f) => !cut.includes(f)).map(key).sort(), 'exactly those are gone')
  t.ok(await keep.roundTrip('still'), 'the untouched connection still works')
})

t.test('without CAP_NET_ADMIN: NativeError naming the netlink call and errno', e2e(['setpriv']), async (t) => {
  const ns = `${uniquePrefix('ctp')}-node`
  await run(['ip', 'netns', 'add', ns])
  t.teardown(() => run(['ip', 'netns', 'del', ns]))
  const agent = await CtAgent.start(t, ns, ['setpriv', '--bounding-set=-net_admin', '--'])
  t.match(await agent.call({ op: 'dump', family: 0 }), { error: { name: 'NativeError', syscall: 'IPCTNL_MSG_CT_GET', code: 'EPERM', errno: 1 } }, 'dump')
  const flow: Flow = { family: 4, protocol: 'TCP', protoNum: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }
  t.match(await agent.call({ op: 'deleteFlows', flows: [flow] }), { error: { name: 'NativeError', syscall: 'IPCTNL_MSG_CT_DELETE', code: 'EPERM' } }, 'delete')
})

t.test('cutDeniedFlows: dumps, re-decides TCP/UDP/SCTP flows, deletes exactly the denied ones', async (t) => {
  const flows: Flow[] = [
    { family: 4, protocol: 'TCP', protoNum: 6, src: '10.0.1.11', dst: '10.0.2.22', sport: 40000, dport: 80 },
    { family: 4, protocol: 'TCP', protoNum: 6, src: '10.0.1.11', dst: '10.0.2.22', sport: 40001, dport: 443 },
    { family: 6, protocol: 'UDP', protoNum: 17, src: 'fd00::1:11', dst: 'fd00::2:22', sport: 5353, dport: 53, zone: 3 },
    { family: 4, protocol: 'ICMP', protoNum: 1, src: '10.0.1.11', dst: '10.0.2.22', sport: 0, dport: 0, icmp: { type: 8, code: 0, id: 1 } },
  ]
  const deleted: Flow[][] = []
  const binding: ConntrackBinding = {
    conntrackDump: async (family) => { t.equal(family, 0, 'both families'); return encodeFlows(flows) },
    conntrackDelete: async (recs, count) => {
      deleted.push(decodeFlows(recs.subarray(0, count * CT_RECORD_SIZE)))
      return { deleted: count, missing: 0, failed: 0, lastErrno: 0 }
    },
  }
  // Denies port 443 and DNS; ICMP is not the policy's business (it would deny it if asked).
  const engine = {
    generation: 2,
    classify: (f: { port?: number; protocol: string }) => ({ allowed: f.port === 80 && f.protocol === 'TCP' }),
  } as unknown as PolicyEvaluator
  const r = await cutDeniedFlows(engine, binding)
  t.match(r, { examined: 4, deleted: 2 })
  t.same(deleted.map((b) => b.map(key)), [[key(flows[1]!), key(flows[2]!)]], 'one batch: the 443 flow and the zoned DNS flow')
})
