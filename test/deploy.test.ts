// deploy/: every manifest validates against the Kubernetes API schemas (kubernetes-models: ajv
// validators generated from the API's OpenAPI documents: types, required fields, formats), and the
// choices that matter hold: least privilege, every node, probes on the agent's real endpoints.
// The generated validators accept unknown fields, so typos in field names are caught by the
// explicit checks below (probes, capabilities) rather than by the schema.
import { readFileSync, existsSync } from 'node:fs'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet'
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount'
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole'
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding'
import { parseAgentFlags } from '../src/agent/config.js'

const dir = new URL('../deploy/', import.meta.url)
type Obj = { kind: string; metadata: { name: string }; [k: string]: any } // eslint-disable-line @typescript-eslint/no-explicit-any
const MODELS: Record<string, new (o: any) => { validate(): void }> = { DaemonSet, ServiceAccount, ClusterRole, ClusterRoleBinding } // eslint-disable-line @typescript-eslint/no-explicit-any

const kustomization = parseAllDocuments(readFileSync(new URL('kustomization.yaml', dir), 'utf8'))[0]!.toJS() as { resources: string[] }
const objects: Obj[] = kustomization.resources.flatMap((f) => parseAllDocuments(readFileSync(new URL(f, dir), 'utf8')).map((d) => d.toJS() as Obj))

t.test('kustomization lists existing files and they hold the four objects', async (t) => {
  for (const f of kustomization.resources) t.ok(existsSync(new URL(f, dir)), f)
  t.strictSame(objects.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'ServiceAccount'])
})

for (const o of objects) {
  t.test(`${o.kind} ${o.metadata.name} validates against the API schema`, async (t) => {
    const Model = MODELS[o.kind]
    t.ok(Model, `a schema for ${o.kind}`)
    t.doesNotThrow(() => new Model!(o).validate())
  })
}

t.test('the schema check is real: broken objects are rejected', async (t) => {
  const ds = structuredClone(objects.find((o) => o.kind === 'DaemonSet')!)
  const cases: [string, (d: Obj) => void][] = [
    ['port as a string', (d) => (d.spec.template.spec.containers[0].ports[0].containerPort = 'metrics')],
    ['no selector', (d) => delete d.spec.selector],
    ['container without name', (d) => delete d.spec.template.spec.containers[0].name],
    ['hostNetwork as text', (d) => (d.spec.template.spec.hostNetwork = 'yes')],
  ]
  for (const [name, breakIt] of cases) {
    const broken = structuredClone(ds)
    breakIt(broken)
    t.throws(() => new DaemonSet(broken).validate(), name)
  }
})

t.test('DaemonSet: least privilege, every node, probes on the agent endpoints', async (t) => {
  const ds = objects.find((o) => o.kind === 'DaemonSet')!
  const pod = ds.spec.template.spec
  const c = pod.containers[0]
  t.equal(pod.hostNetwork, true, 'hostNetwork: rules live in the host namespace')
  t.strictSame(pod.tolerations, [{ operator: 'Exists' }], 'tolerates every taint')
  t.equal(c.securityContext.privileged, false)
  t.strictSame(c.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] }, 'NET_ADMIN only')
  t.equal(c.securityContext.allowPrivilegeEscalation, false)
  t.equal(ds.spec.updateStrategy.type, 'RollingUpdate')
  t.strictSame(c.env.find((e: { name: string }) => e.name === 'NODE_NAME').valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } })
  t.ok(c.resources.requests.cpu && c.resources.requests.memory, 'resource requests')
  const config = parseAgentFlags(c.args.slice(1))
  t.equal(config.source.kind, 'kube')
  const port = Number(config.metricsAddress.split(':').pop())
  t.equal(c.readinessProbe.httpGet.path, '/readyz')
  t.equal(c.livenessProbe.httpGet.path, '/healthz')
  t.equal(c.readinessProbe.httpGet.port, port, 'probes hit the --metrics port')
  t.equal(c.livenessProbe.httpGet.port, port)
  t.equal(c.ports[0].containerPort, port)
  t.equal(pod.serviceAccountName, objects.find((o) => o.kind === 'ServiceAccount')!.metadata.name)
})

t.test('RBAC: list and watch on pods, namespaces, networkpolicies only', async (t) => {
  const role = objects.find((o) => o.kind === 'ClusterRole')!
  const granted = role.rules.flatMap((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
    r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g || 'core'}/${res}:${v}`)))).sort()
  t.strictSame(granted, ['core/namespaces:list', 'core/namespaces:watch', 'core/pods:list', 'core/pods:watch', 'networking.k8s.io/networkpolicies:list', 'networking.k8s.io/networkpolicies:watch'])
  const binding = objects.find((o) => o.kind === 'ClusterRoleBinding')!
  t.equal(binding.roleRef.name, role.metadata.name)
  const sa = objects.find((o) => o.kind === 'ServiceAccount')!
  t.strictSame(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: (sa.metadata as { namespace?: string }).namespace }])
})

t.test('Dockerfile: multi-stage, builds the addon, runtime has the netfilter tools', async (t) => {
  const text = readFileSync(new URL('Dockerfile', dir), 'utf8')
  t.equal(text.match(/^FROM /gm)?.length, 2, 'two stages')
  t.match(text, /npm ci/, 'installs (and so builds native/) in the build stage')
  for (const tool of ['iptables', 'nftables', 'conntrack', 'libmnl0']) t.match(text, new RegExp(`apt-get install[^\\n]*${tool}`), tool)
  t.match(text, /native\/build\/Release/, 'copies the built addon')
})
