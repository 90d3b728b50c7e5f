import t from 'tap'
import { newVerdictSlot } from '../src/api/types.js'
import { VerdictCache } from '../src/dataplane/verdict-cache.js'

const G = VerdictCache.groupV4

t.test('a hit returns the stored verdict; another generation is a miss', async (t) => {
  const cache = new VerdictCache(16)
  const slot = { ...newVerdictSlot(), allowed: true, generation: 3, egressCode: 1, egressRef: 7 }
  cache.setV4(0x0a00010b, G(0x0a000216, 6, 80), slot)
  const out = newVerdictSlot()
  t.ok(cache.getV4(0x0a00010b, G(0x0a000216, 6, 80), 3, out))
  t.same(out, slot)
  t.notOk(cache.getV4(0x0a00010b, G(0x0a000216, 6, 80), 4, out), 'stale generation misses')
  t.same(cache.stats(), { hits: 1, misses: 1, size: 1, hitRatio: 0.5 })
  const key = VerdictCache.keyV6(Buffer.alloc(32, 1), 0, 16, 6, 80)
  cache.setV6(key, slot)
  t.ok(cache.getV6(key, 3, out), 'IPv6 entries too')
})

t.test('keys separate everything the verdict depends on, and only that', async (t) => {
  const cache = new VerdictCache(64)
  cache.setV4(1, G(2, 6, 80), { ...newVerdictSlot(), allowed: true, generation: 1 })
  const rows: [string, number, number, boolean][] = [
    ['same flow, any source port', 1, G(2, 6, 80), true],
    ['another port', 1, G(2, 6, 81), false],
    ['another protocol', 1, G(2, 17, 80), false],
    ['SCTP vs other protocols', 1, G(2, 132, 80), false],
    ['another source', 3, G(2, 6, 80), false],
    ['another destination', 1, G(3, 6, 80), false],
    ['the highest address and port', 1, G(0xffffffff, 6, 65535), false],
  ]
  for (const [name, src, group, hit] of rows) t.equal(cache.getV4(src, group, 1, newVerdictSlot()), hit, name)
  t.not(G(0xffffffff, 132, 65535), G(0xffffffff, 17, 65535), 'group keys stay exact at the top of the range')
  const buf = Buffer.alloc(32)
  buf[15] = 1
  buf[31] = 2
  t.not(VerdictCache.keyV6(buf, 0, 16, 6, 80), VerdictCache.keyV6(buf, 16, 0, 6, 80), 'v6 direction matters')
})

t.test('capacity counts entries, not groups (LRU)', async (t) => {
  const cache = new VerdictCache(3)
  const slot = newVerdictSlot()
  for (let src = 0; src < 5; src++) cache.setV4(src, G(9, 6, 80), slot) // one popular service
  t.ok(cache.stats().size <= 3, `bounded: ${cache.stats().size} entries`)
  for (let dst = 0; dst < 5; dst++) cache.setV4(1, G(dst, 6, 80), slot)
  t.ok(cache.stats().size <= 3, `bounded across groups: ${cache.stats().size} entries`)
  t.ok(cache.getV4(1, G(4, 6, 80), 0, newVerdictSlot()), 'most recent kept')
  t.notOk(cache.getV4(1, G(0, 6, 80), 0, newVerdictSlot()), 'oldest evicted')
})
