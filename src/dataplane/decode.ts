// Header decode of a queued packet (network header first, as NFQUEUE copies it): IPv4 / IPv6
// (extension headers walked, bounded), then TCP, UDP, SCTP, ICMP, ICMPv6. Runs once per queued
// packet, so it allocates nothing: the caller owns one DecodedPacket and reuses it. It never
// throws, whatever the bytes: every read is bounds-checked against `off + len` first.

export interface DecodedPacket {
  family: 4 | 6
  /** Upper-layer protocol (after IPv6 extension headers). */
  proto: number
  /** 0 for protocols without ports and for non-first fragments. */
  srcPort: number
  dstPort: number
  /** IPv4 addresses as unsigned 32-bit numbers; 0 for IPv6. */
  src4: number
  dst4: number
  /** Byte offsets of the source/destination address in the buffer (4 or 16 bytes, by family). */
  srcOff: number
  dstOff: number
  /** TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ..., NS 0x100). */
  tcpFlags: number
  /** ICMP / ICMPv6 type and code. */
  icmpType: number
  icmpCode: number
  /** SCTP: type of the first chunk (INIT = 1, ...). */
  sctpChunkType: number
  /** Part of a fragmented datagram (first or later fragment). */
  fragment: boolean
}

export function newDecodedPacket(): DecodedPacket {
  return { family: 4, proto: 0, srcPort: 0, dstPort: 0, src4: 0, dst4: 0, srcOff: 0, dstOff: 0, tcpFlags: 0, icmpType: 0, icmpCode: 0, sctpChunkType: 0, fragment: false }
}

/**
 * decodePacket's result: 0 or one of these. Protocols without a decoder (GRE, ESP, ...) are not an
 * error: they decode with ports 0, which only port-less policy rules can match.
 */
export const DecodeError = {
  OK: 0,
  /** The bytes end before a header the packet says is there. */
  TRUNCATED: 1,
  /** IP version nibble is neither 4 nor 6. */
  BAD_VERSION: 2,
  /** IPv4 IHL < 5, or TCP data offset < 5. */
  BAD_HEADER_LENGTH: 3,
  /** IPv4 total length shorter than its header. */
  BAD_TOTAL_LENGTH: 4,
  /** A later fragment: no transport header. family/addresses/proto are valid, ports are 0. */
  NON_FIRST_FRAGMENT: 5,
  /** More IPv6 extension headers than MAX_EXTENSION_HEADERS. */
  TOO_MANY_EXTENSION_HEADERS: 6,
  /** off/len do not describe a range inside the buffer. */
  BAD_RANGE: 7,
} as const
export type DecodeErrorCode = (typeof DecodeError)[keyof typeof DecodeError]

export const DECODE_ERROR_NAMES: readonly string[] = [
  'ok', 'truncated', 'bad version', 'bad header length', 'bad total length', 'non-first fragment',
  'too many extension headers', 'bad range',
]

/** Bound on the IPv6 extension header walk (a chain longer than this is hostile). */
export const MAX_EXTENSION_HEADERS = 8

const TCP = 6, UDP = 17, SCTP = 132, ICMP = 1, ICMPV6 = 58
const HOPOPTS = 0, ROUTING = 43, FRAGMENT = 44, AH = 51, DSTOPTS = 60, MOBILITY = 135, HIP = 139, SHIM6 = 140

/** Decodes `len` bytes at `off` into `out`. Returns 0 (DecodeError.OK) or a DecodeError code. */
export function decodePacket(buf: Uint8Array, off: number, len: number, out: DecodedPacket): number {
  out.proto = 0
  out.srcPort = 0
  out.dstPort = 0
  out.src4 = 0
  out.dst4 = 0
  out.srcOff = 0
  out.dstOff = 0
  out.tcpFlags = 0
  out.icmpType = 0
  out.icmpCode = 0
  out.sctpChunkType = 0
  out.fragment = false
  const end = off + len
  // Written so NaN, negatives and non-integers all fail (every comparison with NaN is false).
  if (!(off >= 0 && len >= 0 && end <= buf.length && (off | 0) === off && (len | 0) === len)) return DecodeError.BAD_RANGE
  if (len < 1) return DecodeError.TRUNCATED
  const version = buf[off]! >> 4
  if (version === 4) return decodeV4(buf, off, end, out)
  if (version === 6) return decodeV6(buf, off, end, out)
  return DecodeError.BAD_VERSION
}

function decodeV4(buf: Uint8Array, off: number, end: number, out: DecodedPacket): number {
  out.family = 4
  if (end - off < 20) return DecodeError.TRUNCATED
  const hlen = (buf[off]! & 0x0f) << 2
  if (hlen < 20) return DecodeError.BAD_HEADER_LENGTH
  const total = (buf[off + 2]! << 8) | buf[off + 3]!
  // Total length 0: a BIG TCP GSO packet (> 64 KiB, taken unsegmented); bounded by the capture.
  if (total < hlen && total !== 0) return DecodeError.BAD_TOTAL_LENGTH
  out.proto = buf[off + 9]!
  out.srcOff = off + 12
  out.dstOff = off + 16
  out.src4 = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0
  out.dst4 = ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0
  if (off + hlen > end) return DecodeError.TRUNCATED
  const frag = (buf[off + 6]! << 8) | buf[off + 7]!
  if ((frag & 0x3fff) !== 0) {  // MF set or a fragment offset
    out.fragment = true
    if ((frag & 0x1fff) !== 0) return DecodeError.NON_FIRST_FRAGMENT
  }
  // Captured bytes may stop short of the total length (copy range); never read past either.
  const l4end = total !== 0 && off + total < end ? off + total : end
  return decodeL4(buf, off + hlen, l4end, out.proto, out)
}

function decodeV6(buf: Uint8Array, off: number, end: number, out: DecodedPacket): number {
  out.family = 6
  if (end - off < 40) return DecodeError.TRUNCATED
  out.srcOff = off + 8
  out.dstOff = off + 24
  const payload = (buf[off + 4]! << 8) | buf[off + 5]!
  // Payload length 0 is a jumbogram (or a GSO super-packet): bounded by the captured bytes.
  const l3end = payload !== 0 && off + 40 + payload < end ? off + 40 + payload : end
  let next = buf[off + 6]!
  let p = off + 40
  for (let n = 0; ; n++) {
    if (next !== HOPOPTS && next !== ROUTING && next !== DSTOPTS && next !== FRAGMENT && next !== AH &&
        next !== MOBILITY && next !== HIP && next !== SHIM6) break
    if (n === MAX_EXTENSION_HEADERS) {
      out.proto = next
      return DecodeError.TOO_MANY_EXTENSION_HEADERS
    }
    if (p + 8 > l3end) {
      out.proto = next
      return DecodeError.TRUNCATED
    }
    if (next === FRAGMENT) {
      out.fragment = true
      const fragOff = ((buf[p + 2]! << 8) | buf[p + 3]!) & 0xfff8
      next = buf[p]!
      p += 8
      if (fragOff !== 0) {
        out.proto = next
        return DecodeError.NON_FIRST_FRAGMENT
      }
      continue
    }
    // AH counts its length in 4-octet units minus 2; the others in 8-octet units minus 1.
    const hlen = next === AH ? (buf[p + 1]! + 2) << 2 : (buf[p + 1]! + 1) << 3
    next = buf[p]!
    p += hlen
  }
  out.proto = next
  if (p > l3end) return DecodeError.TRUNCATED  // the last extension header claims more than there is
  return decodeL4(buf, p, l3end, next, out)
}

function decodeL4(buf: Uint8Array, p: number, end: number, proto: number, out: DecodedPacket): number {
  const avail = end - p
  if (proto === TCP) {
    if (avail < 20) return DecodeError.TRUNCATED
    if (buf[p + 12]! >> 4 < 5) return DecodeError.BAD_HEADER_LENGTH
    out.srcPort = (buf[p]! << 8) | buf[p + 1]!
    out.dstPort = (buf[p + 2]! << 8) | buf[p + 3]!
    out.tcpFlags = ((buf[p + 12]! & 1) << 8) | buf[p + 13]!
    return DecodeError.OK
  }
  if (proto === UDP) {
    if (avail < 8) return DecodeError.TRUNCATED
    out.srcPort = (buf[p]! << 8) | buf[p + 1]!
    out.dstPort = (buf[p + 2]! << 8) | buf[p + 3]!
    return DecodeError.OK
  }
  if (proto === SCTP) {
    if (avail < 16) return DecodeError.TRUNCATED  // common header + the first chunk's header
    out.srcPort = (buf[p]! << 8) | buf[p + 1]!
    out.dstPort = (buf[p + 2]! << 8) | buf[p + 3]!
    out.sctpChunkType = buf[p + 12]!
    return DecodeError.OK
  }
  if (proto === ICMP || proto === ICMPV6) {
    if (avail < 8) return DecodeError.TRUNCATED
    out.icmpType = buf[p]!
    out.icmpCode = buf[p + 1]!
    return DecodeError.OK
  }
  return DecodeError.OK
}
