// Engine bench: compile time, RSS, one-policy update and classify latency on synthetic clusters
// of 10 / 1k / 10k policies × 1k / 10k / 50k pods (100k ipBlock CIDRs at the top size), no
// verdict cache. Each size runs in its own process (clean RSS). `--json` adds a last line with
// the top-size figures; `--sizes 10x1000,10000x50000` picks sizes (policies x pods).
import { spawnSync } from 'node:child_process'
import { PolicyEngine } from '../src/engine/index.js'
import { newVerdictSlot, type NetworkPolicy } from '../src/api/types.js'
import { syntheticCluster } from './lib/synthetic-cluster.js'
import { gc, median, percentile, table } from './lib/stats.js'

interface Result {
  /** '' = whole cluster enforced; otherwise the localNode (an agent's view: one node's pods). */
  node: string
  policies: number
  pods: number
  cidrs: number
  compile_ms: number
  /** CPU time of the compile (this thread and GC helpers): the wall figure on a busy machine lies. */
  compile_cpu_ms: number
  rss_mb: number
  heap_mb: number
  update_ms: number
  update_max_ms: number
  /** A new replica of an existing deployment (identity exists) / a pod relabelled to new labels. */
  pod_add_ms: number
  pod_relabel_ms: number
  classify_p50_us: number
  classify_p99_us: number
  /** Mean over flows confined to 2 namespaces: the same work with a cache-resident working set. */
  classify_hot_us: number
  lookups_per_s: number
  allowed_pct: number
}

const BATCH = 1000
const SAMPLES = 3000

function measure(policies: number, pods: number, node: string): Result {
  const cidrs = policies * 10
  const { state, podIPs, byNamespace } = syntheticCluster({ policies, pods, cidrs })
  const localIPs = node === '' ? podIPs : podIPs.filter((_, i) => state.pods[i]!.nodeName === node)
  gc()
  const engine = new PolicyEngine(node === '' ? {} : { localNode: node })
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  engine.load(state)
  const compileMs = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  const compileCpuMs = (cpu.user + cpu.system) / 1000
  gc()
  const mem = process.memoryUsage()

  // Flows: mostly within a namespace, some across, some to external addresses (ipBlock trees).
  const N = 1 << 16
  const src = new Uint32Array(N)
  const dst = new Uint32Array(N)
  const proto = new Uint8Array(N)
  const port = new Uint16Array(N)
  let seed = 12345
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296)
  const ports = [8080, 9090, 443, 53, 5432, 8500, 50051]
  for (let i = 0; i < N; i++) {
    const ns = byNamespace[Math.floor(rnd() * byNamespace.length)]!
    if (ns.length === 0) continue
    src[i] = podIPs[ns[Math.floor(rnd() * ns.length)]!]!
    const r = rnd()
    if (r < 0.6) dst[i] = podIPs[ns[Math.floor(rnd() * ns.length)]!]!
    else if (r < 0.85) dst[i] = podIPs[Math.floor(rnd() * podIPs.length)]!
    else dst[i] = (((1 + Math.floor(rnd() * 200)) << 24) | Math.floor(rnd() * 0xffffff)) >>> 0
    // An agent only sees flows with a local end: make one end local.
    if (node !== '') src[i] = localIPs[Math.floor(rnd() * localIPs.length)]!
    // Half the external flows arrive from outside (ingress ipBlock path); node mode: half of all.
    if ((r >= 0.85 || node !== '') && rnd() < 0.5) [src[i], dst[i]] = [dst[i]!, src[i]!]
    proto[i] = rnd() < 0.9 ? 6 : 17
    port[i] = ports[Math.floor(rnd() * ports.length)]!
  }
  const slot = newVerdictSlot()
  let allowed = 0
  for (let i = 0; i < 300_000; i++) {
    const j = i & (N - 1)
    if (engine.classifyV4(src[j]!, dst[j]!, proto[j]!, port[j]!, slot)) allowed++
  }
  const per: number[] = []
  let k = 0
  const tAll = performance.now()
  for (let s = 0; s < SAMPLES; s++) {
    const ts = performance.now()
    for (let i = 0; i < BATCH; i++, k++) {
      const j = k & (N - 1)
      engine.classifyV4(src[j]!, dst[j]!, proto[j]!, port[j]!, slot)
    }
    per.push(((performance.now() - ts) * 1000) / BATCH)
  }
  const total = performance.now() - tAll
  per.sort((a, b) => a - b)
  // Same flows mix, confined to two namespaces: separates per-call work from cache misses.
  const hot = 4096
  const hs = new Uint32Array(hot)
  const hd = new Uint32Array(hot)
  for (let i = 0; i < hot; i++) {
    const ns = byNamespace[i & 1]!
    hs[i] = podIPs[ns[Math.floor(rnd() * ns.length)]!]!
    hd[i] = podIPs[ns[Math.floor(rnd() * ns.length)]!]!
  }
  let hotBest = Infinity
  for (let rep = 0; rep < 5; rep++) {
    const th = performance.now()
    for (let i = 0; i < 200_000; i++) engine.classifyV4(hs[i & (hot - 1)]!, hd[i & (hot - 1)]!, proto[i & (N - 1)]!, port[i & (N - 1)]!, slot)
    hotBest = Math.min(hotBest, ((performance.now() - th) * 1000) / 200_000)
  }

  // One-policy updates: change a port of an existing policy, apply, repeat on different ones.
  const updates: number[] = []
  const candidates = state.policies.filter((p) => p.spec.ingress?.[0]?.ports)
  for (let u = 0; u < Math.min(40, candidates.length); u++) {
    const p = candidates[Math.floor((u * candidates.length) / 40)]!
    const changed: NetworkPolicy = structuredClone(p)
    changed.spec.ingress![0]!.ports![0]!.port = 8081 + u
    const tu = performance.now()
    engine.apply([{ kind: 'NetworkPolicy', op: 'upsert', object: changed }])
    updates.push(performance.now() - tu)
  }
  // Pod churn: a replica with existing labels, then a relabel that creates a new identity.
  const podAdds: number[] = []
  const podRelabels: number[] = []
  for (let u = 0; u < 20; u++) {
    const p = state.pods[Math.floor((u * state.pods.length) / 20)]!
    const ipn = (0x0b000000 + u) >>> 0
    const clone = { ...p, name: `${p.name}-extra`, ips: [`${ipn >>> 24}.${(ipn >>> 16) & 255}.${(ipn >>> 8) & 255}.${ipn & 255}`] }
    let tp = performance.now()
    engine.apply([{ kind: 'Pod', op: 'upsert', object: clone }])
    podAdds.push(performance.now() - tp)
    tp = performance.now()
    engine.apply([{ kind: 'Pod', op: 'upsert', object: { ...clone, labels: { ...clone.labels, canary: `c${u}` } } }])
    podRelabels.push(performance.now() - tp)
  }
  return {
    node,
    policies,
    pods,
    cidrs,
    compile_ms: compileMs,
    compile_cpu_ms: compileCpuMs,
    rss_mb: mem.rss / 2 ** 20,
    heap_mb: mem.heapUsed / 2 ** 20,
    update_ms: updates.length > 0 ? median(updates) : NaN,
    update_max_ms: updates.length > 0 ? Math.max(...updates) : NaN,
    pod_add_ms: median(podAdds),
    pod_relabel_ms: median(podRelabels),
    classify_p50_us: percentile(per, 50),
    classify_p99_us: percentile(per, 99),
    classify_hot_us: hotBest,
    lookups_per_s: (SAMPLES * BATCH) / (total / 1000),
    allowed_pct: (100 * allowed) / 300_000,
  }
}

const args = process.argv.slice(2)
const child = args.indexOf('--child')
if (child >= 0) {
  const [pol, pods] = args[child + 1]!.split('x').map(Number)
  console.log(JSON.stringify(measure(pol!, pods!, args[child + 2] ?? '')))
} else {
  const sizesArg = args.indexOf('--sizes')
  const sizes =
    sizesArg >= 0
      ? args[sizesArg + 1]!.split(',').map((s) => s.split('x').map(Number) as [number, number])
      : ([10, 1000, 10000] as const).flatMap((p) => ([1000, 10000, 50000] as const).map((n) => [p, n] as [number, number]))
  // Plus the top size as one node's agent sees it (localNode: tables for ~1/50 of the pods).
  const runs: [number, number, string][] = sizes.map(([p, n]) => [p, n, ''])
  if (!args.includes('--no-node')) {
    const [p, n] = sizes.reduce((a, b) => (b[0] * b[1] >= a[0] * a[1] ? b : a))
    runs.push([p, n, 'node-0'])
  }
  const results: Result[] = []
  for (const [pol, pods, node] of runs) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=4096', '--import', 'tsx', import.meta.filename, '--child', `${pol}x${pods}`, node], { encoding: 'utf8' })
    if (r.status !== 0) {
      process.stderr.write(r.stderr)
      throw new Error(`engine bench ${pol}x${pods} failed`)
    }
    const line = r.stdout.trim().split('\n').pop()!
    results.push(JSON.parse(line) as Result)
    process.stderr.write(`.`)
  }
  process.stderr.write('\n')
  console.log(
    table(
      ['enforced', 'policies', 'pods', 'cidrs', 'compile ms', 'compile CPU ms', 'RSS MB', 'heap MB', 'update ms (med)', 'update ms (max)', 'pod add ms', 'pod relabel ms', 'p50 µs', 'p99 µs', 'hot µs', 'lookups/s', 'allowed %'],
      results.map((r) => [r.node === '' ? 'all pods' : `${r.node} only`, r.policies, r.pods, r.cidrs, r.compile_ms, r.compile_cpu_ms, r.rss_mb, r.heap_mb, r.update_ms, r.update_max_ms, r.pod_add_ms, r.pod_relabel_ms, r.classify_p50_us, r.classify_p99_us, r.classify_hot_us, r.lookups_per_s, r.allowed_pct]),
    ),
  )
  const cluster = results.filter((r) => r.node === '')
  const top = cluster.reduce((a, b) => (b.policies * b.pods >= a.policies * a.pods ? b : a))
  // `_small`: the 10-policy run at the top pod count (same pod maps, only the policy count differs).
  const small = cluster.filter((r) => r.pods === top.pods).reduce((a, b) => (b.policies < a.policies ? b : a))
  console.log(
    `\ntargets at ${top.policies} policies × ${top.pods} pods: classify p99 ${top.classify_p99_us.toFixed(3)} µs (≤ 5, and ≤ 2× ${small.classify_p99_us.toFixed(3)} µs at ${small.policies} policies), ` +
      `compile ${top.compile_ms.toFixed(0)} ms wall / ${top.compile_cpu_ms.toFixed(0)} ms CPU (≤ 1000), RSS ${top.rss_mb.toFixed(0)} MB (≤ 300), one-policy update ${top.update_ms.toFixed(2)} ms (≤ 5)`,
  )
  if (args.includes('--json')) {
    const round = (n: number, d = 3) => Number(n.toFixed(d))
    console.log(
      JSON.stringify({
        bench: 'engine',
        compile_ms: round(top.compile_ms, 1),
        rss_mb: round(top.rss_mb, 1),
        update_ms: round(top.update_ms),
        classify_p50_us: round(top.classify_p50_us),
        classify_p99_us: round(top.classify_p99_us),
        classify_p99_us_small: round(small.classify_p99_us),
        lookups_per_s: Math.round(top.lookups_per_s),
      }),
    )
  }
}
