// One entry point for "a cluster" on disk: a conformance-style cluster file (JSON or YAML, single
// state or steps) or Kubernetes manifests (file or directory). Both come back as a ClusterFile;
// manifests give one step without probes, their invalid policies in that step's invalidPolicies.
import { readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { parseClusterFile, type ClusterFile } from './cluster-file.js'
import { InputError } from './errors.js'
import { isObject } from './fields.js'
import { convertFile, loadManifests, mergeFiles, type RejectedPolicy } from './manifests.js'
import type { ClusterState, ValidationIssue } from '../api/types.js'

const CLUSTER_FILE_KEYS = ['pods', 'steps', 'probes']

/** A cluster file is a plain object with pods/steps/probes at the top and no Kubernetes `kind`. */
export function isClusterFileObject(v: unknown): boolean {
  return isObject(v) && v.kind === undefined && CLUSTER_FILE_KEYS.some((k) => k in v)
}

/** A ClusterFile plus which format it was read from. */
export interface LoadedCluster extends ClusterFile {
  readonly format: 'cluster-file' | 'manifests'
}

export async function loadCluster(path: string): Promise<LoadedCluster> {
  let isDir: boolean
  try {
    isDir = (await stat(path)).isDirectory()
  } catch (e) {
    throw new InputError(`file ${path}`, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  if (isDir) {
    const { state, rejected, malformed } = await loadManifests([path])
    return manifestCluster(basename(path), state, malformed, rejected)
  }
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`file ${path}`, '', `cannot read: ${e.code ?? e.message}`)
  })
  const root = peekRoot(text, path)
  if (isClusterFileObject(root)) return { ...parseClusterFile(root, `file ${path}`), format: 'cluster-file' }
  const file = convertFile(text, path)
  return manifestCluster(basename(path), mergeFiles([file]).state, file.malformed, file.rejected)
}

/** The first document, for format detection only; undefined when it does not parse. */
export function peekRoot(text: string, path: string): unknown {
  try {
    if (/\.json$/i.test(path) || /^\s*\{/.test(text)) return JSON.parse(text)
    return parseYaml(text, { uniqueKeys: false, merge: true })
  } catch {
    return undefined // multi-document YAML or a syntax error: the manifest parser reports it
  }
}

/**
 * Malformed objects (a pod with a bad IP) make the whole input unusable for a verdict: throw the
 * first. Invalid policies are what the API server would reject: they become invalidPolicies.
 */
function manifestCluster(name: string, state: ClusterState, malformed: ValidationIssue[], rejected: RejectedPolicy[]): LoadedCluster {
  const bad = malformed[0]
  if (bad) throw new InputError(bad.object, bad.field, bad.message)
  return { name, format: 'manifests', steps: [{ state, invalidPolicies: rejected, probes: [] }] }
}
