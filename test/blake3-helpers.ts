/**
 * Shared helpers for the BLAKE3 tree-layer tests: input generators, a straightforward recursive
 * oracle (root + pre-order outboard + range encoding) written only from the compress.ts
 * primitives `chunkCV` / `parentCV`, and stream utilities.
 */
import { expect } from 'vitest'
import { chunkCV, parentCV } from '../src/blake3/compress.ts'
import type { ChunkRanges } from '../src/blake3/ranges.ts'
import type { Blake3Kernel } from '../src/blake3/kernel-types.ts'
import { GROUP_CHUNKS, GROUP_LEN, OUT_LEN } from '../src/blake3/constants.ts'

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')

/** BLAKE3 official vectors input: `i % 251`. */
export function vectorInput (n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = i % 251
  return b
}

/** Bao vectors input: little-endian u32 counter from 1, truncated to `n` bytes. */
export function baoInput (n: number): Uint8Array {
  const padded = new Uint8Array(Math.ceil(n / 4) * 4)
  const dv = new DataView(padded.buffer)
  for (let i = 0; i * 4 < n; i++) dv.setUint32(i * 4, i + 1, true)
  return padded.slice(0, n)
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function randomBytes (n: number, seed: number = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed | 0 || 1
  let i = 0
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x; out[i + 1] = x >>> 8; out[i + 2] = x >>> 16; out[i + 3] = x >>> 24
  }
  for (; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x
  }
  return out
}

/** Small deterministic PRNG returning integers in [0, n). */
export function prng (seed: number): (n: number) => number {
  let x = seed | 0 || 1
  return (n: number) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    return (x >>> 0) % n
  }
}

export async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const pieces: Uint8Array[] = []
  for await (const p of source) pieces.push(p.slice())
  return concat(pieces)
}

export function concat (pieces: Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of pieces) total += p.length
  const out = new Uint8Array(total)
  let off = 0
  for (const p of pieces) { out.set(p, off); off += p.length }
  return out
}

/** Splits bytes into pieces of pseudo-random sizes in [1, max]. */
export function * pieces (bytes: Uint8Array, seed: number, max: number): Generator<Uint8Array> {
  const rnd = prng(seed)
  for (let i = 0; i < bytes.length;) {
    const n = 1 + rnd(max)
    yield bytes.subarray(i, i + n)
    i += n
  }
}

function largestPow2Below (n: number): number {
  let p = 1
  while (p * 2 < n) p *= 2
  return p
}

/**
 * Oracle: CV of the subtree over `data` (first chunk `start`), pushing the pairs of parents that
 * span more than `2^k` chunks into `outboard` in pre-order.
 */
function oracleNode (data: Uint8Array, start: number, isRoot: boolean, k: number, outboard: Uint8Array[]): Uint8Array {
  const chunks = Math.max(1, Math.ceil(data.length / 1024))
  if (chunks === 1) return chunkCV(data, start, isRoot)
  const l = largestPow2Below(chunks)
  const slot = outboard.length
  const spansGroups = chunks > 2 ** k
  if (spansGroups) outboard.push(new Uint8Array(0))
  const left = oracleNode(data.subarray(0, l * 1024), start, false, k, outboard)
  const right = oracleNode(data.subarray(l * 1024), start + l, false, k, outboard)
  if (spansGroups) outboard[slot] = concat([left, right])
  return parentCV(left, right, isRoot)
}

/** Oracle root hash and pre-order outboard for groups of 2^k chunks. */
export function oracleOutboard (data: Uint8Array, k: number): { digest: Uint8Array, outboard: Uint8Array } {
  const pairs: Uint8Array[] = []
  const digest = oracleNode(data, 0, true, k, pairs)
  return { digest, outboard: concat(pairs) }
}

/**
 * Oracle range encoding (no size prefix): recursive pre-order; a node is sent as a parent pair
 * if it spans more than one group or is partly requested, as data if it is at most one group
 * and wholly requested (or a single chunk). `query` must already be truncated to the blob.
 */
export function oracleEncode (data: Uint8Array, query: ChunkRanges, k: number): Uint8Array {
  const out: Uint8Array[] = []
  const rec = (bytes: Uint8Array, start: number, isRoot: boolean): Uint8Array => {
    const chunks = Math.max(1, Math.ceil(bytes.length / 1024))
    const end = start + chunks
    const wanted = query.intersects(start, end)
    if (chunks === 1 || (chunks <= 2 ** k && query.covers(start, end))) {
      if (wanted) out.push(bytes)
      return chunkOrSubtree(bytes, start, isRoot)
    }
    const slot = out.length
    if (wanted) out.push(new Uint8Array(0))
    const l = largestPow2Below(chunks)
    const left = rec(bytes.subarray(0, l * 1024), start, false)
    const right = rec(bytes.subarray(l * 1024), start + l, false)
    if (wanted) out[slot] = concat([left, right])
    return parentCV(left, right, isRoot)
  }
  const chunkOrSubtree = (bytes: Uint8Array, start: number, isRoot: boolean): Uint8Array =>
    oracleNode(bytes, start, isRoot, 64, [])
  rec(data, 0, true)
  return concat(out)
}

/** Flips one bit of a copy. */
export function flip (bytes: Uint8Array, at: number, bit: number = 1): Uint8Array {
  const copy = bytes.slice()
  copy[at] ^= bit
  return copy
}

/** Names of this layer's typed errors. */
export const TYPED_ERRORS = new Set([
  'Blake3VerifyError', 'Blake3TruncatedError', 'Blake3SizeError', 'Blake3OutboardError', 'Blake3ReadError'
])

/** Runs `fn`, returns the error's name (fails the caller's expectation if nothing is thrown). */
export async function errorName (fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn()
  } catch (err) {
    return (err as Error).name
  }
  return 'no error'
}

/**
 * Kernel conformance, shared by every kernel's tests: `groupCVs` over the whole input equals
 * `expected`, and so does every batch of `sizes` groups taken at a varying start inside it.
 */
export function expectKernelMatches (kernel: Blake3Kernel, data: Uint8Array, firstChunk: number, sizes: number[], expected: Uint8Array): void {
  const groups = data.length / GROUP_LEN
  const all = new Uint8Array(groups * OUT_LEN)
  kernel.groupCVs(data, firstChunk, all)
  expect(hex(all)).toBe(hex(expected))
  for (const n of sizes) {
    const start = (n * 37) % (groups - n + 1)
    const out = new Uint8Array(n * OUT_LEN)
    kernel.groupCVs(data.subarray(start * GROUP_LEN, (start + n) * GROUP_LEN), firstChunk + start * GROUP_CHUNKS, out)
    if (hex(out) !== hex(expected.subarray(start * OUT_LEN, (start + n) * OUT_LEN))) {
      expect.fail(`${kernel.name}: mismatch for ${n} groups starting at group ${start}, first chunk ${firstChunk}`)
    }
  }
}
