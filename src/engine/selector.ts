// Label selectors compiled once per policy: the packet path never sees a selector, only the
// identities/namespaces a selector resolved to at compile time.
import type { Labels } from '../api/types.js'

const Op = { In: 0, NotIn: 1, Exists: 2, DoesNotExist: 3 } as const
type Op = (typeof Op)[keyof typeof Op]

interface Requirement {
  readonly key: string
  readonly op: Op
  /** Few values per requirement in practice: an array scan beats a Set and costs far less. */
  readonly values: readonly string[]
}

/** Equal selectors compile to one shared object (10k policies repeat the same few selectors). */
const interned = new Map<string, WeakRef<CompiledSelector>>()
const registry = new FinalizationRegistry<string>((key) => {
  if (interned.get(key)?.deref() === undefined) interned.delete(key)
})

export class CompiledSelector {
  private constructor(
    /** False for a selector the API server would reject: it then matches nothing (fail closed). */
    readonly valid: boolean,
    private readonly reqs: readonly Requirement[],
    /** Canonical text, equal for equivalent selectors: a cache key. */
    readonly key: string,
  ) {}

  static readonly NOTHING = new CompiledSelector(false, [], '!nothing')
  static readonly EVERYTHING = new CompiledSelector(true, [], '')

  /** Empty selector `{}`: matches every object. */
  get empty(): boolean {
    return this.valid && this.reqs.length === 0
  }

  /**
   * Compiles a metav1.LabelSelector. `null`/`undefined` compile to EVERYTHING here; callers decide
   * what an absent selector means in their position. Malformed input compiles to NOTHING.
   */
  static compile(sel: unknown): CompiledSelector {
    if (sel === undefined || sel === null) return CompiledSelector.EVERYTHING
    if (typeof sel !== 'object' || Array.isArray(sel)) return CompiledSelector.NOTHING
    const s = sel as { matchLabels?: unknown; matchExpressions?: unknown }
    const reqs: Requirement[] = []
    if (s.matchLabels !== undefined && s.matchLabels !== null) {
      if (typeof s.matchLabels !== 'object' || Array.isArray(s.matchLabels)) return CompiledSelector.NOTHING
      for (const [k, v] of Object.entries(s.matchLabels)) {
        if (typeof v !== 'string') return CompiledSelector.NOTHING
        reqs.push({ key: k, op: Op.In, values: [v] })
      }
    }
    if (s.matchExpressions !== undefined && s.matchExpressions !== null) {
      if (!Array.isArray(s.matchExpressions)) return CompiledSelector.NOTHING
      for (const e of s.matchExpressions as unknown[]) {
        if (typeof e !== 'object' || e === null) return CompiledSelector.NOTHING
        const { key, operator, values } = e as { key?: unknown; operator?: unknown; values?: unknown }
        if (typeof key !== 'string') return CompiledSelector.NOTHING
        const vals = values === undefined || values === null ? [] : values
        if (!Array.isArray(vals) || !vals.every((x) => typeof x === 'string')) return CompiledSelector.NOTHING
        let op: Op
        if (operator === 'In') op = Op.In
        else if (operator === 'NotIn') op = Op.NotIn
        else if (operator === 'Exists') op = Op.Exists
        else if (operator === 'DoesNotExist') op = Op.DoesNotExist
        else return CompiledSelector.NOTHING
        const needsValues = op === Op.In || op === Op.NotIn
        if (needsValues !== vals.length > 0) return CompiledSelector.NOTHING
        reqs.push({ key, op, values: [...new Set(vals as string[])] })
      }
    }
    const key = reqs
      .map((r) => `${r.key}\u0001${r.op}\u0001${[...r.values].sort().join('\u0002')}`)
      .sort()
      .join('\u0003')
    const hit = interned.get(key)?.deref()
    if (hit) return hit
    const compiled = new CompiledSelector(true, reqs, key)
    interned.set(key, new WeakRef(compiled))
    registry.register(compiled, key)
    return compiled
  }

  matches(labels: Labels): boolean {
    if (!this.valid) return false
    for (let i = 0; i < this.reqs.length; i++) {
      const r = this.reqs[i]!
      const v = Object.prototype.hasOwnProperty.call(labels, r.key) ? labels[r.key] : undefined
      switch (r.op) {
        case Op.In:
          if (v === undefined || !r.values.includes(v)) return false
          break
        case Op.NotIn:
          // apimachinery: NotIn matches objects that lack the key.
          if (v !== undefined && r.values.includes(v)) return false
          break
        case Op.Exists:
          if (v === undefined) return false
          break
        case Op.DoesNotExist:
          if (v !== undefined) return false
          break
      }
    }
    return true
  }

  /**
   * A (key, values) pair every matching object must carry (from matchLabels or In), so callers can
   * narrow candidates with a label index instead of scanning. null when there is none.
   */
  indexHint(): { key: string; values: readonly string[] } | null {
    let best: Requirement | undefined
    for (const r of this.reqs) if (r.op === Op.In && (!best || r.values.length < best.values.length)) best = r
    return best ? { key: best.key, values: [...best.values] } : null
  }

  /** Human text, e.g. `app=web, tier in (a, b)`; `{}` for the empty selector. */
  toString(): string {
    if (!this.valid) return '<invalid selector: matches nothing>'
    if (this.reqs.length === 0) return '{}'
    return this.reqs
      .map((r) => {
        switch (r.op) {
          case Op.In:
            return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(', ')})`
          case Op.NotIn:
            return `${r.key} notin (${r.values.join(', ')})`
          case Op.Exists:
            return r.key
          case Op.DoesNotExist:
            return `!${r.key}`
        }
      })
      .join(', ')
  }
}
