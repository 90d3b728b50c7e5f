import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadCluster } from '../src/model/load-cluster.js'
import { convertFile, loadManifests } from '../src/model/manifests.js'
import { parseManifestText } from '../src/model/manifest-parse.js'

const FIX = 'test/fixtures/manifests'
const ids = (s: { namespaces: readonly { name: string }[]; pods: readonly { namespace: string; name: string; ips: readonly string[] }[]; policies: readonly { metadata: { namespace?: string; name: string } }[] }) => ({
  namespaces: s.namespaces.map((n) => n.name).sort(),
  pods: s.pods.map((p) => `${p.namespace}/${p.name} ${p.ips.join(',')}`).sort(),
  policies: s.policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(),
})

t.test('loadManifests: each input shape', async (t) => {
  const cases: { name: string; paths: string[]; want: ReturnType<typeof ids> }[] = [
    {
      name: 'kubectl List (JSON), Service skipped, dual-stack pod',
      paths: [`${FIX}/list.json`],
      want: { namespaces: ['x'], pods: ['x/a 10.0.1.11,fd00::111'], policies: ['x/deny-all'] },
    },
    {
      name: 'typed PodList (YAML) without item kinds; namespace y created for its pods',
      paths: [`${FIX}/podlist.yaml`],
      want: { namespaces: ['y'], pods: ['y/b 10.0.2.22', 'y/c 10.0.2.33'], policies: [] },
    },
    {
      name: 'multi-document YAML, Deployment and trailing empty document skipped',
      paths: [`${FIX}/multi.yaml`],
      want: { namespaces: ['y'], pods: [], policies: ['y/allow-from-x'] },
    },
    {
      name: 'directory, recursive, dot-files and non-manifests skipped, policy namespace defaulted',
      paths: [`${FIX}/dir`],
      want: { namespaces: ['default', 'z'], pods: ['z/a 10.0.3.11'], policies: ['default/deny-egress'] },
    },
    {
      name: 'several paths at once',
      paths: [`${FIX}/list.json`, `${FIX}/podlist.yaml`, `${FIX}/multi.yaml`],
      want: { namespaces: ['x', 'y'], pods: ['x/a 10.0.1.11,fd00::111', 'y/b 10.0.2.22', 'y/c 10.0.2.33'], policies: ['x/deny-all', 'y/allow-from-x'] },
    },
  ]
  for (const c of cases) {
    const { state, issues } = await loadManifests(c.paths)
    t.strictSame(ids(state), c.want, c.name)
    t.strictSame(issues, [], `${c.name}: no issues`)
  }
  const { state } = await loadManifests([`${FIX}/multi.yaml`])
  t.strictSame(state.namespaces[0]!.labels, { ns: 'y', 'kubernetes.io/metadata.name': 'y' }, 'namespace labels include the name label')
})

t.test('bad input: issues and errors name the file, object and field', async (t) => {
  const cases: { name: string; file: string; text: string; want: string[] }[] = [
    {
      name: 'bad pod IP in a List',
      file: 'dump.yaml',
      text: 'kind: List\nitems:\n- kind: Pod\n  metadata: {name: a, namespace: x}\n  status: {podIPs: [{ip: 10.0.0.256}]}\n',
      want: ['error file dump.yaml: Pod x/a status.podIPs[0].ip invalid IP address "10.0.0.256"'],
    },
    {
      name: 'object without kind',
      file: 'm.yaml',
      text: 'metadata: {name: a}\n---\nkind: Namespace\nmetadata: {name: ok}\n',
      want: ['error file m.yaml document 1: kind required'],
    },
    {
      name: 'a cluster file among manifests',
      file: 'c.json',
      text: '{"pods": [], "policies": [], "probes": []}',
      want: ['error file c.json  a cluster file, not a manifest: pass it on its own (--cluster FILE)'],
    },
    {
      name: 'a scalar document',
      file: 'm.yaml',
      text: 'just text\n',
      want: ['error file m.yaml  not a Kubernetes object'],
    },
    {
      name: 'invalid policy is rejected with the validator\'s field',
      file: 'p.yaml',
      text: 'kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/33}\n',
      want: ['error file p.yaml: NetworkPolicy x/p spec.ingress[0].from[0].ipBlock.cidr'],
    },
  ]
  for (const c of cases) {
    const converted = convertFile(c.text, c.file)
    const got = converted.issues.map((i) => `${i.severity} ${i.object} ${i.field} ${i.message}`)
    t.equal(got.length, c.want.length, `${c.name}: count`)
    c.want.forEach((w, i) => t.ok(got[i]?.startsWith(w), `${c.name}: ${got[i]} starts with ${w}`))
    const policyRejection = converted.rejected.length > 0
    t.equal(converted.malformed.length, policyRejection ? 0 : got.length, `${c.name}: ${policyRejection ? 'a rejected policy is not malformed input' : 'malformed input'}`)
  }
  const p = convertFile('kind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {matchExpressions: [{key: a, operator: Bogus}]}}\n', 'p.yaml')
  t.equal(p.policies.length, 0, 'an invalid policy is left out of the state')
  t.equal(p.rejected.length, 1, 'and listed as rejected')
  t.match(p.rejected[0]!.reason, /^file p\.yaml: NetworkPolicy default\/p: spec\.podSelector\.matchExpressions\[0\]\.operator: /, 'with file, object and field in its reason')

  const syntax: { name: string; file: string; text: string; want: RegExp }[] = [
    { name: 'YAML syntax error', file: 'bad.yaml', text: 'kind: Pod\nmetadata: {name: a\n', want: /^file bad\.yaml: invalid YAML: .*line/ },
    { name: 'JSON syntax error', file: 'bad.json', text: '{"kind": "Pod",', want: /^file bad\.json: invalid JSON: / },
  ]
  for (const c of syntax) t.throws(() => parseManifestText(c.text, c.file), { name: 'InputError', message: c.want }, c.name)
  await t.rejects(loadManifests(['no/such/file.yaml']), { name: 'InputError', message: 'file no/such/file.yaml: cannot read: ENOENT' }, 'missing path')
})

t.test('duplicates: the later file wins, with a warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-dup-'))
  writeFileSync(join(dir, 'a.yaml'), 'kind: Namespace\nmetadata: {name: x, labels: {v: "1"}}\n')
  writeFileSync(join(dir, 'b.yaml'), 'kind: Namespace\nmetadata: {name: x, labels: {v: "2"}}\n')
  const { state, issues } = await loadManifests([dir])
  t.equal(state.namespaces[0]!.labels.v, '2')
  t.strictSame(issues.map((i) => `${i.severity}: ${i.object}: ${i.message}`), [`warning: file ${join(dir, 'b.yaml')}: Namespace x: also defined in ${join(dir, 'a.yaml')}; this definition wins`])
})

t.test('loadCluster: cluster files and manifests give the same shape', async (t) => {
  const conf = await loadCluster('/work/shared/conformance/021-updated-policy.json')
  t.equal(conf.steps.length, 2, 'a steps file keeps its steps')
  t.ok(conf.steps[0]!.probes.length > 0, 'with probes')
  const single = await loadCluster('/work/shared/conformance/001-default-deny-ingress.json')
  t.equal(single.steps.length, 1, 'a single-state file is one step')
  t.equal(single.format, 'cluster-file', 'detected as a cluster file')

  const man = await loadCluster(`${FIX}/list.json`)
  t.strictSame(ids(man.steps[0]!.state), { namespaces: ['x'], pods: ['x/a 10.0.1.11,fd00::111'], policies: ['x/deny-all'] }, 'a List is manifests, not a cluster file')
  t.strictSame(man.steps[0]!.probes, [], 'manifests have no probes')
  t.equal(man.format, 'manifests', 'detected as manifests')
  const dir = await loadCluster(`${FIX}/dir`)
  t.equal(dir.steps.length, 1, 'a directory is one step')

  const tmp = mkdtempSync(join(tmpdir(), 'netpol-lc-'))
  writeFileSync(join(tmp, 'cluster.yaml'), 'namespaces: [{name: x}]\npods: [{namespace: x, name: a, ip: 10.0.0.1}]\npolicies: []\nprobes: [{from: x/a, to: 10.9.9.9, port: 53, protocol: UDP}]\n')
  const yamlCluster = await loadCluster(join(tmp, 'cluster.yaml'))
  t.equal(yamlCluster.steps[0]!.probes[0]!.to, '10.9.9.9', 'a cluster file may be YAML')
  writeFileSync(join(tmp, 'bad-policy.yaml'), 'kind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec: {podSelector: {}, policyTypes: [Sideways]}\n')
  const rejected = await loadCluster(join(tmp, 'bad-policy.yaml'))
  t.equal(rejected.steps[0]!.state.policies.length, 0, 'invalid manifest policy left out')
  t.equal(rejected.steps[0]!.invalidPolicies.length, 1, 'and reported as an invalidPolicies entry')
  writeFileSync(join(tmp, 'bad-pod.yaml'), 'kind: Pod\nmetadata: {name: a, namespace: x}\nstatus: {podIP: nope}\n')
  await t.rejects(loadCluster(join(tmp, 'bad-pod.yaml')), { name: 'InputError', message: `file ${join(tmp, 'bad-pod.yaml')}: Pod x/a: status.podIP: invalid IP address "nope"` }, 'a malformed pod is an input error')
  writeFileSync(join(tmp, 'bad-cluster.json'), '{"pods": [{"namespace": "x", "name": "a", "ip": "1.2.3"}], "policies": [], "probes": []}')
  await t.rejects(loadCluster(join(tmp, 'bad-cluster.json')), { name: 'InputError', message: new RegExp(`^file ${join(tmp, 'bad-cluster.json')}: pods\\[0\\]\\.ip: `) }, 'cluster-file errors name the file too')
})

t.test('examples: the demo manifests describe exactly the demo cluster file', async (t) => {
  const { ClusterStore } = await import('../src/store/cluster-store.js')
  const file = await loadCluster('examples/demo-cluster.json')
  const dir = await loadCluster('examples/demo-manifests')
  const store = new ClusterStore()
  store.replaceAll(file.steps[0]!.state)
  t.strictSame(store.replaceAll(dir.steps[0]!.state), [], 'no difference the engine could see')
  t.strictSame(dir.steps[0]!.invalidPolicies, [], 'no invalid policies')
  t.ok(file.steps[0]!.probes.length >= 8 && file.steps[0]!.probes.every((p) => p.expect === undefined), 'probes without expect')
})
