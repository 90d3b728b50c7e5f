// Reads a libpcap capture with pcap-parser, adding what it lacks: byte offsets for every record,
// a clear error (with the offset) for a truncated or corrupt file instead of a silent stop, the
// nanosecond-resolution variant (its magic rewritten before pcap-parser sees it), and a plain
// message for pcapng or files that are not captures at all. Packets before an error are delivered.
import { createReadStream, statSync } from 'node:fs'
import { Transform, type TransformCallback } from 'node:stream'
import pcapParser from 'pcap-parser'

export interface PcapInfo {
  readonly linkType: number
  readonly snapLength: number
  readonly byteOrder: 'LE' | 'BE'
  readonly nanoseconds: boolean
}

export interface PcapPacket {
  /** 1-based, in file order. */
  readonly index: number
  /** Byte offset of the record's 16-byte header in the file. */
  readonly offset: number
  /** Seconds since the epoch. */
  readonly time: number
  /** Captured bytes (link-layer header first). Valid during the callback only. */
  readonly data: Buffer
  readonly originalLength: number
}

/** The file is not a readable capture from `offset` on. */
export class PcapFormatError extends Error {
  override name = 'PcapFormatError'
  constructor(readonly offset: number, message: string) {
    super(`${message} (at byte offset ${offset})`)
  }
}

export interface PcapResult {
  readonly info?: PcapInfo
  readonly packets: number
  /** Set when reading stopped early; every packet before `error.offset` was delivered. */
  readonly error?: PcapFormatError
}

const MAGIC_US_LE = 0xd4c3b2a1, MAGIC_US_BE = 0xa1b2c3d4, MAGIC_NS_LE = 0x4d3cb2a1, MAGIC_NS_BE = 0xa1b23c4d
const PCAPNG = 0x0a0d0d0a
const GLOBAL = 24, RECORD = 16
/** Largest believable record: Linux's largest snaplen (256 KiB), or the file's own snaplen. */
const MAX_RECORD = 262144

interface ParserEvents {
  on(ev: 'globalHeader', f: (h: { majorVersion: number; minorVersion: number; snapshotLength: number; linkLayerType: number }) => void): ParserEvents
  on(ev: 'packetHeader', f: (h: { capturedLength: number; originalLength: number }) => void): ParserEvents
  on(ev: 'packet', f: (p: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }) => void): ParserEvents
  on(ev: 'error', f: (err: Error) => void): ParserEvents
  on(ev: 'end', f: () => void): ParserEvents
}

/** Reads every packet of `path` in order; resolves with a PcapFormatError instead of throwing for bad content. */
export function readPcap(path: string, onInfo: (info: PcapInfo) => void, onPacket: (p: PcapPacket) => void): Promise<PcapResult> {
  const size = statSync(path).size // throws ENOENT etc. for the caller to report as an input error
  return new Promise((resolve, reject) => {
    let info: PcapInfo | undefined
    let nanos = false
    let byteOrder: 'LE' | 'BE' = 'LE'
    let packets = 0
    let consumed = 0 // bytes of complete headers/records handed to us so far
    let recordOffset = 0
    let pendingCaplen = -1 // a record header was read, its data not yet
    let done = false
    let callbackError: unknown
    const finish = (error?: PcapFormatError) => {
      if (done) return
      done = true
      file.destroy()
      if (callbackError !== undefined) reject(callbackError)
      else resolve({ info, packets, ...(error ? { error } : {}) })
    }
    const file = createReadStream(path)
    let first = true
    const magicFix = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        if (first) {
          first = false
          if (chunk.length < 4) return finish(new PcapFormatError(0, size === 0 ? 'empty file: not a pcap capture' : `not a pcap capture: only ${size} bytes`)), cb()
          const magic = chunk.readUInt32BE(0)
          if (magic === PCAPNG) return finish(new PcapFormatError(0, 'this is a pcapng file; replay reads libpcap (.pcap): convert it with `tcpdump -r IN -w OUT.pcap` or `editcap -F pcap IN OUT.pcap`')), cb()
          if (magic === MAGIC_NS_LE || magic === MAGIC_NS_BE) {
            nanos = true
            chunk = Buffer.from(chunk)
            chunk.writeUInt32BE(magic === MAGIC_NS_LE ? MAGIC_US_LE : MAGIC_US_BE, 0)
          } else if (magic !== MAGIC_US_LE && magic !== MAGIC_US_BE) {
            return finish(new PcapFormatError(0, `not a pcap capture: unknown magic number 0x${magic.toString(16).padStart(8, '0')}`)), cb()
          }
          byteOrder = magic === MAGIC_US_LE || magic === MAGIC_NS_LE ? 'LE' : 'BE'
        }
        cb(null, chunk)
      },
    })
    file.on('error', (err) => {
      if (!done) {
        done = true
        reject(err)
      }
    })
    file.pipe(magicFix)
    const parser = pcapParser.parse(magicFix) as unknown as ParserEvents
    parser
      .on('globalHeader', (h) => {
        if (done) return
        consumed = GLOBAL
        if (h.majorVersion !== 2) return finish(new PcapFormatError(4, `unsupported pcap version ${h.majorVersion}.${h.minorVersion} (2.4 expected)`))
        info = { linkType: h.linkLayerType & 0xffff, snapLength: h.snapshotLength, byteOrder, nanoseconds: nanos }
        try {
          onInfo(info)
        } catch (err) {
          callbackError = err
          finish()
        }
      })
      .on('packetHeader', (h) => {
        if (done) return
        recordOffset = consumed
        const limit = Math.max(MAX_RECORD, info?.snapLength ?? 0)
        if (h.capturedLength > limit) {
          return finish(new PcapFormatError(recordOffset, `corrupt packet record ${packets + 1}: it claims ${h.capturedLength} captured bytes (snaplen ${info?.snapLength})`))
        }
        if (h.capturedLength > h.originalLength) {
          return finish(new PcapFormatError(recordOffset, `corrupt packet record ${packets + 1}: ${h.capturedLength} captured bytes of a ${h.originalLength}-byte packet`))
        }
        consumed += RECORD
        pendingCaplen = h.capturedLength
      })
      .on('packet', (p) => {
        if (done) return
        consumed += p.header.capturedLength
        pendingCaplen = -1
        packets++
        const sub = nanos ? p.header.timestampMicroseconds / 1e9 : p.header.timestampMicroseconds / 1e6
        try {
          onPacket({ index: packets, offset: recordOffset, time: p.header.timestampSeconds + sub, data: p.data, originalLength: p.header.originalLength })
        } catch (err) {
          callbackError = err
          finish()
        }
      })
      .on('error', (err) => finish(new PcapFormatError(consumed, err.message)))
      .on('end', () => {
        if (done) return
        if (info === undefined) return finish(new PcapFormatError(0, size === 0 ? 'empty file: not a pcap capture' : `truncated global header: ${size} of ${GLOBAL} bytes`))
        const left = size - consumed
        if (left <= 0) return finish()
        // The parser stopped inside a record: say which part is missing.
        if (pendingCaplen >= 0) {
          return finish(new PcapFormatError(recordOffset, `truncated packet record ${packets + 1}: its header says ${pendingCaplen} captured bytes, ${left} follow`))
        }
        finish(new PcapFormatError(consumed, `truncated packet record ${packets + 1}: ${left} of ${RECORD} header bytes`))
      })
  })
}
