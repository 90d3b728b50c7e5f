// Exact-match map from a 16-byte IPv6 address to a value, looked up straight from a packet buffer
// without allocating (no string, no BigInt): open addressing, linear probing, keys as 4 uint32
// words, backward-shift deletion so no tombstones accumulate under pod churn.

function word(buf: ArrayLike<number>, o: number): number {
  return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0
}

function hash(a0: number, a1: number, a2: number, a3: number): number {
  let h = Math.imul(a3 ^ 0x9e3779b9, 0x85ebca6b)
  h ^= Math.imul(a2, 0xc2b2ae35)
  h = Math.imul(h ^ (h >>> 15), 0x27d4eb2f)
  h ^= Math.imul(a1 ^ (a0 >>> 3), 0x165667b1) ^ a0
  h ^= h >>> 13
  return h >>> 0
}

export class Ip6Map<T> {
  private keys: Uint32Array
  private values: (T | undefined)[]
  private used: Uint8Array
  private mask: number
  private count = 0

  constructor(capacity = 64) {
    let cap = 16
    while (cap < capacity * 2) cap <<= 1
    this.keys = new Uint32Array(cap * 4)
    this.values = new Array<T | undefined>(cap)
    this.used = new Uint8Array(cap)
    this.mask = cap - 1
  }

  get size(): number {
    return this.count
  }

  /** Value for the address at buf[off..off+16), or undefined. */
  get(buf: ArrayLike<number>, off: number): T | undefined {
    const a0 = word(buf, off)
    const a1 = word(buf, off + 4)
    const a2 = word(buf, off + 8)
    const a3 = word(buf, off + 12)
    const k = this.keys
    let i = hash(a0, a1, a2, a3) & this.mask
    while (this.used[i] === 1) {
      const o = i << 2
      if (k[o] === a0 && k[o + 1] === a1 && k[o + 2] === a2 && k[o + 3] === a3) return this.values[i]
      i = (i + 1) & this.mask
    }
    return undefined
  }

  set(addr: Uint8Array, value: T): void {
    if ((this.count + 1) * 2 > this.used.length) this.grow()
    const i = this.slot(addr)
    if (this.used[i] === 0) {
      this.used[i] = 1
      this.count++
      for (let w = 0; w < 4; w++) this.keys[(i << 2) + w] = word(addr, w * 4)
    }
    this.values[i] = value
  }

  delete(addr: Uint8Array): boolean {
    let i = this.slot(addr)
    if (this.used[i] === 0) return false
    this.count--
    // Backward-shift: move later members of the probe run into the hole where they belong.
    for (let j = (i + 1) & this.mask; this.used[j] === 1; j = (j + 1) & this.mask) {
      const o = j << 2
      const home = hash(this.keys[o]!, this.keys[o + 1]!, this.keys[o + 2]!, this.keys[o + 3]!) & this.mask
      // Move j to i if its home is not cyclically in (i, j].
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j
      if (inRange) continue
      this.keys.copyWithin(i << 2, o, o + 4)
      this.values[i] = this.values[j]
      i = j
    }
    this.used[i] = 0
    this.values[i] = undefined
    return true
  }

  /** Slot holding addr, or the empty slot where it would go. */
  private slot(addr: Uint8Array): number {
    const a0 = word(addr, 0)
    const a1 = word(addr, 4)
    const a2 = word(addr, 8)
    const a3 = word(addr, 12)
    let i = hash(a0, a1, a2, a3) & this.mask
    while (this.used[i] === 1) {
      const o = i << 2
      if (this.keys[o] === a0 && this.keys[o + 1] === a1 && this.keys[o + 2] === a2 && this.keys[o + 3] === a3) return i
      i = (i + 1) & this.mask
    }
    return i
  }

  private grow(): void {
    const { keys, values, used } = this
    const cap = used.length * 2
    this.keys = new Uint32Array(cap * 4)
    this.values = new Array<T | undefined>(cap)
    this.used = new Uint8Array(cap)
    this.mask = cap - 1
    this.count = 0
    const addr = new Uint8Array(16)
    for (let i = 0; i < used.length; i++) {
      if (used[i] !== 1) continue
      for (let w = 0; w < 4; w++) {
        const v = keys[(i << 2) + w]!
        addr[w * 4] = v >>> 24
        addr[w * 4 + 1] = (v >>> 16) & 255
        addr[w * 4 + 2] = (v >>> 8) & 255
        addr[w * 4 + 3] = v & 255
      }
      this.set(addr, values[i] as T)
    }
  }
}
