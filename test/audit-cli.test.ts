// Audit mode in the CLI: `netpol verdict`, `explain` and `replay` decide as the agent does with
// --audit-all or the netpol.dev/audit annotation; `netpol validate` names a bad annotation value.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../src/cli/main.js'
import type { ReplayReport } from '../src/replay/replay.js'
import { ROOT } from './helpers/run-cli.js'
import { ethernet, pcapFile } from './fixtures/pcap/pcap-writer.js'
import { ipv4, tcp } from './helpers/packets.js'

const DEMO = join(ROOT, 'examples/demo-cluster.json')
const dir = mkdtempSync(join(tmpdir(), 'netpol-audit-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = ''
  const code = await main(args, { out: (s) => void (out += s), err: (s) => void (err += s) })
  return { code, out, err }
}

function cluster(annotation?: string): string {
  const file = join(dir, `cluster-${annotation ?? 'none'}.json`)
  writeFileSync(file, JSON.stringify({
    namespaces: [{ name: 'x', labels: {} }],
    pods: [
      { namespace: 'x', name: 'client', labels: { app: 'client' }, ip: '10.0.0.1' },
      { namespace: 'x', name: 'db', labels: { app: 'db' }, ip: '10.0.0.3' },
    ],
    policies: [{
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'default-deny', namespace: 'x', ...(annotation !== undefined ? { annotations: { 'netpol.dev/audit': annotation } } : {}) },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    }],
    probes: [{ from: 'x/client', to: 'x/db', port: 5432 }],
  }))
  return file
}

interface Result { allowed: boolean; audit?: boolean; ingress: { allowed: boolean; reason: string; isolatedBy?: string[]; audit?: boolean } }
const verdict = async (args: string[]): Promise<Result> => {
  const r = await run(['verdict', ...args])
  t.equal(r.code, 0, r.err)
  return (JSON.parse(r.out) as { steps: { results: Result[] }[] }).steps[0]!.results[0]!
}
const AUDITED = { allowed: true, audit: true, ingress: { allowed: false, reason: 'no-rule-matched', isolatedBy: ['x/default-deny'], audit: true } }

t.test('netpol verdict: annotation and --audit-all allow with the would-be denial; neither denies', async (t) => {
  t.match(await verdict(['--cluster', cluster('true')]), AUDITED, 'annotation "true"')
  t.match(await verdict(['--cluster', cluster(), '--audit-all']), AUDITED, '--audit-all')
  t.match(await verdict(['--cluster', cluster('false'), '--audit-all']), AUDITED, '--audit-all wins over "false"')
  const enforced = await verdict(['--cluster', cluster()])
  t.match(enforced, { allowed: false, ingress: { allowed: false, reason: 'no-rule-matched' } }, 'enforced')
  t.notOk('audit' in enforced || 'audit' in enforced.ingress, 'not marked audit')
})

t.test('netpol explain: allowed (exit 0), with the audit-mode account', async (t) => {
  const r = await run(['explain', '--cluster', cluster('true'), '--from', 'x/client', '--to', 'x/db', '--port', '5432'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /ALLOWED \(AUDIT: policies in audit mode would deny it\)/)
  t.match(r.out, /Audit mode \(logged, not enforced\): would be DENIED/)
  t.match(r.out, /isolated by x\/default-deny, and no rule of theirs allows this flow/)
  const plain = await run(['explain', '--cluster', cluster(), '--from', 'x/client', '--to', 'x/db', '--port', '5432'])
  t.equal(plain.code, 1, 'enforced: denied')
  t.notMatch(plain.out, /AUDIT/)
})

t.test('netpol replay --audit-all: denied flows pass as audit, counted per policy', async (t) => {
  const WEB = '10.10.1.10', PG = '10.10.3.30'
  const syn = (sport: number) => ipv4({ src: WEB, dst: PG, proto: 6, payload: tcp({ sport, dport: 5432, flags: 0x02 }) })
  const file = join(dir, 'web-pg.pcap')
  writeFileSync(file, pcapFile({ linkType: 1 }, [{ time: 1, data: ethernet(syn(40000)) }, { time: 2, data: ethernet(syn(40001)) }]))
  const enforced = await run(['replay', '--cluster', DEMO, file, '--json'])
  const e = JSON.parse(enforced.out) as ReplayReport
  t.same(e.flows.map((f) => f.verdict), ['deny', 'deny'], 'without audit: denied')
  t.equal(e.summary.audit, undefined)
  const audited = await run(['replay', '--cluster', DEMO, file, '--json', '--audit-all'])
  t.equal(audited.code, 0, audited.err)
  const a = JSON.parse(audited.out) as ReplayReport
  t.same(a.flows.map((f) => [f.verdict, f.audit]), [['allow', true], ['allow', true]], '--audit-all: allowed, marked audit')
  t.same(a.flows[0]!.ingress, { ...e.flows[0]!.ingress, audit: true }, 'the reason is the enforced denial\'s')
  t.equal(a.summary.audit, 2)
  t.equal(a.summary.packetsDenied, 0)
  t.match(a.summary.policies.find((p) => p.policy === 'db/default-deny-ingress'), { denied: 0, audit: 2 })
  const text = await run(['replay', '--cluster', DEMO, file, '--audit-all'])
  t.match(text.out, /2 allowed \(2 audit: policies in audit mode would deny\), 0 denied/)
  t.match(text.out, /#1 AUDIT would deny TCP/)
  t.match(text.out, /no rule matched \(audit mode: not enforced\)/)
})

t.test('netpol validate: a bad annotation value is a warning naming the object and field', async (t) => {
  const m = join(dir, 'manifests')
  mkdirSync(m)
  writeFileSync(join(m, 'p.yaml'), `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: x
  annotations:
    netpol.dev/audit: "yes"
spec:
  podSelector: {}
  policyTypes: [Ingress]
`)
  const r = await run(['validate', m])
  t.equal(r.code, 0, 'a warning, not an error: the policy stays (enforced)')
  t.match(r.out + r.err, /NetworkPolicy x\/default-deny.*metadata\.annotations\["netpol\.dev\/audit"\].*must be "true" or "false"/)
  const c = await run(['validate', cluster('maybe')])
  t.match(c.out + c.err, /metadata\.annotations\["netpol\.dev\/audit"\]/, 'cluster files too')
  const v = await run(['verdict', '--cluster', cluster('maybe')])
  t.match(JSON.parse(v.out), { steps: [{ results: [{ allowed: false }] }] }, 'and the policy is enforced')
})
