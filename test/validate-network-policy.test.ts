// validateNetworkPolicy: one row per API-server rule, asserting the exact field path, severity
// and message; valid objects yield no errors.
import t from 'tap'
import type { ValidationIssue } from '../src/api/types.js'
import { validateNetworkPolicy } from '../src/validate/network-policy.js'

function np(spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'p', namespace: 'x' }): unknown {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata, spec: { podSelector: {}, ...spec } }
}
const ing = (rule: Record<string, unknown>) => np({ ingress: [rule] })

interface Row {
  name: string
  policy: unknown
  /** [field, severity, message substring] of every issue, in order. */
  want: [string, ValidationIssue['severity'], string][]
  object?: string
}

const rows: Row[] = [
  { name: 'allow-all ingress is valid', policy: ing({}), want: [] },
  { name: 'full valid policy', policy: np({ podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'example.com/role': 'fe' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 80, endPort: 90 }, { protocol: 'UDP', port: 'dns' }] }], egress: [{ to: [{ ipBlock: { cidr: 'fd00::/64', except: ['fd00::1/128'] } }] }] }), want: [] },
  { name: 'missing name', policy: np({}, { namespace: 'x' }), object: 'NetworkPolicy x/<unnamed>', want: [['metadata.name', 'error', 'Required value']] },
  { name: 'name not a DNS subdomain', policy: np({}, { name: 'Bad_Name', namespace: 'x' }), object: 'NetworkPolicy x/Bad_Name', want: [['metadata.name', 'error', 'RFC 1123 subdomain']] },
  { name: 'namespace not a DNS label', policy: np({}, { name: 'p', namespace: 'a.b' }), object: 'NetworkPolicy a.b/p', want: [['metadata.namespace', 'error', 'RFC 1123 label']] },
  { name: 'missing spec', policy: { metadata: { name: 'p', namespace: 'x' } }, want: [['spec', 'error', 'Required value']] },
  { name: 'unknown operator', policy: np({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] } }), want: [['spec.podSelector.matchExpressions[0].operator', 'error', 'Unsupported value: "Equals"']] },
  { name: 'In with empty values', policy: ing({ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: [] }] } }] }), want: [['spec.ingress[0].from[0].podSelector.matchExpressions[0].values', 'error', "must be specified when `operator` is 'In' or 'NotIn'"]] },
  { name: 'NotIn without values', policy: np({ podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn' }] } }), want: [['spec.podSelector.matchExpressions[0].values', 'error', 'Required value']] },
  { name: 'Exists with values', policy: ing({ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'Exists', values: ['x'] }] } }] }), want: [['spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values', 'error', "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"]] },
  { name: 'bad label key', policy: np({ podSelector: { matchLabels: { 'bad key': 'v' } } }), want: [['spec.podSelector.matchLabels[bad key]', 'error', 'name part must consist of']] },
  { name: 'bad label value', policy: np({ podSelector: { matchLabels: { app: '-web' } } }), want: [['spec.podSelector.matchLabels[app]', 'error', 'a valid label must be an empty string']] },
  { name: 'bad expression value', policy: np({ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['ok', 'not ok'] }] } }), want: [['spec.podSelector.matchExpressions[0].values[1]', 'error', 'Invalid value: "not ok"']] },
  { name: 'unknown policyType', policy: np({ policyTypes: ['Ingress', 'Sideways'] }), want: [['spec.policyTypes[1]', 'error', 'Unsupported value: "Sideways"']] },
  { name: 'three policyTypes', policy: np({ policyTypes: ['Ingress', 'Egress', 'Ingress'] }), want: [['spec.policyTypes', 'error', 'may not specify more than two policyTypes']] },
  { name: 'unsupported protocol', policy: ing({ ports: [{ protocol: 'ICMP', port: 80 }] }), want: [['spec.ingress[0].ports[0].protocol', 'error', 'Unsupported value: "ICMP"']] },
  { name: 'port 0', policy: ing({ ports: [{ port: 0 }] }), want: [['spec.ingress[0].ports[0].port', 'error', 'must be between 1 and 65535']] },
  { name: 'port 65536', policy: np({ egress: [{ ports: [{ port: 65536 }] }] }), want: [['spec.egress[0].ports[0].port', 'error', 'must be between 1 and 65535']] },
  { name: 'named port too long', policy: ing({ ports: [{ port: 'a-very-long-port-name' }] }), want: [['spec.ingress[0].ports[0].port', 'error', 'no more than 15 characters']] },
  { name: 'named port without a letter', policy: ing({ ports: [{ port: '80-80' }] }), want: [['spec.ingress[0].ports[0].port', 'error', 'at least one letter']] },
  { name: 'endPort without port', policy: ing({ ports: [{ protocol: 'TCP', endPort: 81 }] }), want: [['spec.ingress[0].ports[0].endPort', 'error', 'may not be specified when `port` is not specified']] },
  { name: 'endPort with named port', policy: ing({ ports: [{ port: 'http', endPort: 81 }] }), want: [['spec.ingress[0].ports[0].endPort', 'error', 'may not be specified when `port` is non-numeric']] },
  { name: 'endPort < port', policy: np({ egress: [{ ports: [{ port: 30000, endPort: 20000 }] }] }), want: [['spec.egress[0].ports[0].endPort', 'error', 'must be greater than or equal to `port`']] },
  { name: 'endPort == port is valid', policy: ing({ ports: [{ port: 80, endPort: 80 }] }), want: [] },
  { name: 'empty peer', policy: ing({ from: [{}] }), want: [['spec.ingress[0].from[0]', 'error', 'must specify a peer']] },
  { name: 'ipBlock with podSelector', policy: ing({ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }), want: [['spec.ingress[0].from[0]', 'error', 'may not specify both ipBlock and another peer']] },
  { name: 'ipBlock without cidr', policy: ing({ from: [{ ipBlock: {} }] }), want: [['spec.ingress[0].from[0].ipBlock.cidr', 'error', 'Required value']] },
  { name: 'bad cidr', policy: np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.300/8' } }] }] }), want: [['spec.egress[0].to[0].ipBlock.cidr', 'error', 'must be a valid CIDR']] },
  { name: 'cidr without prefix length', policy: ing({ from: [{ ipBlock: { cidr: '10.0.0.1' } }] }), want: [['spec.ingress[0].from[0].ipBlock.cidr', 'error', 'must be a valid CIDR']] },
  { name: 'non-canonical cidr is a warning', policy: np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.1.11/4', except: ['10.0.1.22/32'] } }] }] }), want: [['spec.egress[0].to[0].ipBlock.cidr', 'warning', 'means 0.0.0.0/4']] },
  { name: 'except equal to cidr', policy: ing({ from: [{ ipBlock: { cidr: '10.0.2.0/24', except: ['10.0.2.0/24'] } }] }), want: [['spec.ingress[0].from[0].ipBlock.except[0]', 'error', 'must be a strict subset of `cidr`']] },
  { name: 'except outside cidr', policy: ing({ from: [{ ipBlock: { cidr: '10.0.2.0/24', except: ['10.0.1.0/28', '10.0.3.0/28'] } }] }), want: [['spec.ingress[0].from[0].ipBlock.except[0]', 'error', 'strict subset'], ['spec.ingress[0].from[0].ipBlock.except[1]', 'error', 'strict subset']] },
  { name: 'except of the other family', policy: ing({ from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['fd00::/64'] } }] }), want: [['spec.ingress[0].from[0].ipBlock.except[0]', 'error', 'strict subset']] },
  { name: 'IPv6 except inside is valid', policy: ing({ from: [{ ipBlock: { cidr: 'fd00::2:0/112', except: ['fd00::2:22/128'] } }] }), want: [] },
  { name: 'bad except', policy: ing({ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['nope'] } }] }), want: [['spec.ingress[0].from[0].ipBlock.except[0]', 'error', 'must be a valid CIDR']] },
  { name: 'ingress not a list', policy: np({ ingress: {} }), want: [['spec.ingress', 'error', 'must be a list']] },
  { name: 'not an object', policy: 'hello', object: 'NetworkPolicy default/<unnamed>', want: [['', 'error', 'must be an object']] },
]

for (const row of rows) {
  t.test(row.name, async (t) => {
    const got = validateNetworkPolicy(row.policy)
    t.same(got.map((i) => [i.field, i.severity]), row.want.map(([f, s]) => [f, s]), 'fields and severities')
    row.want.forEach(([, , msg], i) => t.match(got[i]?.message ?? '', msg, `issue ${i} message`))
    for (const i of got) t.equal(i.object, row.object ?? 'NetworkPolicy x/p', 'object names the policy')
  })
}
