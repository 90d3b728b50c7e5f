import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { ClusterDelta } from '../src/api/types.js'
import { ClusterStore } from '../src/store/cluster-store.js'
import { ManifestDirSource, type ScanResult } from '../src/sync/manifest-dir.js'

const ns = (name: string, extra = ''): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}${extra}}\n`
const pod = (n: string, name: string, ip: string): string => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${n}, labels: {app: ${name}}}\nstatus: {podIP: "${ip}"}\n`
const policy = (n: string, name: string, cidr = '10.0.0.0/8'): string =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: ${n}}\nspec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: "${cidr}"}\n`

const view = (s: ClusterStore) => {
  const st = s.state()
  return [
    ...st.namespaces.map((n) => `ns ${n.name}`),
    ...st.pods.map((p) => `pod ${p.namespace}/${p.name} ${p.ips.join(',')}`),
    ...st.policies.map((p) => `np ${p.metadata.namespace}/${p.metadata.name} ${JSON.stringify(p.spec.egress?.[0]?.to?.[0]?.ipBlock?.cidr)}`),
  ].sort()
}
const show = (ds: readonly ClusterDelta[]) => ds.map((d) => `${d.op} ${d.kind}`).sort()

function setup(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-mdir-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('scans: add, modify, delete files; bad files keep their last good objects', async (t) => {
  const dir = setup(t)
  writeFileSync(join(dir, 'ns.yaml'), ns('app'))
  writeFileSync(join(dir, 'pods.yaml'), pod('app', 'web', '10.1.0.1') + '---\n' + pod('app', 'db', '10.1.0.2'))
  const store = new ClusterStore()
  const src = new ManifestDirSource(dir, store, { rescanMs: 0, watch: false }) // scans only when told
  t.teardown(() => src.stop())
  const first = await src.start()
  t.strictSame(view(store), ['ns app', 'pod app/db 10.1.0.2', 'pod app/web 10.1.0.1'], 'initial scan')
  t.equal(first.deltas.length, 3)

  const steps: { name: string; change: () => void; want: string[]; deltas: string[]; issues: RegExp[] }[] = [
    {
      name: 'new policy file',
      change: () => writeFileSync(join(dir, 'policy.yaml'), policy('app', 'egress')),
      want: ['np app/egress "10.0.0.0/8"', 'ns app', 'pod app/db 10.1.0.2', 'pod app/web 10.1.0.1'],
      deltas: ['upsert NetworkPolicy'],
      issues: [],
    },
    {
      name: 'rescan without changes: no deltas',
      change: () => undefined,
      want: ['np app/egress "10.0.0.0/8"', 'ns app', 'pod app/db 10.1.0.2', 'pod app/web 10.1.0.1'],
      deltas: [],
      issues: [],
    },
    {
      name: 'policy file made invalid: last good policy kept, issue names file and field',
      change: () => writeFileSync(join(dir, 'policy.yaml'), policy('app', 'egress', '10.0.0.0/99')),
      want: ['np app/egress "10.0.0.0/8"', 'ns app', 'pod app/db 10.1.0.2', 'pod app/web 10.1.0.1'],
      deltas: [],
      issues: [/^file .*policy\.yaml: NetworkPolicy app\/egress spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr /],
    },
    {
      name: 'pods file made unparsable: its pods stay, other files still update',
      change: () => {
        writeFileSync(join(dir, 'pods.yaml'), 'kind: Pod\nmetadata: {name: [\n')
        writeFileSync(join(dir, 'ns.yaml'), ns('app', ', labels: {team: a}'))
      },
      want: ['np app/egress "10.0.0.0/8"', 'ns app', 'pod app/db 10.1.0.2', 'pod app/web 10.1.0.1'],
      deltas: ['upsert Namespace'],
      issues: [/^file .*pods\.yaml  invalid YAML: .*line 3, column 1 \(keeping its last good version\)$/, /^file .*policy\.yaml: NetworkPolicy app\/egress /],
    },
    {
      name: 'one pod in the file made malformed: only that pod keeps its old version',
      change: () => writeFileSync(join(dir, 'pods.yaml'), pod('app', 'web', '10.1.0.9') + '---\n' + pod('app', 'db', 'not-an-ip')),
      want: ['np app/egress "10.0.0.0/8"', 'ns app', 'pod app/db 10.1.0.2', 'pod app/web 10.1.0.9'],
      deltas: ['upsert Pod'],
      issues: [/^file .*pods\.yaml: Pod app\/db status\.podIP invalid IP address "not-an-ip"$/, /NetworkPolicy app\/egress/],
    },
    {
      name: 'everything fixed: issues clear, new versions applied',
      change: () => {
        writeFileSync(join(dir, 'pods.yaml'), pod('app', 'web', '10.1.0.9') + '---\n' + pod('app', 'db', '10.1.0.3'))
        writeFileSync(join(dir, 'policy.yaml'), policy('app', 'egress', '10.2.0.0/16'))
      },
      want: ['np app/egress "10.2.0.0/16"', 'ns app', 'pod app/db 10.1.0.3', 'pod app/web 10.1.0.9'],
      deltas: ['upsert NetworkPolicy', 'upsert Pod'],
      issues: [],
    },
    {
      name: 'file deleted: its objects go',
      change: () => rmSync(join(dir, 'policy.yaml')),
      want: ['ns app', 'pod app/db 10.1.0.3', 'pod app/web 10.1.0.9'],
      deltas: ['delete NetworkPolicy'],
      issues: [],
    },
    {
      name: 'subdirectory file added',
      change: () => {
        mkdirSync(join(dir, 'more'))
        writeFileSync(join(dir, 'more', 'x.json'), JSON.stringify({ kind: 'Namespace', metadata: { name: 'other' } }))
      },
      want: ['ns app', 'ns other', 'pod app/db 10.1.0.3', 'pod app/web 10.1.0.9'],
      deltas: ['upsert Namespace'],
      issues: [],
    },
  ]
  for (const s of steps) {
    s.change()
    const r = await src.scan()
    t.strictSame(view(store), s.want, `${s.name}: state`)
    t.strictSame(show(r.deltas), s.deltas, `${s.name}: deltas`)
    const issues = r.issues.map((i) => `${i.object} ${i.field} ${i.message}`)
    t.equal(issues.length, s.issues.length, `${s.name}: issue count ${JSON.stringify(issues)}`)
    s.issues.forEach((re, i) => t.match(issues[i], re, `${s.name}: issue ${i}`))
    t.strictSame(src.issues(), r.issues, `${s.name}: issues() reports the same`)
  }
})

t.test('fs.watch: a burst of writes becomes one debounced scan', async (t) => {
  const dir = setup(t)
  const store = new ClusterStore()
  const scans: ScanResult[] = []
  let wake: (() => void) | undefined
  const src = new ManifestDirSource(dir, store, {
    rescanMs: 0,
    debounceMs: 150,
    onScan: (r) => {
      scans.push(r)
      wake?.()
    },
  })
  t.teardown(() => src.stop())
  await src.start()
  t.equal(scans.length, 1, 'the initial scan')
  const next = new Promise<void>((resolve) => (wake = resolve))
  for (let i = 0; i < 5; i++) writeFileSync(join(dir, `ns${i}.yaml`), ns(`n${i}`))
  await Promise.race([next, new Promise((r) => setTimeout(r, 5000))])
  await new Promise((r) => setTimeout(r, 300)) // any straggler scan would land by now
  t.equal(scans.length, 2, 'one scan for five writes')
  t.strictSame(view(store), ['ns n0', 'ns n1', 'ns n2', 'ns n3', 'ns n4'], 'all five namespaces arrived')
})

t.test('periodic rescan catches changes without watch events; missing dir is an input error', async (t) => {
  const dir = setup(t)
  const store = new ClusterStore()
  let wake: (() => void) | undefined
  // Not watching, so only the timer can notice the change.
  const src = new ManifestDirSource(dir, store, { rescanMs: 100, debounceMs: 10, watch: false, onScan: () => wake?.() })
  t.teardown(() => src.stop())
  await src.start()
  const next = new Promise<void>((resolve) => (wake = resolve))
  writeFileSync(join(dir, 'late.yaml'), ns('late'))
  await Promise.race([next, new Promise((r) => setTimeout(r, 3000))])
  t.strictSame(view(store), ['ns late'])
  await t.rejects(new ManifestDirSource(join(dir, 'nope'), store).start(), { name: 'InputError', message: /not a readable directory/ })
})
