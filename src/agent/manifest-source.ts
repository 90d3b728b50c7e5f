// The manifest-directory policy source as the agent sees it (labs, demos, clusters without an
// API server connection): every scan's deltas wake the agent's sync loop.
import type { PolicySource } from './node-agent.js'
import type { ClusterStore } from '../store/cluster-store.js'
import { ManifestDirSource } from '../sync/manifest-dir.js'

export function makeManifestDirSource(dir: string, store: ClusterStore, onChange: () => void): PolicySource {
  const source = new ManifestDirSource(dir, store, {
    debounceMs: 20,
    onScan: (result) => {
      if (result.deltas.length > 0) onChange()
    },
  })
  return {
    start: () => source.start(),
    resync: () => source.scan(),
    stop: () => source.stop(),
    issues: () => source.issues(),
  }
}
