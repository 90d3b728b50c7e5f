// A cluster state written back out as Kubernetes objects (one `kind: List`), the form a manifest
// directory source reads: the lab hands each step to the running agent this way.
import type { ClusterState, PodInfo } from '../api/types.js'

function podObject(p: PodInfo): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: p.namespace, name: p.name, labels: { ...p.labels } },
    spec: {
      ...(p.nodeName ? { nodeName: p.nodeName } : {}),
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{
        name: 'main',
        image: 'lab',
        ports: p.ports.map((port) => ({ ...(port.name ? { name: port.name } : {}), containerPort: port.containerPort, protocol: port.protocol })),
      }],
    },
    status: {
      phase: p.terminated ? 'Succeeded' : 'Running',
      ...(p.ips.length > 0 ? { podIP: p.ips[0], podIPs: p.ips.map((ip) => ({ ip })) } : {}),
    },
  }
}

export function stateToList(state: ClusterState): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      ...state.namespaces.map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.name, labels: { ...n.labels } } })),
      ...state.pods.map(podObject),
      ...state.policies.map((p) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', ...p })),
    ],
  }
}
