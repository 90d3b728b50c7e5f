import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runCli, runCliAll } from './helpers/run-cli.js'

const tmp = mkdtempSync(join(tmpdir(), 'netpol-cli-'))
const badPod = join(tmp, 'bad-pod.yaml')
writeFileSync(badPod, 'kind: Pod\nmetadata: {name: a, namespace: x}\nstatus: {podIPs: [{ip: 10.0.0.1}, {ip: 300.1.1.1}]}\n')
const badCluster = join(tmp, 'bad-cluster.json')
writeFileSync(badCluster, '{"namespaces": [], "pods": [{"namespace": "x", "name": "a", "ip": "10.0.0.1", "ports": [{"containerPort": 0}]}], "policies": [], "probes": []}')
const notJson = join(tmp, 'broken.json')
writeFileSync(notJson, '{"pods": [')
const familyMismatch = join(tmp, 'family.json')
writeFileSync(familyMismatch, JSON.stringify({
  namespaces: [{ name: 'x' }],
  pods: [{ namespace: 'x', name: 'a', ip: '10.0.0.1' }, { namespace: 'x', name: 'b', ips: ['fd00::1'] }],
  policies: [],
  probes: [{ from: 'x/a', to: 'x/b', port: 80, protocol: 'TCP' }],
}))
const COMMANDS = ['verdict', 'explain', 'validate']

t.test('help', async (t) => {
  const cases: { name: string; args: string[]; code: number; stdout: RegExp; stderr: RegExp }[] = [
    { name: 'netpol --help lists every command', args: ['--help'], code: 0, stdout: /^usage: netpol COMMAND[\s\S]*verdict[\s\S]*explain[\s\S]*validate/, stderr: /^$/ },
    { name: 'netpol -h', args: ['-h'], code: 0, stdout: /^usage: netpol COMMAND/, stderr: /^$/ },
    { name: 'netpol help verdict', args: ['help', 'verdict'], code: 0, stdout: /^usage: netpol verdict --cluster FILE/, stderr: /^$/ },
    { name: 'no command: usage on stderr, exit 2', args: [], code: 2, stdout: /^$/, stderr: /^usage: netpol COMMAND/ },
    ...COMMANDS.map((c) => ({ name: `netpol ${c} --help`, args: [c, '--help'], code: 0, stdout: new RegExp(`^usage: netpol ${c} [\\s\\S]*options:[\\s\\S]*--help, -h[\\s\\S]*exit status:`), stderr: /^$/ })),
    { name: '--help wins over other flags', args: ['explain', '--from', 'x/a', '--help'], code: 0, stdout: /^usage: netpol explain /, stderr: /^$/ },
  ]
  const results = await runCliAll(cases.map((c) => c.args))
  cases.forEach((c, i) => {
    const r = results[i]!
    t.equal(r.code, c.code, `${c.name}: exit code`)
    t.match(r.stdout, c.stdout, `${c.name}: stdout`)
    t.match(r.stderr, c.stderr, `${c.name}: stderr`)
  })
})

t.test('user errors: one clear message, usage where it helps, exit 2, never a stack trace', async (t) => {
  const cases: { name: string; args: string[]; stderr: string | RegExp }[] = [
    { name: 'unknown command', args: ['verdikt'], stderr: /^netpol: unknown command "verdikt"\n\nusage: netpol COMMAND/ },
    { name: 'unknown flag', args: ['verdict', '--cluster', 'x', '--bogus'], stderr: /^netpol verdict: unknown option --bogus\nusage: netpol verdict / },
    { name: 'flag without value', args: ['verdict', '--cluster'], stderr: /^netpol verdict: option --cluster needs a value \(FILE\)\n/ },
    { name: 'boolean flag with value', args: ['verdict', '--cluster', 'x', '--deny-node-traffic=yes'], stderr: /^netpol verdict: option --deny-node-traffic takes no value\n/ },
    { name: 'missing --cluster', args: ['verdict'], stderr: /^netpol verdict: missing required option --cluster\n/ },
    { name: 'stray argument', args: ['verdict', 'file.json'], stderr: /^netpol verdict: unexpected argument "file.json"\n/ },
    { name: 'bad port', args: ['explain', '--cluster', 'examples/demo-cluster.json', '--from', 'frontend/web', '--to', 'backend/api', '--port', '80x'], stderr: /^netpol explain: option --port: "80x" is not a number from 1 to 65535\n/ },
    { name: 'bad protocol', args: ['explain', '--cluster', 'examples/demo-cluster.json', '--from', 'frontend/web', '--to', 'backend/api', '--port', '80', '--protocol', 'ICMP'], stderr: /^netpol explain: option --protocol: "ICMP" is not TCP, UDP or SCTP\n/ },
    { name: 'step out of range', args: ['explain', '--cluster', 'examples/demo-cluster.json', '--from', 'frontend/web', '--to', 'backend/api', '--port', '80', '--step', '2'], stderr: /^netpol explain: option --step: the cluster has 1 step\(s\)\n/ },
    { name: 'probe-from without probe-to', args: ['verdict', '--cluster', 'examples/demo-cluster.json', '--probe-from', 'frontend/web', '--port', '80'], stderr: /^netpol verdict: --probe-from needs --probe-to\n/ },
    { name: 'missing cluster file', args: ['verdict', '--cluster', join(tmp, 'nope.json')], stderr: `netpol verdict: file ${join(tmp, 'nope.json')}: cannot read: ENOENT\n` },
    { name: 'malformed pod in manifests names file, object, field', args: ['verdict', '--cluster', badPod], stderr: `netpol verdict: file ${badPod}: Pod x/a: status.podIPs[1].ip: invalid IP address "300.1.1.1"\n` },
    { name: 'malformed cluster file names file and field', args: ['verdict', '--cluster', badCluster], stderr: new RegExp(`^netpol verdict: file ${badCluster}: pods\\[0\\]\\.ports\\[0\\]\\.containerPort: .*\\n$`) },
    { name: 'probe between address families names file, step and probe', args: ['verdict', '--cluster', familyMismatch], stderr: `netpol verdict: file ${familyMismatch}: step 1 probes[0]: from: x/a has no IPv6 address to reach x/b (fd00::1)\n` },
    { name: 'broken JSON', args: ['verdict', '--cluster', notJson], stderr: new RegExp(`^netpol verdict: file ${notJson}: invalid JSON: `) },
    { name: 'unknown pod in an ad-hoc probe', args: ['verdict', '--cluster', 'examples/demo-cluster.json', '--probe-from', 'frontend/nope', '--probe-to', 'backend/api', '--port', '80'], stderr: 'netpol verdict: probe: from: no pod frontend/nope in the cluster\n' },
    { name: 'endpoint neither pod nor IP', args: ['explain', '--cluster', 'examples/demo-cluster.json', '--from', 'web', '--to', 'backend/api', '--port', '80'], stderr: 'netpol explain: probe: from: "web" is neither "namespace/pod" nor an IP address\n' },
  ]
  const results = await runCliAll(cases.map((c) => c.args))
  cases.forEach((c, i) => {
    const r = results[i]!
    t.equal(r.code, 2, `${c.name}: exit 2`)
    if (typeof c.stderr === 'string') t.equal(r.stderr, c.stderr, `${c.name}: message`)
    else t.match(r.stderr, c.stderr, `${c.name}: message`)
    t.notMatch(r.stderr, /\n\s+at /, `${c.name}: no stack trace`)
    t.equal(r.stdout, '', `${c.name}: nothing on stdout`)
  })
})

t.test('problems go to stderr; stdout stays one JSON document', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-cli-dir-'))
  writeFileSync(join(dir, 'pods.yaml'), 'kind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\nstatus: {podIP: 10.0.0.1}\n---\nkind: Pod\nmetadata: {name: b, namespace: x}\nstatus: {podIP: 10.0.0.2}\n')
  writeFileSync(join(dir, 'deny.yaml'), 'kind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec: {podSelector: {matchLabels: {app: a}}, policyTypes: [Ingress], ingress: [{ports: [{port: 80, endPort: 70}]}]}\n')
  const r = await runCli(['verdict', '--cluster', dir, '--probe-from', 'x/b', '--probe-to', 'x/a', '--port', '80'])
  t.equal(r.code, 0, 'the invalid policy is left out, so the probe is allowed')
  t.equal((JSON.parse(r.stdout) as { steps: unknown[] }).steps.length, 1, 'stdout is the JSON document')
  t.match(r.stderr, new RegExp(`^note: left out, the API server would reject it: file ${join(dir, 'deny.yaml')}: NetworkPolicy x/deny: spec\\.ingress\\[0\\]\\.ports\\[0\\]\\.endPort: `), 'stderr names file, object and field')
  const conf = await runCli(['verdict', '--cluster', '/work/shared/conformance/189-spec-invalid-policies-rejected.json'])
  t.equal(conf.stderr, '', 'a cluster file\'s invalidPolicies are expected: no noise')
  const cf = join(dir, 'cluster.json')
  writeFileSync(cf, JSON.stringify({
    namespaces: [{ name: 'x' }],
    pods: [{ namespace: 'x', name: 'a', ip: '10.0.0.1' }],
    policies: [{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'x' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] } }],
    probes: [{ from: '10.9.9.9', to: 'x/a', port: 80, protocol: 'TCP' }],
  }))
  const engine = await runCli(['verdict', '--cluster', cf])
  t.equal(engine.code, 0, 'an invalid policy the file did not flag: verdicts still computed')
  t.equal(engine.stderr, `error: file ${cf}: NetworkPolicy x/p: spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)\n`, 'the engine\'s finding, naming the file')
  t.equal((JSON.parse(engine.stdout) as { steps: { results: { allowed: boolean }[] }[] }).steps[0]!.results[0]!.allowed, false, 'the bad peer matches nothing (never fail open)')
})

t.test('--node-ip makes pod <-> node traffic node-local', async (t) => {
  const args = ['verdict', '--cluster', 'examples/demo-cluster.json', '--node', 'node-2', '--probe-from', '192.168.0.2', '--probe-to', 'db/postgres', '--port', '5432']
  const without = await runCli(args)
  const withIP = await runCli([...args, '--node-ip', '192.168.0.2', '--node-ip', 'fd00::2'])
  const reason = (r: { stdout: string }) => (JSON.parse(r.stdout) as { steps: { results: { ingress: { reason: string } }[] }[] }).steps[0]!.results[0]!.ingress.reason
  t.equal(reason(without), 'no-rule-matched', 'an unknown address is isolated away')
  t.equal(reason(withIP), 'node-local', 'the node itself (kubelet probes) is let in')
  t.equal(withIP.code, 0)
  const bad = await runCli([...args, '--node-ip', 'nope'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^netpol verdict: option --node-ip: "nope" is not an IP address\n/)
})

t.test('netpol explain', async (t) => {
  const cases: { name: string; args: string[]; code: number; text: RegExp[] }[] = [
    {
      name: 'denied: names the isolating policies and a fix',
      args: ['--from', 'frontend/web', '--to', 'db/postgres', '--port', '5432'],
      code: 1,
      text: [/DENIED/, /db\/allow-postgres-from-backend/, /db\/default-deny-ingress/, /To allow it/],
    },
    {
      name: 'allowed: names the rule',
      args: ['--from', 'backend/worker', '--to', 'db/postgres', '--port', '5432', '--protocol', 'TCP'],
      code: 0,
      text: [/ALLOWED|allowed/, /db\/allow-postgres-from-backend/],
    },
    { name: 'external source', args: ['--from', '203.0.113.7', '--to', 'frontend/web', '--port', '8080'], code: 0, text: [/203\.0\.113\.7/, /frontend\/allow-web-from-anywhere/] },
  ]
  for (const c of cases) {
    const r = await runCli(['explain', '--cluster', 'examples/demo-cluster.json', ...c.args])
    t.equal(r.code, c.code, `${c.name}: exit code ${r.stderr}`)
    for (const re of c.text) t.match(r.stdout, re, `${c.name}: ${re}`)
  }
  const step = await runCli(['explain', '--cluster', '/work/shared/conformance/021-updated-policy.json', '--from', 'x/b', '--to', 'x/a', '--port', '80', '--step', '2'])
  const step1 = await runCli(['explain', '--cluster', '/work/shared/conformance/021-updated-policy.json', '--from', 'x/b', '--to', 'x/a', '--port', '80'])
  t.equal(step1.code, 0, 'step 1 (default): allowed')
  t.equal(step.code, 1, '--step 2: the updated policy denies')
})
