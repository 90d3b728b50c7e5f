// metav1.LabelSelector validation (ValidateLabelSelector with invalid label values disallowed,
// which is what NetworkPolicy uses).
import type { ValidationIssue } from '../api/types.js'
import { labelValue, qualifiedName } from './names.js'

export type Report = (field: string, message: string, severity?: ValidationIssue['severity']) => void

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist']

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function validateLabelSelector(sel: unknown, path: string, report: Report): void {
  if (sel === null || sel === undefined) return
  if (!isObject(sel)) return report(path, 'must be an object')
  const ml = sel.matchLabels
  if (ml !== undefined && ml !== null) {
    if (!isObject(ml)) report(`${path}.matchLabels`, 'must be a map of strings')
    else {
      for (const [k, v] of Object.entries(ml)) {
        const f = `${path}.matchLabels[${k}]`
        for (const m of qualifiedName(k)) report(f, `Invalid value: "${k}": ${m}`)
        if (typeof v !== 'string') report(f, 'label values must be strings')
        else for (const m of labelValue(v)) report(f, `Invalid value: "${v}": ${m}`)
      }
    }
  }
  const me = sel.matchExpressions
  if (me === undefined || me === null) return
  if (!Array.isArray(me)) return report(`${path}.matchExpressions`, 'must be a list')
  for (let i = 0; i < me.length; i++) {
    const req: unknown = me[i]
    const rp = `${path}.matchExpressions[${i}]`
    if (!isObject(req)) {
      report(rp, 'must be an object')
      continue
    }
    const values = req.values
    if (values !== undefined && values !== null && !(Array.isArray(values) && values.every((x) => typeof x === 'string'))) {
      report(`${rp}.values`, 'must be a list of strings')
      continue
    }
    const vals = (values ?? []) as string[]
    switch (req.operator) {
      case 'In':
      case 'NotIn':
        if (vals.length === 0) report(`${rp}.values`, "Required value: must be specified when `operator` is 'In' or 'NotIn'")
        break
      case 'Exists':
      case 'DoesNotExist':
        if (vals.length > 0) report(`${rp}.values`, "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        break
      default:
        report(`${rp}.operator`, `Unsupported value: ${JSON.stringify(req.operator)}: supported values: ${OPERATORS.map((o) => `"${o}"`).join(', ')}`)
    }
    if (typeof req.key !== 'string') report(`${rp}.key`, 'Required value: must be a label key')
    else for (const m of qualifiedName(req.key)) report(`${rp}.key`, `Invalid value: "${req.key}": ${m}`)
    for (let j = 0; j < vals.length; j++) {
      for (const m of labelValue(vals[j]!)) report(`${rp}.values[${j}]`, `Invalid value: "${vals[j]}": ${m}`)
    }
  }
}
