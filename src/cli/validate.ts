// `netpol validate`: every problem in manifests and cluster files, as the API server would see it.
import { readFile, stat } from 'node:fs/promises'
import type { ValidationIssue } from '../api/types.js'
import { parseClusterFile } from '../model/cluster-file.js'
import { InputError } from '../model/errors.js'
import { inputErrorDetail } from '../model/fields.js'
import { isClusterFileObject, peekRoot } from '../model/load-cluster.js'
import { listManifestFiles } from '../model/manifest-parse.js'
import { convertFile, inFile } from '../model/manifests.js'
import { validateAnnotations } from '../validate/annotations.js'
import { policyObjectName, validateNetworkPolicy } from '../validate/network-policy.js'
import { boolFlag, type Command } from './command.js'

/** An issue plus whether the cluster file said to expect it (an invalidPolicies entry). */
interface Finding extends ValidationIssue {
  readonly expected?: string
}

export const validateCommand: Command = {
  name: 'validate',
  summary: 'Report every invalid object (object, field, reason) in manifests, directories and cluster files.',
  usage: 'FILE|DIR… [--json]',
  positionals: 'FILE…',
  flags: {
    json: { type: 'boolean', help: 'print {"issues":[…],"errors":N,"warnings":N} instead of text' },
  },
  details: `Checks NetworkPolicies as the API server does (CIDRs, except inside cidr, ports and endPort,
protocols, selectors, names) and Pods/Namespaces for the fields the engine reads. Directories are
read recursively (*.yaml, *.yml, *.json). Kinds other than Namespace, Pod and NetworkPolicy are
skipped. In a cluster file, every policy of every step is checked, and each invalidPolicies entry
must be rejected: its errors are listed (marked "expected"), and an entry that passes is an error.

exit status: 0 no errors (warnings allowed), 1 errors found, 2 on usage errors.

example:
  netpol validate examples/demo-manifests/ ../shared/conformance/189-spec-invalid-policies-rejected.json`,
  async run(args, io) {
    const findings: Finding[] = []
    let files = 0
    for (const path of args.positionals) {
      try {
        const isDir = (await stat(path).catch(() => undefined))?.isDirectory()
        for (const file of isDir ? await listManifestFiles([path]) : [path]) {
          files++
          findings.push(...(await validateFile(file)))
        }
      } catch (e) {
        if (!(e instanceof InputError)) throw e
        findings.push({ object: e.object, field: e.field, message: inputErrorDetail(e), severity: 'error' })
      }
    }
    const errors = findings.filter((f) => f.severity === 'error').length
    const warnings = findings.length - errors
    if (boolFlag(args, 'json')) {
      io.out(JSON.stringify({ issues: findings, errors, warnings }, null, 2) + '\n')
    } else {
      for (const f of findings) io.out(formatFinding(f) + '\n')
      io.out(`${errors} error(s), ${warnings} warning(s) in ${files} file(s)\n`)
    }
    return errors > 0 ? 1 : 0
  },
}

export function formatFinding(f: Finding): string {
  const where = f.field ? `${f.object}: ${f.field}` : f.object
  const note = f.expected !== undefined ? ` (expected: listed in invalidPolicies${f.expected ? `: ${f.expected}` : ''})` : ''
  return `${f.severity}: ${where}: ${f.message}${note}`
}

async function validateFile(file: string): Promise<Finding[]> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`file ${file}`, '', `cannot read: ${e.code ?? e.message}`)
  })
  const root = peekRoot(text, file)
  if (!isClusterFileObject(root)) return convertFile(text, file).issues
  return clusterFileFindings(parseClusterFile(root, `file ${file}`), file)
}

function clusterFileFindings(cluster: ReturnType<typeof parseClusterFile>, file: string): Finding[] {
  const out: Finding[] = []
  const seen = new Set<string>()
  const add = (f: Finding): void => {
    const key = formatFinding(f)
    if (!seen.has(key)) out.push(f)
    seen.add(key)
  }
  for (const step of cluster.steps) {
    for (const p of step.state.policies) for (const i of [...validateNetworkPolicy(p), ...validateAnnotations(p)]) add(inFile(file, i))
    for (const { reason, policy } of step.invalidPolicies) {
      const issues = validateNetworkPolicy(policy).map((i) => inFile(file, i))
      const errs = issues.filter((i) => i.severity === 'error')
      for (const i of errs) add({ ...i, expected: reason })
      if (errs.length === 0) {
        const object = issues[0]?.object ?? `file ${file}: ${policyObjectName(policy)}`
        add({ object, field: '', message: `listed in invalidPolicies${reason ? ` (${reason})` : ''}, but passes validation`, severity: 'error' })
      }
    }
  }
  return out
}
