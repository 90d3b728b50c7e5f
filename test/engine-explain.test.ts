// describe(): the deciding policy/rule/peer/port (lowest by policy ns/name, then indexes) and
// isolatedBy; explain(): the human text for each side, including what would allow a denied flow.
import t from 'tap'
import type { ClusterState } from '../src/api/types.js'
import { PolicyEngine } from '../src/engine/index.js'

const state: ClusterState = {
  namespaces: [{ name: 'x', labels: {} }, { name: 'y', labels: { team: 'red' } }],
  pods: [
    { namespace: 'x', name: 'a', labels: { app: 'web' }, ips: ['10.0.0.1'], ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] },
    { namespace: 'y', name: 'b', labels: { app: 'db' }, ips: ['10.0.1.1'], ports: [] },
    { namespace: 'x', name: 'c', labels: { app: 'cache' }, ips: ['10.0.0.3'], ports: [] },
  ],
  policies: [
    { metadata: { name: 'web-in', namespace: 'x' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'cache' } } }, { namespaceSelector: { matchLabels: { team: 'red' } } }], ports: [{ port: 9090 }, { port: 'http' }] }, { from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } }] }] } },
    // Sorts before web-in: when both allow, it decides.
    { metadata: { name: 'all-from-cache', namespace: 'x' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'cache' } } }] }] } },
    { metadata: { name: 'deny', namespace: 'y' }, spec: { podSelector: {}, policyTypes: ['Egress'] } },
  ],
}

interface Row {
  name: string
  src: string
  dst: string
  port: number
  egress: Record<string, unknown>
  ingress: Record<string, unknown>
  text: RegExp[]
}

const rows: Row[] = [
  {
    name: 'named port rule decides; egress side isolated with no rules',
    src: '10.0.1.1',
    dst: '10.0.0.1',
    port: 8080,
    egress: { allowed: false, reason: 'no-rule-matched', isolatedBy: ['y/deny'] },
    ingress: { allowed: true, reason: 'rule', policy: 'x/web-in', rule: 0, peer: 1, port: 1, isolatedBy: ['x/all-from-cache', 'x/web-in'] },
    text: [
      /^y\/b \(10\.0\.1\.1\) -> x\/a \(10\.0\.0\.1\) TCP\/8080: DENIED \(generation 1\)$/m,
      /^Egress side \(y\/b\): DENIED: isolated by y\/deny, and no rule of theirs allows this flow:$/m,
      /^ {2}- y\/deny: no egress rules \(denies all egress\)\.$/m,
      /^ {2}To allow it: add to y\/deny .* an egress rule \{to: \[\{namespaceSelector: \{matchLabels: \{"kubernetes.io\/metadata.name": "x"\}\}, podSelector: \{matchLabels: \{"app":"web"\}\}\}\], ports: \[\{protocol: TCP, port: 8080\}\]\}\.$/m,
      /^Ingress side \(x\/a\): allowed: isolated by x\/all-from-cache, x\/web-in; allowed by x\/web-in spec\.ingress\[0\]: peer from\[1\] \(all pods in namespaces team=red\), port ports\[1\] \(named port "http" TCP\)\.$/m,
    ],
  },
  {
    name: 'two policies allow: the first by ns/name decides',
    src: '10.0.0.3',
    dst: '10.0.0.1',
    port: 9090,
    egress: { allowed: true, reason: 'not-isolated' },
    ingress: { allowed: true, reason: 'rule', policy: 'x/all-from-cache', rule: 0, peer: 0, port: null, isolatedBy: ['x/all-from-cache', 'x/web-in'] },
    text: [/allowed by x\/all-from-cache spec\.ingress\[0\]: peer from\[0\] \(pods app=cache in namespace x\), port every port \(no ports list\)\./],
  },
  {
    name: 'ipBlock rule with no ports',
    src: '192.168.2.2',
    dst: '10.0.0.1',
    port: 22,
    egress: { allowed: true, reason: 'not-a-pod' },
    ingress: { allowed: true, reason: 'rule', policy: 'x/web-in', rule: 1, peer: 0, port: null, isolatedBy: ['x/all-from-cache', 'x/web-in'] },
    text: [/^Egress side \(192\.168\.2\.2\): allowed: 192\.168\.2\.2 is not a pod IP/m, /peer from\[0\] \(ipBlock 192\.168\.0\.0\/16 except 192\.168\.1\.0\/24\), port every port/],
  },
  {
    name: 'excepted address: why each rule failed',
    src: '192.168.1.5',
    dst: '10.0.0.1',
    port: 8080,
    egress: { allowed: true, reason: 'not-a-pod' },
    ingress: { allowed: false, reason: 'no-rule-matched', isolatedBy: ['x/all-from-cache', 'x/web-in'] },
    text: [
      /^ {2}- x\/all-from-cache spec\.ingress\[0\]: 192\.168\.1\.5 matches none of its from peers\.$/m,
      /^ {2}- x\/web-in spec\.ingress\[0\]: 192\.168\.1\.5 matches none of its from peers\.$/m,
      /^ {2}- x\/web-in spec\.ingress\[1\]: 192\.168\.1\.5 matches none of its from peers\.$/m,
      /To allow it: .* an ingress rule \{from: \[\{ipBlock: \{cidr: "192\.168\.1\.5\/32"\}\}\], ports: \[\{protocol: TCP, port: 8080\}\]\}/,
    ],
  },
  {
    name: 'peer matches but the port does not',
    src: '10.0.1.1',
    dst: '10.0.0.1',
    port: 22,
    egress: { allowed: false, reason: 'no-rule-matched', isolatedBy: ['y/deny'] },
    ingress: { allowed: false, reason: 'no-rule-matched', isolatedBy: ['x/all-from-cache', 'x/web-in'] },
    text: [/^ {2}- x\/web-in spec\.ingress\[0\]: TCP\/22 matches none of its ports\.$/m],
  },
  {
    name: 'not isolated on either side',
    src: '10.0.0.1',
    dst: '10.0.1.1',
    port: 5432,
    egress: { allowed: true, reason: 'not-isolated' },
    ingress: { allowed: true, reason: 'not-isolated' },
    text: [/^Ingress side \(y\/b\): allowed: no NetworkPolicy with Ingress in its policyTypes selects y\/b, so it is not isolated for ingress\.$/m],
  },
]

const engine = new PolicyEngine()
engine.load(state)
for (const row of rows) {
  t.test(row.name, async (t) => {
    const x = engine.explain({ src: row.src, dst: row.dst, protocol: 'TCP', port: row.port })
    t.same(x.verdict.egress, row.egress, 'egress side')
    t.same(x.verdict.ingress, row.ingress, 'ingress side')
    t.equal(x.verdict.allowed, row.egress.allowed === true && row.ingress.allowed === true, 'allowed iff both sides allow')
    for (const re of row.text) t.match(x.text, re, `text has ${re.source.slice(0, 50)}`)
  })
}
