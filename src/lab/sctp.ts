// Just enough SCTP (RFC 4960) to prove SCTP enforcement without kernel SCTP sockets: a client
// sends an INIT over a raw IP socket, a server answers with an INIT-ACK. The CRC32c must be right:
// conntrack treats an INIT as NEW only when its checksum verifies.

export const SCTP_INIT = 1
export const SCTP_INIT_ACK = 2
export const SCTP_ABORT = 6
const COMMON_HEADER = 12
const PARAM_STATE_COOKIE = 7

// CRC32c (Castagnoli), reflected polynomial 0x82F63B78, table-driven (RFC 3309 / RFC 4960 App. B).
const TABLE = new Uint32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  TABLE[n] = c >>> 0
}

export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffffffff
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** Computes the packet's checksum (with the field zeroed) and stores it as SCTP does (RFC 4960 B). */
export function setChecksum(pkt: Buffer): Buffer {
  pkt.writeUInt32LE(0, 8)
  pkt.writeUInt32LE(crc32c(pkt), 8)
  return pkt
}

export function checksumOk(pkt: Buffer): boolean {
  if (pkt.length < COMMON_HEADER) return false
  const stored = pkt.readUInt32LE(8)
  const copy = Buffer.from(pkt)
  copy.writeUInt32LE(0, 8)
  return crc32c(copy) === stored
}

export interface SctpChunk {
  readonly type: number
  readonly flags: number
  /** Chunk value (after the 4-byte chunk header, without padding). */
  readonly value: Buffer
}

export interface SctpPacket {
  readonly srcPort: number
  readonly dstPort: number
  readonly vtag: number
  readonly checksumOk: boolean
  readonly chunks: readonly SctpChunk[]
}

/** Parses an SCTP packet (common header + chunks). Undefined when malformed. */
export function parseSctp(pkt: Buffer): SctpPacket | undefined {
  if (pkt.length < COMMON_HEADER) return undefined
  const chunks: SctpChunk[] = []
  let off = COMMON_HEADER
  while (off + 4 <= pkt.length) {
    const len = pkt.readUInt16BE(off + 2)
    if (len < 4 || off + len > pkt.length) return undefined
    chunks.push({ type: pkt[off]!, flags: pkt[off + 1]!, value: pkt.subarray(off + 4, off + len) })
    off += (len + 3) & ~3
  }
  return { srcPort: pkt.readUInt16BE(0), dstPort: pkt.readUInt16BE(2), vtag: pkt.readUInt32BE(4), checksumOk: checksumOk(pkt), chunks }
}

/** The fixed part of INIT and INIT-ACK. */
export interface InitParams {
  readonly initiateTag: number
  readonly aRwnd: number
  readonly outStreams: number
  readonly inStreams: number
  readonly initialTsn: number
}

export function parseInitParams(chunk: SctpChunk): InitParams | undefined {
  if ((chunk.type !== SCTP_INIT && chunk.type !== SCTP_INIT_ACK) || chunk.value.length < 16) return undefined
  const v = chunk.value
  return { initiateTag: v.readUInt32BE(0), aRwnd: v.readUInt32BE(4), outStreams: v.readUInt16BE(8), inStreams: v.readUInt16BE(10), initialTsn: v.readUInt32BE(12) }
}

function packet(srcPort: number, dstPort: number, vtag: number, chunkType: number, chunkFlags: number, value: Buffer): Buffer {
  const chunkLen = 4 + value.length
  const pkt = Buffer.alloc(COMMON_HEADER + ((chunkLen + 3) & ~3))
  pkt.writeUInt16BE(srcPort, 0)
  pkt.writeUInt16BE(dstPort, 2)
  pkt.writeUInt32BE(vtag >>> 0, 4)
  pkt[12] = chunkType
  pkt[13] = chunkFlags
  pkt.writeUInt16BE(chunkLen, 14)
  value.copy(pkt, 16)
  return setChecksum(pkt)
}

function initValue(p: InitParams, extra = 0): Buffer {
  const v = Buffer.alloc(16 + extra)
  v.writeUInt32BE(p.initiateTag >>> 0, 0)
  v.writeUInt32BE(p.aRwnd >>> 0, 4)
  v.writeUInt16BE(p.outStreams, 8)
  v.writeUInt16BE(p.inStreams, 10)
  v.writeUInt32BE(p.initialTsn >>> 0, 12)
  return v
}

/** An INIT: verification tag 0 (RFC 4960 8.5.1), initiate tag non-zero. */
export function buildInit(srcPort: number, dstPort: number, p: InitParams): Buffer {
  if (p.initiateTag === 0) throw new RangeError('INIT initiate tag must be non-zero')
  return packet(srcPort, dstPort, 0, SCTP_INIT, 0, initValue(p))
}

/**
 * The INIT-ACK answering `init` (a parsed INIT packet): ports swapped, verification tag = the
 * INIT's initiate tag, and the mandatory State Cookie parameter.
 */
export function buildInitAck(init: SctpPacket, p: InitParams, cookie: Buffer = Buffer.alloc(8)): Buffer {
  const initChunk = init.chunks[0]
  const peer = initChunk && parseInitParams(initChunk)
  if (!peer || initChunk.type !== SCTP_INIT) throw new RangeError('not an INIT')
  const paramLen = 4 + cookie.length
  const v = initValue(p, (paramLen + 3) & ~3)
  v.writeUInt16BE(PARAM_STATE_COOKIE, 16)
  v.writeUInt16BE(paramLen, 18)
  cookie.copy(v, 20)
  return packet(init.dstPort, init.srcPort, peer.initiateTag, SCTP_INIT_ACK, 0, v)
}

/** An ABORT for the association whose peer uses `peerTag` (tears conntrack state down politely). */
export function buildAbort(srcPort: number, dstPort: number, peerTag: number): Buffer {
  return packet(srcPort, dstPort, peerTag, SCTP_ABORT, 0, Buffer.alloc(0))
}
