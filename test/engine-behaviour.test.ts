// Engine behaviour beyond plain policy semantics: invalid policies fail closed, options
// (localNode, nodeIPs, ipBlockMatchesPodIPs), hostNetwork / terminated / IP-less pods, IPv6 via
// classifyV6, generations and isolationChanged reporting.
import t from 'tap'
import { newVerdictSlot, type ClusterState, type NetworkPolicy, type PodInfo } from '../src/api/types.js'
import { PolicyEngine, ipv4ToNumber, type EngineOptions } from '../src/engine/index.js'

const pod = (ns: string, name: string, ip: string, extra: Partial<PodInfo> = {}): PodInfo => ({
  namespace: ns,
  name,
  labels: { pod: name },
  ips: [ip],
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  nodeName: 'n1',
  ...extra,
})
const policy = (name: string, spec: Partial<NetworkPolicy['spec']>, namespace = 'x'): NetworkPolicy => ({ metadata: { name, namespace }, spec: { podSelector: {}, ...spec } })
const base = (policies: NetworkPolicy[], extraPods: PodInfo[] = []): ClusterState => ({
  namespaces: [{ name: 'x', labels: {} }, { name: 'y', labels: { team: 'blue' } }],
  pods: [pod('x', 'a', '10.0.0.1'), pod('x', 'b', '10.0.0.2'), pod('y', 'c', '10.0.1.1', { nodeName: 'n2' }), ...extraPods],
  policies,
})

interface Row {
  name: string
  state: ClusterState
  options?: EngineOptions
  src: string
  dst: string
  port?: number
  want: { allowed: boolean; egress: string; ingress: string }
}

const denyAll = policy('deny', { policyTypes: ['Ingress', 'Egress'] })
const rows: Row[] = [
  { name: 'no policies: both sides not isolated', state: base([]), src: '10.0.0.1', dst: '10.0.0.2', want: { allowed: true, egress: 'not-isolated', ingress: 'not-isolated' } },
  { name: 'deny-all isolates both directions', state: base([denyAll]), src: '10.0.0.1', dst: '10.0.0.2', want: { allowed: false, egress: 'no-rule-matched', ingress: 'no-rule-matched' } },
  { name: 'external source: its side is not-a-pod', state: base([denyAll]), src: '8.8.8.8', dst: '10.0.0.2', want: { allowed: false, egress: 'not-a-pod', ingress: 'no-rule-matched' } },
  { name: 'invalid peer matches nothing but still isolates (fail closed)', state: base([policy('bad-peer', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] })]), src: '10.0.0.1', dst: '10.0.0.2', want: { allowed: false, egress: 'not-isolated', ingress: 'no-rule-matched' } },
  { name: 'invalid port matches nothing', state: base([policy('bad-port', { ingress: [{ ports: [{ protocol: 'ICMP' as never, port: 8080 }] }] })]), src: '10.0.0.1', dst: '10.0.0.2', port: 8080, want: { allowed: false, egress: 'not-isolated', ingress: 'no-rule-matched' } },
  { name: 'endPort < port: the port matches nothing', state: base([policy('bad-range', { ingress: [{ ports: [{ port: 8081, endPort: 8000 }] }] })]), src: '10.0.0.1', dst: '10.0.0.2', port: 8080, want: { allowed: false, egress: 'not-isolated', ingress: 'no-rule-matched' } },
  { name: 'invalid spec.podSelector selects nothing', state: base([policy('bad-sel', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: [] }] } })]), src: '10.0.0.1', dst: '10.0.0.2', want: { allowed: true, egress: 'not-isolated', ingress: 'not-isolated' } },
  { name: 'invalid policyTypes isolate both directions', state: base([policy('bad-types', { policyTypes: ['Sideways'], ingress: [{}] })]), src: '10.0.0.1', dst: '10.0.0.2', want: { allowed: false, egress: 'no-rule-matched', ingress: 'rule' } },
  { name: 'localNode: pods elsewhere are not-local', state: base([policy('deny-y', {}, 'y')]), options: { localNode: 'n1' }, src: '10.0.0.1', dst: '10.0.1.1', want: { allowed: true, egress: 'not-isolated', ingress: 'not-local' } },
  { name: 'localNode: local pods are enforced', state: base([denyAll]), options: { localNode: 'n1' }, src: '10.0.1.1', dst: '10.0.0.1', want: { allowed: false, egress: 'not-local', ingress: 'no-rule-matched' } },
  { name: 'node IP to pod is node-local (kubelet probes)', state: base([denyAll]), options: { nodeIPs: ['192.168.0.1'] }, src: '192.168.0.1', dst: '10.0.0.1', want: { allowed: true, egress: 'not-a-pod', ingress: 'node-local' } },
  { name: 'pod to node IP is node-local', state: base([denyAll]), options: { nodeIPs: ['192.168.0.1'] }, src: '10.0.0.1', dst: '192.168.0.1', want: { allowed: true, egress: 'node-local', ingress: 'not-a-pod' } },
  { name: 'allowNodeTraffic false: node IP is just an address', state: base([denyAll]), options: { nodeIPs: ['192.168.0.1'], allowNodeTraffic: false }, src: '192.168.0.1', dst: '10.0.0.1', want: { allowed: false, egress: 'not-a-pod', ingress: 'no-rule-matched' } },
  { name: 'hostNetwork pod: never selected', state: base([denyAll], [pod('x', 'h', '192.168.0.9', { hostNetwork: true })]), src: '192.168.0.9', dst: '10.0.0.1', want: { allowed: false, egress: 'host-network', ingress: 'no-rule-matched' } },
  { name: 'hostNetwork peer: not matched by podSelector', state: base([policy('from-all-pods', { ingress: [{ from: [{ podSelector: {} }] }] })], [pod('x', 'h', '192.168.0.9', { hostNetwork: true })]), src: '192.168.0.9', dst: '10.0.0.1', want: { allowed: false, egress: 'host-network', ingress: 'no-rule-matched' } },
  { name: 'hostNetwork peer: matched by ipBlock', state: base([policy('from-node', { ingress: [{ from: [{ ipBlock: { cidr: '192.168.0.0/24' } }] }] })], [pod('x', 'h', '192.168.0.9', { hostNetwork: true })]), src: '192.168.0.9', dst: '10.0.0.1', want: { allowed: true, egress: 'host-network', ingress: 'rule' } },
  { name: 'terminated pod keeps no identity', state: base([denyAll], [pod('x', 'old', '10.0.0.9', { terminated: true })]), src: '10.0.0.9', dst: '10.0.1.1', want: { allowed: true, egress: 'not-a-pod', ingress: 'not-isolated' } },
  { name: 'ipBlock matches pod IPs by default', state: base([policy('cidr', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.1.0/24' } }] }] })]), src: '10.0.1.1', dst: '10.0.0.1', want: { allowed: true, egress: 'not-isolated', ingress: 'rule' } },
  { name: 'ipBlockMatchesPodIPs false: not for pod IPs', state: base([policy('cidr', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.1.0/24' } }] }] })]), options: { ipBlockMatchesPodIPs: false }, src: '10.0.1.1', dst: '10.0.0.1', want: { allowed: false, egress: 'not-isolated', ingress: 'no-rule-matched' } },
  { name: 'ipBlockMatchesPodIPs false: still for other IPs', state: base([policy('cidr', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16' } }] }] })]), options: { ipBlockMatchesPodIPs: false }, src: '10.0.9.9', dst: '10.0.0.1', want: { allowed: true, egress: 'not-a-pod', ingress: 'rule' } },
]

for (const row of rows) {
  t.test(row.name, async (t) => {
    const e = new PolicyEngine(row.options)
    e.load(row.state)
    const v = e.classify({ src: row.src, dst: row.dst, protocol: 'TCP', port: row.port ?? 8080 })
    t.same({ allowed: v.allowed, egress: v.egress.reason, ingress: v.ingress.reason }, row.want)
  })
}

t.test('invalid policies are reported in ApplyResult.issues with their field', async (t) => {
  const e = new PolicyEngine()
  const r = e.load(base([policy('bad-peer', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] } }] }] })]))
  t.same(
    r.issues.map((i) => [i.object, i.field, i.severity]),
    [['NetworkPolicy x/bad-peer', 'spec.ingress[0].from[0].ipBlock.except[0]', 'error']],
  )
  const r2 = e.apply([{ kind: 'NetworkPolicy', op: 'upsert', object: policy('fine', { ingress: [{}] }) }])
  t.same(r2.issues, [], 'apply() reports only the issues of the policies it upserted')
  t.equal(e.issues().length, 1, 'issues() lists every loaded policy issue')
})

t.test('classifyV4 / classifyV6 write the slot without allocating a verdict', async (t) => {
  const e = new PolicyEngine()
  e.load({ namespaces: [], pods: [pod('x', 'a', '10.0.0.1', { ips: ['10.0.0.1', 'fd00::1'] }), pod('x', 'b', 'fd00::2')], policies: [denyAll] })
  const slot = newVerdictSlot()
  t.equal(e.classifyV4(ipv4ToNumber('10.0.0.1'), ipv4ToNumber('8.8.8.8'), 6, 443, slot), false, 'v4 egress denied')
  t.equal(slot.generation, 1)
  const buf = new Uint8Array(40)
  buf.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8)
  buf.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24)
  t.equal(e.classifyV6(buf, 8, 24, 6, 8080, slot), false, 'v6 pod to pod denied')
  t.same([slot.egressCode, slot.ingressCode], [2, 2], 'both sides no-rule-matched')
  t.equal(e.describe(slot).egress.isolatedBy?.[0], 'x/deny')
})

t.test('generations and isolationChanged', async (t) => {
  const e = new PolicyEngine()
  const r0 = e.load(base([]))
  t.equal(r0.generation, 1)
  t.same(r0.isolationChanged.map((p) => `${p.name} ${p.ingress} ${p.egress}`).sort(), ['a false false', 'b false false', 'c false false'], 'first load reports every enforced pod')
  const r1 = e.apply([{ kind: 'NetworkPolicy', op: 'upsert', object: policy('only-a', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{}] }) }])
  t.equal(r1.generation, 2)
  t.same(r1.isolationChanged.map((p) => `${p.name} ${p.ingress} ${p.egress}`), ['a true true'], 'only the newly isolated pod')
  const r2 = e.apply([{ kind: 'Pod', op: 'delete', namespace: 'x', name: 'a' }])
  t.same(r2.isolationChanged.map((p) => `${p.name} ${p.ingress} ${p.egress}`), ['a false false'], 'removed pod reported as not isolated')
  const r3 = e.apply([{ kind: 'Pod', op: 'upsert', object: pod('x', 'b', '10.0.0.22') }])
  t.same(r3.isolationChanged.map((p) => `${p.name} ${p.ips.join(',')}`), ['b 10.0.0.22'], 'IP change reported')
  t.same(e.isolation().map((p) => p.name).sort(), ['b', 'c'])
})
