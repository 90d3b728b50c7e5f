// Exact-match map from an IPv4 address (uint32) to a value: open addressing with linear probing
// over one Int32Array of keys, so a lookup touches one or two cache lines instead of a JS Map's
// bucket and entry tables. Backward-shift deletion keeps probe runs short under churn.

const EMPTY_KEY = 0 // 0.0.0.0 is never a pod IP; stored separately if it ever appears

function hash(k: number): number {
  let h = Math.imul(k ^ (k >>> 16), 0x45d9f3b)
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b)
  return (h ^ (h >>> 16)) >>> 0
}

export class Ip4Map<T> {
  private keys: Int32Array
  private values: (T | undefined)[]
  private mask: number
  private count = 0
  private zero: T | undefined

  constructor(capacity = 64) {
    let cap = 16
    while (cap < capacity * 2) cap <<= 1
    this.keys = new Int32Array(cap)
    this.values = new Array<T | undefined>(cap).fill(undefined)
    this.mask = cap - 1
  }

  get size(): number {
    return this.count + (this.zero === undefined ? 0 : 1)
  }

  get(addr: number): T | undefined {
    const k = addr | 0
    if (k === EMPTY_KEY) return this.zero
    const keys = this.keys
    let i = hash(k) & this.mask
    for (;;) {
      const x = keys[i]!
      if (x === k) return this.values[i]
      if (x === EMPTY_KEY) return undefined
      i = (i + 1) & this.mask
    }
  }

  set(addr: number, value: T): void {
    const k = addr | 0
    if (k === EMPTY_KEY) {
      this.zero = value
      return
    }
    if ((this.count + 1) * 2 > this.keys.length) this.grow()
    let i = hash(k) & this.mask
    while (this.keys[i] !== EMPTY_KEY && this.keys[i] !== k) i = (i + 1) & this.mask
    if (this.keys[i] === EMPTY_KEY) {
      this.keys[i] = k
      this.count++
    }
    this.values[i] = value
  }

  delete(addr: number): boolean {
    const k = addr | 0
    if (k === EMPTY_KEY) {
      const had = this.zero !== undefined
      this.zero = undefined
      return had
    }
    let i = hash(k) & this.mask
    while (this.keys[i] !== k) {
      if (this.keys[i] === EMPTY_KEY) return false
      i = (i + 1) & this.mask
    }
    this.count--
    for (let j = (i + 1) & this.mask; this.keys[j] !== EMPTY_KEY; j = (j + 1) & this.mask) {
      const home = hash(this.keys[j]!) & this.mask
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j
      if (inRange) continue
      this.keys[i] = this.keys[j]!
      this.values[i] = this.values[j]
      i = j
    }
    this.keys[i] = EMPTY_KEY
    this.values[i] = undefined
    return true
  }

  clear(): void {
    this.keys.fill(EMPTY_KEY)
    this.values.fill(undefined)
    this.count = 0
    this.zero = undefined
  }

  private grow(): void {
    const { keys, values } = this
    this.keys = new Int32Array(keys.length * 2)
    this.values = new Array<T | undefined>(keys.length * 2).fill(undefined)
    this.mask = this.keys.length - 1
    this.count = 0
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY_KEY) this.set(keys[i]! >>> 0, values[i] as T)
  }
}
