// A realistic synthetic cluster for the engine bench: namespaces of ~100 pods, deployments with
// replica labels, policies selecting apps with pod / namespace / ipBlock peers and ports, and a
// default-deny per namespace. Deterministic for a given size (seeded PRNG).
import type { ClusterState, NamespaceInfo, NetworkPolicy, NetworkPolicyPeer, PodInfo } from '../../src/api/types.js'

export interface SyntheticSize {
  policies: number
  pods: number
  /** ipBlock CIDRs across all policies. */
  cidrs: number
}

function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const TEAMS = ['payments', 'search', 'identity', 'platform', 'data', 'web']
const TIERS = ['frontend', 'backend', 'db', 'cache', 'worker']
const PORTS = [
  { name: 'http', containerPort: 8080, protocol: 'TCP' as const },
  { name: 'metrics', containerPort: 9090, protocol: 'TCP' as const },
  { name: 'grpc', containerPort: 50051, protocol: 'TCP' as const },
]

export interface SyntheticCluster {
  state: ClusterState
  /** Pod IPs as uint32, for building flows. */
  podIPs: number[]
  /** Pods grouped by namespace index (indexes into podIPs). */
  byNamespace: number[][]
}

export function syntheticCluster(size: SyntheticSize, seed = 42): SyntheticCluster {
  const rnd = prng(seed)
  const int = (n: number) => Math.floor(rnd() * n)
  const nsCount = Math.max(1, Math.round(size.pods / 100))
  const namespaces: NamespaceInfo[] = []
  const pods: PodInfo[] = []
  const podIPs: number[] = []
  const byNamespace: number[][] = []
  const apps: string[][] = []
  for (let n = 0; n < nsCount; n++) {
    const name = `ns-${n}`
    namespaces.push({ name, labels: { team: TEAMS[n % TEAMS.length]!, env: n % 3 === 0 ? 'prod' : 'staging', 'kubernetes.io/metadata.name': name } })
    byNamespace.push([])
    apps.push([])
  }
  namespaces.push({ name: 'kube-system', labels: { 'kubernetes.io/metadata.name': 'kube-system' } })
  // Deployments of 3-12 replicas until the namespace holds ~100 pods.
  let ipSeq = 0
  for (let n = 0; n < nsCount && pods.length < size.pods; n++) {
    let inNs = 0
    for (let d = 0; inNs < 100 && pods.length < size.pods; d++) {
      const app = `app-${d}`
      apps[n]!.push(app)
      const replicas = 3 + int(10)
      const hash = (n * 7919 + d * 104729).toString(16).slice(-8)
      for (let r = 0; r < replicas && pods.length < size.pods && inNs < 100; r++, inNs++) {
        ipSeq++
        // 10.(ipSeq>>16).(ipSeq>>8).(ipSeq) within 10.0.0.0/8, like a cluster pod CIDR.
        const ip = (10 << 24) | ipSeq
        podIPs.push(ip >>> 0)
        byNamespace[n]!.push(podIPs.length - 1)
        pods.push({
          namespace: `ns-${n}`,
          name: `${app}-${hash}-${r}`,
          labels: { app, tier: TIERS[d % TIERS.length]!, 'pod-template-hash': hash, version: `v${1 + (d % 3)}` },
          ips: [`10.${(ipSeq >>> 16) & 255}.${(ipSeq >>> 8) & 255}.${ipSeq & 255}`],
          ports: PORTS,
          nodeName: `node-${int(50)}`,
        })
      }
    }
  }
  const policies: NetworkPolicy[] = []
  const cidrsPerPolicy = size.policies > 0 ? Math.ceil(size.cidrs / size.policies) : 0
  let cidrsLeft = size.cidrs
  const cidr = () => {
    // External ranges (e.g. partner networks) outside the pod CIDR: /16 to /32.
    const bits = 16 + int(17)
    const addr = ((1 + int(200)) << 24) | (int(256) << 16) | (int(256) << 8) | int(256)
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0
    const a = (addr & mask) >>> 0
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${bits}`
  }
  for (let i = 0; i < size.policies; i++) {
    const n = i % nsCount
    const ns = `ns-${n}`
    const nsApps = apps[n]!.length > 0 ? apps[n]! : ['app-0']
    if (i < nsCount && i % 2 === 0) {
      // Default deny (ingress) in every other namespace.
      policies.push({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'default-deny', namespace: ns }, spec: { podSelector: {}, policyTypes: ['Ingress'] } })
      continue
    }
    const target = nsApps[int(nsApps.length)]!
    const from: NetworkPolicyPeer[] = [{ podSelector: { matchLabels: { app: nsApps[int(nsApps.length)]! } } }]
    if (rnd() < 0.5) from.push({ namespaceSelector: { matchLabels: { team: TEAMS[int(TEAMS.length)]! } }, podSelector: { matchLabels: { tier: 'frontend' } } })
    if (rnd() < 0.2) from.push({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } })
    const egressTo: NetworkPolicyPeer[] = []
    const k = Math.min(cidrsPerPolicy, cidrsLeft)
    for (let c = 0; c < k; c++) egressTo.push({ ipBlock: { cidr: cidr() } })
    cidrsLeft -= k
    const spec: NetworkPolicy['spec'] = {
      podSelector: { matchLabels: { app: target } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { from, ports: [{ protocol: 'TCP', port: 8080 }, { protocol: 'TCP', port: 'metrics' }] },
        ...(rnd() < 0.3 ? [{ from: [{ ipBlock: { cidr: `${1 + int(200)}.${int(256)}.0.0/16`, except: [`${1 + int(200)}.${int(256)}.1.0/24`] } }], ports: [{ protocol: 'TCP', port: 443 }] }] : []),
      ],
      egress: [
        { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
        { to: [{ podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ protocol: 'TCP', port: 5432 }] },
        ...(egressTo.length > 0 ? [{ to: egressTo, ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 8000, endPort: 9000 }] }] : []),
      ],
    }
    policies.push({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `allow-${target}-${i}`, namespace: ns }, spec })
  }
  return { state: { namespaces, pods, policies }, podIPs, byNamespace }
}
