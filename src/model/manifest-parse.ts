// Manifest text → plain objects. Accepts JSON, YAML, multi-document YAML and kubectl dumps
// (`kind: List` or any `*List` with `items`), and expands directories into manifest files.
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { InputError } from './errors.js'
import { isObject } from './fields.js'

const MANIFEST_EXT = /\.(ya?ml|json)$/i

/** One top-level object out of a file, with where it was found (for messages). */
export interface ManifestDocument {
  readonly object: unknown
  /** "document 2", "document 1 items[3]" — empty for a single-object file. */
  readonly where: string
}

/** Parses one file's text. Syntax errors throw InputError naming the file, line and column. */
export function parseManifestText(text: string, file: string): ManifestDocument[] {
  const roots: unknown[] = []
  if (/\.json$/i.test(file) || /^\s*[{[]/.test(text)) {
    try {
      roots.push(JSON.parse(text))
    } catch (e) {
      // Not JSON after all (a YAML flow mapping, say): fall through to YAML unless it is a .json file.
      if (/\.json$/i.test(file)) throw new InputError(`file ${file}`, '', `invalid JSON: ${(e as Error).message}`)
    }
  }
  if (roots.length === 0) {
    for (const doc of parseAllDocuments(text, { prettyErrors: true, uniqueKeys: false, merge: true })) {
      const err = doc.errors[0]
      if (err) throw new InputError(`file ${file}`, '', `invalid YAML: ${err.message.split('\n')[0]!.replace(/:$/, '')}`)
      roots.push(doc.toJS({ maxAliasCount: 1000 }))
    }
  }
  const multi = roots.length > 1
  const out: ManifestDocument[] = []
  roots.forEach((root, i) => {
    const where = multi ? `document ${i + 1}` : ''
    if (root === null || root === undefined) return // empty YAML document ("---" at the end)
    if (isObject(root) && typeof root.kind === 'string' && root.kind.endsWith('List') && Array.isArray(root.items)) {
      // Typed lists from the API (PodList) omit each item's kind; kubectl's `List` keeps it.
      const itemKind = root.kind === 'List' ? undefined : root.kind.slice(0, -'List'.length)
      root.items.forEach((item, j) => {
        const object = itemKind && isObject(item) && item.kind === undefined ? { kind: itemKind, ...item } : item
        out.push({ object, where: `${where ? where + ' ' : ''}items[${j}]` })
      })
    } else {
      out.push({ object: root, where })
    }
  })
  return out
}

/**
 * Expands paths into manifest files: files as given, directories recursively (*.yaml, *.yml,
 * *.json, sorted). Dot-entries are skipped — that also skips the `..data` links of a mounted
 * ConfigMap, whose files appear once at the top level.
 */
export async function listManifestFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = []
  for (const p of paths) {
    let st
    try {
      st = await stat(p)
    } catch (e) {
      throw new InputError(`file ${p}`, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    if (st.isDirectory()) await walk(p, out)
    else out.push(p)
  }
  return out
}

async function walk(dir: string, out: string[]): Promise<void> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort()
  for (const name of names) {
    const p = join(dir, name)
    const st = await stat(p).catch(() => undefined) // a dangling link or a file removed meanwhile
    if (!st) continue
    if (st.isDirectory()) await walk(p, out)
    else if (MANIFEST_EXT.test(name)) out.push(p)
  }
}
