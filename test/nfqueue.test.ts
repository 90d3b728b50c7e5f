// NfQueue's packet loop driven by a fake binding: batch views, verdict defaults, errors, close.
import t from 'tap'
import { NfQueue, QUEUE_DEFAULTS } from '../src/dataplane/nfqueue.js'
import { META, META_FIELDS, NO_MARK, STAT, STAT_FIELDS, type NativeBinding, type NativeQueueOptions } from '../src/native/binding.js'
import { NF_ACCEPT, NF_DROP, type BatchHandler, type PacketBatch } from '../src/dataplane/queue-types.js'
import { ipv4, udp } from './helpers/packets.js'

/** A binding whose queue is fed by the test: push(packets) runs one batch like the addon would. */
function fakeBinding(opts: { verdictError?: Error } = {}) {
  const sent: number[][] = []
  let closes = 0
  let options: NativeQueueOptions | undefined
  let push: (pkts: { id: number; bytes: Buffer; mark?: number }[]) => void = () => { throw new Error('not started') }
  const binding: NativeBinding = {
    openRawSocket: () => { throw new Error('unused') },
    openQueue(o, data, meta, onBatch) {
      options = o
      push = (pkts) => {
        let off = 0
        pkts.forEach((p, i) => {
          const m = i * META_FIELDS
          meta[m + META.ID] = p.id
          meta[m + META.HW_PROTOCOL] = 0x0800
          meta[m + META.HOOK] = 2
          meta[m + META.INDEV] = 7
          meta[m + META.OUTDEV] = 9
          meta[m + META.MARK] = p.mark ?? 0
          meta[m + META.CAPLEN] = p.bytes.length
          meta[m + META.WIRELEN] = p.bytes.length + 1000
          meta[m + META.OFFSET] = off
          p.bytes.copy(data, off)
          off += (p.bytes.length + 7) & ~7
        })
        onBatch(pkts.length)
      }
      return {
        verdicts(v, count) {
          if (opts.verdictError) throw opts.verdictError
          sent.push(Array.from(v.subarray(0, count * 3)))
        },
        stats(out) { out.fill(0); out[STAT.PACKETS] = 5; out[STAT.ENOBUFS] = 2 },
        close() { closes++ },
      }
    },
  }
  return { binding, sent, push: (p: Parameters<typeof push>[0]) => push(p), options: () => options, closes: () => closes }
}

const pkt = (n: number): Buffer => ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, payload: udp({ sport: 1000 + n, dport: 53 }) })

t.test('options reach the addon with the defaults filled in', async (t) => {
  const f = fakeBinding()
  new NfQueue(f.binding, { queue: 7 }).start(() => {})
  t.same(f.options(), { queue: 7, copyRange: 128, maxLen: QUEUE_DEFAULTS.maxLen, failOpen: false, gso: true, rcvbuf: QUEUE_DEFAULTS.rcvbuf, defaultVerdict: NF_DROP })
  const g = fakeBinding()
  new NfQueue(g.binding, { queue: 1, failOpen: true, copyRange: 96 }).start(() => {})
  t.match(g.options(), { failOpen: true, defaultVerdict: NF_ACCEPT, copyRange: 96 })
})

t.test('bad options are RangeErrors', async (t) => {
  const f = fakeBinding()
  for (const [name, o] of [['queue -1', { queue: -1 }], ['queue 65536', { queue: 65536 }], ['copyRange 0', { queue: 0, copyRange: 0 }], ['batchSize 1.5', { queue: 0, batchSize: 1.5 }]] as const) {
    t.throws(() => new NfQueue(f.binding, o), RangeError, name)
  }
})

t.test('batch views read the addon buffers; one verdict call per batch', async (t) => {
  const f = fakeBinding()
  const q = new NfQueue(f.binding, { queue: 0 })
  const seen: PacketBatch[] = []
  let base = 100
  q.start((batch, v) => {
    seen.push(batch)
    t.equal(batch.count, 3)
    for (let i = 0; i < batch.count; i++) {
      t.equal(batch.data.readUInt16BE(batch.packetOffset(i) + 20), 1000 + i, `packet ${i} bytes at its offset`)
      t.match([batch.packetId(i), batch.hwProtocol(i), batch.hook(i), batch.inIfindex(i), batch.outIfindex(i), batch.mark(i)], [base + i, 0x0800, 2, 7, 9, i])
      t.equal(batch.capturedLength(i), 28)
      t.equal(batch.packetLength(i), 1028)
    }
    v.set(0, NF_ACCEPT)
    v.set(1, NF_ACCEPT, 0x42)
    v.set(2, NF_DROP, 0)
  })
  f.push([0, 1, 2].map((i) => ({ id: 100 + i, bytes: pkt(i), mark: i })))
  t.same(f.sent, [[100, NF_ACCEPT, NO_MARK, 101, NF_ACCEPT, 0x42, 102, NF_DROP, 0]])
  base = 200
  f.push([0, 1, 2].map((i) => ({ id: 200 + i, bytes: pkt(i), mark: i })))
  t.equal(seen[0], seen[1], 'the batch view is reused, not reallocated')
})

for (const failOpen of [false, true]) {
  t.test(`packets the handler leaves alone get the default (${failOpen ? 'fail-open: accept' : 'fail-closed: drop'})`, async (t) => {
    const f = fakeBinding()
    new NfQueue(f.binding, { queue: 0, failOpen }).start((_b, v) => v.set(1, failOpen ? NF_DROP : NF_ACCEPT))
    f.push([{ id: 1, bytes: pkt(0) }, { id: 2, bytes: pkt(1) }, { id: 3, bytes: pkt(2) }])
    const d = failOpen ? NF_ACCEPT : NF_DROP
    t.same(f.sent, [[1, d, NO_MARK, 2, failOpen ? NF_DROP : NF_ACCEPT, NO_MARK, 3, d, NO_MARK]])
  })
}

t.test('a throwing handler: verdicts are still sent, the error goes to onError', async (t) => {
  const f = fakeBinding()
  const errors: unknown[] = []
  const q = new NfQueue(f.binding, { queue: 0, onError: (e) => errors.push(e) })
  q.start((_b, v) => {
    v.set(0, NF_ACCEPT)
    throw new Error('boom')
  })
  f.push([{ id: 1, bytes: pkt(0) }, { id: 2, bytes: pkt(1) }])
  t.same(f.sent, [[1, NF_ACCEPT, NO_MARK, 2, NF_DROP, NO_MARK]], 'set verdicts kept, the rest defaulted')
  t.match(errors, [{ message: 'boom' }])
  t.equal(q.stats().handlerErrors, 1)
})

t.test('without onError the handler error is rethrown after the verdicts went out', async (t) => {
  const f = fakeBinding()
  new NfQueue(f.binding, { queue: 0 }).start(() => { throw new Error('boom') })
  t.throws(() => f.push([{ id: 9, bytes: pkt(0) }]), { message: 'boom' })
  t.same(f.sent, [[9, NF_DROP, NO_MARK]])
})

t.test('VerdictWriter rejects indexes outside the batch and unknown verdicts', async (t) => {
  const f = fakeBinding()
  const errors: unknown[] = []
  const cases: [string, BatchHandler][] = [
    ['index == count', (_b, v) => v.set(2, NF_ACCEPT)],
    ['negative index', (_b, v) => v.set(-1, NF_ACCEPT)],
    ['verdict 7', (_b, v) => v.set(0, 7)],
  ]
  for (const [name, handler] of cases) {
    errors.length = 0
    new NfQueue(f.binding, { queue: 0, onError: (e) => errors.push(e) }).start(handler)
    f.push([{ id: 1, bytes: pkt(0) }, { id: 2, bytes: pkt(1) }])
    t.match(errors, [RangeError], name)
  }
})

t.test('close inside the handler: no verdict call on a closed socket, close once, stats kept', async (t) => {
  const f = fakeBinding()
  const q = new NfQueue(f.binding, { queue: 0 })
  q.start(() => q.close())
  f.push([{ id: 1, bytes: pkt(0) }])
  t.same(f.sent, [])
  q.close()
  t.equal(f.closes(), 1)
  t.match(q.stats(), { packets: 5, enobufs: 2 })
  t.throws(() => q.start(() => {}), /closed/)
})

t.test('a failing verdict send reaches onError', async (t) => {
  const f = fakeBinding({ verdictError: new Error('sendmsg: No buffer space available') })
  const errors: unknown[] = []
  new NfQueue(f.binding, { queue: 0, onError: (e) => errors.push(e) }).start(() => {})
  f.push([{ id: 1, bytes: pkt(0) }])
  t.match(errors, [{ message: /sendmsg/ }])
})

t.test('stats map the addon counters', async (t) => {
  const f = fakeBinding()
  const q = new NfQueue(f.binding, { queue: 0 })
  t.match(q.stats(), { packets: 0 }, 'before start: zeros')
  q.start(() => {})
  t.match(q.stats(), { batches: 0, packets: 5, enobufs: 2, verdicts: 0, handlerErrors: 0 })
  t.equal(STAT_FIELDS, 10)
})

t.test('the real addon rejects bad openQueue arguments with a usage TypeError (before any socket)', async (t) => {
  const { loadBinding } = await import('../src/native/index.js')
  const b = loadBinding()
  const good = { queue: 1, copyRange: 128, maxLen: 16, failOpen: false, gso: true, rcvbuf: 1 << 20, defaultVerdict: 0 }
  const data = Buffer.alloc(1024)
  const meta = new Uint32Array(META_FIELDS * 4)
  const noop = (): void => {}
  const cases: [string, unknown[]][] = [
    ['no arguments', []],
    ['queue 70000', [{ ...good, queue: 70000 }, data, meta, noop]],
    ['copyRange 0', [{ ...good, copyRange: 0 }, data, meta, noop]],
    ['defaultVerdict 4', [{ ...good, defaultVerdict: 4 }, data, meta, noop]],
    ['failOpen missing', [{ ...good, failOpen: undefined }, data, meta, noop]],
    ['data smaller than copyRange', [good, Buffer.alloc(64), meta, noop]],
    ['meta not Uint32Array', [good, data, new Float64Array(11), noop]],
    ['meta shorter than one packet', [good, data, new Uint32Array(5), noop]],
    ['callback not a function', [good, data, meta, 1]],
  ]
  for (const [name, args] of cases) {
    t.throws(() => (b.openQueue as (...a: unknown[]) => unknown)(...args), { name: 'TypeError', message: /^openQueue\(options/ }, name)
  }
})
