// The API server's name and label syntax rules (k8s.io/apimachinery/pkg/util/validation), each
// returning the list of messages it would report ([] = valid).

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

export function dns1123Label(v: string): string[] {
  const out: string[] = []
  if (v.length > 63) out.push('must be no more than 63 characters')
  if (!DNS1123_LABEL.test(v)) {
    out.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character")
  }
  return out
}

export function dns1123Subdomain(v: string): string[] {
  const out: string[] = []
  if (v.length > 253) out.push('must be no more than 253 characters')
  if (!DNS1123_SUBDOMAIN.test(v)) {
    out.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
  }
  return out
}

/** Label keys: optional DNS subdomain prefix + "/" + name of at most 63 characters. */
export function qualifiedName(v: string): string[] {
  const parts = v.split('/')
  let name: string
  const out: string[] = []
  if (parts.length === 1) {
    name = parts[0]!
  } else if (parts.length === 2) {
    const prefix = parts[0]!
    name = parts[1]!
    if (prefix.length === 0) out.push('prefix part must be non-empty')
    else for (const m of dns1123Subdomain(prefix)) out.push(`prefix part ${m}`)
  } else {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
  }
  if (name.length === 0) out.push('name part must be non-empty')
  else if (name.length > 63) out.push('name part must be no more than 63 characters')
  if (name.length > 0 && !QUALIFIED_NAME_PART.test(name)) {
    out.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")
  }
  return out
}

export function labelValue(v: string): string[] {
  const out: string[] = []
  if (v.length > 63) out.push('must be no more than 63 characters')
  if (!LABEL_VALUE.test(v)) {
    out.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")
  }
  return out
}

/** IANA_SVC_NAME (RFC 6335): what a named container port / policy port may be called. */
export function portName(v: string): string[] {
  const out: string[] = []
  if (v.length < 1 || v.length > 15) out.push('must be no more than 15 characters')
  if (!/^[-a-z0-9]+$/.test(v)) out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
  if (v.includes('--')) out.push("must not contain consecutive hyphens")
  if (!/[a-z]/.test(v)) out.push('must contain at least one letter (a-z)')
  if (v.startsWith('-') || v.endsWith('-')) out.push('must not begin or end with a hyphen')
  return out
}

export function portNumber(v: number): string[] {
  return Number.isInteger(v) && v >= 1 && v <= 65535 ? [] : ['must be between 1 and 65535, inclusive']
}
