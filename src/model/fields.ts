// Small typed readers for untrusted API objects. Each failure throws InputError naming the object
// and the field path, so every caller reports "Pod x/a: status.podIPs[0].ip: …" the same way.
import { isIPv4, isIPv6 } from 'node:net'
import { InputError } from './errors.js'

export type Obj = Record<string, unknown>

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A field reader bound to one object's display name ("Pod x/a"). */
export class Fields {
  constructor(readonly object: string) {}

  fail(field: string, message: string): never {
    throw new InputError(this.object, field, message)
  }

  object_(v: unknown, field: string): Obj | undefined {
    if (v === undefined || v === null) return undefined
    if (!isObject(v)) this.fail(field, `must be an object, got ${describe(v)}`)
    return v
  }

  array(v: unknown, field: string): unknown[] {
    if (v === undefined || v === null) return []
    if (!Array.isArray(v)) this.fail(field, `must be a list, got ${describe(v)}`)
    return v
  }

  string(v: unknown, field: string): string | undefined {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string') this.fail(field, `must be a string, got ${describe(v)}`)
    return v
  }

  requiredString(v: unknown, field: string): string {
    const s = this.string(v, field)
    if (s === undefined || s === '') this.fail(field, 'required')
    return s
  }

  boolean(v: unknown, field: string): boolean | undefined {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${describe(v)}`)
    return v
  }

  /** A string→string map (labels). Non-string values are rejected, as the API server does. */
  labels(v: unknown, field: string): Record<string, string> {
    const o = this.object_(v, field)
    const out: Record<string, string> = {}
    if (!o) return out
    for (const [k, val] of Object.entries(o)) {
      if (typeof val !== 'string') this.fail(`${field}.${k}`, `label values must be strings, got ${describe(val)}`)
      out[k] = val
    }
    return out
  }

  /** An IPv4/IPv6 address in canonical text (IPv6 compressed, lower case, RFC 5952). */
  ip(v: unknown, field: string): string {
    const s = this.requiredString(v, field)
    if (isIPv4(s)) return s
    if (isIPv6(s) && !s.includes('%')) return new URL(`http://[${s}]`).hostname.slice(1, -1)
    this.fail(field, `invalid IP address "${s}"`)
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (v === undefined) return 'nothing'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'string') return `"${v}"`
  return `${typeof v} ${String(v)}`
}

/** InputError keeps only the formatted message; this recovers the part after "object: field: ". */
export function inputErrorDetail(e: InputError): string {
  const prefix = e.field ? `${e.object}: ${e.field}: ` : `${e.object}: `
  return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message
}
