// Verdict cache bench: is a cache hit cheaper than asking the engine? Per IPv4 first packet, on
// the classify step alone (decode excluded), with a real engine over a synthetic cluster:
//   engine             PolicyEngine.classifyV4, no cache
//   cache (numeric)    VerdictCache: (dst, proto, port) group → Map by source; hits after warm-up
//   cache (string)     the competitor: one lru-cache keyed by a `${src}|${dst}|${proto,port}` string
//   cache miss         VerdictCache with a fresh generation each round: lookup + classify + store
// Variants interleave round by round; figures are medians of ns per lookup. `--json` prints a last
// line {"bench":"cache",...}; `--size policies:pods` (default 10000:50000).
import { LRUCache } from 'lru-cache'
import { pathToFileURL } from 'node:url'
import { newVerdictSlot, type VerdictSlot } from '../src/api/types.js'
import { VerdictCache } from '../src/dataplane/verdict-cache.js'
import { PolicyEngine } from '../src/engine/index.js'
import { median, table } from './lib/stats.js'
import { syntheticCluster } from './lib/synthetic-cluster.js'

const FLOWS = 8192
const ROUNDS = 7

function flows(podIPs: readonly number[], byNamespace: readonly number[][]): Uint32Array {
  let seed = 11
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296)
  const ports = [8080, 9090, 50051, 5432, 443]
  const out = new Uint32Array(FLOWS * 3)
  for (let i = 0; i < FLOWS; i++) {
    const ns = byNamespace[Math.floor(rnd() * byNamespace.length)]!
    out[i * 3] = podIPs[ns[Math.floor(rnd() * ns.length)]!]!
    out[i * 3 + 1] = rnd() < 0.8 ? podIPs[ns[Math.floor(rnd() * ns.length)]!]! : podIPs[Math.floor(rnd() * podIPs.length)]!
    out[i * 3 + 2] = ports[Math.floor(rnd() * ports.length)]!
  }
  return out
}

type Run = (f: Uint32Array, slot: VerdictSlot) => void

export default async function cacheBench(args: string[]): Promise<void> {
  const size = (args[args.indexOf('--size') + 1] ?? '').split(':').map(Number)
  const [policies, pods] = args.includes('--size') && size.length === 2 ? size as [number, number] : [10_000, 50_000]
  const { state, podIPs, byNamespace } = syntheticCluster({ policies, pods, cidrs: Math.min(100_000, policies * 10) })
  const engine = new PolicyEngine()
  engine.load(state)
  const f = flows(podIPs, byNamespace)
  const numeric = new VerdictCache(65536)
  const strings = new LRUCache<string, VerdictSlot>({ max: 65536 })
  let missGeneration = 0
  const variants: Record<string, Run> = {
    engine: (fl, slot) => {
      for (let i = 0; i < FLOWS; i++) engine.classifyV4(fl[i * 3]!, fl[i * 3 + 1]!, 6, fl[i * 3 + 2]!, slot)
    },
    'cache (numeric)': (fl, slot) => {
      const gen = engine.generation
      for (let i = 0; i < FLOWS; i++) {
        const src = fl[i * 3]!
        const dst = fl[i * 3 + 1]!
        const port = fl[i * 3 + 2]!
        const group = VerdictCache.groupV4(dst, 6, port)
        if (!numeric.getV4(src, group, gen, slot)) {
          engine.classifyV4(src, dst, 6, port, slot)
          numeric.setV4(src, group, slot)
        }
      }
    },
    'cache (string)': (fl, slot) => {
      for (let i = 0; i < FLOWS; i++) {
        const src = fl[i * 3]!
        const dst = fl[i * 3 + 1]!
        const port = fl[i * 3 + 2]!
        const key = `${src}|${dst}|${6 * 65536 + port}`
        const hit = strings.get(key)
        if (hit !== undefined && hit.generation === engine.generation) Object.assign(slot, hit)
        else {
          engine.classifyV4(src, dst, 6, port, slot)
          strings.set(key, { ...slot })
        }
      }
    },
    'cache miss': (fl, slot) => {
      const cache = new VerdictCache(65536)
      const gen = ++missGeneration // never the engine's: every lookup misses, then stores
      for (let i = 0; i < FLOWS; i++) {
        const src = fl[i * 3]!
        const group = VerdictCache.groupV4(fl[i * 3 + 1]!, 6, fl[i * 3 + 2]!)
        if (!cache.getV4(src, group, gen, slot)) {
          engine.classifyV4(src, fl[i * 3 + 1]!, 6, fl[i * 3 + 2]!, slot)
          cache.setV4(src, group, slot)
        }
      }
    },
  }
  const slot = newVerdictSlot()
  for (const run of Object.values(variants)) run(f, slot) // warm-up: JIT, and the caches filled
  const samples = new Map<string, number[]>(Object.keys(variants).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of Object.entries(variants)) {
      const t0 = process.hrtime.bigint()
      run(f, slot)
      samples.get(name)!.push(Number(process.hrtime.bigint() - t0) / FLOWS)
    }
  }
  const ns = (name: string) => median(samples.get(name)!)
  console.log(`verdict cache, ${policies} policies × ${pods} pods, ${FLOWS} distinct IPv4 flows replayed (${ROUNDS} rounds, medians)`)
  console.log(table(['variant', 'ns/lookup', 'vs engine'], Object.keys(variants).map((k) => [k, ns(k).toFixed(0), (ns(k) / ns('engine')).toFixed(2)])))
  if (args.includes('--json')) {
    console.log(JSON.stringify({
      bench: 'cache', policies, pods,
      engine_ns: Math.round(ns('engine')), hit_ns: Math.round(ns('cache (numeric)')),
      hit_ns_string_key: Math.round(ns('cache (string)')), miss_ns: Math.round(ns('cache miss')),
      hit_ratio_vs_engine: Number((ns('cache (numeric)') / ns('engine')).toFixed(3)),
    }))
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cacheBench(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
