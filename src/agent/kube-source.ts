// The API-server policy source as the agent sees it: client-node's KubeConfig (in-cluster service
// account, or --kubeconfig) and one informer per resource feeding the agent's store; every change
// wakes the agent's bounded-frequency sync loop. start() resolves after the first full list of
// Namespaces, Pods and NetworkPolicies is in the store.
import { KubeConfig } from '@kubernetes/client-node'
import type { AgentConfig } from './config.js'
import type { AgentLogger, PolicySource } from './node-agent.js'
import type { ClusterStore } from '../store/cluster-store.js'
import { KUBE_SYNC_DEFAULTS, KubeSync, type KubeSyncOptions } from '../sync/kube-informers.js'

export interface KubeSourceHooks {
  readonly log?: AgentLogger
  /** Called when a watch event or list changed the store (before onChange). */
  readonly onStoreChange?: () => void
  /** Receives the KubeSync (metrics and health read its stats). */
  readonly onSync?: (sync: KubeSync) => void
  readonly options?: Partial<KubeSyncOptions>
}

export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const kc = new KubeConfig()
  if (kubeconfig) kc.loadFromFile(kubeconfig)
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster()
  else throw new Error('--source kube: not running in a cluster (no KUBERNETES_SERVICE_HOST); pass --kubeconfig FILE')
  if (!kc.getCurrentCluster()) throw new Error('kubeconfig: no current cluster')
  return kc
}

export function makeKubeSource(config: AgentConfig, store: ClusterStore, onChange: () => void, hooks: KubeSourceHooks = {}): PolicySource & { readonly sync: KubeSync } {
  if (config.source.kind !== 'kube') throw new TypeError('makeKubeSource: config.source is not kube')
  const kc = loadKubeConfig(config.source.kubeconfig)
  const sync = new KubeSync(kc, store, () => {
    hooks.onStoreChange?.()
    onChange()
  }, { ...KUBE_SYNC_DEFAULTS, resyncPeriodMs: config.kubeResyncSeconds * 1000, log: hooks.log, ...hooks.options })
  hooks.onSync?.(sync)
  return {
    sync,
    start: () => sync.start(),
    // Informers follow the server themselves; an explicit resync is a full relist.
    resync: () => sync.resync(),
    stop: () => sync.stop(),
    issues: () => sync.issues(),
  }
}
