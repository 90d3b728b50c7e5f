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
  const parts = ip.split('.')
  if (parts.length !== 4) return false
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!/^\d{1,3}$/.test(p)) return false
    const n = Number(p)
    if (n > 255) return false
    out[off + i] = n
  }
  return true
}

/** Writes an IPv6 address (any valid text form, no zone id) into 16 bytes; false if it is not one. */
export function parseIPv6Into(ip: string, out: Uint8Array, off: number): boolean {
  const words: number[] = []
  let text = ip
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.indexOf('.', lastColon) >= 0) {  // dotted IPv4 tail: the last two words
    const v4 = new Uint8Array(4)
    if (lastColon < 0 || !parseIPv4Into(text.slice(lastColon + 1), v4, 0)) return false
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!]
    text = text.slice(0, lastColon + 1)
    if (!text.endsWith('::')) text = text.slice(0, -1)
  }
  const halves = text.split('::')
  if (halves.length > 2) return false
  const group = (h: string): number[] | undefined => {
    if (h === '') return []
    const out: number[] = []
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      out.push(parseInt(g, 16))
    }
    return out
  }
  const head = group(halves[0]!)
  const rest = halves.length === 2 ? group(halves[1]!) : []
  if (!head || !rest) return false
  const given = head.length + rest.length + tail.length
  if (halves.length === 2 ? given > 7 : given !== 8) return false
  words.push(...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail)
  for (let i = 0; i < 8; i++) {
    out[off + 2 * i] = words[i]! >> 8
    out[off + 2 * i + 1] = words[i]! & 0xff
  }
  return true
}
