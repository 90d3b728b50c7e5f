// Tap bench: what the verdict tap costs the packet path. A PacketClassifier with a real engine
// (synthetic cluster, verdict cache on, as the agent runs) classifies batches of real packet
// bytes; between batches the event loop turns, so the tap's drain runs as it does in the agent.
//   no tap        the classifier alone
//   tap off       a Tap attached, its last reader gone (sink uninstalled: must equal "no tap")
//   ring only     the sink's packet-path half alone: records into the ring, nothing formatted
//   file sink     ring + drain to a rotating JSON-lines file
//   live reader   ring + drain to `netpol tap --json` (a separate process) over the control socket
// Variants run in interleaved rounds (other load on the machine hits each alike). Columns: median
// ns/packet inside handleBatch (the packet path proper), this process's CPU ns/packet including the
// drain's turns and sink I/O (they share the thread), packets/s that CPU cost allows, records dropped.
// `--json` prints a last line {"bench":"tap",...}; `--packets N` sets the packets per variant.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path, { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ControlServer, getControlJson } from '../src/agent/control-server.js'
import type { VerdictSlot } from '../src/api/types.js'
import type { DecodedPacket } from '../src/dataplane/decode.js'
import { PacketClassifier, type VerdictSink } from '../src/dataplane/packet-classifier.js'
import type { PacketBatch, VerdictWriter } from '../src/dataplane/queue-types.js'
import { PolicyEngine } from '../src/engine/index.js'
import { ClusterStore } from '../src/store/cluster-store.js'
import { attachTap } from '../src/tap/attach.js'
import { RecordRing } from '../src/tap/record-ring.js'
import { gc, median, table } from './lib/stats.js'
import { syntheticCluster } from './lib/synthetic-cluster.js'

const SELF = fileURLToPath(import.meta.url)
const BATCH = 64
const VARIANTS = ['no tap', 'tap off', 'ring only', 'file sink', 'live reader'] as const
type Variant = (typeof VARIANTS)[number]

/** One IPv4 TCP SYN (40 bytes) per flow, laid out back to back like a queue batch. */
function packetBatches(ips: readonly number[], byNamespace: readonly number[][], flows: number): PacketBatch[] {
  let seed = 7
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296)
  const ports = [8080, 9090, 50051, 5432, 443]
  const batches: PacketBatch[] = []
  for (let b = 0; b < flows / BATCH; b++) {
    const data = Buffer.alloc(BATCH * 40)
    for (let i = 0; i < BATCH; i++) {
      const ns = byNamespace[Math.floor(rnd() * byNamespace.length)]!
      const src = ips[ns[Math.floor(rnd() * ns.length)]!]!
      const dst = rnd() < 0.8 ? ips[ns[Math.floor(rnd() * ns.length)]!]! : ips[Math.floor(rnd() * ips.length)]!
      const o = i * 40
      data[o] = 0x45
      data.writeUInt16BE(40, o + 2)
      data[o + 8] = 64
      data[o + 9] = 6
      data.writeUInt32BE(src, o + 12)
      data.writeUInt32BE(dst, o + 16)
      data.writeUInt16BE(30000 + Math.floor(rnd() * 30000), o + 20)
      data.writeUInt16BE(ports[Math.floor(rnd() * ports.length)]!, o + 22)
      data[o + 32] = 0x50
      data[o + 33] = 0x02
    }
    batches.push({
      count: BATCH, data,
      packetOffset: (i) => i * 40, capturedLength: () => 40, packetLength: () => 40, packetId: (i) => i + 1,
      hwProtocol: () => 0x0800, hook: () => 2, inIfindex: () => 0, outIfindex: () => 0, mark: () => 0,
    })
  }
  return batches
}

const sink: VerdictWriter = { set() {} }
const turn = () => new Promise<void>((r) => setImmediate(r))

interface Sample {
  /** Per-batch ns/packet inside handleBatch (median taken later: robust to preemption). */
  hot: number[]
  /** Process CPU ns/packet over the round, drain and sink I/O included. */
  cpu: number
  wall: number
}

async function warm(classifier: PacketClassifier, batches: readonly PacketBatch[]): Promise<void> {
  for (let i = 0; i < batches.length; i++) {
    classifier.handleBatch(batches[i]!, sink)
    await turn()
  }
}

/** One round of `rounds` batches, an event-loop turn after each (the agent's loop: drains run there). */
async function round(classifier: PacketClassifier, batches: readonly PacketBatch[], rounds: number, from: number): Promise<Sample> {
  gc()
  await turn()
  const hot: number[] = []
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now()
    classifier.handleBatch(batches[(from + i) % batches.length]!, sink)
    hot.push(((performance.now() - t0) * 1e6) / BATCH)
    await turn()
  }
  for (let i = 0; i < 4; i++) await turn()
  const wall = performance.now() - start
  const cpu = process.cpuUsage(cpu0)
  return { hot, cpu: ((cpu.user + cpu.system) * 1000) / (rounds * BATCH), wall: (wall * 1e6) / (rounds * BATCH) }
}

function cliArgv(): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), path.join(path.dirname(SELF), '../src/cli/main.ts')]
}

async function waitReaders(socket: string, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await getControlJson<{ readers: number }>(socket, '/tap/status').catch(() => undefined)
    if (s && s.readers >= n) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('the live reader did not connect')
}

interface Setup {
  variant: Variant
  classifier: PacketClassifier
  records: () => number
  dropped: () => number
  close: () => Promise<void>
}

async function setUp(variant: Variant, dir: string, engine: PolicyEngine, store: ClusterStore, readers: ChildProcess[]): Promise<Setup> {
  const classifier = new PacketClassifier(engine, { failOpen: false, cacheSize: 65536 })
  const none = { variant, classifier, records: () => 0, dropped: () => 0, close: async () => {} }
  if (variant === 'no tap') return none
  if (variant === 'ring only') {
    const ring = new RecordRing(16384)
    // The Tap's packet-path half as it runs (a clock read per burst, the ring write, one
    // setImmediate per burst), with a drain that only forgets: nothing is formatted.
    let scheduled = false
    let stamp = 0
    const forget = () => {
      scheduled = false
      ring.clear()
    }
    const ringSink: VerdictSink = {
      record(p: DecodedPacket, d: Uint8Array, s: VerdictSlot, c: boolean) {
        if (!scheduled) {
          scheduled = true
          stamp = Date.now()
          setImmediate(forget)
        }
        ring.write(stamp, p, d, s, c)
      },
    }
    classifier.setSink(ringSink)
    return { ...none, records: () => ring.written, dropped: () => ring.dropped }
  }
  const socket = join(dir, `${variant.replace(' ', '-')}.sock`)
  const control = new ControlServer(socket)
  const log = { warn: () => {}, info: () => {} }
  const config = { nodeName: 'bench', tapFile: variant === 'file sink' ? join(dir, 'tap.jsonl') : '', tapFileMaxBytes: 64 << 20, tapFileKeep: 1, tapRingSize: 16384 }
  const tap = attachTap({ classifier, engine, store }, control, config, log)
  await control.listen()
  if (variant === 'tap off') {
    const r = { filter: {}, send: () => true }
    tap.addReader(r)
    tap.removeReader(r)
  }
  if (variant === 'live reader') {
    const argv = cliArgv()
    readers.push(spawn(argv[0]!, [...argv.slice(1), 'tap', '--socket', socket, '--json'], { stdio: ['ignore', 'ignore', 'inherit'] }))
    await waitReaders(socket, 1)
  }
  const st = () => tap.stats()
  return {
    variant, classifier,
    records: () => st().records,
    dropped: () => st().ring.dropped + st().readerDrops + (st().file?.dropped ?? 0),
    close: async () => {
      await tap.close()
      await control.close()
    },
  }
}

export default async function tapBench(args: string[]): Promise<void> {
  const json = args.includes('--json')
  const pi = args.indexOf('--packets')
  const total = pi >= 0 ? Number(args[pi + 1]) : 400_000
  const ROUNDS = 5
  const { state, podIPs, byNamespace } = syntheticCluster({ policies: 1000, pods: 10_000, cidrs: 1000 })
  const store = new ClusterStore()
  store.replaceAll(state)
  const engine = new PolicyEngine()
  engine.load(store.state())
  // 8192 distinct first packets, replayed: after warm-up the verdict cache answers (the agent's
  // steady state), so the figures isolate the tap rather than the engine.
  const batches = packetBatches(podIPs, byNamespace, 8192)
  const dir = mkdtempSync(join(tmpdir(), 'netpol-tapbench-'))
  const readers: ChildProcess[] = []
  const setups: Setup[] = []
  const samples = new Map<Variant, Sample[]>(VARIANTS.map((v) => [v, []]))
  const perRound = Math.ceil(total / ROUNDS / BATCH)
  try {
    for (const v of VARIANTS) setups.push(await setUp(v, dir, engine, store, readers))
    for (const s of setups) await warm(s.classifier, batches)
    // Interleaved rounds, the order rotated each time: load from other processes hits all alike.
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < setups.length; k++) {
        const s = setups[(k + r) % setups.length]!
        samples.get(s.variant)!.push(await round(s.classifier, batches, perRound, r * perRound))
      }
    }
  } finally {
    for (const s of setups) await s.close().catch(() => undefined)
    for (const r of readers) r.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
  const results = setups.map((s) => {
    const ss = samples.get(s.variant)!
    return {
      variant: s.variant,
      hot: median(ss.flatMap((x) => x.hot)),
      cpu: median(ss.map((x) => x.cpu)),
      wall: median(ss.map((x) => x.wall)),
      records: s.records(),
      dropped: s.dropped(),
    }
  })
  const base = results[0]!
  const packets = perRound * BATCH * ROUNDS
  console.log(`tap cost on the classifier path: ${packets.toLocaleString('en-US')} packets per variant in ${ROUNDS} interleaved rounds, batches of ${BATCH}; 1k policies / 10k pods, verdict cache on`)
  console.log('hot = median per-batch time inside handleBatch; cpu = this process\'s CPU per packet incl. drain and sink I/O (the live reader\'s own process excluded)')
  console.log(table(
    ['variant', 'hot ns/pkt', 'hot +ns', 'cpu ns/pkt', 'cpu +ns', 'packets/s (cpu)', 'records', 'dropped'],
    results.map((r) => [r.variant, r.hot, r === base ? '-' : r.hot - base.hot, r.cpu, r === base ? '-' : r.cpu - base.cpu, 1e9 / r.cpu, r.records, r.dropped]),
  ))
  if (json) {
    const out: Record<string, unknown> = { bench: 'tap', packets, batch: BATCH }
    for (const r of results) {
      const k = r.variant.replace(' ', '_')
      out[`${k}_hot_ns_per_pkt`] = Math.round(r.hot * 10) / 10
      out[`${k}_cpu_ns_per_pkt`] = Math.round(r.cpu * 10) / 10
      out[`${k}_pps`] = Math.round(1e9 / r.cpu)
      out[`${k}_dropped`] = r.dropped
    }
    console.log(JSON.stringify(out))
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  tapBench(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => {
    console.error(e)
    process.exit(1)
  })
}
