// The tap and replay against the real agent in the lab (pods as network namespaces, real packets):
// tap records of the demo's probes carry the same reasons as `netpol verdict`, and a tcpdump
// capture taken in a pod's namespace replays to the verdicts the dataplane gave.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Lab } from '../src/lab/lab.js'
import { loadCluster } from '../src/model/load-cluster.js'
import type { ReplayReport } from '../src/replay/replay.js'
import type { TapRecord } from '../src/tap/tap-record.js'
import { e2e } from './helpers/e2e.js'
import { endpointIs as is, readTap } from './helpers/tap-reader.js'
import { ROOT, runCli } from './helpers/run-cli.js'

const DEMO = join(ROOT, 'examples/demo-cluster.json')

interface VerdictOut { steps: { results: { from: string; to: string; port: number; protocol: string; allowed: boolean; egress: unknown; ingress: unknown }[] }[] }

t.test('lab: tap records carry netpol verdict\'s reasons; a tcpdump capture replays to the dataplane\'s verdicts', e2e(['iptables', 'conntrack', 'tcpdump']), async (t) => {
  const cluster = await loadCluster(DEMO)
  const dir = mkdtempSync(join(tmpdir(), 'netpol-taplab-'))
  const tapFile = join(dir, 'log', 'tap.jsonl')
  const lab = await Lab.start(cluster, { agentArgs: ['--tap-file', tapFile] })
  t.teardown(async () => {
    await lab.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const probes = cluster.steps[0]!.probes
  const expected = JSON.parse((await runCli(['verdict', '--cluster', DEMO])).stdout) as VerdictOut

  // A live reader, and tcpdump in frontend/web's namespace, while the demo's probes run.
  const tap = await readTap(lab.controlSocket)
  const records = tap.records
  const pcap = join(dir, 'web.pcap')
  const webNs = lab.topology.pods.get('frontend/web')!.ns
  const dump = spawn('ip', ['netns', 'exec', webNs, 'tcpdump', '-i', 'any', '-U', '-n', '-w', pcap, 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let dumpErr = ''
  dump.stderr!.on('data', (d: Buffer) => (dumpErr += d.toString()))
  for (let i = 0; i < 50 && !/listening on/.test(dumpErr); i++) await new Promise((r) => setTimeout(r, 100))
  const results = await lab.probe(probes, 1000)
  await new Promise((r) => setTimeout(r, 300))
  dump.kill('SIGINT')
  await new Promise((r) => dump.once('exit', r))
  await tap.stop()

  let checked = 0
  results.forEach((r, j) => {
    if (r.allowed === null || r.loopback) return
    const want = expected.steps[0]!.results[j]!
    t.equal(r.allowed, want.allowed, `dataplane: ${r.from} -> ${r.to}:${r.port}`)
    const rec = records.find((x) => is(x.src, r.from) && is(x.dst, r.to) && x.dst.port === r.port && x.protocol === r.protocol)
    if (!rec) {
      t.fail(`no tap record for ${r.from} -> ${r.to}:${r.port}`, { records: records.length })
      return
    }
    t.same({ verdict: rec.verdict, egress: rec.egress, ingress: rec.ingress }, { verdict: want.allowed ? 'allow' : 'deny', egress: want.egress, ingress: want.ingress },
      `tap record of ${r.from} -> ${r.to}:${r.port} = netpol verdict`)
    checked++
  })
  t.ok(checked >= 6, `${checked} probes checked against their tap records`)

  // The agent's --tap-file holds the same records as the live reader saw.
  const saved = await runCli(['tap', '--file', tapFile, '--json'])
  t.equal(saved.code, 0, saved.stderr)
  const fromFile = saved.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as TapRecord).filter((r) => r.type === 'verdict')
  const key = (r: TapRecord) => `${r.time} ${r.src.ip}:${r.src.port} ${r.dst.ip}:${r.dst.port} ${r.verdict} ${JSON.stringify([r.egress, r.ingress])}`
  t.same(fromFile.map(key).slice(-records.length), records.map(key), 'file sink = live reader')

  // The capture, replayed through the same policies, gives each of web's flows the dataplane's verdict.
  const replay = await runCli(['replay', '--cluster', DEMO, pcap, '--json'])
  t.equal(replay.code, 0, replay.stderr)
  const report = JSON.parse(replay.stdout) as ReplayReport
  t.ok(report.linkName?.startsWith('Linux cooked'), `tcpdump -i any writes ${report.linkName}`)
  let replayed = 0
  results.forEach((r) => {
    if (r.allowed === null || (r.from !== 'frontend/web' && r.to !== 'frontend/web')) return
    const flows = report.flows.filter((f) => (f.src.pod ?? f.src.ip) === r.from && (f.dst.pod ?? f.dst.ip) === r.to && f.dst.port === r.port)
    t.ok(flows.length >= 1, `replayed flow ${r.from} -> ${r.to}:${r.port}`)
    for (const f of flows) t.equal(f.verdict, r.allowed ? 'allow' : 'deny', `replay = dataplane for ${r.from} -> ${r.to}:${r.port}`)
    replayed++
  })
  t.ok(replayed >= 3, `${replayed} of web's probes replayed`)
})

const CONFORMANCE = '/work/shared/conformance'
const CASES = ['029-deny-egress-client-side.json', '049-udp-default-deny-ingress.json', '053-sctp-ports.json', '121-pa-ingress-ports-tcp-named-serve-80.json', '185-spec-egress-and-ingress-must-both-allow.json', '177-pa-action-create-update-policy.json', '193-spec-ipv6-except-subnets.json']
const isolating = (s: { reason: string }) => s.reason === 'rule' || s.reason === 'no-rule-matched'

t.test('lab: tap records of conformance cases carry netpol verdict\'s reasons, step by step', e2e(['iptables', 'conntrack']), async (t) => {
  for (const name of CASES) {
    const path = join(CONFORMANCE, name)
    await t.test(name, async (t) => {
      const cluster = await loadCluster(path)
      const expected = JSON.parse((await runCli(['verdict', '--cluster', path])).stdout) as VerdictOut
      const lab = await Lab.start(cluster)
      t.teardown(() => lab.close())
      const tap = await readTap(lab.controlSocket)
      const records = tap.records
      t.teardown(() => tap.stop())
      for (const [i, step] of cluster.steps.entries()) {
        const { generation } = await lab.applyState(step.state)
        records.length = 0
        const results = await lab.probe(step.probes, 1000)
        await new Promise((r) => setTimeout(r, 200))
        results.forEach((r, j) => {
          const want = expected.steps[i]!.results[j]!
          if (r.allowed === null || r.loopback) return
          const rec = records.find((x) => x.generation === generation && is(x.src, r.from) && is(x.dst, r.to) && x.dst.port === r.port && x.protocol === r.protocol)
          const what = `step ${i + 1} ${r.from} -> ${r.to} ${r.protocol}/${r.port}`
          if (!rec) {
            // Only connections of pods isolated on this node are queued, so only they have records.
            t.ok(!isolating(want.egress as { reason: string }) && !isolating(want.ingress as { reason: string }), `${what}: no record, and no policy applies`)
            return
          }
          t.same({ verdict: rec.verdict, egress: rec.egress, ingress: rec.ingress }, { verdict: want.allowed ? 'allow' : 'deny', egress: want.egress, ingress: want.ingress }, `${what}: tap = netpol verdict`)
        })
      }
    })
  }
})
