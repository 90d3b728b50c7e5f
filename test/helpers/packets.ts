// Packet byte builders for decode/nfqueue tests: real header layouts, checksums left zero (the
// decoder does not check them; the kernel-facing tests send through real sockets instead).
import { isIPv4 } from 'node:net'

export function ip4Bytes(addr: string): Buffer {
  if (!isIPv4(addr)) throw new TypeError(`not IPv4: ${addr}`)
  return Buffer.from(addr.split('.').map(Number))
}

export function ip6Bytes(addr: string): Buffer {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  if (groups.length !== 8) throw new TypeError(`not IPv6: ${addr}`)
  const b = Buffer.alloc(16)
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2))
  return b
}

export function tcp(o: { sport: number; dport: number; flags?: number; doff?: number; payload?: Buffer }): Buffer {
  const doff = o.doff ?? 5
  const h = Buffer.alloc(Math.max(doff, 5) * 4)
  h.writeUInt16BE(o.sport, 0)
  h.writeUInt16BE(o.dport, 2)
  h.writeUInt32BE(1000, 4)
  h[12] = (doff << 4) | (((o.flags ?? 0x02) >> 8) & 1)
  h[13] = (o.flags ?? 0x02) & 0xff
  h.writeUInt16BE(65535, 14)
  return Buffer.concat([h, o.payload ?? Buffer.alloc(0)])
}

export function udp(o: { sport: number; dport: number; payload?: Buffer }): Buffer {
  const payload = o.payload ?? Buffer.alloc(0)
  const h = Buffer.alloc(8)
  h.writeUInt16BE(o.sport, 0)
  h.writeUInt16BE(o.dport, 2)
  h.writeUInt16BE(8 + payload.length, 4)
  return Buffer.concat([h, payload])
}

/** SCTP common header + one chunk of `chunkType` (an INIT-sized body by default). */
export function sctp(o: { sport: number; dport: number; chunkType?: number; vtag?: number; body?: Buffer }): Buffer {
  const body = o.body ?? Buffer.alloc(16)
  const h = Buffer.alloc(16)
  h.writeUInt16BE(o.sport, 0)
  h.writeUInt16BE(o.dport, 2)
  h.writeUInt32BE(o.vtag ?? 0, 4)
  h[12] = o.chunkType ?? 1
  h.writeUInt16BE(4 + body.length, 14)
  return Buffer.concat([h, body])
}

export function icmp(o: { type: number; code?: number; rest?: Buffer }): Buffer {
  const h = Buffer.alloc(8)
  h[0] = o.type
  h[1] = o.code ?? 0
  return Buffer.concat([h, o.rest ?? Buffer.alloc(0)])
}

export interface Ip4Options {
  src: string
  dst: string
  proto: number
  payload: Buffer
  /** IP options bytes (padded to 4). */
  options?: Buffer
  ttl?: number
  /** Fragment offset in 8-byte units. */
  fragOffset?: number
  moreFragments?: boolean
  /** Override the total length field. */
  totalLength?: number
  /** Override the IHL nibble. */
  ihl?: number
}

export function ipv4(o: Ip4Options): Buffer {
  const opts = o.options ?? Buffer.alloc(0)
  const optLen = (opts.length + 3) & ~3
  const h = Buffer.alloc(20 + optLen)
  opts.copy(h, 20)
  h[0] = 0x40 | (o.ihl ?? (20 + optLen) / 4)
  h.writeUInt16BE(o.totalLength ?? h.length + o.payload.length, 2)
  h.writeUInt16BE(0x1234, 4)
  h.writeUInt16BE(((o.moreFragments ? 1 : 0) << 13) | (o.fragOffset ?? 0), 6)
  h[8] = o.ttl ?? 64
  h[9] = o.proto
  ip4Bytes(o.src).copy(h, 12)
  ip4Bytes(o.dst).copy(h, 16)
  return Buffer.concat([h, o.payload])
}

/** An IPv6 extension header: `type` is its own protocol number (0, 43, 44, 51, 60, ...). */
export interface Ext6 {
  type: number
  /** Fragment header: offset in 8-byte units and M flag. */
  fragOffset?: number
  moreFragments?: boolean
  /** Body length for the variable headers (total header = 8 * n bytes; AH = 4 * n). */
  units?: number
}

function extBytes(e: Ext6, next: number): Buffer {
  if (e.type === 44) {
    const b = Buffer.alloc(8)
    b[0] = next
    b.writeUInt16BE(((e.fragOffset ?? 0) << 3) | (e.moreFragments ? 1 : 0), 2)
    b.writeUInt32BE(0xabcd, 4)
    return b
  }
  if (e.type === 51) {  // AH: (len + 2) * 4 bytes
    const units = Math.max(e.units ?? 4, 3)
    const b = Buffer.alloc(units * 4)
    b[0] = next
    b[1] = units - 2
    return b
  }
  const units = Math.max(e.units ?? 1, 1)
  const b = Buffer.alloc(units * 8)
  b[0] = next
  b[1] = units - 1
  if (b.length > 2) { b[2] = 1; b[3] = b.length - 4 }  // one PadN option filling the header
  return b
}

export function ipv6(o: { src: string; dst: string; proto: number; payload: Buffer; ext?: Ext6[]; payloadLength?: number }): Buffer {
  const ext = o.ext ?? []
  const parts: Buffer[] = []
  for (let i = 0; i < ext.length; i++) parts.push(extBytes(ext[i]!, i + 1 < ext.length ? ext[i + 1]!.type : o.proto))
  const body = Buffer.concat([...parts, o.payload])
  const h = Buffer.alloc(40)
  h.writeUInt32BE(0x60000000, 0)
  h.writeUInt16BE(o.payloadLength ?? body.length, 4)
  h[6] = ext.length ? ext[0]!.type : o.proto
  h[7] = 64
  ip6Bytes(o.src).copy(h, 8)
  ip6Bytes(o.dst).copy(h, 24)
  return Buffer.concat([h, body])
}
