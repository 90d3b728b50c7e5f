import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { runCli, runCliAll } from './helpers/run-cli.js'

const CONFORMANCE = '/work/shared/conformance'
const files = readdirSync(CONFORMANCE).filter((f) => f.endsWith('.json')).sort()

interface RawProbe { from: string; to: string; port: number; protocol?: string; expect?: boolean }
interface RawCase { probes?: RawProbe[]; steps?: { probes: RawProbe[] }[] }

t.test('netpol verdict over every conformance case: allowed matches expect for every probe of every step', async (t) => {
  t.ok(files.length >= 50, `${files.length} cases`)
  const results = await runCliAll(files.map((f) => ['verdict', '--cluster', join(CONFORMANCE, f)]))
  files.forEach((file, i) => {
    const r = results[i]!
    const raw = JSON.parse(readFileSync(join(CONFORMANCE, file), 'utf8')) as RawCase
    const steps = raw.steps ?? [{ probes: raw.probes ?? [] }]
    if (r.code !== 0) {
      t.fail(`${file}: exit ${r.code}: ${r.stderr}`)
      return
    }
    const out = JSON.parse(r.stdout) as { steps: { results: { from: string; to: string; port: number; protocol: string; allowed: boolean }[] }[] }
    t.equal(out.steps.length, steps.length, `${file}: one output step per step`)
    const wrong: string[] = []
    steps.forEach((step, s) => {
      const got = out.steps[s]?.results ?? []
      if (got.length !== step.probes.length) wrong.push(`step ${s + 1}: ${got.length} results for ${step.probes.length} probes`)
      step.probes.forEach((p, j) => {
        const g = got[j]
        if (!g || g.from !== p.from || g.to !== p.to || g.port !== p.port || g.protocol !== (p.protocol ?? 'TCP')) {
          wrong.push(`step ${s + 1} probe ${j}: result out of order`)
        } else if (p.expect !== undefined && g.allowed !== p.expect) {
          wrong.push(`step ${s + 1} ${p.from} -> ${p.to} ${p.protocol ?? 'TCP'}/${p.port}: allowed=${g.allowed}, expected ${p.expect}`)
        }
      })
    })
    t.strictSame(wrong, [], `${file}: every probe as expected`)
  })
})

t.test('demo cluster, manifests and ad-hoc probes', async (t) => {
  const demo = await runCli(['verdict', '--cluster', 'examples/demo-cluster.json'])
  t.equal(demo.code, 0, 'demo runs')
  const doc = JSON.parse(demo.stdout) as { steps: { results: { from: string; to: string; port: number; allowed: boolean; ingress: { reason: string; policy?: string } }[] }[] }
  const summary = doc.steps[0]!.results.map((r) => `${r.from} -> ${r.to}:${r.port} ${r.allowed ? 'allowed' : 'denied'}`)
  t.strictSame(summary, [
    'frontend/web -> backend/api:8080 allowed',
    'frontend/web -> backend/api:9090 denied',
    'frontend/web -> db/postgres:5432 denied',
    'backend/api -> db/postgres:5432 allowed',
    'backend/worker -> db/postgres:5432 allowed',
    'backend/worker -> backend/api:8080 denied',
    '203.0.113.7 -> frontend/web:8080 allowed',
    '203.0.113.7 -> backend/api:8080 denied',
    'db/postgres -> 203.0.113.7:443 denied',
    'backend/api -> frontend/web:8080 allowed',
  ], 'the demo tells its story')
  t.equal(doc.steps[0]!.results[0]!.ingress.policy, 'backend/allow-api-from-frontend', 'side verdicts carry the deciding policy')

  const cases: { name: string; args: string[]; code: number; allowed: boolean[] }[] = [
    { name: 'ad-hoc allowed (manifest dir)', args: ['--cluster', 'examples/demo-manifests', '--probe-from', 'backend/api', '--probe-to', 'db/postgres', '--port', '5432'], code: 0, allowed: [true] },
    { name: 'ad-hoc denied exits 1', args: ['--cluster', 'examples/demo-manifests', '--probe-from', 'frontend/web', '--probe-to', 'db/postgres', '--port', '5432'], code: 1, allowed: [false] },
    { name: 'ad-hoc protocol', args: ['--cluster', 'examples/demo-cluster.json', '--probe-from', 'frontend/web', '--probe-to', 'backend/api', '--port', '8080', '--protocol', 'udp'], code: 1, allowed: [false] },
    { name: 'ad-hoc probe replaces the file probes in every step', args: ['--cluster', `${CONFORMANCE}/021-updated-policy.json`, '--probe-from', 'x/b', '--probe-to', 'x/a', '--port=80'], code: 1, allowed: [true, false] },
    { name: 'manifests without probes: empty results', args: ['--cluster', 'examples/demo-manifests'], code: 0, allowed: [] },
  ]
  for (const c of cases) {
    const r = await runCli(['verdict', ...c.args])
    t.equal(r.code, c.code, `${c.name}: exit code (${r.stderr})`)
    const out = JSON.parse(r.stdout) as { steps: { results: { allowed: boolean }[] }[] }
    t.strictSame(out.steps.flatMap((s) => s.results.map((x) => x.allowed)), c.allowed, `${c.name}: verdicts`)
  }
})

t.test('engine options change verdicts as documented', async (t) => {
  const ipblock = files.find((f) => readFileSync(join(CONFORMANCE, f), 'utf8').includes('"ipblock-pod-ip"'))
  t.ok(ipblock, 'a case tagged ipblock-pod-ip exists')
  const base = await runCli(['verdict', '--cluster', join(CONFORMANCE, ipblock!)])
  const gke = await runCli(['verdict', '--cluster', join(CONFORMANCE, ipblock!), '--no-ipblock-pod-ips'])
  t.equal(gke.code, 0)
  t.not(gke.stdout, base.stdout, '--no-ipblock-pod-ips: ipBlock stops matching pod IPs')

  const local = await runCli(['verdict', '--cluster', 'examples/demo-cluster.json', '--node', 'node-1', '--probe-from', 'frontend/web', '--probe-to', 'db/postgres', '--port', '5432'])
  const r = JSON.parse(local.stdout) as { steps: { results: { allowed: boolean; ingress: { reason: string } }[] }[] }
  t.equal(r.steps[0]!.results[0]!.ingress.reason, 'not-local', '--node: the other node enforces its own pods')
  t.equal(local.code, 0, 'and this node lets it pass')
})

t.test('regression: a new pod taking a terminated pod\'s IP gets the live pod\'s verdicts (store → engine deltas)', async (t) => {
  const r = await runCli(['verdict', '--cluster', 'test/fixtures/manifests/ip-reuse-cluster.json'])
  t.equal(r.code, 0)
  const out = JSON.parse(r.stdout) as { steps: { results: { to: string; allowed: boolean; ingress: { reason: string } }[] }[] }
  t.strictSame(
    out.steps.map((s) => s.results.map((x) => `${x.to} ${x.allowed} ${x.ingress.reason}`)),
    [['10.0.0.5 false no-rule-matched'], ['10.0.0.5 true not-isolated', 'x/new true not-isolated']],
    'step 1: the old isolated pod; step 2: the new, unisolated pod owns the IP',
  )
})
