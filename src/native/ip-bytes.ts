// IP addresses between text and the network-order bytes of conntrack records. Text output matches
// glibc inet_ntop (what the conntrack tool prints): lower-case hex, the longest run of two or more
// zero groups (the first of equal runs) as "::", IPv4-mapped/compatible tails dotted.

export function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`
}

export function formatIPv6(b: Uint8Array, off: number): string {
  const w: number[] = new Array(8)
  for (let i = 0; i < 8; i++) w[i] = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!
  let best = -1, bestLen = 0
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && w[j] === 0) j++
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  if (bestLen < 2) best = -1
  let s = ''
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      s += '::'
      i += bestLen - 1
      continue
    }
    if (i > 0 && i !== best + bestLen) s += ':'
    // ::ffff:a.b.c.d and ::a.b.c.d (not ::1 and ::), as inet_ntop writes them.
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += formatIPv4(b, off + 12)
      break
    }
    s += w[i]!.toString(16)
  }
  return s
}

/** Writes a dotted IPv4 address into 4 bytes; false if it is not one. */
export function parseIPv4Into(ip: string, out: Uint8Array, off: number): boolean {
  return parseV4At(ip, 0, ip.length, out, off)
}

function parseV4At(s: string, from: number, to: number, out: Uint8Array, off: number): boolean {
  let part = 0, digits = 0, value = 0
  for (let i = from; i <= to; i++) {
    const c = i < to ? s.charCodeAt(i) : 46 // a final '.'
    if (c === 46) {
      if (digits === 0 || part > 3) return false
      out[off + part++] = value
      digits = value = 0
    } else if (c >= 48 && c <= 57 && digits < 3) {
      value = value * 10 + c - 48
      if (value > 255) return false
      digits++
    } else return false
  }
  return part === 4
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/** Writes an IPv6 address (any valid text form, no zone id) into 16 bytes; false if it is not one. */
export function parseIPv6Into(ip: string, out: Uint8Array, off: number): boolean {
  const words = new Uint16Array(8)
  let n = 0 // words written
  let gap = -1 // word index where "::" stands
  let i = 0
  const len = ip.length
  if (len < 2) return false
  if (ip.charCodeAt(0) === 58) {
    if (ip.charCodeAt(1) !== 58) return false
    gap = 0
    i = 2
    if (i === len) return fillV6(words, n, gap, out, off)
  }
  for (;;) {
    // One group: hex digits, or a dotted IPv4 tail as the last two words.
    let value = 0, digits = 0
    const start = i
    while (i < len) {
      const d = hexDigit(ip.charCodeAt(i))
      if (d < 0) break
      value = (value << 4) | d
      i++
      digits++
    }
    if (i < len && ip.charCodeAt(i) === 46) {
      if (n > 6) return false
      const v4 = new Uint8Array(4)
      if (!parseV4At(ip, start, len, v4, 0)) return false
      words[n++] = (v4[0]! << 8) | v4[1]!
      words[n++] = (v4[2]! << 8) | v4[3]!
      return fillV6(words, n, gap, out, off)
    }
    if (digits === 0 || digits > 4 || n === 8) return false
    words[n++] = value
    if (i === len) return fillV6(words, n, gap, out, off)
    if (ip.charCodeAt(i) !== 58) return false
    i++
    if (i < len && ip.charCodeAt(i) === 58) {
      if (gap >= 0) return false
      gap = n
      i++
      if (i === len) return fillV6(words, n, gap, out, off)
    } else if (i === len) return false
  }
}

function fillV6(words: Uint16Array, n: number, gap: number, out: Uint8Array, off: number): boolean {
  if (gap < 0 ? n !== 8 : n > 7) return false
  const full = new Uint16Array(8)
  if (gap < 0) full.set(words)
  else {
    full.set(words.subarray(0, gap))
    full.set(words.subarray(gap, n), 8 - (n - gap))
  }
  for (let k = 0; k < 8; k++) {
    out[off + 2 * k] = full[k]! >> 8
    out[off + 2 * k + 1] = full[k]! & 0xff
  }
  return true
}
