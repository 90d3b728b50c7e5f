// Manifest files → one ClusterState. Kinds other than Namespace, Pod and NetworkPolicy (Services,
// Deployments, ConfigMaps…) are skipped silently: a manifest directory of a real app holds many, and
// none of them changes a verdict. Malformed objects and invalid policies are reported as issues and
// left out, as the API server would reject them.
import { readFile } from 'node:fs/promises'
import type { ClusterState, NamespaceInfo, NetworkPolicy, PodInfo, ValidationIssue } from '../api/types.js'
import { validateAnnotations } from '../validate/annotations.js'
import { validateNetworkPolicy } from '../validate/network-policy.js'
import { InputError } from './errors.js'
import { inputErrorDetail, isObject } from './fields.js'
import { listManifestFiles, parseManifestText } from './manifest-parse.js'
import { namespaceFromObject, objectLabel, podFromObject, policyFromObject, NAMESPACE_NAME_LABEL } from './objects.js'

export type ModelKind = 'Namespace' | 'Pod' | 'NetworkPolicy'

/** A policy the API server would refuse, with the first reason ("file f: NetworkPolicy x/p: field: message"). */
export interface RejectedPolicy {
  readonly reason: string
  readonly policy: unknown
}

/** Everything one file contributed, after conversion and validation. */
export interface FileObjects {
  readonly file: string
  readonly namespaces: NamespaceInfo[]
  readonly pods: PodInfo[]
  readonly policies: NetworkPolicy[]
  readonly rejected: RejectedPolicy[]
  /** Identities ("Pod x/a") of objects left out because they were malformed or invalid. */
  readonly failed: string[]
  /** Conversion errors (malformed objects, not a policy judged invalid); also in `issues`. */
  readonly malformed: ValidationIssue[]
  readonly issues: ValidationIssue[]
}

export function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`
}
export function policyKey(p: NetworkPolicy): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`
}

/** Prefixes an issue's object with the file it came from. */
export function inFile(file: string, issue: ValidationIssue): ValidationIssue {
  return { ...issue, object: `file ${file}: ${issue.object}` }
}

function inputIssue(file: string, e: InputError): ValidationIssue {
  return inFile(file, { object: e.object, field: e.field, message: inputErrorDetail(e), severity: 'error' })
}

/** Converts and validates one file's text. Only a syntax error throws (InputError). */
export function convertFile(text: string, file: string): FileObjects {
  const out: FileObjects = { file, namespaces: [], pods: [], policies: [], rejected: [], failed: [], malformed: [], issues: [] }
  for (const { object, where } of parseManifestText(text, file)) {
    const at = where ? `${where}: ` : ''
    const malformed = (field: string, message: string): void => {
      const issue: ValidationIssue = { object: `file ${file}`, field, message, severity: 'error' }
      out.issues.push(issue)
      out.malformed.push(issue)
    }
    if (!isObject(object)) {
      malformed(where, 'not a Kubernetes object')
      continue
    }
    const kind = object.kind
    if (typeof kind !== 'string' || kind === '') {
      // The likeliest mix-up: a conformance-style cluster file inside a manifest directory.
      if (['pods', 'steps', 'probes'].some((k) => k in object)) malformed(where, 'a cluster file, not a manifest: pass it on its own (--cluster FILE)')
      else malformed(`${at}kind`, 'required')
      continue
    }
    if (kind !== 'Namespace' && kind !== 'Pod' && kind !== 'NetworkPolicy') continue
    const label = objectLabel(kind, object, kind !== 'Namespace')
    try {
      if (kind === 'Namespace') out.namespaces.push(namespaceFromObject(object))
      else if (kind === 'Pod') out.pods.push(podFromObject(object))
      else {
        const policy = policyFromObject(object)
        // The engine validates the spec again; our annotations only here (warnings: never rejected).
        const issues = [...validateNetworkPolicy(policy), ...validateAnnotations(policy)].map((i) => inFile(file, i))
        out.issues.push(...issues)
        const firstError = issues.find((i) => i.severity === 'error')
        if (firstError) {
          out.rejected.push({ reason: `${firstError.object}: ${firstError.field}: ${firstError.message}`, policy })
          out.failed.push(label)
        } else {
          out.policies.push(policy)
        }
      }
    } catch (e) {
      if (!(e instanceof InputError)) throw e
      const issue = inputIssue(file, e)
      out.issues.push(issue)
      out.malformed.push(issue)
      out.failed.push(label)
    }
  }
  return out
}

/**
 * Merges files into one state. An object defined in two files: the later file (in path order) wins,
 * with a warning. Namespaces that pods or policies use but no file defines are created with only
 * their name label, as they must exist in a real cluster for those objects to exist.
 */
export function mergeFiles(files: readonly FileObjects[]): { state: ClusterState; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = []
  const namespaces = new Map<string, NamespaceInfo>()
  const pods = new Map<string, PodInfo>()
  const policies = new Map<string, NetworkPolicy>()
  const origin = new Map<string, string>()
  const put = <T>(map: Map<string, T>, kind: string, key: string, value: T, file: string): void => {
    const id = `${kind} ${key}`
    const prev = origin.get(id)
    if (prev !== undefined) {
      issues.push({ object: `file ${file}: ${id}`, field: '', message: `also defined in ${prev}; this definition wins`, severity: 'warning' })
    }
    origin.set(id, file)
    map.set(key, value)
  }
  for (const f of files) {
    issues.push(...f.issues)
    for (const n of f.namespaces) put(namespaces, 'Namespace', n.name, n, f.file)
    for (const p of f.pods) put(pods, 'Pod', podKey(p), p, f.file)
    for (const p of f.policies) put(policies, 'NetworkPolicy', policyKey(p), p, f.file)
  }
  const used = [...[...pods.values()].map((p) => p.namespace), ...[...policies.values()].map((p) => p.metadata.namespace ?? 'default')]
  for (const name of used) {
    if (!namespaces.has(name)) namespaces.set(name, { name, labels: { [NAMESPACE_NAME_LABEL]: name } })
  }
  return { state: { namespaces: [...namespaces.values()], pods: [...pods.values()], policies: [...policies.values()] }, issues }
}

/** Reads and converts one file; unreadable or unparsable files throw InputError. */
export async function readManifestFile(file: string): Promise<FileObjects> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new InputError(`file ${file}`, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  return convertFile(text, file)
}

/** Loads manifests from files and directories into one state; see mergeFiles for the rules. */
export interface LoadedManifests {
  readonly state: ClusterState
  /** Every problem: malformed objects, invalid policies (left out of state), duplicates. */
  readonly issues: ValidationIssue[]
  readonly rejected: RejectedPolicy[]
  readonly malformed: ValidationIssue[]
}

export async function loadManifests(paths: string[]): Promise<LoadedManifests> {
  const files: FileObjects[] = []
  for (const file of await listManifestFiles(paths)) files.push(await readManifestFile(file))
  const { state, issues } = mergeFiles(files)
  return { state, issues, rejected: files.flatMap((f) => f.rejected), malformed: files.flatMap((f) => f.malformed) }
}
