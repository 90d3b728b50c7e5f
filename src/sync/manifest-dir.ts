// A policy source for labs and demos: a directory of manifests, watched (fs.watch, debounced) and
// rescanned periodically (fs.watch misses events on some filesystems and across ConfigMap symlink
// swaps). Every scan rebuilds the whole state and hands it to the store, which passes on only the
// differences.
//
// A bad file never costs objects: a file that no longer parses keeps its last good version, and an
// object in it that became malformed or invalid keeps its last good version (like `kubectl apply`:
// the API server rejects the new object and the old one stays). The problem is reported as an issue
// naming the file and the field until the file is fixed. A deleted file removes its objects.
import { watch, type FSWatcher } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { ClusterDelta, ValidationIssue } from '../api/types.js'
import { InputError } from '../model/errors.js'
import { inputErrorDetail } from '../model/fields.js'
import { listManifestFiles } from '../model/manifest-parse.js'
import { mergeFiles, podKey, policyKey, readManifestFile, type FileObjects } from '../model/manifests.js'
import type { ClusterStore } from '../store/cluster-store.js'

export interface ManifestDirOptions {
  /** Quiet time after a change before rescanning (a burst of writes becomes one scan). */
  readonly debounceMs?: number
  /** Periodic full rescan; 0 turns it off. */
  readonly rescanMs?: number
  /** fs.watch the directory (default true); off, only the periodic rescan and scan() notice changes. */
  readonly watch?: boolean
  /** After every scan: the deltas it produced and every issue currently standing. */
  readonly onScan?: (result: ScanResult) => void
}

export interface ScanResult {
  readonly deltas: readonly ClusterDelta[]
  readonly issues: readonly ValidationIssue[]
}

export class ManifestDirSource {
  private readonly lastGood = new Map<string, FileObjects>()
  private watcher: FSWatcher | undefined
  private timer: NodeJS.Timeout | undefined
  private debounce: NodeJS.Timeout | undefined
  private running: Promise<ScanResult> | undefined
  private again = false
  private current: readonly ValidationIssue[] = []
  private readonly debounceMs: number
  private readonly rescanMs: number

  constructor(
    readonly dir: string,
    private readonly store: ClusterStore,
    private readonly options: ManifestDirOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 200
    this.rescanMs = options.rescanMs ?? 10_000
  }

  /** Scans once (the store is synced when this resolves), then watches. */
  async start(): Promise<ScanResult> {
    const st = await stat(this.dir).catch(() => undefined)
    if (!st?.isDirectory()) throw new InputError(`directory ${this.dir}`, '', 'not a readable directory')
    const first = await this.scan()
    if (this.options.watch !== false) {
      this.watcher = watch(this.dir, { recursive: true }, () => this.schedule())
      this.watcher.on('error', () => this.schedule()) // e.g. the directory was replaced: rescan reports it
    }
    if (this.rescanMs > 0) {
      this.timer = setInterval(() => this.schedule(), this.rescanMs)
      this.timer.unref()
    }
    return first
  }

  async stop(): Promise<void> {
    this.watcher?.close()
    clearInterval(this.timer)
    clearTimeout(this.debounce)
    this.watcher = this.timer = this.debounce = undefined
    await this.running
  }

  /** Issues standing after the last scan. */
  issues(): readonly ValidationIssue[] {
    return this.current
  }

  /** Rescans now; concurrent calls share one scan, and a call during a scan queues one more. */
  scan(): Promise<ScanResult> {
    if (this.running) {
      this.again = true
      return this.running
    }
    this.running = this.scanLoop().finally(() => (this.running = undefined))
    return this.running
  }

  private schedule(): void {
    clearTimeout(this.debounce)
    this.debounce = setTimeout(() => void this.scan(), this.debounceMs)
  }

  private async scanLoop(): Promise<ScanResult> {
    let result: ScanResult
    do {
      this.again = false
      result = await this.scanOnce()
      this.options.onScan?.(result)
    } while (this.again)
    return result
  }

  private async scanOnce(): Promise<ScanResult> {
    const issues: ValidationIssue[] = []
    let files: string[]
    try {
      files = await listManifestFiles([this.dir])
    } catch (e) {
      // The directory itself is gone or unreadable: keep everything rather than wipe the cluster.
      if (!(e instanceof InputError)) throw e
      const issue: ValidationIssue = { object: e.object, field: e.field, message: inputErrorDetail(e), severity: 'error' }
      this.current = [issue]
      return { deltas: [], issues: this.current }
    }
    const present = new Set(files)
    for (const f of [...this.lastGood.keys()]) if (!present.has(f)) this.lastGood.delete(f)
    const effective: FileObjects[] = []
    for (const file of files) {
      let parsed: FileObjects
      try {
        parsed = await readManifestFile(file)
      } catch (e) {
        if (!(e instanceof InputError)) throw e
        const kept = this.lastGood.get(file)
        const note = kept ? ' (keeping its last good version)' : ''
        issues.push({ object: e.object, field: e.field, message: inputErrorDetail(e) + note, severity: 'error' })
        if (kept) effective.push(kept)
        continue
      }
      const merged = keepLastGood(parsed, this.lastGood.get(file))
      this.lastGood.set(file, merged)
      effective.push(merged)
      issues.push(...merged.issues)
    }
    const { state, issues: mergeIssues } = mergeFiles(effective.map((f) => ({ ...f, issues: [] })))
    issues.push(...mergeIssues)
    this.current = issues
    return { deltas: this.store.replaceAll(state), issues }
  }
}

/** Objects of `next` that failed take their version from the file's last good contents. */
function keepLastGood(next: FileObjects, prev: FileObjects | undefined): FileObjects {
  if (!prev || next.failed.length === 0) return next
  const failed = new Set(next.failed)
  return {
    ...next,
    namespaces: [...next.namespaces, ...prev.namespaces.filter((n) => failed.has(`Namespace ${n.name}`))],
    pods: [...next.pods, ...prev.pods.filter((p) => failed.has(`Pod ${podKey(p)}`))],
    policies: [...next.policies, ...prev.policies.filter((p) => failed.has(`NetworkPolicy ${policyKey(p)}`))],
  }
}
