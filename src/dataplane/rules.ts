// Programs the queue rules and keeps them in step with the pods: one atomic replace per change
// (iptables-restore --noflush per family, or one nft transaction), skipped when nothing changed,
// and removed without a trace on shutdown.
import { run, type Exec } from '../lab/netns.js'
import { iptablesChains, iptablesJumps, renderIptablesRemoval, renderIptablesRestore } from './rules-iptables.js'
import { renderNftRemoval, renderNftRuleset } from './rules-nft.js'
import { validateRuleInput, type Backend, type PodRuleTarget, type RuleOptions } from './rules-types.js'

export type { Backend, PodRuleTarget, RuleOptions } from './rules-types.js'
export { renderIptablesRestore, renderIptablesRemoval } from './rules-iptables.js'
export { renderNftRuleset, renderNftRemoval } from './rules-nft.js'

const FAMILIES = [
  { family: 4 as const, save: 'iptables', restore: 'iptables-restore' },
  { family: 6 as const, save: 'ip6tables', restore: 'ip6tables-restore' },
]

export interface RuleSyncStats {
  readonly applied: number
  readonly skipped: number
}

export class RuleManager {
  private last: string | undefined
  private applied = 0
  private skipped = 0
  private tail: Promise<unknown> = Promise.resolve()

  constructor(
    readonly backend: Backend,
    readonly opts: RuleOptions,
    private readonly exec: Exec = run,
  ) {
    validateRuleInput([], opts)
  }

  stats(): RuleSyncStats {
    return { applied: this.applied, skipped: this.skipped }
  }

  /** Calls run one at a time, in order: the last sync wins, and remove() is never overtaken. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn)
    this.tail = next.catch(() => {})
    return next
  }

  /** Makes the kernel's rules match `targets`. Idempotent; a no-op when they already do. */
  sync(targets: readonly PodRuleTarget[]): Promise<void> {
    const snapshot = [...targets]
    return this.serial(() => this.syncNow(snapshot))
  }

  private async syncNow(targets: readonly PodRuleTarget[]): Promise<void> {
    const key = this.backend === 'nft'
      ? renderNftRuleset(targets, this.opts)
      : FAMILIES.map((f) => renderIptablesRestore(targets, this.opts, { family: f.family })).join('')
    if (key === this.last) {
      this.skipped++
      return
    }
    this.last = undefined
    if (this.backend === 'nft') {
      await this.exec(['nft', '-f', '-'], key)
    } else {
      await Promise.all(FAMILIES.map((f) => this.syncIptables(f, targets)))
    }
    this.last = key
    this.applied++
  }

  private async syncIptables(f: (typeof FAMILIES)[number], targets: readonly PodRuleTarget[]): Promise<void> {
    const listing = await this.listing(f.save)
    const wanted = iptablesJumps(this.opts)
    const missing = wanted.filter((j) => !listing[j.table].split('\n').includes(`-A ${j.from} -j ${j.to}`))
    // Leftovers of a previous configuration (say node traffic was enforced, now it is not) go
    // first, in their own transaction: a rare path, only after an options change.
    const chains = iptablesChains(this.opts)
    const keep = new Set([...wanted.map((j) => j.to), chains.queue])
    const stale = (s: string): string => s.split('\n').filter((l) => {
      const m = /^(?:-N (\S+)|-A \S+ -j (\S+))$/.exec(l)
      const chain = m?.[1] ?? m?.[2]
      return chain !== undefined && Object.values(chains).includes(chain) && !keep.has(chain)
    }).join('\n')
    const removal = renderIptablesRemoval(this.opts, { filter: stale(listing.filter), mangle: stale(listing.mangle) })
    if (removal) await this.exec([f.restore, '-w', '--noflush'], removal)
    const text = renderIptablesRestore(targets, this.opts, { family: f.family, missingJumps: missing })
    await this.exec([f.restore, '-w', '--noflush'], text)
  }

  private async listing(save: string): Promise<{ filter: string; mangle: string }> {
    const [filter, mangle] = await Promise.all([
      this.exec([save, '-w', '-t', 'filter', '-S']),
      this.exec([save, '-w', '-t', 'mangle', '-S']).catch(() => ''),
    ])
    return { filter, mangle }
  }

  /** Deletes every rule, chain and table of ours; leaves everything else alone. */
  remove(): Promise<void> {
    return this.serial(() => this.removeNow())
  }

  private async removeNow(): Promise<void> {
    this.last = undefined
    if (this.backend === 'nft') {
      await this.exec(['nft', '-f', '-'], renderNftRemoval(this.opts))
      return
    }
    await Promise.all(FAMILIES.map(async (f) => {
      const text = renderIptablesRemoval(this.opts, await this.listing(f.save))
      if (text) await this.exec([f.restore, '-w', '--noflush'], text)
    }))
  }
}
