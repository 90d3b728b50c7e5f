// The live tables: one per (direction, set of selecting policies) signature, the identities
// using each, and which tables contain a policy (what an update of that policy must rebuild).
import type { ClusterIndex, Identity } from './cluster-index.js'
import type { CompiledPolicy } from './policy.js'
import type { ResolvedDirection } from './resolve.js'
import { Table, type Dir } from './table.js'

export class TableRegistry {
  private readonly bySignature = new Map<string, Table>()
  readonly byId = new Map<number, Table>()
  private readonly users = new Map<Table, Set<Identity>>()
  private readonly byPolicy = new Map<string, Set<Table>>()
  private nextId = 1

  /** The live table for a signature (undefined if none, or if `t` was replaced). */
  get(signature: string): Table | undefined {
    return this.bySignature.get(signature)
  }

  isLive(t: Table): boolean {
    return this.bySignature.get(t.signature) === t
  }

  containing(policyKey: string): Iterable<Table> {
    return this.byPolicy.get(policyKey) ?? []
  }

  usersOf(t: Table): Set<Identity> {
    return this.users.get(t) ?? new Set()
  }

  build(dir: Dir, signature: string, parts: readonly { cp: CompiledPolicy; resolved: ResolvedDirection }[], index: ClusterIndex): Table {
    const t = Table.build(this.nextId++, dir, signature, parts, index)
    this.bySignature.set(signature, t)
    this.byId.set(t.id, t)
    this.users.set(t, new Set())
    for (const { cp } of parts) {
      let s = this.byPolicy.get(cp.key)
      if (!s) this.byPolicy.set(cp.key, (s = new Set()))
      s.add(t)
    }
    return t
  }

  use(t: Table, id: Identity): void {
    this.users.get(t)?.add(id)
  }

  /** Unregisters a table (it stays valid for anyone still holding it). */
  remove(t: Table): void {
    this.bySignature.delete(t.signature)
    this.byId.delete(t.id)
    this.users.delete(t)
    for (const p of t.policies) this.byPolicy.get(p.key)?.delete(t)
  }

  /** `id` no longer uses `t`; the last user's release drops the table. */
  release(t: Table, id: Identity): void {
    const u = this.users.get(t)
    if (!u) return
    u.delete(id)
    if (u.size === 0) this.remove(t)
  }
}
