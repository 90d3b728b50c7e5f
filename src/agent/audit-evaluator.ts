// Audit mode: policies evaluated and logged but not enforced (`--audit-all`, or the annotation
// netpol.dev/audit: "true" on a NetworkPolicy). Two engines fed from the same deltas:
//   enforcing — audit-mode policies left out (an upsert of one becomes its delete): decides `allowed`;
//   auditing  — every policy: what would happen if the audit policies were enforced.
// A connection enforcing allows but auditing denies passes with `slot.audit = true` and the
// auditing engine's codes/refs, so describe() (and so the tap) names the would-be denial.
//
// Costs: the auditing engine exists only from the first audit-mode policy on (then it is kept and
// fed every delta, so its table ids are never reused under the tap's memo), and `active` is the
// plain enforcing engine whenever no policy is in audit mode — the agent swaps evaluators on 0↔n,
// so the common case pays no second classify.
//
// Generation: every update applies to the enforcing engine, whose counter therefore changes
// whenever either engine changes; it is the generation of every slot, and `active` only changes at
// an update, so a cached verdict is never read back under the other evaluator.
import type {
  ClusterDelta,
  ClusterState,
  FlowKey,
  NetworkPolicy,
  PodIsolation,
  PolicyEvaluator,
  SideVerdict,
  ValidationIssue,
  Verdict,
  VerdictSlot,
} from '../api/types.js'
import { newVerdictSlot } from '../api/types.js'
import { PolicyEngine, type ApplyResult, type EngineOptions, type Explanation } from '../engine/index.js'
import { isAuditAnnotated, validateAnnotations } from '../validate/annotations.js'

export interface AuditOptions {
  /** Every policy is in audit mode (a first default-deny rolled out safely). */
  readonly auditAll?: boolean
  /** The whole current state, to build the auditing engine when the first audit policy appears. */
  readonly snapshot: () => ClusterState
}

export class AuditingEvaluator implements PolicyEvaluator {
  readonly enforcing: PolicyEngine
  private auditingEngine: PolicyEngine | undefined
  /** Keys ("ns/name") of the policies in audit mode now. */
  private readonly auditKeys = new Set<string>()
  private readonly annotationIssues = new Map<string, ValidationIssue[]>()
  private readonly auditAll: boolean
  private readonly scratch = newVerdictSlot()

  constructor(
    private readonly engineOptions: EngineOptions,
    private readonly options: AuditOptions,
  ) {
    this.enforcing = new PolicyEngine(engineOptions)
    this.auditAll = options.auditAll === true
  }

  get generation(): number {
    return this.enforcing.generation
  }

  /** Policies in audit mode now. */
  get auditCount(): number {
    return this.auditKeys.size
  }

  /** What the packet path should run: the plain engine unless some policy is in audit mode. */
  get active(): PolicyEvaluator {
    return this.auditKeys.size === 0 ? this.enforcing : this
  }

  /** The engine with every policy, once an audit policy has appeared. */
  get auditing(): PolicyEngine | undefined {
    return this.auditingEngine
  }

  // ------------------------------------------------------------------------------ updates

  /** Replaces everything (the CLI's first step). The agent only applies deltas: a reload restarts table ids. */
  load(state: ClusterState): ApplyResult {
    this.auditKeys.clear()
    this.annotationIssues.clear()
    let policies: NetworkPolicy[] | undefined
    for (const p of state.policies) {
      if (!this.note(p)) continue
      policies ??= state.policies.filter((q) => !this.isAudit(q))
    }
    const result = this.enforcing.load(policies ? { ...state, policies } : state)
    let issues = result.issues
    if (this.auditingEngine !== undefined) issues = this.auditingEngine.load(state).issues
    else if (this.ensureAuditing(state)) issues = this.auditingEngine!.issues()
    return { ...result, issues: this.withAnnotationIssues(issues, state.policies) }
  }

  apply(deltas: readonly ClusterDelta[]): ApplyResult {
    let anyAudit = false
    const upserted: NetworkPolicy[] = []
    for (const d of deltas) {
      if (d.kind !== 'NetworkPolicy') continue
      if (d.op === 'upsert') {
        upserted.push(d.object)
        if (this.note(d.object)) anyAudit = true
      } else {
        const key = `${d.namespace}/${d.name}`
        this.auditKeys.delete(key)
        this.annotationIssues.delete(key)
      }
    }
    // The enforcing engine must not hold an audit policy: its upsert becomes its delete there
    // (so an update that turns audit on removes it from enforcement).
    let enforced: readonly ClusterDelta[] = deltas
    if (anyAudit) {
      enforced = deltas.map((d): ClusterDelta => {
        if (d.kind !== 'NetworkPolicy' || d.op !== 'upsert' || !this.isAudit(d.object)) return d
        const { namespace, name } = keyOf(d.object)
        return { kind: 'NetworkPolicy', op: 'delete', namespace, name }
      })
    }
    const result = this.enforcing.apply(enforced)
    let issues = result.issues
    const auditing = this.auditingEngine
    // Built from the snapshot, which already holds these deltas; otherwise fed them.
    if (auditing !== undefined) issues = auditing.apply(deltas).issues
    else if (this.ensureAuditing()) issues = this.auditingEngine!.issues()
    return { ...result, issues: this.withAnnotationIssues(issues, upserted) }
  }

  private isAudit(p: NetworkPolicy): boolean {
    return this.auditAll || isAuditAnnotated(p)
  }

  /** Records the policy's audit mode and annotation issues; true when it is in audit mode. */
  private note(p: NetworkPolicy): boolean {
    const { namespace, name } = keyOf(p)
    const key = `${namespace}/${name}`
    const issues = validateAnnotations(p)
    if (issues.length > 0) this.annotationIssues.set(key, issues)
    else this.annotationIssues.delete(key)
    if (!this.isAudit(p)) {
      this.auditKeys.delete(key)
      return false
    }
    this.auditKeys.add(key)
    return true
  }

  private ensureAuditing(state?: ClusterState): boolean {
    if (this.auditingEngine !== undefined || this.auditKeys.size === 0) return false
    this.auditingEngine = new PolicyEngine(this.engineOptions)
    this.auditingEngine.load(state ?? this.options.snapshot())
    return true
  }

  private withAnnotationIssues(engineIssues: ValidationIssue[], policies: readonly NetworkPolicy[]): ValidationIssue[] {
    const out = [...engineIssues]
    for (const p of policies) {
      const { namespace, name } = keyOf(p)
      for (const i of this.annotationIssues.get(`${namespace}/${name}`) ?? []) out.push(i)
    }
    return out
  }

  // ------------------------------------------------------------------------------- reads

  /** Pods either engine isolates: rules must queue for audit-isolated pods too, or audit sees nothing. */
  isolation(): PodIsolation[] {
    const own = this.enforcing.isolation()
    const auditing = this.auditingEngine
    if (auditing === undefined || this.auditKeys.size === 0) return own
    const byKey = new Map<string, PodIsolation>()
    for (const p of own) byKey.set(`${p.namespace}/${p.name}`, p)
    for (const p of auditing.isolation()) {
      const k = `${p.namespace}/${p.name}`
      const e = byKey.get(k)
      byKey.set(k, e === undefined ? p : { ...e, ingress: e.ingress || p.ingress, egress: e.egress || p.egress })
    }
    return [...byKey.values()]
  }

  issues(): ValidationIssue[] {
    const out = [...(this.auditingEngine ?? this.enforcing).issues()]
    for (const list of this.annotationIssues.values()) out.push(...list)
    return out
  }

  // ------------------------------------------------------------------------------- hot path

  classifyV4(src: number, dst: number, proto: number, dstPort: number, out: VerdictSlot): boolean {
    if (!this.enforcing.classifyV4(src, dst, proto, dstPort, out)) {
      out.audit = false
      return false
    }
    const a = this.auditingEngine
    if (a === undefined || this.auditKeys.size === 0 || a.classifyV4(src, dst, proto, dstPort, this.scratch)) {
      out.audit = false
      return true
    }
    return markAudit(out, this.scratch)
  }

  classifyV6(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, dstPort: number, out: VerdictSlot): boolean {
    if (!this.enforcing.classifyV6(buf, srcOff, dstOff, proto, dstPort, out)) {
      out.audit = false
      return false
    }
    const a = this.auditingEngine
    if (a === undefined || this.auditKeys.size === 0 || a.classifyV6(buf, srcOff, dstOff, proto, dstPort, this.scratch)) {
      out.audit = false
      return true
    }
    return markAudit(out, this.scratch)
  }

  // ------------------------------------------------------------------------------ off the hot path

  describe(slot: VerdictSlot): Verdict {
    const a = this.auditingEngine
    if (!slot.audit || a === undefined) return this.enforcing.describe(slot)
    const v = a.describe(slot)
    return { allowed: true, egress: auditSide(v.egress), ingress: auditSide(v.ingress), generation: slot.generation }
  }

  classify(flow: FlowKey): Verdict {
    const v = this.enforcing.classify(flow)
    const a = this.auditingEngine
    if (!v.allowed || a === undefined || this.auditKeys.size === 0) return v
    const w = a.classify(flow)
    if (w.allowed) return v
    return { allowed: true, egress: auditSide(w.egress), ingress: auditSide(w.ingress), generation: v.generation }
  }

  /** The enforced account, and the audit policies' would-be denial after it. */
  explain(flow: FlowKey): Explanation {
    const own = this.enforcing.explain(flow)
    const a = this.auditingEngine
    if (!own.verdict.allowed || a === undefined || this.auditKeys.size === 0) return own
    const audit = a.explain(flow)
    if (audit.verdict.allowed) return own
    const [head, ...rest] = audit.text.split('\n')
    const text = [
      own.text.replace(/^(.*?): ALLOWED/, '$1: ALLOWED (AUDIT: policies in audit mode would deny it)'),
      // The auditing engine's own generation would only confuse: the flow's is on the first line.
      `Audit mode (logged, not enforced): ${head!.replace(/^.*?: DENIED.*$/, 'would be DENIED')}`,
      ...rest.map((l) => `  ${l}`),
    ].join('\n')
    return { verdict: this.classify(flow), text }
  }
}

function markAudit(out: VerdictSlot, s: VerdictSlot): true {
  // `allowed` and `generation` stay the enforcing engine's; the reasons are the would-be denial's.
  out.egressCode = s.egressCode
  out.ingressCode = s.ingressCode
  out.egressRef = s.egressRef
  out.ingressRef = s.ingressRef
  out.audit = true
  return true
}

function auditSide(s: SideVerdict): SideVerdict {
  return s.allowed ? s : { ...s, audit: true }
}

function keyOf(p: NetworkPolicy): { namespace: string; name: string } {
  const ns = p.metadata?.namespace
  return { namespace: typeof ns === 'string' && ns !== '' ? ns : 'default', name: String(p.metadata?.name ?? '') }
}
