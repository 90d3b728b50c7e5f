// The packet path's exact-match address maps against a plain Map, through growth and
// backward-shift deletions (random operation sequences, seeded), plus edge addresses.
import t from 'tap'
import { Ip4Map } from '../src/engine/ip4-map.js'
import { Ip6Map } from '../src/engine/ip6-map.js'
import { prng } from './helpers/cluster-gen.js'

const rows = [
  { name: 'dense /16 keys', seed: 1, space: 1 << 16, base: 0x0a000000 },
  { name: 'few keys, heavy churn', seed: 2, space: 64, base: 0xc0a80000 },
  { name: 'keys above 2^31', seed: 3, space: 5000, base: 0xfffff000 },
]

for (const row of rows) {
  t.test(`Ip4Map = Map: ${row.name}`, async (t) => {
    const rnd = prng(row.seed)
    const m = new Ip4Map<number>(4)
    const ref = new Map<number, number>()
    let bad = 0
    for (let i = 0; i < 20000; i++) {
      const k = (row.base + Math.floor(rnd() * row.space)) >>> 0
      if (rnd() < 0.6) {
        m.set(k, i)
        ref.set(k, i)
      } else if (m.delete(k) !== ref.delete(k)) bad++
      const q = (row.base + Math.floor(rnd() * row.space)) >>> 0
      if (m.get(q) !== ref.get(q)) bad++
    }
    for (const [k, v] of ref) if (m.get(k) !== v) bad++
    t.equal(bad, 0, 'every get/delete agrees')
    t.equal(m.size, ref.size, 'size')
  })
}

t.test('Ip4Map edge addresses', async (t) => {
  const m = new Ip4Map<string>()
  for (const k of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) m.set(k, `v${k}`)
  for (const k of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) t.equal(m.get(k), `v${k}`, `get ${k}`)
  t.equal(m.delete(0), true, 'delete 0.0.0.0')
  t.equal(m.get(0), undefined)
  t.equal(m.size, 4)
})

t.test('Ip6Map = Map under churn', async (t) => {
  const rnd = prng(9)
  const m = new Ip6Map<number>(4)
  const ref = new Map<string, number>()
  const key = () => {
    const b = new Uint8Array(16)
    b[0] = 0xfd
    b[14] = Math.floor(rnd() * 8)
    b[15] = Math.floor(rnd() * 256)
    return b
  }
  let bad = 0
  for (let i = 0; i < 20000; i++) {
    const k = key()
    if (rnd() < 0.6) {
      m.set(k, i)
      ref.set(k.join('.'), i)
    } else if (m.delete(k) !== ref.delete(k.join('.'))) bad++
    const q = key()
    const buf = new Uint8Array(40)
    buf.set(q, 7) // unaligned offset, as in a packet
    if (m.get(buf, 7) !== ref.get(q.join('.'))) bad++
  }
  t.equal(bad, 0, 'every get/delete agrees')
  t.equal(m.size, ref.size, 'size')
})
