// The project's own NetworkPolicy annotations. The API server accepts any annotation value, so a
// bad one is a warning (the policy is still loaded, and enforced): an error would leave the policy
// out, and a typo in an audit annotation must never silently drop enforcement.
import type { ValidationIssue } from '../api/types.js'
import { policyObjectName } from './network-policy.js'

/** "true": the policy is evaluated and logged (tap records marked audit) but not enforced. */
export const AUDIT_ANNOTATION = 'netpol.dev/audit'

function annotationsOf(policy: unknown): Record<string, unknown> | undefined {
  if (typeof policy !== 'object' || policy === null) return undefined
  const md = (policy as { metadata?: unknown }).metadata
  if (typeof md !== 'object' || md === null) return undefined
  const ann = (md as { annotations?: unknown }).annotations
  return typeof ann === 'object' && ann !== null && !Array.isArray(ann) ? (ann as Record<string, unknown>) : undefined
}

/** True only for the exact value "true"; anything else (absent, "false", invalid) enforces. */
export function isAuditAnnotated(policy: unknown): boolean {
  return annotationsOf(policy)?.[AUDIT_ANNOTATION] === 'true'
}

export function validateAnnotations(policy: unknown): ValidationIssue[] {
  const v = annotationsOf(policy)?.[AUDIT_ANNOTATION]
  if (v === undefined || v === 'true' || v === 'false') return []
  return [{
    object: policyObjectName(policy),
    field: `metadata.annotations["${AUDIT_ANNOTATION}"]`,
    message: `Invalid value: ${JSON.stringify(v)}: must be "true" or "false"; the policy is enforced`,
    severity: 'warning',
  }]
}
