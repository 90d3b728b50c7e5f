import t from 'tap'
import { InputError } from '../src/model/errors.js'
import { namespaceFromObject, podFromObject, policyFromObject } from '../src/model/objects.js'

const pod = (over: { metadata?: object; spec?: object; status?: object } = {}): object => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'a', namespace: 'x', labels: { pod: 'a' }, resourceVersion: '7', ...over.metadata },
  spec: { nodeName: 'node-1', containers: [{ name: 'web', ports: [{ name: 'http', containerPort: 80 }] }], ...over.spec },
  status: { phase: 'Running', podIP: '10.0.1.11', podIPs: [{ ip: '10.0.1.11' }], ...over.status },
})

t.test('podFromObject: good objects', async (t) => {
  const cases: { name: string; obj: object; want: object }[] = [
    {
      name: 'running pod, protocol defaults to TCP',
      obj: pod(),
      want: { namespace: 'x', name: 'a', labels: { pod: 'a' }, ips: ['10.0.1.11'], ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }], nodeName: 'node-1' },
    },
    {
      name: 'dual stack, IPv6 canonicalised',
      obj: pod({ status: { podIPs: [{ ip: '10.0.1.11' }, { ip: 'FD00:0:0::0B' }] } }),
      want: { ips: ['10.0.1.11', 'fd00::b'] },
    },
    {
      name: 'only the singular podIP (old API servers)',
      obj: pod({ status: { podIPs: undefined, podIP: '10.0.1.12' } }),
      want: { ips: ['10.0.1.12'] },
    },
    {
      name: 'pending pod without IP',
      obj: pod({ status: { phase: 'Pending', podIP: undefined, podIPs: undefined } }),
      want: { ips: [] },
    },
    {
      name: 'no namespace → default; no labels → {}',
      obj: { kind: 'Pod', metadata: { name: 'a' } },
      want: { namespace: 'default', name: 'a', labels: {}, ips: [], ports: [] },
    },
    {
      name: 'sidecar init container ports count, plain init containers do not',
      obj: pod({
        spec: {
          containers: [{ ports: [{ containerPort: 8080, protocol: 'UDP' }] }],
          initContainers: [
            { name: 'setup', ports: [{ name: 'setup', containerPort: 9 }] },
            { name: 'proxy', restartPolicy: 'Always', ports: [{ name: 'metrics', containerPort: 15090, protocol: 'SCTP' }] },
          ],
        },
      }),
      want: { ports: [{ containerPort: 8080, protocol: 'UDP' }, { name: 'metrics', containerPort: 15090, protocol: 'SCTP' }] },
    },
    { name: 'hostNetwork', obj: pod({ spec: { hostNetwork: true } }), want: { hostNetwork: true } },
    { name: 'terminating', obj: pod({ metadata: { deletionTimestamp: '2026-11-21T00:00:00Z' } }), want: { terminated: true } },
    { name: 'succeeded', obj: pod({ status: { phase: 'Succeeded' } }), want: { terminated: true } },
    { name: 'failed', obj: pod({ status: { phase: 'Failed' } }), want: { terminated: true } },
  ]
  for (const c of cases) t.match(podFromObject(c.obj), c.want, c.name)
  t.notOk('terminated' in podFromObject(pod()), 'a running pod is not terminated')
  t.notOk('hostNetwork' in podFromObject(pod()), 'hostNetwork absent unless true')
})

t.test('converters: bad objects → InputError naming object and field', async (t) => {
  const cases: { name: string; fn: () => unknown; want: string }[] = [
    { name: 'not an object', fn: () => podFromObject('pod'), want: 'Pod default/<unnamed>: must be an object, got "pod"' },
    { name: 'no metadata', fn: () => podFromObject({ kind: 'Pod' }), want: 'Pod default/<unnamed>: metadata.name: required' },
    { name: 'empty name', fn: () => podFromObject({ metadata: { name: '' } }), want: 'Pod default/<unnamed>: metadata.name: required' },
    { name: 'wrong kind', fn: () => podFromObject({ kind: 'Service', metadata: { name: 's' } }), want: 'Pod default/s: kind: expected Pod, got "Service"' },
    { name: 'bad pod IP', fn: () => podFromObject(pod({ status: { podIPs: [{ ip: '10.0.1.300' }] } })), want: 'Pod x/a: status.podIPs[0].ip: invalid IP address "10.0.1.300"' },
    { name: 'IPv6 zone', fn: () => podFromObject(pod({ status: { podIPs: [{ ip: 'fe80::1%eth0' }] } })), want: 'Pod x/a: status.podIPs[0].ip: invalid IP address "fe80::1%eth0"' },
    { name: 'podIPs entry without ip', fn: () => podFromObject(pod({ status: { podIPs: [{ ip: '10.0.0.1' }, {}] } })), want: 'Pod x/a: status.podIPs[1].ip: required' },
    { name: 'podIPs not a list', fn: () => podFromObject(pod({ status: { podIPs: '10.0.0.1' } })), want: 'Pod x/a: status.podIPs: must be a list, got "10.0.0.1"' },
    { name: 'bad singular podIP', fn: () => podFromObject(pod({ status: { podIPs: [], podIP: 'x' } })), want: 'Pod x/a: status.podIP: invalid IP address "x"' },
    { name: 'label value not a string', fn: () => podFromObject(pod({ metadata: { labels: { tier: 3 } } })), want: 'Pod x/a: metadata.labels.tier: label values must be strings, got number 3' },
    {
      name: 'containerPort out of range',
      fn: () => podFromObject(pod({ spec: { containers: [{ ports: [{ containerPort: 70000 }] }] } })),
      want: 'Pod x/a: spec.containers[0].ports[0].containerPort: must be an integer between 1 and 65535, got number 70000',
    },
    {
      name: 'containerPort missing',
      fn: () => podFromObject(pod({ spec: { containers: [{}, { ports: [{ name: 'http' }] }] } })),
      want: 'Pod x/a: spec.containers[1].ports[0].containerPort: required',
    },
    {
      name: 'unknown protocol',
      fn: () => podFromObject(pod({ spec: { containers: [{ ports: [{ containerPort: 80, protocol: 'ICMP' }] }] } })),
      want: 'Pod x/a: spec.containers[0].ports[0].protocol: unsupported protocol "ICMP" (TCP, UDP or SCTP)',
    },
    { name: 'hostNetwork not boolean', fn: () => podFromObject(pod({ spec: { hostNetwork: 'yes' } })), want: 'Pod x/a: spec.hostNetwork: must be true or false, got "yes"' },
    { name: 'namespace without name', fn: () => namespaceFromObject({ kind: 'Namespace', metadata: {} }), want: 'Namespace <unnamed>: metadata.name: required' },
    { name: 'namespace labels not an object', fn: () => namespaceFromObject({ metadata: { name: 'x', labels: ['a'] } }), want: 'Namespace x: metadata.labels: must be an object, got a list' },
    { name: 'policy without spec', fn: () => policyFromObject({ kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'x' } }), want: 'NetworkPolicy x/p: spec: required' },
    { name: 'policy wrong apiVersion', fn: () => policyFromObject({ apiVersion: 'extensions/v1beta1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: {} }), want: 'NetworkPolicy default/p: apiVersion: expected networking.k8s.io/v1, got "extensions/v1beta1"' },
  ]
  for (const c of cases) {
    t.throws(c.fn, { name: 'InputError', message: c.want }, c.name)
  }
  t.ok((() => { try { podFromObject(pod({ status: { podIPs: [{ ip: 'bad' }] } })) } catch (e) { return e instanceof InputError && e.object === 'Pod x/a' && e.field === 'status.podIPs[0].ip' } })(), 'object and field stay machine-readable')
})

t.test('namespaceFromObject and policyFromObject', async (t) => {
  t.strictSame(namespaceFromObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { team: 'a' } } }), {
    name: 'x',
    labels: { team: 'a', 'kubernetes.io/metadata.name': 'x' },
  }, 'the API server name label is added')
  t.strictSame(namespaceFromObject({ metadata: { name: 'x', labels: { 'kubernetes.io/metadata.name': 'lie' } } }).labels, { 'kubernetes.io/metadata.name': 'x' }, 'and always equals the name')
  const p = policyFromObject({ kind: 'NetworkPolicy', metadata: { name: 'deny', resourceVersion: '5' }, spec: { podSelector: {} }, status: {} })
  t.strictSame(p, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny', resourceVersion: '5', namespace: 'default' }, spec: { podSelector: {} } }, 'namespace defaulted, status dropped')
})
