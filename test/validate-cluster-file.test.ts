// Cluster-file parsing: single state and steps (namespaces/pods inherited), pods to PodInfo,
// probe defaults, and InputError messages naming the file and the field.
import t from 'tap'
import { parseClusterFile } from '../src/model/cluster-file.js'
import { InputError } from '../src/model/errors.js'

const ns = [{ name: 'x', labels: { ns: 'x' } }]
const pods = [{ namespace: 'x', name: 'a', labels: { pod: 'a' }, ip: '10.0.1.11', ports: [{ name: 'serve-80-tcp', containerPort: 80 }] }]

t.test('single state', async (t) => {
  const f = parseClusterFile({ name: 'n', namespaces: ns, pods, policies: [], probes: [{ from: 'x/a', to: '8.8.8.8', port: 80 }] }, 'c.json')
  t.equal(f.name, 'n')
  t.equal(f.steps.length, 1)
  t.same(f.steps[0]!.state.pods[0], { namespace: 'x', name: 'a', labels: { pod: 'a' }, ips: ['10.0.1.11'], ports: [{ name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' }], nodeName: undefined, hostNetwork: undefined, terminated: undefined })
  t.same(f.steps[0]!.probes, [{ from: 'x/a', to: '8.8.8.8', port: 80, protocol: 'TCP' }], 'protocol defaults to TCP, no expect')
})

t.test('steps inherit namespaces and pods from the previous step', async (t) => {
  const relabelled = [{ ...pods[0], labels: { pod: 'b' } }]
  const f = parseClusterFile(
    {
      namespaces: ns,
      pods,
      steps: [
        { description: 'one', policies: [], probes: [] },
        { pods: relabelled, policies: [], probes: [] },
        { policies: [{ metadata: { name: 'p', namespace: 'x' }, spec: { podSelector: {} } }], invalidPolicies: [{ reason: 'r', policy: {} }], probes: [{ from: 'x/a', to: 'x/a', port: 80, protocol: 'UDP', expect: false, loopback: true }] },
      ],
    },
    'c.json',
  )
  t.same(f.steps.map((s) => s.state.pods[0]!.labels), [{ pod: 'a' }, { pod: 'b' }, { pod: 'b' }])
  t.equal(f.steps[0]!.description, 'one')
  t.equal(f.steps[2]!.state.namespaces, f.steps[0]!.state.namespaces, 'namespaces carried over')
  t.same(f.steps[2]!.invalidPolicies, [{ reason: 'r', policy: {} }])
  t.same(f.steps[2]!.probes[0], { from: 'x/a', to: 'x/a', port: 80, protocol: 'UDP', expect: false, loopback: true })
})

t.test('dual-stack ips and IPv6 canonical form', async (t) => {
  const f = parseClusterFile({ pods: [{ namespace: 'x', name: 'a', ip: '10.0.0.1', ips: ['10.0.0.1', 'FD00:0::1'], hostNetwork: true, nodeName: 'n1' }], policies: [], probes: [] }, 'c.json')
  t.same(f.steps[0]!.state.pods[0]!.ips, ['10.0.0.1', 'fd00::1'])
  t.equal(f.steps[0]!.state.pods[0]!.hostNetwork, true)
})

const bad: { name: string; json: unknown; message: string }[] = [
  { name: 'not an object', json: [], message: 'c.json: must be an object, got a list' },
  { name: 'bad pod IP', json: { pods: [{ namespace: 'x', name: 'a', ip: '10.0.1.x' }], policies: [], probes: [] }, message: 'c.json: pods[0].ip: "10.0.1.x" is not an IP address' },
  { name: 'pod without name', json: { pods: [{ namespace: 'x' }], probes: [] }, message: 'c.json: pods[0].name: required' },
  { name: 'duplicate pod', json: { pods: [pods[0], pods[0]], probes: [] }, message: 'c.json: pods[1].name: duplicate pod "x/a"' },
  { name: 'label value not a string', json: { pods: [{ namespace: 'x', name: 'a', labels: { a: 1 } }] }, message: 'c.json: pods[0].labels.a: must be a string, got 1' },
  { name: 'bad container port', json: { pods: [{ namespace: 'x', name: 'a', ports: [{ containerPort: 70000 }] }] }, message: 'c.json: pods[0].ports[0].containerPort: 70000 is not a port number (1-65535)' },
  { name: 'bad protocol', json: { pods, probes: [{ from: 'x/a', to: 'x/a', port: 80, protocol: 'ICMP' }] }, message: 'c.json: probes[0].protocol: "ICMP" is not one of TCP, UDP, SCTP' },
  { name: 'probe to an unknown pod', json: { pods, probes: [{ from: 'x/a', to: 'y/b', port: 80 }] }, message: 'c.json: probes[0].to: no pod "y/b" in this step' },
  { name: 'probe from a bad IP', json: { pods, probes: [{ from: '1.2.3', to: 'x/a', port: 80 }] }, message: 'c.json: probes[0].from: "1.2.3" is not an IP address' },
  { name: 'probe port missing', json: { pods, probes: [{ from: 'x/a', to: 'x/a' }] }, message: 'c.json: probes[0].port: undefined is not a port number (1-65535)' },
  { name: 'steps and top-level probes', json: { steps: [], probes: [] }, message: 'c.json: steps: a file has either `steps` or top-level `policies`/`probes`, not both' },
  { name: 'empty steps', json: { steps: [] }, message: 'c.json: steps: must have at least one step' },
  { name: 'error inside a step', json: { steps: [{ pods: [{ namespace: 'x', name: 'a', ip: 'nope' }] }] }, message: 'c.json: steps[0].pods[0].ip: "nope" is not an IP address' },
]
for (const row of bad) {
  t.test(`rejects: ${row.name}`, async (t) => {
    let err: unknown
    try {
      parseClusterFile(row.json, 'c.json')
    } catch (e) {
      err = e
    }
    t.ok(err instanceof InputError, 'throws InputError')
    t.equal((err as Error | undefined)?.message, row.message)
  })
}
