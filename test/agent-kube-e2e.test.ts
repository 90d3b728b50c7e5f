// The agent with --source kube, in the lab topology, against the test API server (TLS, token,
// through a TCP proxy inside the node namespace), with real packets:
//   - deny-until-synced: while the first list is held back, no packet reaches any local pod
//   - objects created/deleted on the API server change connectivity; watch event → enforced
//     latency (first probe that sees the change), p50/p99
//   - agent restart under traffic: an allowed established flow keeps flowing, enforcement resumes
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { e2e } from './helpers/e2e.js'
import { KubeLab, type KubeLabPod } from './helpers/kube-lab.js'
import type { KubeObject } from './helpers/fake-apiserver.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const POD = (name: string, ip: string, extra: Record<string, string> = {}): KubeLabPod => ({ namespace: 'x', name, ip, labels: { app: name, ...extra }, port: 8080 })
const PODS = [POD('a', '10.0.1.1'), POD('b', '10.0.1.2'), POD('c', '10.0.1.3')]

function denyIngress(name: string, app: string): KubeObject {
  return { metadata: { name, namespace: 'x' }, spec: { podSelector: { matchLabels: { app } }, policyTypes: ['Ingress'] } }
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}

t.test('deny-until-synced: no packet reaches a pod before the first full sync', e2e(['iptables']), async (t) => {
  const lab = await KubeLab.start(PODS, `nk${process.pid % 10000}d`)
  t.teardown(() => lab.close())
  lab.server.apply('networkpolicies', denyIngress('isolate-b', 'b'))
  // Hold every first list back for 3 s: the agent is up, its rules in place, its state empty.
  for (let i = 0; i < 3; i++) lab.server.inject({ kind: 'slow', ms: 3000, on: 'list' })
  lab.startAgent()
  await lab.waitStatus((s) => (s.rules?.applied ?? 0) >= 1) // deny-until-synced rules installed
  t.equal((await lab.http('/readyz')).code, 503, '/readyz is 503 before the first sync')
  t.equal((await lab.http('/healthz')).code, 200, '/healthz is 200 while waiting for the API server')
  let syncedAt = Infinity
  const watcher = lab.waitStatus((s) => s.synced === true, 20_000).then(() => (syncedAt = performance.now()))
  const results: { from: string; to: string; ok: boolean; end: number }[] = []
  while (syncedAt === Infinity) {
    const batch = await Promise.all([['x/a', 'x/b'], ['x/a', 'x/c'], ['x/c', 'x/a']].map(async ([from, to]) => {
      const r = await lab.probe(from!, to!, 200)
      return { from: from!, to: to!, ok: r.ok, end: performance.now() }
    }))
    results.push(...batch)
  }
  await watcher
  const before = results.filter((r) => r.end < syncedAt)
  t.ok(before.length >= 9, `${before.length} probes ran before the first sync`)
  t.strictSame(before.filter((r) => r.ok), [], 'none was accepted before the first sync')
  await lab.waitStatus((s) => s.ready === true)
  t.equal((await lab.probe('x/a', 'x/c', 1000)).ok, true, 'after the sync: a → c (not isolated) is allowed')
  t.equal((await lab.probe('x/a', 'x/b', 500)).ok, false, 'after the sync: a → b (isolated) is denied')
  t.equal((await lab.http('/readyz')).code, 200, '/readyz is 200 after the first sync')
})

/**
 * Starts a probe (a → b) every `everyMs` until the last 5 finished probes show `want`; returns the
 * start time of the first probe of that final run, and how many probes started after the first
 * `want` probe still showed the old state (flaps). Probes in flight at the end are not waited for.
 */
async function firstProbeSeeing(lab: KubeLab, want: boolean, everyMs = 10, timeoutMs = 15_000): Promise<{ at: number; flaps: number }> {
  const started = performance.now()
  const seen: { start: number; ok: boolean }[] = []
  const inflight: Promise<void>[] = []
  let done: { start: number; ok: boolean }[] = []
  while (performance.now() - started < timeoutMs) {
    const start = performance.now()
    // 300 ms: an allowed probe on a loaded machine must not pass for a denied one.
    inflight.push(lab.probe('x/a', 'x/b', 300).then((r) => { seen.push({ start, ok: r.ok }) }))
    await sleep(everyMs)
    done = [...seen].sort((p, q) => p.start - q.start)
    if (done.length >= 5 && done.slice(-5).every((p) => p.ok === want)) break
  }
  let i = done.length
  while (i > 0 && done[i - 1]!.ok === want) i--
  const first = done.findIndex((p) => p.ok === want)
  const flaps = first < 0 ? 0 : done.slice(first, i).filter((p) => p.ok !== want).length
  await Promise.all(inflight) // no helper request outlives the round
  return { at: i < done.length ? done[i]!.start : NaN, flaps }
}

t.test('API objects change real connectivity; watch event → enforced latency', e2e(['iptables']), async (t) => {
  const lab = await KubeLab.start(PODS.slice(0, 2), `nk${process.pid % 10000}l`)
  t.teardown(() => lab.close())
  lab.startAgent()
  await lab.waitStatus((s) => s.ready === true)
  t.equal((await lab.probe('x/a', 'x/b', 1000)).ok, true, 'no policy: a → b allowed')
  // Latency is measured from the event being written to the agent's open watch stream.
  while (lab.server.watching('networkpolicies') === 0 || lab.server.watching('pods') === 0) await sleep(10)
  let sentAt = 0
  lab.server.onEventSent = (ev) => { if (ev.resource === 'networkpolicies') sentAt = ev.at }
  const lat: number[] = []
  let flaps = 0
  const rounds = 15
  for (let i = 0; i < rounds; i++) {
    lab.server.apply('networkpolicies', denyIngress('deny-b', 'b'))
    const deny = await firstProbeSeeing(lab, false)
    lat.push(deny.at - sentAt)
    flaps += deny.flaps
    lab.server.delete('networkpolicies', 'x', 'deny-b')
    const allow = await firstProbeSeeing(lab, true)
    lat.push(allow.at - sentAt)
    flaps += allow.flaps
  }
  // An update (not a create/delete) changes connectivity too: a label change on the pod.
  lab.server.apply('networkpolicies', denyIngress('deny-b', 'b'))
  t.ok(Number.isFinite((await firstProbeSeeing(lab, false)).at), 'deny again')
  const b = lab.server.get('pods', 'x', 'b')!
  lab.server.apply('pods', { ...b, metadata: { ...b.metadata, labels: { app: 'b2' } } })
  t.ok(Number.isFinite((await firstProbeSeeing(lab, true)).at), 'relabelling b out of the policy re-allows a → b')
  if (!t.notOk(lat.some((x) => Number.isNaN(x)), 'every change became visible to probes')) {
    t.comment(`per change: ${lat.join(' ')}`)
    t.comment(`server: ${JSON.stringify(lab.server.stats)}; readyz: ${(await lab.http('/readyz')).body}`)
    t.comment(JSON.stringify(await lab.status()))
    t.comment(lab.output())
  }
  const p50 = quantile(lat, 0.5)
  const p99 = quantile(lat, 0.99)
  t.comment(`watch event → first probe seeing the change, ${lat.length} changes: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms (a probe every 10 ms)`)
  t.comment(`each (deny, allow, …): ${lat.map((x) => x.toFixed(0)).join(' ')}; probes that showed the old state after the new one had been seen: ${flaps}`)
  // Issue 4's target is p99 ≤ 100 ms. What bounds it today is the agent's sync pass, not the
  // watch: installing queue rules (iptables-restore and route discovery, exec'd per pass) takes
  // 100-250 ms, and the conntrack sweep of the previous pass delays the next one. Denials wait for
  // rules; allows (the engine swap alone) land in tens of ms. Guard a regression bound here.
  const st = await lab.status()
  t.comment(`agent's last sync pass: ${JSON.stringify(st.lastSync)}`)
  t.ok(p99 <= 2000, `p99 ${p99.toFixed(1)} ms ≤ 2000 ms (a regression bound on a shared machine; target 100 ms: see above)`)
  const metrics = await lab.http('/metrics')
  t.equal(metrics.code, 200)
  const count = Number(/^netpol_policy_realised_seconds_count (\d+)/m.exec(metrics.body)?.[1] ?? 0)
  const sum = Number(/^netpol_policy_realised_seconds_sum ([\d.e+-]+)/m.exec(metrics.body)?.[1] ?? NaN)
  t.ok(count >= lat.length, `agent-side policy realised histogram counted ${count} changes (mean ${(sum / count * 1000).toFixed(1)} ms)`)
  for (const name of ['netpol_verdicts_total', 'netpol_packets_total', 'netpol_verdict_cache_hit_ratio', 'netpol_queue_kernel_dropped_total', 'netpol_store_objects', 'netpol_relists_total', 'netpol_sync_errors_total']) {
    t.match(metrics.body, new RegExp(`^${name}`, 'm'), `${name} exported`)
  }
})

const peerArgv = [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(new URL('./helpers/kube-flow-peer.ts', import.meta.url))]

t.test('agent restart under traffic: established allowed flow survives, enforcement resumes', e2e(['iptables']), async (t) => {
  const lab = await KubeLab.start(PODS, `nk${process.pid % 10000}r`)
  t.teardown(() => lab.close())
  lab.server.apply('networkpolicies', denyIngress('isolate-c', 'c'))
  lab.server.apply('networkpolicies', { metadata: { name: 'b-from-a', namespace: 'x' }, spec: { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }] }] } })
  lab.startAgent()
  await lab.waitStatus((s) => s.ready === true)
  await lab.spawnReady(lab.topology.pods.get('x/b')!.ns, [...peerArgv, '--serve', '9000'])
  const client = spawn('ip', ['netns', 'exec', lab.topology.pods.get('x/a')!.ns, ...peerArgv, '--connect', lab.ip('x/b'), '9000'], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { client.stdin!.end(); client.kill() })
  let last: { sent: number; echoed: number; maxGapMs: number; sinceLastMs: number; error?: string } | undefined
  createInterface({ input: client.stdout! }).on('line', (l) => { const m = JSON.parse(l); if ('sent' in m) last = m })
  for (let i = 0; i < 300 && (last?.echoed ?? 0) <= 20; i++) await sleep(50)
  t.ok((last?.echoed ?? 0) > 20, 'the flow is established and echoing')
  const echoedBefore = last!.echoed

  await lab.stopAgent('SIGTERM')
  const during = await lab.probe('x/a', 'x/c', 300)
  t.equal(during.ok, false, 'with the agent stopped (fail-closed), a new connection to isolated c is dropped')
  lab.startAgent()
  await lab.waitStatus((s) => s.ready === true)
  await sleep(1000)
  t.equal(last?.error, undefined, 'the established flow saw no error')
  t.ok(last!.echoed > echoedBefore + 40, `the flow kept echoing across the restart (${echoedBefore} → ${last!.echoed})`)
  t.ok(last!.sinceLastMs < 200, 'and is still echoing now')
  t.comment(`longest gap in the established flow across the restart: ${last!.maxGapMs} ms`)
  t.equal((await lab.probe('x/a', 'x/b', 1000)).ok, true, 'enforcement resumed: a → b allowed')
  t.equal((await lab.probe('x/c', 'x/b', 500)).ok, false, 'enforcement resumed: c → b denied')
  t.equal((await lab.probe('x/a', 'x/c', 500)).ok, false, 'enforcement resumed: a → c denied')
})
