// Fuzzes decodePacket with 1.2M seeded random, truncated and mutated packets: it must never throw,
// and every field it reports must be in range and point inside the bytes it was given.
import t from 'tap'
import { DECODE_ERROR_NAMES, DecodeError, decodePacket, newDecodedPacket, type DecodedPacket } from '../src/dataplane/decode.js'
import { icmp, ipv4, ipv6, sctp, tcp, udp, type Ext6 } from './helpers/packets.js'

const PER_KIND = 400_000
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed1234)

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function corpus(rand: () => number): Buffer[] {
  const int = (n: number): number => Math.floor(rand() * n)
  const l4 = (): [number, Buffer] => {
    switch (int(5)) {
      case 0: return [6, tcp({ sport: int(65536), dport: int(65536), flags: int(512), doff: 5 + int(11) })]
      case 1: return [17, udp({ sport: int(65536), dport: int(65536), payload: Buffer.alloc(int(40)) })]
      case 2: return [132, sctp({ sport: int(65536), dport: int(65536), chunkType: int(256) })]
      case 3: return [int(2) ? 1 : 58, icmp({ type: int(256), code: int(256) })]
      default: return [int(256), Buffer.alloc(int(64))]
    }
  }
  const exts = [0, 43, 44, 51, 60, 135]
  const out: Buffer[] = []
  for (let i = 0; i < 4000; i++) {
    const [proto, payload] = l4()
    if (int(2)) {
      out.push(ipv4({ src: `10.${int(256)}.${int(256)}.${int(256)}`, dst: `192.168.${int(256)}.${int(256)}`, proto, payload,
        options: int(4) === 0 ? Buffer.alloc(int(41)) : undefined, moreFragments: int(8) === 0, fragOffset: int(8) === 0 ? int(8192) : 0 }))
    } else {
      const ext: Ext6[] = Array.from({ length: int(4) === 0 ? int(11) : 0 }, () => ({ type: exts[int(exts.length)]!, units: 1 + int(4), fragOffset: int(3) === 0 ? int(8192) : 0, moreFragments: int(2) === 0 }))
      out.push(ipv6({ src: `fd00::${int(65536).toString(16)}`, dst: `2001:db8::${int(65536).toString(16)}`, proto, payload, ext }))
    }
  }
  return out
}

/** Returns a description of what is wrong with the result, or undefined. */
function insane(code: number, p: DecodedPacket, buf: Uint8Array, off: number, len: number): string | undefined {
  if (!Number.isInteger(code) || code < 0 || code >= DECODE_ERROR_NAMES.length) return `code ${code}`
  if (code !== DecodeError.OK && code !== DecodeError.NON_FIRST_FRAGMENT) return undefined
  if (p.family !== 4 && p.family !== 6) return `family ${p.family}`
  if (!(p.proto >= 0 && p.proto <= 255 && Number.isInteger(p.proto))) return `proto ${p.proto}`
  for (const k of ['srcPort', 'dstPort'] as const) if (!(p[k] >= 0 && p[k] <= 65535 && Number.isInteger(p[k]))) return `${k} ${p[k]}`
  if (!(p.tcpFlags >= 0 && p.tcpFlags <= 0x1ff && p.icmpType <= 255 && p.icmpCode <= 255 && p.sctpChunkType <= 255)) return 'flag/type range'
  const w = p.family === 4 ? 4 : 16
  for (const k of ['srcOff', 'dstOff'] as const) if (!(p[k] >= off && p[k] + w <= off + len)) return `${k} ${p[k]} outside [${off}, ${off + len})`
  if (p.family === 4) {
    const at = (o: number): number => ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0
    if (p.src4 !== at(p.srcOff) || p.dst4 !== at(p.dstOff)) return 'src4/dst4 disagree with the bytes'
  } else if (p.src4 !== 0 || p.dst4 !== 0) return 'IPv6 with src4/dst4'
  if (code === DecodeError.NON_FIRST_FRAGMENT && (p.srcPort !== 0 || p.dstPort !== 0 || !p.fragment)) return 'non-first fragment with ports'
  return undefined
}

t.test(`decodePacket survives ${3 * PER_KIND} random, truncated and mutated packets (seed ${SEED})`, async (t) => {
  const rand = rng(SEED)
  const int = (n: number): number => Math.floor(rand() * n)
  const base = corpus(rand)
  const scratch = Buffer.alloc(512)
  const out = newDecodedPacket()
  const codes = new Array<number>(DECODE_ERROR_NAMES.length).fill(0)
  let thrown = 0, bad = 0, firstProblem = ''
  const started = performance.now()
  const check = (off: number, len: number, kind: string, i: number): void => {
    let code: number
    try {
      code = decodePacket(scratch, off, len, out)
    } catch (e) {
      if (thrown++ === 0) firstProblem ||= `${kind} #${i}: threw ${String(e)}`
      return
    }
    codes[code] = (codes[code] ?? 0) + 1
    const why = insane(code, out, scratch, off, len)
    if (why && bad++ === 0) firstProblem ||= `${kind} #${i} (${scratch.subarray(off, off + len).toString('hex')}): ${why}`
  }
  for (let i = 0; i < PER_KIND; i++) {  // random bytes, biased towards versions 4 and 6
    const len = int(200)
    const off = int(64)
    for (let j = 0; j < len; j++) scratch[off + j] = int(256)
    if (len > 0 && int(4) !== 0) scratch[off] = ((int(2) ? 4 : 6) << 4) | (scratch[off]! & 0x0f)
    check(off, len, 'random', i)
  }
  for (let i = 0; i < PER_KIND; i++) {  // valid packets cut at every kind of length
    const pkt = base[int(base.length)]!
    const off = int(8)
    pkt.copy(scratch, off)
    check(off, int(Math.min(pkt.length, scratch.length - off) + 1), 'truncated', i)
  }
  for (let i = 0; i < PER_KIND; i++) {  // valid packets with a few bytes changed
    const pkt = base[int(base.length)]!
    pkt.copy(scratch, 0)
    const flips = 1 + int(4)
    for (let f = 0; f < flips; f++) {
      const at = int(Math.min(pkt.length, 80))
      scratch[at] = int(3) === 0 ? scratch[at]! ^ (1 << int(8)) : int(256)
    }
    check(0, pkt.length, 'mutated', i)
  }
  const ms = performance.now() - started
  t.equal(thrown, 0, 'no exception escapes')
  t.equal(bad, 0, 'every result is in range and points inside the packet')
  if (firstProblem) t.comment(firstProblem)
  t.comment(`${3 * PER_KIND} packets in ${ms.toFixed(0)} ms; results: ${codes.map((n, c) => `${DECODE_ERROR_NAMES[c]} ${n}`).join(', ')}`)
  t.ok(codes[DecodeError.OK]! > PER_KIND / 2, 'a good share decodes fully (the corpus exercises the deep paths)')
  t.ok(ms < 30_000, 'well under a minute')
})
