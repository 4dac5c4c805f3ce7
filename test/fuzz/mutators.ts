/**
 * A small coverage-less mutation engine for the fuzz targets (test/fuzz/targets.ts): a seeded
 * PRNG, byte-level mutations (bit flips, insert/delete/duplicate, splice, interesting integers
 * in length fields, truncation) and a per-format dictionary of tokens.
 *
 * Deterministic: the same seed, corpus and dictionary give the same inputs.
 */

/** xoshiro128** seeded by splitmix32 — fast, deterministic, good enough for fuzzing. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    let s = seed >>> 0
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next() | 1
  }

  /** Uniform u32. */
  u32 (): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0
    const t = (this.b << 9) >>> 0
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  /** Uniform integer in [0, n) (n ≥ 1). */
  below (n: number): number {
    if (n <= 1) return 0
    if (n <= 0x1_0000_0000) return Math.floor((this.u32() / 0x1_0000_0000) * n)
    return Math.floor(((this.u32() * 0x1_0000_0000 + this.u32()) / 2 ** 64) * n)
  }

  chance (p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p
  }

  pick<T> (items: readonly T[]): T {
    return items[this.below(items.length)]
  }

  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }
}

function rotl (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

/** Interesting integers for length and count fields. */
export const INTERESTING_U64: readonly bigint[] = [
  0n, 1n, 2n, 7n, 8n, 9n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xffffn, 0x10000n,
  (1n << 31n) - 1n, 1n << 31n, (1n << 32n) - 1n, 1n << 32n, 1n << 40n,
  (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n
]

export function u64le (value: bigint): Uint8Array {
  const out = new Uint8Array(8)
  let v = BigInt.asUintN(64, value)
  for (let i = 0; i < 8; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}

/** Unsigned LEB128 of an interesting value (capped at 10 bytes). */
/** unsigned LEB128 (protobuf varint) of the low 64 bits */
export function leb128 (value: bigint): Uint8Array {
  const out: number[] = []
  let v = BigInt.asUintN(64, value)
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) b |= 0x80
    out.push(b)
  } while (v > 0n)
  return new Uint8Array(out)
}

/** Decimal text of an interesting value (for text formats). */
const INTERESTING_TEXT: readonly string[] = [
  '0', '1', '-1', '4294967295', '4294967296', '9007199254740991', '9007199254740992',
  '18446744073709551615', '18446744073709551616', '1e308', 'NaN', '00', '+1', ' 1', '0x10', '99999999999999999999999'
]

const utf8 = new TextEncoder()

export interface MutatorOptions {
  /** Largest input produced (default 64 KiB). */
  maxLength?: number
  /** Format tokens spliced in whole. */
  dictionary?: readonly Uint8Array[]
  /** Whether integers are little-endian u64 (daemon, NAR) — they are always tried, this adds weight. */
  u64Fields?: boolean
  /** Whether the format is text: adds decimal interesting numbers and line-oriented mutations. */
  text?: boolean
}

function concat (parts: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Mutates corpus entries into new inputs. */
export class Mutator {
  readonly rng: Rng
  readonly corpus: Uint8Array[]
  private readonly maxLength: number
  private readonly dictionary: readonly Uint8Array[]
  private readonly u64Fields: boolean
  private readonly text: boolean

  constructor (rng: Rng, corpus: readonly Uint8Array[], options: MutatorOptions = {}) {
    this.rng = rng
    this.corpus = corpus.length > 0 ? [...corpus] : [new Uint8Array(0)]
    this.maxLength = options.maxLength ?? 64 * 1024
    this.dictionary = options.dictionary ?? []
    this.u64Fields = options.u64Fields ?? false
    this.text = options.text ?? false
  }

  /** One new input: a corpus entry (or random bytes) with 1–8 stacked mutations. */
  next (): Uint8Array {
    const rng = this.rng
    if (rng.chance(0.01)) return rng.bytes(rng.below(64))
    let data = rng.pick(this.corpus)
    const rounds = 1 + rng.below(rng.chance(0.5) ? 2 : 8)
    for (let i = 0; i < rounds; i++) data = this.mutate(data)
    if (data.length > this.maxLength) data = data.subarray(0, this.maxLength)
    return data
  }

  /** Applies one random mutation (returns a new array; `data` is never modified). */
  mutate (data: Uint8Array): Uint8Array {
    const rng = this.rng
    const n = data.length
    const pos = (): number => rng.below(n + 1)
    const op = rng.below(this.text ? 16 : 14)
    switch (op) {
      case 0: { // bit flip
        if (n === 0) return rng.bytes(1)
        const out = data.slice()
        const i = rng.below(n)
        out[i] ^= 1 << rng.below(8)
        return out
      }
      case 1: { // random byte
        if (n === 0) return rng.bytes(1)
        const out = data.slice()
        out[rng.below(n)] = rng.u32() & 0xff
        return out
      }
      case 2: { // insert random bytes
        const at = pos()
        return concat([data.subarray(0, at), rng.bytes(1 + rng.below(8)), data.subarray(at)])
      }
      case 3: { // delete a range
        if (n === 0) return data
        const at = rng.below(n)
        const len = 1 + rng.below(Math.min(n - at, rng.chance(0.8) ? 8 : 256))
        return concat([data.subarray(0, at), data.subarray(at + len)])
      }
      case 4: { // duplicate a range
        if (n === 0) return data
        const at = rng.below(n)
        const len = 1 + rng.below(Math.min(n - at, 128))
        const copies = 1 + rng.below(rng.chance(0.9) ? 2 : 16)
        const piece = data.subarray(at, at + len)
        return concat([data.subarray(0, at + len), ...Array.from({ length: copies }, () => piece), data.subarray(at + len)])
      }
      case 5: { // truncate
        if (n === 0) return data
        return data.subarray(0, rng.below(n))
      }
      case 6: { // splice with another corpus entry
        const other = rng.pick(this.corpus)
        const a = pos()
        const b = rng.below(other.length + 1)
        return concat([data.subarray(0, a), other.subarray(b, b + rng.below(other.length - b + 1))])
      }
      case 7:
      case 8: { // overwrite an aligned or unaligned u64 with an interesting value
        const value = u64le(rng.pick(INTERESTING_U64) + BigInt(rng.chance(0.2) ? rng.below(3) - 1 : 0))
        if (n < 8) return concat([data, value])
        const at = this.u64Fields && rng.chance(0.7) ? rng.below(n >>> 3) * 8 : rng.below(n - 7)
        const out = data.slice()
        out.set(value, at)
        return out
      }
      case 9: { // interesting u32 / u16 / u8
        if (n === 0) return rng.bytes(1)
        const out = data.slice()
        const v = Number(BigInt.asUintN(32, rng.pick(INTERESTING_U64)))
        const width = rng.pick([1, 2, 4])
        const at = rng.below(Math.max(1, n - width + 1))
        for (let i = 0; i < width && at + i < n; i++) out[at + i] = (v >>> (8 * i)) & 0xff
        return out
      }
      case 10: { // LEB128 varint of an interesting value
        const at = pos()
        const cut = rng.chance(0.5) ? rng.below(4) : 0
        return concat([data.subarray(0, at), leb128(rng.pick(INTERESTING_U64)), data.subarray(Math.min(n, at + cut))])
      }
      case 11:
      case 12: { // dictionary token: insert or overwrite
        if (this.dictionary.length === 0) return this.mutate(data)
        const token = rng.pick(this.dictionary)
        const at = pos()
        if (rng.chance(0.5)) return concat([data.subarray(0, at), token, data.subarray(at)])
        return concat([data.subarray(0, at), token, data.subarray(Math.min(n, at + token.length))])
      }
      case 13: { // swap two ranges
        if (n < 4) return data
        const len = 1 + rng.below(Math.min(16, n >>> 1))
        const a = rng.below(n - len + 1)
        const b = rng.below(n - len + 1)
        const out = data.slice()
        out.set(data.subarray(b, b + len), a)
        out.set(data.subarray(a, a + len), b)
        return out
      }
      case 14: { // text: replace a decimal number by an interesting one
        const text = Buffer.from(data).toString('latin1')
        const numbers = [...text.matchAll(/\d+/g)]
        const repl = rng.pick(INTERESTING_TEXT)
        if (numbers.length === 0) {
          const at = pos()
          return concat([data.subarray(0, at), utf8.encode(repl), data.subarray(at)])
        }
        const m = rng.pick(numbers)
        const at = m.index ?? 0
        return concat([data.subarray(0, at), utf8.encode(repl), data.subarray(at + m[0].length)])
      }
      default: { // text: duplicate, delete or swap whole lines
        const lines = Buffer.from(data).toString('latin1').split('\n')
        if (lines.length < 2) return this.mutate(data)
        const i = rng.below(lines.length)
        const j = rng.below(lines.length)
        const k = rng.below(3)
        if (k === 0) lines.splice(i, 0, lines[j])
        else if (k === 1) lines.splice(i, 1)
        else [lines[i], lines[j]] = [lines[j], lines[i]]
        return new Uint8Array(Buffer.from(lines.join('\n'), 'latin1'))
      }
    }
  }
}

/** Encodes strings as dictionary entries. */
export function tokensOf (...items: Array<string | Uint8Array>): Uint8Array[] {
  return items.map(t => typeof t === 'string' ? utf8.encode(t) : t)
}
