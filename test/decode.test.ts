// Header decode from packet bytes: one named case per row, fixtures built by test/helpers/packets.ts.
import t from 'tap'
import { DECODE_ERROR_NAMES, DecodeError, MAX_EXTENSION_HEADERS, decodePacket, newDecodedPacket, type DecodedPacket } from '../src/dataplane/decode.js'
import { icmp, ip4Bytes, ip6Bytes, ipv4, ipv6, sctp, tcp, udp, type Ext6 } from './helpers/packets.js'

const A4 = '10.1.2.3', B4 = '192.168.200.7'
const A6 = 'fd00::1:2', B6 = '2001:db8::ff'
const u32 = (ip: string): number => ip4Bytes(ip).readUInt32BE(0)

interface Row {
  name: string
  bytes: Buffer
  code?: number
  want?: Partial<DecodedPacket>
}

const v6 = (proto: number, payload: Buffer, ext?: Ext6[]): Buffer => ipv6({ src: A6, dst: B6, proto, payload, ext })

const rows: Row[] = [
  { name: 'IPv4 TCP SYN', bytes: ipv4({ src: A4, dst: B4, proto: 6, payload: tcp({ sport: 40000, dport: 80, flags: 0x02 }) }),
    want: { family: 4, proto: 6, srcPort: 40000, dstPort: 80, src4: u32(A4), dst4: u32(B4), srcOff: 12, dstOff: 16, tcpFlags: 0x02, fragment: false } },
  { name: 'IPv4 TCP with NS flag', bytes: ipv4({ src: A4, dst: B4, proto: 6, payload: tcp({ sport: 1, dport: 2, flags: 0x112 }) }), want: { tcpFlags: 0x112 } },
  { name: 'IPv4 with options (IHL 8)', bytes: ipv4({ src: A4, dst: B4, proto: 17, options: Buffer.from([0x94, 4, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0]), payload: udp({ sport: 53, dport: 5353 }) }),
    want: { family: 4, proto: 17, srcPort: 53, dstPort: 5353 } },
  { name: 'IPv4 UDP high ports', bytes: ipv4({ src: '255.255.255.255', dst: '0.0.0.1', proto: 17, payload: udp({ sport: 65535, dport: 65534 }) }),
    want: { srcPort: 65535, dstPort: 65534, src4: 0xffffffff, dst4: 1 } },
  { name: 'IPv4 SCTP INIT', bytes: ipv4({ src: A4, dst: B4, proto: 132, payload: sctp({ sport: 5000, dport: 6000, chunkType: 1 }) }),
    want: { proto: 132, srcPort: 5000, dstPort: 6000, sctpChunkType: 1 } },
  { name: 'IPv4 ICMP echo request', bytes: ipv4({ src: A4, dst: B4, proto: 1, payload: icmp({ type: 8 }) }), want: { proto: 1, icmpType: 8, icmpCode: 0, srcPort: 0, dstPort: 0 } },
  { name: 'IPv4 ICMP port unreachable', bytes: ipv4({ src: A4, dst: B4, proto: 1, payload: icmp({ type: 3, code: 3 }) }), want: { icmpType: 3, icmpCode: 3 } },
  { name: 'IPv4 GRE: no decoder, ports 0, still OK', bytes: ipv4({ src: A4, dst: B4, proto: 47, payload: Buffer.alloc(8) }), want: { proto: 47, srcPort: 0, dstPort: 0 } },
  { name: 'IPv4 first fragment keeps ports', bytes: ipv4({ src: A4, dst: B4, proto: 17, moreFragments: true, payload: udp({ sport: 1, dport: 2 }) }),
    want: { fragment: true, srcPort: 1, dstPort: 2 } },
  { name: 'IPv4 non-first fragment has no ports', bytes: ipv4({ src: A4, dst: B4, proto: 17, fragOffset: 185, payload: udp({ sport: 1, dport: 2 }) }),
    code: DecodeError.NON_FIRST_FRAGMENT, want: { fragment: true, proto: 17, srcPort: 0, dstPort: 0, src4: u32(A4) } },
  { name: 'IPv4 last fragment (offset, no MF)', bytes: ipv4({ src: A4, dst: B4, proto: 6, fragOffset: 1, payload: Buffer.alloc(20) }), code: DecodeError.NON_FIRST_FRAGMENT },
  { name: 'IPv4 IHL 4 is a bad header length', bytes: ipv4({ src: A4, dst: B4, proto: 6, ihl: 4, payload: tcp({ sport: 1, dport: 2 }) }), code: DecodeError.BAD_HEADER_LENGTH },
  { name: 'IPv4 IHL beyond the bytes is truncated', bytes: ipv4({ src: A4, dst: B4, proto: 6, ihl: 15, totalLength: 100, payload: Buffer.alloc(10) }), code: DecodeError.TRUNCATED },
  { name: 'IPv4 total length below header', bytes: ipv4({ src: A4, dst: B4, proto: 6, totalLength: 19, payload: tcp({ sport: 1, dport: 2 }) }), code: DecodeError.BAD_TOTAL_LENGTH },
  { name: 'IPv4 total length cuts the TCP header', bytes: ipv4({ src: A4, dst: B4, proto: 6, totalLength: 30, payload: tcp({ sport: 1, dport: 2 }) }), code: DecodeError.TRUNCATED },
  { name: 'IPv4 total length 0 (BIG TCP GSO) uses the captured bytes', bytes: ipv4({ src: A4, dst: B4, proto: 6, totalLength: 0, payload: tcp({ sport: 7, dport: 8 }) }), want: { srcPort: 7, dstPort: 8 } },
  { name: 'IPv4 TCP data offset 4', bytes: ipv4({ src: A4, dst: B4, proto: 6, payload: tcp({ sport: 1, dport: 2, doff: 4 }) }), code: DecodeError.BAD_HEADER_LENGTH },
  { name: 'IPv4 TCP header cut at 19 bytes', bytes: ipv4({ src: A4, dst: B4, proto: 6, payload: tcp({ sport: 1, dport: 2 }) }).subarray(0, 39), code: DecodeError.TRUNCATED },
  { name: 'IPv4 UDP header cut at 7 bytes', bytes: ipv4({ src: A4, dst: B4, proto: 17, payload: udp({ sport: 1, dport: 2 }) }).subarray(0, 27), code: DecodeError.TRUNCATED },
  { name: 'IPv4 SCTP without a chunk header', bytes: ipv4({ src: A4, dst: B4, proto: 132, payload: sctp({ sport: 1, dport: 2 }) }).subarray(0, 34), code: DecodeError.TRUNCATED },
  { name: 'IPv4 header only 19 bytes', bytes: ipv4({ src: A4, dst: B4, proto: 6, payload: Buffer.alloc(0) }).subarray(0, 19), code: DecodeError.TRUNCATED },
  { name: 'empty', bytes: Buffer.alloc(0), code: DecodeError.TRUNCATED },
  { name: 'version 5', bytes: Buffer.from([0x55, 0, 0, 20]), code: DecodeError.BAD_VERSION },
  { name: 'version 0 (garbage)', bytes: Buffer.alloc(64), code: DecodeError.BAD_VERSION },

  { name: 'IPv6 TCP', bytes: v6(6, tcp({ sport: 33000, dport: 443, flags: 0x12 })),
    want: { family: 6, proto: 6, srcPort: 33000, dstPort: 443, tcpFlags: 0x12, srcOff: 8, dstOff: 24, src4: 0, dst4: 0, fragment: false } },
  { name: 'IPv6 UDP', bytes: v6(17, udp({ sport: 5353, dport: 53 })), want: { proto: 17, srcPort: 5353, dstPort: 53 } },
  { name: 'IPv6 SCTP', bytes: v6(132, sctp({ sport: 9, dport: 10, chunkType: 2 })), want: { proto: 132, srcPort: 9, dstPort: 10, sctpChunkType: 2 } },
  { name: 'ICMPv6 echo request', bytes: v6(58, icmp({ type: 128 })), want: { proto: 58, icmpType: 128 } },
  { name: 'IPv6 hop-by-hop then UDP', bytes: v6(17, udp({ sport: 1, dport: 2 }), [{ type: 0 }]), want: { proto: 17, srcPort: 1, dstPort: 2 } },
  { name: 'IPv6 HBH, routing, dest-opts, TCP', bytes: v6(6, tcp({ sport: 3, dport: 4 }), [{ type: 0, units: 2 }, { type: 43, units: 3 }, { type: 60 }]),
    want: { proto: 6, srcPort: 3, dstPort: 4 } },
  { name: 'IPv6 AH then TCP', bytes: v6(6, tcp({ sport: 5, dport: 6 }), [{ type: 51, units: 6 }]), want: { proto: 6, srcPort: 5, dstPort: 6 } },
  { name: 'IPv6 first fragment keeps ports', bytes: v6(17, udp({ sport: 7, dport: 8 }), [{ type: 44, moreFragments: true }]), want: { fragment: true, proto: 17, srcPort: 7, dstPort: 8 } },
  { name: 'IPv6 non-first fragment has no ports', bytes: v6(17, Buffer.alloc(16), [{ type: 0 }, { type: 44, fragOffset: 100 }]),
    code: DecodeError.NON_FIRST_FRAGMENT, want: { fragment: true, proto: 17, srcPort: 0, family: 6 } },
  { name: `IPv6 ${MAX_EXTENSION_HEADERS} extension headers are walked`, bytes: v6(6, tcp({ sport: 1, dport: 9 }), Array.from({ length: MAX_EXTENSION_HEADERS }, () => ({ type: 60 }))),
    want: { proto: 6, dstPort: 9 } },
  { name: `IPv6 ${MAX_EXTENSION_HEADERS + 1} extension headers are too many`, bytes: v6(6, tcp({ sport: 1, dport: 9 }), Array.from({ length: MAX_EXTENSION_HEADERS + 1 }, () => ({ type: 60 }))),
    code: DecodeError.TOO_MANY_EXTENSION_HEADERS },
  { name: 'IPv6 extension header longer than the bytes', bytes: v6(6, Buffer.alloc(0), [{ type: 60, units: 10 }]).subarray(0, 60), code: DecodeError.TRUNCATED },
  { name: 'IPv6 no next header (59): OK, nothing to decode', bytes: v6(59, Buffer.alloc(0)), want: { proto: 59, srcPort: 0 } },
  { name: 'IPv6 payload length cuts the UDP header', bytes: ipv6({ src: A6, dst: B6, proto: 17, payload: udp({ sport: 1, dport: 2 }), payloadLength: 4 }), code: DecodeError.TRUNCATED },
  { name: 'IPv6 payload length 0 (jumbo/GSO) uses the captured bytes', bytes: ipv6({ src: A6, dst: B6, proto: 17, payload: udp({ sport: 1, dport: 2 }), payloadLength: 0 }), want: { dstPort: 2 } },
  { name: 'IPv6 header only 39 bytes', bytes: v6(6, Buffer.alloc(0)).subarray(0, 39), code: DecodeError.TRUNCATED },
]

t.test('decode cases', async (t) => {
  const out = newDecodedPacket()
  for (const row of rows) {
    const code = decodePacket(row.bytes, 0, row.bytes.length, out)
    t.equal(code, row.code ?? DecodeError.OK, `${row.name}: ${DECODE_ERROR_NAMES[code]}`)
    if (row.want) t.match(out, row.want, `${row.name}: fields`)
  }
})

t.test('decode at an offset inside a larger buffer (batch layout)', async (t) => {
  const pkt = ipv6({ src: A6, dst: B6, proto: 6, payload: tcp({ sport: 1234, dport: 8080 }) })
  const buf = Buffer.alloc(300, 0xee)
  pkt.copy(buf, 136)
  const out = newDecodedPacket()
  t.equal(decodePacket(buf, 136, pkt.length, out), 0)
  t.match(out, { srcOff: 136 + 8, dstOff: 136 + 24, dstPort: 8080 })
  t.same(buf.subarray(out.srcOff, out.srcOff + 16), ip6Bytes(A6), 'srcOff points at the source address')
  t.same(buf.subarray(out.dstOff, out.dstOff + 16), ip6Bytes(B6), 'dstOff points at the destination address')
  t.equal(decodePacket(buf, 136, 39, out), DecodeError.TRUNCATED, 'len bounds the read even with bytes after it')
})

t.test('a previous packet leaves nothing behind', async (t) => {
  const out = newDecodedPacket()
  decodePacket(ipv4({ src: A4, dst: B4, proto: 6, payload: tcp({ sport: 1, dport: 2, flags: 0x10 }) }), 0, 40, out)
  const b = ipv6({ src: A6, dst: B6, proto: 58, payload: icmp({ type: 135 }) })
  t.equal(decodePacket(b, 0, b.length, out), 0)
  t.match(out, { family: 6, proto: 58, srcPort: 0, dstPort: 0, tcpFlags: 0, src4: 0, dst4: 0, icmpType: 135 })
})

t.test('bad ranges are an error code, not an exception', async (t) => {
  const out = newDecodedPacket()
  const buf = Buffer.alloc(64)
  for (const [name, off, len] of [['negative offset', -1, 10], ['past the end', 60, 10], ['NaN', NaN, 10], ['fractional', 0.5, 10], ['negative length', 0, -1]] as const) {
    t.equal(decodePacket(buf, off, len, out), DecodeError.BAD_RANGE, name)
  }
})
