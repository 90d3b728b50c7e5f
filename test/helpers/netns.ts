// Shared helpers for real-packet tests: unique namespace prefixes per run (parallel runs must not
// collide) and a topology that is torn down when the test ends, also on failure.
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { buildTopology, type Topology, type TopologySpec } from '../../src/lab/topology.js'

/** e.g. "nptopo-3f9a1c": short, unique per call, safe in namespace names. */
export function uniquePrefix(tag: string): string {
  return `np${tag}-${randomBytes(3).toString('hex')}`
}

/** Builds a topology for test t and registers its teardown. */
export async function labTopology(t: Test, tag: string, pods: TopologySpec['pods'], bridge = false): Promise<Topology> {
  const topo = await buildTopology({ prefix: uniquePrefix(tag), pods, bridge })
  t.teardown(() => topo.destroy())
  return topo
}
