import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runCli } from './helpers/run-cli.js'

const CONFORMANCE = '/work/shared/conformance'
const tmp = mkdtempSync(join(tmpdir(), 'netpol-validate-'))
const write = (name: string, text: string): string => {
  const p = join(tmp, name)
  writeFileSync(p, text)
  return p
}

const goodPolicy = write('good.yaml', 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ok, namespace: x}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n')
const badPolicy = write(
  'bad.yaml',
  'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/24, except: [10.1.0.0/28]}\n',
)
const badPod = write('pod.json', JSON.stringify({ kind: 'Pod', metadata: { name: 'a', namespace: 'x' }, status: { podIP: '10.0.0.999' } }))
const hostBits = write('hostbits.yaml', 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: hb, namespace: x}\nspec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.1/24}\n')
const syntax = write('syntax.yaml', 'kind: Pod\nmetadata: {name: [\n')
const lying = write(
  'lying-cluster.json',
  JSON.stringify({
    namespaces: [{ name: 'x' }],
    pods: [],
    policies: [],
    invalidPolicies: [{ reason: 'claims to be invalid', policy: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'fine', namespace: 'x' }, spec: { podSelector: {} } } }],
    probes: [],
  }),
)

t.test('netpol validate: exit codes and messages', async (t) => {
  const cases: { name: string; args: string[]; code: number; lines: (string | RegExp)[] }[] = [
    { name: 'valid manifest', args: [goodPolicy], code: 0, lines: ['0 error(s), 0 warning(s) in 1 file(s)'] },
    { name: 'demo manifests directory', args: ['examples/demo-manifests'], code: 0, lines: ['0 error(s), 0 warning(s) in 4 file(s)'] },
    { name: 'demo cluster file', args: ['examples/demo-cluster.json'], code: 0, lines: ['0 error(s), 0 warning(s) in 1 file(s)'] },
    {
      name: 'invalid policy: object, field, reason',
      args: [badPolicy, goodPolicy],
      code: 1,
      lines: [`error: file ${badPolicy}: NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/28": must be a strict subset of \`cidr\``, '1 error(s), 0 warning(s) in 2 file(s)'],
    },
    {
      name: 'warnings are marked and do not fail',
      args: [hostBits],
      code: 0,
      lines: [new RegExp(`^warning: file ${hostBits}: NetworkPolicy x/hb: spec\\.egress\\[0\\]\\.to\\[0\\]\\.ipBlock\\.cidr: "10\\.0\\.0\\.1/24" has host bits set`), '0 error(s), 1 warning(s) in 1 file(s)'],
    },
    { name: 'malformed pod', args: [badPod], code: 1, lines: [`error: file ${badPod}: Pod x/a: status.podIP: invalid IP address "10.0.0.999"`, '1 error(s), 0 warning(s) in 1 file(s)'] },
    { name: 'syntax error, other files still checked', args: [syntax, badPod], code: 1, lines: [new RegExp(`^error: file ${syntax}: invalid YAML: `), /Pod x\/a: status\.podIP/, '2 error(s), 0 warning(s) in 2 file(s)'] },
    { name: 'missing file', args: [join(tmp, 'nope.yaml')], code: 1, lines: [`error: file ${join(tmp, 'nope.yaml')}: cannot read: ENOENT`, '1 error(s), 0 warning(s) in 1 file(s)'] },
    {
      name: 'cluster file invalidPolicies entry that passes validation is reported',
      args: [lying],
      code: 1,
      lines: [`error: file ${lying}: NetworkPolicy x/fine: listed in invalidPolicies (claims to be invalid), but passes validation`, '1 error(s), 0 warning(s) in 1 file(s)'],
    },
  ]
  for (const c of cases) {
    const r = await runCli(['validate', ...c.args])
    t.equal(r.code, c.code, `${c.name}: exit code`)
    const lines = r.stdout.trimEnd().split('\n')
    t.equal(lines.length, c.lines.length, `${c.name}: line count\n${r.stdout}`)
    c.lines.forEach((want, i) => (typeof want === 'string' ? t.equal(lines[i], want, `${c.name}: line ${i}`) : t.match(lines[i], want, `${c.name}: line ${i}`)))
    t.equal(r.stderr, '', `${c.name}: nothing on stderr`)
  }
})

t.test('every conformance invalidPolicies entry is rejected, naming the field; all valid policies pass', async (t) => {
  const r = await runCli(['validate', CONFORMANCE, '--json'])
  const out = JSON.parse(r.stdout) as { issues: { object: string; field: string; message: string; severity: string; expected?: string }[]; errors: number }
  t.ok(out.errors > 0, 'the invalid ones are errors')
  t.equal(r.code, 1, 'so exit 1')
  const unexpected = out.issues.filter((i) => i.severity === 'error' && i.expected === undefined)
  t.strictSame(unexpected, [], 'every error is an expected (invalidPolicies) one: no entry passes, no valid policy fails')
  t.ok(out.issues.every((i) => i.field.startsWith('spec.') || i.field.startsWith('metadata.')), 'each names a field')
})

t.test('validate usage errors', async (t) => {
  const r = await runCli(['validate'])
  t.equal(r.code, 2)
  t.match(r.stderr, /^netpol validate: missing FILE…\nusage: netpol validate /)
})
