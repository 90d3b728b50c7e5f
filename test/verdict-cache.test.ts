import t from 'tap'
import { newVerdictSlot } from '../src/api/types.js'
import { VerdictCache } from '../src/dataplane/verdict-cache.js'

t.test('a hit returns the stored verdict; another generation is a miss', async (t) => {
  const cache = new VerdictCache(16)
  const key = VerdictCache.keyV4(0x0a00010b, 0x0a000216, 6, 80)
  const slot = { ...newVerdictSlot(), allowed: true, generation: 3, egressCode: 1, egressRef: 7 }
  cache.set(key, slot)
  const out = newVerdictSlot()
  t.ok(cache.get(key, 3, out))
  t.same(out, slot)
  t.notOk(cache.get(key, 4, out), 'stale generation misses')
  t.same(cache.stats(), { hits: 1, misses: 1, size: 1, hitRatio: 0.5 })
})

t.test('keys ignore nothing the verdict depends on', async (t) => {
  const rows: [string, string][] = [
    ['port', VerdictCache.keyV4(1, 2, 6, 81)],
    ['protocol', VerdictCache.keyV4(1, 2, 17, 80)],
    ['source', VerdictCache.keyV4(3, 2, 6, 80)],
    ['destination', VerdictCache.keyV4(1, 3, 6, 80)],
  ]
  const base = VerdictCache.keyV4(1, 2, 6, 80)
  for (const [name, key] of rows) t.not(key, base, `${name} changes the key`)
  const buf = Buffer.alloc(32)
  buf[15] = 1
  buf[31] = 2
  t.not(VerdictCache.keyV6(buf, 0, 16, 6, 80), VerdictCache.keyV6(buf, 16, 0, 6, 80), 'v6 direction matters')
})

t.test('capacity is bounded (LRU)', async (t) => {
  const cache = new VerdictCache(2)
  const slot = newVerdictSlot()
  for (let i = 0; i < 5; i++) cache.set(VerdictCache.keyV4(i, 0, 6, 80), slot)
  t.equal(cache.stats().size, 2)
  t.ok(cache.get(VerdictCache.keyV4(4, 0, 6, 80), 0, newVerdictSlot()), 'most recent kept')
  t.notOk(cache.get(VerdictCache.keyV4(0, 0, 6, 80), 0, newVerdictSlot()), 'oldest evicted')
})
