// Address and CIDR parsing for the engine. Hand-written (not ip-num) because the hot path needs
// plain uint32 numbers / 32-bit words, and compile needs exact Go net.ParseCIDR semantics:
// a CIDR with host bits set parses, and its network is the masked address.

/** "10.0.0.1" -> unsigned 32-bit number, or -1 if not a dotted-quad IPv4 address. */
export function ipv4ToNumber(s: string): number {
  let n = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0) return -1
      n = n * 256 + part
      part = 0
      digits = 0
      dots++
      if (dots > 3) return -1
    } else if (c >= 48 && c <= 57) {
      // Go (since 1.17) and the API server reject leading zeros: "010.0.0.1" is ambiguous (octal).
      if (digits === 1 && part === 0) return -1
      part = part * 10 + (c - 48)
      digits++
      if (part > 255) return -1
    } else {
      return -1
    }
  }
  if (dots !== 3 || digits === 0) return -1
  return n * 256 + part
}

export function numberToIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

/** Parses IPv6 text into 4 big-endian 32-bit words. Returns false if it is not IPv6. */
export function parseIPv6(s: string, out: Uint32Array): boolean {
  if (s.length < 2 || s.includes('%')) return false
  const dbl = s.indexOf('::')
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return false
  const groups: number[] = []
  const parseSide = (side: string, allowV4Tail: boolean): number[] | null => {
    if (side === '') return []
    const parts = side.split(':')
    const res: number[] = []
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
        const v4 = ipv4ToNumber(p)
        if (v4 < 0) return null
        res.push(v4 >>> 16, v4 & 0xffff)
        continue
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null
      res.push(parseInt(p, 16))
    }
    return res
  }
  if (dbl === -1) {
    const g = parseSide(s, true)
    if (!g || g.length !== 8) return false
    groups.push(...g)
  } else {
    const head = parseSide(s.slice(0, dbl), false)
    const tail = parseSide(s.slice(dbl + 2), true)
    if (!head || !tail || head.length + tail.length > 7) return false
    groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail)
  }
  for (let w = 0; w < 4; w++) out[w] = ((groups[2 * w]! << 16) | groups[2 * w + 1]!) >>> 0
  return true
}

/** IPv6 text -> 16 bytes at out[off..off+16) (network order). False if not IPv6. */
export function ipv6ToBytes(ip: string, out: Uint8Array, off: number): boolean {
  const w = new Uint32Array(4)
  if (!parseIPv6(ip, w)) return false
  for (let i = 0; i < 4; i++) {
    out[off + i * 4] = w[i]! >>> 24
    out[off + i * 4 + 1] = (w[i]! >>> 16) & 255
    out[off + i * 4 + 2] = (w[i]! >>> 8) & 255
    out[off + i * 4 + 3] = w[i]! & 255
  }
  return true
}

export function formatIPv6(words: ArrayLike<number>): string {
  const g: number[] = []
  for (let w = 0; w < 4; w++) g.push(words[w]! >>> 16, words[w]! & 0xffff)
  // RFC 5952: compress the longest run (>= 2) of zero groups.
  let bestAt = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) { bestAt = i; bestLen = j - i }
    i = j
  }
  const hex = g.map((x) => x.toString(16))
  if (bestAt < 0) return hex.join(':')
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`
}

export interface ParsedIP {
  family: 4 | 6
  /** The address as an integer (32 or 128 bits). */
  value: bigint
}

export function parseIP(s: string): ParsedIP | null {
  const v4 = ipv4ToNumber(s)
  if (v4 >= 0) return { family: 4, value: BigInt(v4) }
  const w = new Uint32Array(4)
  if (!parseIPv6(s, w)) return null
  return { family: 6, value: wordsToBigInt(w) }
}

export function wordsToBigInt(w: ArrayLike<number>): bigint {
  return (BigInt(w[0]!) << 96n) | (BigInt(w[1]!) << 64n) | (BigInt(w[2]!) << 32n) | BigInt(w[3]!)
}

export function bigIntToWords(v: bigint, out: Uint32Array, off: number): void {
  out[off] = Number((v >> 96n) & 0xffffffffn)
  out[off + 1] = Number((v >> 64n) & 0xffffffffn)
  out[off + 2] = Number((v >> 32n) & 0xffffffffn)
  out[off + 3] = Number(v & 0xffffffffn)
}

/** Canonical text of an address (IPv6 compressed, lower case). */
export function formatIP(p: ParsedIP): string {
  if (p.family === 4) return numberToIPv4(Number(p.value))
  const w = new Uint32Array(4)
  bigIntToWords(p.value, w, 0)
  return formatIPv6(w)
}

export interface ParsedCIDR {
  family: 4 | 6
  bits: number
  /** Masked network address (Go net.ParseCIDR semantics). */
  first: bigint
  /** Last address inside the prefix. */
  last: bigint
  /** False when the text had host bits set ("10.0.1.11/4"): accepted by old API servers. */
  canonical: boolean
}

/**
 * Parsed CIDRs are immutable and shared: validation, compilation and every table see the same
 * object for the same text (100k ipBlocks are parsed once, not three times).
 */
const cidrCache = new Map<string, ParsedCIDR | null>()
const CIDR_CACHE_MAX = 1 << 18

export function parseCIDR(s: string): ParsedCIDR | null {
  if (typeof s !== 'string') return null
  let c = cidrCache.get(s)
  if (c !== undefined) return c
  c = parseCIDRUncached(s)
  if (cidrCache.size >= CIDR_CACHE_MAX) cidrCache.clear()
  cidrCache.set(s, c)
  return c
}

function parseCIDRUncached(s: string): ParsedCIDR | null {
  const slash = s.indexOf('/')
  if (slash < 0) return null
  const ip = parseIP(s.slice(0, slash))
  const bitsText = s.slice(slash + 1)
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return null
  const bits = Number(bitsText)
  const width = ip.family === 4 ? 32 : 128
  if (bits > width) return null
  const hostBits = BigInt(width - bits)
  const hostMask = (1n << hostBits) - 1n
  const first = ip.value & ~hostMask
  return Object.freeze({ family: ip.family, bits, first, last: first | hostMask, canonical: first === ip.value })
}

export function formatCIDR(c: ParsedCIDR): string {
  return `${formatIP({ family: c.family, value: c.first })}/${c.bits}`
}
