/** Seeded pseudo-random numbers (splitmix32 → mulberry32): every run with one seed is identical. */
export class Rng {
  private state: number

  constructor (seed: number) {
    this.state = (seed >>> 0) ^ 0x6d2b79f5
  }

  /** Uniform in [0, 1). */
  next (): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** Integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  /** Standard normal (Box–Muller). */
  normal (): number {
    const u = Math.max(this.next(), 1e-12)
    const v = this.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }

  /** A child generator (independent stream for one purpose). */
  fork (salt: number): Rng {
    return new Rng((Math.imul(this.int(0x7fffffff), 2654435761) ^ salt) >>> 0)
  }

  shuffle<T> (items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      ;[items[i], items[j]] = [items[j], items[i]]
    }
    return items
  }

  /** Up to `k` distinct items of `items`, uniformly. */
  sample<T> (items: readonly T[], k: number): T[] {
    if (items.length <= k) return this.shuffle([...items])
    const picked = new Set<number>()
    const out: T[] = []
    while (out.length < k) {
      const i = this.int(items.length)
      if (picked.has(i)) continue
      picked.add(i)
      out.push(items[i])
    }
    return out
  }
}

/** Deterministic pseudo-random bytes for file contents (xorshift32 of a seed). */
export function fillBytes (size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = (seed >>> 0) || 0x9e3779b9
  const words = size >>> 2
  const view = new Uint32Array(out.buffer, 0, words)
  for (let i = 0; i < words; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    view[i] = x
  }
  for (let i = words * 4; i < size; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}
