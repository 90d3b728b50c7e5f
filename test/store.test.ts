import t from 'tap'
import type { ClusterDelta, NetworkPolicy, PodInfo } from '../src/api/types.js'
import { ClusterStore } from '../src/store/cluster-store.js'

const pod = (ns: string, name: string, ips: string[], extra: Partial<PodInfo> = {}): PodInfo => ({
  namespace: ns,
  name,
  labels: { app: name },
  ips,
  ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
  ...extra,
})
const policy = (ns: string, name: string, rv = '1', extra: Record<string, unknown> = {}): NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: ns, resourceVersion: rv, ...extra },
  spec: { podSelector: {} },
})
/** Compact form for table comparisons: "upsert Pod x/a [10.0.0.1]" / "delete Pod x/a". */
const show = (ds: readonly ClusterDelta[]): string[] =>
  ds.map((d) => {
    if (d.op === 'delete') return `delete ${d.kind} ${'namespace' in d ? d.namespace + '/' : ''}${d.name}`
    if (d.kind === 'Pod') return `upsert Pod ${d.object.namespace}/${d.object.name} [${d.object.ips.join(',')}]`
    if (d.kind === 'Namespace') return `upsert Namespace ${d.object.name}`
    return `upsert NetworkPolicy ${d.object.metadata.namespace}/${d.object.metadata.name}`
  })

t.test('single mutations yield minimal deltas', async (t) => {
  const cases: { name: string; steps: ((s: ClusterStore) => ClusterDelta[])[]; want: string[][] }[] = [
    {
      name: 'new namespace, then the same again',
      steps: [(s) => s.upsertNamespace({ name: 'x', labels: { a: '1' } }), (s) => s.upsertNamespace({ name: 'x', labels: { a: '1' } })],
      want: [['upsert Namespace x'], []],
    },
    {
      name: 'namespace relabelled',
      steps: [(s) => s.upsertNamespace({ name: 'x', labels: {} }), (s) => s.upsertNamespace({ name: 'x', labels: { a: '1' } })],
      want: [['upsert Namespace x'], ['upsert Namespace x']],
    },
    {
      name: 'policy rewritten with only resourceVersion/managedFields changed: no delta',
      steps: [(s) => s.upsertPolicy(policy('x', 'p', '1')), (s) => s.upsertPolicy(policy('x', 'p', '2', { managedFields: [{ manager: 'kubectl' }], generation: 3 }))],
      want: [['upsert NetworkPolicy x/p'], []],
    },
    {
      name: 'policy last-applied annotation ignored, other annotations count',
      steps: [
        (s) => s.upsertPolicy(policy('x', 'p', '1', { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } })),
        (s) => s.upsertPolicy(policy('x', 'p', '2')),
        (s) => s.upsertPolicy(policy('x', 'p', '3', { annotations: { audit: 'true' } })),
      ],
      want: [['upsert NetworkPolicy x/p'], [], ['upsert NetworkPolicy x/p']],
    },
    {
      name: 'delete of an unknown object: no delta',
      steps: [(s) => s.deletePod('x', 'nope'), (s) => s.deletePolicy('x', 'nope'), (s) => s.deleteNamespace('nope')],
      want: [[], [], []],
    },
    {
      name: 'pod port order does not matter, a new port does',
      steps: [
        (s) => s.upsertPod(pod('x', 'a', ['10.0.0.1'], { ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 81, protocol: 'UDP' }] })),
        (s) => s.upsertPod(pod('x', 'a', ['10.0.0.1'], { ports: [{ containerPort: 81, protocol: 'UDP' }, { containerPort: 80, protocol: 'TCP' }], hostNetwork: false })),
        (s) => s.upsertPod(pod('x', 'a', ['10.0.0.1'], { ports: [{ containerPort: 82, protocol: 'UDP' }, { containerPort: 80, protocol: 'TCP' }] })),
      ],
      want: [['upsert Pod x/a [10.0.0.1]'], [], ['upsert Pod x/a [10.0.0.1]']],
    },
  ]
  for (const c of cases) {
    const s = new ClusterStore()
    t.strictSame(c.steps.map((step) => show(step(s))), c.want, c.name)
  }
})

t.test('IP reuse: the live pod wins', async (t) => {
  const cases: { name: string; steps: ((s: ClusterStore) => ClusterDelta[])[]; want: string[][]; owner: string | undefined }[] = [
    {
      name: 'new pod takes the IP of a terminated pod',
      steps: [
        (s) => s.upsertPod(pod('x', 'old', ['10.0.0.5'], { terminated: true })),
        (s) => s.upsertPod(pod('x', 'new', ['10.0.0.5'])),
      ],
      want: [['upsert Pod x/old [10.0.0.5]'], ['upsert Pod x/old []', 'upsert Pod x/new [10.0.0.5]']],
      owner: 'x/new',
    },
    {
      name: 'old pod turns terminated after the new one appeared (stale delete): newest claim wins, then live wins',
      steps: [
        (s) => s.upsertPod(pod('x', 'old', ['10.0.0.5'])),
        (s) => s.upsertPod(pod('x', 'new', ['10.0.0.5'])),
        (s) => s.upsertPod(pod('x', 'old', ['10.0.0.5'], { terminated: true })),
      ],
      want: [['upsert Pod x/old [10.0.0.5]'], ['upsert Pod x/old []', 'upsert Pod x/new [10.0.0.5]'], ['upsert Pod x/old []']],
      owner: 'x/new',
    },
    {
      name: 'terminated pod updated again does not steal the IP back',
      steps: [
        (s) => s.upsertPod(pod('x', 'new', ['10.0.0.5'])),
        (s) => s.upsertPod(pod('x', 'old', ['10.0.0.5'], { terminated: true })),
      ],
      want: [['upsert Pod x/new [10.0.0.5]'], ['upsert Pod x/old []']],
      owner: 'x/new',
    },
    {
      name: 'winner deleted: the other claimant gets the IP back',
      steps: [
        (s) => s.upsertPod(pod('x', 'old', ['10.0.0.5'], { terminated: true })),
        (s) => s.upsertPod(pod('x', 'new', ['10.0.0.5'])),
        (s) => s.deletePod('x', 'new'),
      ],
      want: [['upsert Pod x/old [10.0.0.5]'], ['upsert Pod x/old []', 'upsert Pod x/new [10.0.0.5]'], ['upsert Pod x/old [10.0.0.5]', 'delete Pod x/new']],
      owner: 'x/old',
    },
    {
      name: 'hostNetwork pods share the node IP without a contest',
      steps: [
        (s) => s.upsertPod(pod('kube-system', 'proxy', ['10.0.0.5'], { hostNetwork: true })),
        (s) => s.upsertPod(pod('kube-system', 'exporter', ['10.0.0.5'], { hostNetwork: true })),
      ],
      want: [['upsert Pod kube-system/proxy [10.0.0.5]'], ['upsert Pod kube-system/exporter [10.0.0.5]']],
      owner: undefined,
    },
    {
      name: 'dual stack: only the contested address moves',
      steps: [
        (s) => s.upsertPod(pod('x', 'old', ['10.0.0.5', 'fd00::5'], { terminated: true })),
        (s) => s.upsertPod(pod('x', 'new', ['10.0.0.5'])),
      ],
      want: [['upsert Pod x/old [10.0.0.5,fd00::5]'], ['upsert Pod x/old [fd00::5]', 'upsert Pod x/new [10.0.0.5]']],
      owner: 'x/new',
    },
  ]
  for (const c of cases) {
    const s = new ClusterStore()
    t.strictSame(c.steps.map((step) => show(step(s))), c.want, c.name)
    const owner = s.podByIP('10.0.0.5')
    t.equal(owner && `${owner.namespace}/${owner.name}`, c.owner, `${c.name}: owner`)
    const ips = new Map<string, number>()
    for (const p of s.state().pods) if (!p.hostNetwork) for (const ip of p.ips) ips.set(ip, (ips.get(ip) ?? 0) + 1)
    t.ok([...ips.values()].every((n) => n === 1), `${c.name}: the engine sees each pod-network IP once`)
  }
})

t.test('replaceAll computes adds, changes and deletes only', async (t) => {
  const s = new ClusterStore()
  const first = s.replaceAll({
    namespaces: [{ name: 'x', labels: {} }, { name: 'y', labels: {} }],
    pods: [pod('x', 'a', ['10.0.0.1']), pod('y', 'b', ['10.0.0.2'])],
    policies: [policy('x', 'p1'), policy('y', 'p2')],
  })
  t.equal(first.length, 6, 'initial load: everything')
  const second = s.replaceAll({
    namespaces: [{ name: 'x', labels: {} }],
    pods: [pod('x', 'a', ['10.0.0.1'], { labels: { app: 'changed' } })],
    policies: [policy('x', 'p1', '99'), policy('x', 'p3')],
  })
  t.strictSame(show(second).sort(), [
    'delete Namespace y',
    'delete NetworkPolicy y/p2',
    'delete Pod y/b',
    'upsert NetworkPolicy x/p3',
    'upsert Pod x/a [10.0.0.1]',
  ])
  t.strictSame(show(s.replaceAll(s.state())), [], 'replacing with the same state: nothing')
})

t.test('drain coalesces since the last drain; onChange sees every mutation', async (t) => {
  const s = new ClusterStore()
  const seen: string[][] = []
  const off = s.onChange((d) => seen.push(show(d)))
  s.upsertNamespace({ name: 'x', labels: {} })
  s.upsertPolicy(policy('x', 'p'))
  t.strictSame(show(s.drain()), ['upsert Namespace x', 'upsert NetworkPolicy x/p'])
  t.strictSame(show(s.drain()), [], 'nothing new')

  s.upsertPod(pod('x', 'tmp', ['10.0.0.9']))
  s.deletePod('x', 'tmp') // created and gone within one window
  s.upsertPolicy(policy('x', 'p', '2', { labels: { v: '2' } }))
  s.upsertPolicy(policy('x', 'p', '3')) // back to what the engine has
  s.deleteNamespace('x')
  t.strictSame(show(s.drain()), ['delete Namespace x'], 'only the net effect')
  off()
  s.upsertNamespace({ name: 'z', labels: {} })
  t.equal(seen.length, 7, 'one notification per mutation that changed something, none after unsubscribe')
})
