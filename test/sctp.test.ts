import t from 'tap'
import { buildAbort, buildInit, buildInitAck, checksumOk, crc32c, parseInitParams, parseSctp, SCTP_ABORT, SCTP_INIT, SCTP_INIT_ACK, setChecksum } from '../src/lab/sctp.js'

t.test('CRC32c known vectors (RFC 3720 B.4, "123456789")', async (t) => {
  const cases: { name: string; data: Buffer; crc: number }[] = [
    { name: '"123456789"', data: Buffer.from('123456789'), crc: 0xe3069283 },
    { name: '32 zero bytes', data: Buffer.alloc(32), crc: 0x8a9136aa },
    { name: '32 0xff bytes', data: Buffer.alloc(32, 0xff), crc: 0x62a8ab43 },
    { name: 'ascending 0..31', data: Buffer.from(Array.from({ length: 32 }, (_, i) => i)), crc: 0x46dd794e },
    { name: 'descending 31..0', data: Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), crc: 0x113fdb5c },
    { name: 'empty', data: Buffer.alloc(0), crc: 0 },
  ]
  for (const c of cases) t.equal(crc32c(c.data), c.crc, c.name)
  t.equal(crc32c(Buffer.from('xx123456789yy'), 2, 11), 0xe3069283, 'start/end range')
})

t.test('INIT -> INIT-ACK round trip', async (t) => {
  const init = buildInit(40000, 80, { initiateTag: 0xdeadbeef, aRwnd: 65535, outStreams: 10, inStreams: 10, initialTsn: 7 })
  const p = parseSctp(init)!
  t.ok(p.checksumOk, 'INIT checksum verifies')
  t.equal(p.vtag, 0, 'INIT carries verification tag 0')
  t.equal(p.srcPort, 40000)
  t.equal(p.dstPort, 80)
  t.equal(p.chunks.length, 1)
  t.equal(p.chunks[0]!.type, SCTP_INIT)
  t.same(parseInitParams(p.chunks[0]!), { initiateTag: 0xdeadbeef, aRwnd: 65535, outStreams: 10, inStreams: 10, initialTsn: 7 })

  const ack = parseSctp(buildInitAck(p, { initiateTag: 0x1234, aRwnd: 1000, outStreams: 1, inStreams: 1, initialTsn: 1 }))!
  t.ok(ack.checksumOk)
  t.equal(ack.vtag, 0xdeadbeef, "INIT-ACK is tagged with the INIT's initiate tag")
  t.equal(ack.srcPort, 80)
  t.equal(ack.dstPort, 40000)
  t.equal(ack.chunks[0]!.type, SCTP_INIT_ACK)
  t.equal(parseInitParams(ack.chunks[0]!)!.initiateTag, 0x1234)
  t.equal(ack.chunks[0]!.value.readUInt16BE(16), 7, 'State Cookie parameter present')

  const abort = parseSctp(buildAbort(40000, 80, 0x1234))!
  t.equal(abort.chunks[0]!.type, SCTP_ABORT)
  t.equal(abort.vtag, 0x1234)
})

t.test('checksum: stored little-endian, corruption detected', async (t) => {
  const init = buildInit(1, 2, { initiateTag: 1, aRwnd: 1, outStreams: 1, inStreams: 1, initialTsn: 1 })
  const copy = Buffer.from(init)
  copy.writeUInt32LE(0, 8)
  t.equal(init.readUInt32LE(8), crc32c(copy))
  const bad = Buffer.from(init)
  bad[20]! ^= 1
  t.notOk(checksumOk(bad), 'flipped bit')
  t.ok(checksumOk(setChecksum(bad)), 'recomputed')
})

t.test('parseSctp rejects malformed input', async (t) => {
  const cases = [
    { name: 'short header', data: Buffer.alloc(8) },
    { name: 'chunk length < 4', data: Buffer.concat([Buffer.alloc(12), Buffer.from([1, 0, 0, 2])]) },
    { name: 'chunk overruns packet', data: Buffer.concat([Buffer.alloc(12), Buffer.from([1, 0, 0, 40, 0, 0])]) },
  ]
  for (const c of cases) t.equal(parseSctp(c.data), undefined, c.name)
  t.throws(() => buildInit(1, 2, { initiateTag: 0, aRwnd: 1, outStreams: 1, inStreams: 1, initialTsn: 1 }), RangeError)
})
