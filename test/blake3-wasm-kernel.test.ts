/**
 * The WebAssembly SIMD chunk-group kernel against a small scalar reference
 * (written here, checked first against the official BLAKE3 vectors).
 * Needs no C toolchain: it runs the committed src/blake3/wasm/kernel-wasm.ts.
 */
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { describe, expect, it, vi } from 'vitest'
import { fixture } from './fixtures.ts'
import { GROUP_CHUNKS, GROUP_LEN, OUT_LEN as CV_LEN } from '../src/blake3/constants.ts'
import { expectKernelMatches } from './blake3-helpers.ts'
import {
  createWasmKernel,
  InvalidGroupInputError,
  WASM_BATCH_BYTES,
  wasmSimdSupported
} from '../src/blake3/wasm/index.ts'
import { KERNEL_WASM_BASE64, KERNEL_WASM_SHA256 } from '../src/blake3/wasm/kernel-wasm.ts'
import { pureTsKernel } from '../src/blake3/kernel.ts'

// ---- scalar reference (content-addressing.md §2.1–2.3) -------------------

const IV = Uint32Array.of(
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
)
const PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
const CHUNK_START = 1
const CHUNK_END = 2
const PARENT = 4
const ROOT = 8

/** Message word order of each round: the permutation applied r times (§2.1). */
const SCHEDULE: number[][] = [Array.from({ length: 16 }, (_, i) => i)]
for (let r = 1; r < 7; r++) SCHEDULE.push(PERMUTATION.map((p) => SCHEDULE[r - 1][p]))

function rotr (x: number, n: number): number {
  return (x >>> n) | (x << (32 - n))
}

function g (v: Int32Array, a: number, b: number, c: number, d: number, x: number, y: number): void {
  v[a] = v[a] + v[b] + x
  v[d] = rotr(v[d] ^ v[a], 16)
  v[c] = v[c] + v[d]
  v[b] = rotr(v[b] ^ v[c], 12)
  v[a] = v[a] + v[b] + y
  v[d] = rotr(v[d] ^ v[a], 8)
  v[c] = v[c] + v[d]
  v[b] = rotr(v[b] ^ v[c], 7)
}

const state = new Int32Array(16)

/** First 8 words of compress(cv, block, counter, blockLen, flags). */
function compress (cv: Uint32Array, m: Uint32Array, counter: number, blockLen: number, flags: number): Uint32Array {
  const v = state
  v.set(cv)
  v.set(IV.subarray(0, 4), 8)
  v[12] = counter % 2 ** 32
  v[13] = Math.floor(counter / 2 ** 32)
  v[14] = blockLen
  v[15] = flags
  for (const s of SCHEDULE) {
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]])
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]])
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]])
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]])
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]])
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]])
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]])
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]])
  }
  const out = new Uint32Array(8)
  for (let i = 0; i < 8; i++) out[i] = v[i] ^ v[i + 8]
  return out
}

function blockWords (bytes: Uint8Array): Uint32Array {
  const padded = new Uint8Array(64)
  padded.set(bytes)
  const view = new DataView(padded.buffer)
  return Uint32Array.from({ length: 16 }, (_, i) => view.getUint32(4 * i, true))
}

function chunkCV (chunk: Uint8Array, counter: number, root: boolean): Uint32Array {
  let cv: Uint32Array = IV
  const blocks = Math.max(1, Math.ceil(chunk.length / 64))
  for (let b = 0; b < blocks; b++) {
    const bytes = chunk.subarray(64 * b, 64 * b + 64)
    let flags = (b === 0 ? CHUNK_START : 0) | (b === blocks - 1 ? CHUNK_END : 0)
    if (root && b === blocks - 1) flags |= ROOT
    cv = compress(cv, blockWords(bytes), counter, bytes.length, flags)
  }
  return cv
}

function parentCV (left: Uint32Array, right: Uint32Array, root: boolean): Uint32Array {
  const block = new Uint32Array(16)
  block.set(left)
  block.set(right, 8)
  return compress(IV, block, 0, 64, PARENT | (root ? ROOT : 0))
}

/** CV of the subtree over `data` whose first chunk has counter `startChunk` (§2.3). */
function subtreeCV (data: Uint8Array, startChunk: number, root: boolean): Uint32Array {
  const n = Math.max(1, Math.ceil(data.length / 1024))
  if (n === 1) return chunkCV(data, startChunk, root)
  const left = 2 ** Math.floor(Math.log2(n - 1))
  return parentCV(
    subtreeCV(data.subarray(0, 1024 * left), startChunk, false),
    subtreeCV(data.subarray(1024 * left), startChunk + left, false),
    root
  )
}

function cvBytes (cv: Uint32Array): Uint8Array {
  const out = new Uint8Array(32)
  const view = new DataView(out.buffer)
  cv.forEach((w, i) => { view.setUint32(4 * i, w, true) })
  return out
}

function bytesCV (bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 32)
  return Uint32Array.from({ length: 8 }, (_, i) => view.getUint32(4 * i, true))
}

function referenceGroupCVs (data: Uint8Array, firstChunk: number): Uint8Array {
  const groups = data.length / GROUP_LEN
  const out = new Uint8Array(groups * CV_LEN)
  for (let i = 0; i < groups; i++) {
    const cv = subtreeCV(data.subarray(i * GROUP_LEN, (i + 1) * GROUP_LEN), firstChunk + i * GROUP_CHUNKS, false)
    out.set(cvBytes(cv), i * CV_LEN)
  }
  return out
}

/** Merge aligned leaf CVs (groups) to the root with the ordinary split rule (§2.2). */
function mergeToRoot (cvs: Uint32Array[], root: boolean): Uint32Array {
  if (cvs.length === 1) return cvs[0]
  const left = 2 ** Math.floor(Math.log2(cvs.length - 1))
  return parentCV(mergeToRoot(cvs.slice(0, left), false), mergeToRoot(cvs.slice(left), false), root)
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function pseudoRandom (length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x; out[i + 1] = x >>> 8; out[i + 2] = x >>> 16; out[i + 3] = x >>> 24
  }
  return out
}

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

interface VectorCase { input_len: number, hash: string }
const vectors = (JSON.parse(readFileSync(fixture('blake3', 'blake3_test_vectors.json'), 'utf8')) as { cases: VectorCase[] }).cases

function vectorInput (length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i % 251)
}

// ---- tests ----------------------------------------------------------------

describe('scalar reference used by these tests', () => {
  it('reproduces the official BLAKE3 hash vectors', () => {
    for (const c of vectors) {
      const root = subtreeCV(vectorInput(c.input_len), 0, true)
      expect(hex(cvBytes(root)), `input_len ${c.input_len}`).toBe(c.hash.slice(0, 64))
    }
  })
})

describe('WebAssembly SIMD kernel', () => {
  it('is available in this runtime and named wasm-simd', () => {
    expect(wasmSimdSupported()).toBe(true)
    expect(createWasmKernel().name).toBe('wasm-simd')
  })

  it('throws WasmSimdUnavailableError when the engine rejects SIMD code', async () => {
    vi.resetModules()
    const fresh = await import('../src/blake3/wasm/index.ts')
    const wasm = (globalThis as unknown as { WebAssembly: { validate: (b: Uint8Array) => boolean } }).WebAssembly
    const spy = vi.spyOn(wasm, 'validate').mockReturnValue(false)
    try {
      expect(fresh.wasmSimdSupported()).toBe(false)
      expect(() => fresh.createWasmKernel()).toThrow(fresh.WasmSimdUnavailableError)
      expect(() => fresh.createWasmKernel()).toThrow(/SIMD/)
    } finally {
      spy.mockRestore()
    }
    expect(fresh.createWasmKernel().name).toBe('wasm-simd')
  })

  it('embeds the bytes its header describes', () => {
    const bytes = Buffer.from(KERNEL_WASM_BASE64, 'base64')
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(KERNEL_WASM_SHA256)
  })

  it('gives official roots when group CVs are merged (16384, 31744, 102400 bytes)', () => {
    const kernel = createWasmKernel()
    for (const c of vectors.filter((v) => v.input_len >= 2 * GROUP_LEN - 1024)) {
      const input = vectorInput(c.input_len)
      const full = Math.floor(input.length / GROUP_LEN)
      const out = new Uint8Array(full * CV_LEN)
      kernel.groupCVs(input.subarray(0, full * GROUP_LEN), 0, out)
      const leaves = Array.from({ length: full }, (_, i) => bytesCV(out.subarray(i * CV_LEN)))
      const rest = input.subarray(full * GROUP_LEN)
      if (rest.length > 0) leaves.push(subtreeCV(rest, full * GROUP_CHUNKS, false))
      expect(hex(cvBytes(mergeToRoot(leaves, true))), `input_len ${c.input_len}`).toBe(c.hash.slice(0, 64))
    }
  })

  const MAX_GROUPS = 200
  // chunk counters of the first group; multiples of 16 are real group starts, the
  // others check per-lane counters (incl. carries into the high word inside a group)
  const offsets = [
    0,
    16 * 5,
    7,
    2 ** 32 - 16 * 100, // batch crosses the 2^32-chunk boundary
    2 ** 32 - 10, // first group's lanes straddle the boundary
    2 ** 32,
    2 ** 32 + 16 * 3,
    2 ** 36 - 16 * 37 - 3,
    3 * 2 ** 40 + 16 * 11,
    2 ** 52 - 16 * 64
  ]

  const someSizes = [1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 63, 64, 65, 100, 127, 128, 129, 193, 199, 200]

  for (const [index, firstChunk] of offsets.entries()) {
    const sizes = index % 3 === 0 ? Array.from({ length: MAX_GROUPS }, (_, i) => i + 1) : someSizes
    const label = sizes.length === MAX_GROUPS ? `every batch size 1..${MAX_GROUPS}` : `batch sizes ${sizes.join(',')}`
    it(`matches the reference at chunk offset ${firstChunk}, ${label} groups`, () => {
      const kernel = createWasmKernel()
      const data = pseudoRandom(MAX_GROUPS * GROUP_LEN, 0x9e3779b9 + index)
      const expected = referenceGroupCVs(data, firstChunk)

      // the whole input (more than three internal batches), then each batch size at a varying start
      expectKernelMatches(kernel, data, firstChunk, sizes, expected)
    })
  }

  it('agrees with the project\'s pure-TS kernel at group-aligned counters', () => {
    const kernel = createWasmKernel()
    const groups = 150
    const data = pseudoRandom(groups * GROUP_LEN, 1234)
    for (const firstChunk of [0, 16 * 3, 2 ** 32 - 16 * 70, 2 ** 32, 2 ** 45 + 16 * 9]) {
      const expected = new Uint8Array(groups * CV_LEN)
      const actual = new Uint8Array(groups * CV_LEN)
      pureTsKernel.groupCVs(data, firstChunk, expected)
      kernel.groupCVs(data, firstChunk, actual)
      expect(hex(actual), `first chunk ${firstChunk}`).toBe(hex(expected))
    }
  })

  it('handles an input that is not 16-byte aligned and leaves the rest of `out` alone', () => {
    const kernel = createWasmKernel()
    const groups = 70
    const backing = pseudoRandom(groups * GROUP_LEN + 8, 42)
    const data = backing.subarray(3, 3 + groups * GROUP_LEN)
    const out = new Uint8Array(groups * CV_LEN + 40).fill(0xa5)
    kernel.groupCVs(data, 16 * 1000, out)
    expect(hex(out.subarray(0, groups * CV_LEN))).toBe(hex(referenceGroupCVs(data, 16 * 1000)))
    expect(out.subarray(groups * CV_LEN).every((b) => b === 0xa5)).toBe(true)
  })

  it('accepts empty input', () => {
    const out = new Uint8Array(0)
    createWasmKernel().groupCVs(new Uint8Array(0), 0, out)
    expect(out.length).toBe(0)
  })

  it('keeps instances independent', () => {
    const a = createWasmKernel()
    const b = createWasmKernel()
    const data = pseudoRandom(WASM_BATCH_BYTES + GROUP_LEN, 7)
    const outA = new Uint8Array((data.length / GROUP_LEN) * CV_LEN)
    const outB = new Uint8Array(outA.length)
    a.groupCVs(data, 0, outA)
    b.groupCVs(data.subarray(GROUP_LEN), 16, outB.subarray(CV_LEN))
    b.groupCVs(data.subarray(0, GROUP_LEN), 0, outB)
    expect(hex(outB)).toBe(hex(outA))
  })

  it('rejects partial groups, bad counters and short output', () => {
    const kernel = createWasmKernel()
    const out = new Uint8Array(64)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN + 1), 0, out) }).toThrow(InvalidGroupInputError)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN), -16, out) }).toThrow(InvalidGroupInputError)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN), 0.5, out) }).toThrow(InvalidGroupInputError)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN), 2 ** 53, out) }).toThrow(InvalidGroupInputError)
    expect(() => { kernel.groupCVs(new Uint8Array(3 * GROUP_LEN), 0, out) }).toThrow(InvalidGroupInputError)
    try {
      kernel.groupCVs(new Uint8Array(1), 0, out)
    } catch (err) {
      expect((err as Error).name).toBe('InvalidGroupInputError')
    }
  })
})
