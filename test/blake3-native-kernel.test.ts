/**
 * The optional native (Node-API) chunk-group kernel against the pure-TS kernel and the
 * official BLAKE3 vectors, at every dispatch level this CPU has (AVX-512, AVX2, SSE2, scalar).
 *
 * Needs the addon built by `node scripts/build-native.mjs` (build/Release/blake3_native.node).
 * Without it these tests are skipped locally but FAIL when CI=true (CI builds it).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it, vi } from 'vitest'
import { fixture } from './fixtures.ts'
import { expectKernelMatches, hex, pieces, randomBytes, vectorInput } from './blake3-helpers.ts'
import { GROUP_CHUNKS, GROUP_LEN, OUT_LEN as CV_LEN } from '../src/blake3/constants.ts'
import { Blake3ArgumentError } from '../src/blake3/errors.ts'
import { TreeHasher, Blake3Hasher, blake3 } from '../src/blake3/hasher.ts'
import { loadKernel, pureTsKernel } from '../src/blake3/kernel.ts'
import type { Blake3Kernel } from '../src/blake3/kernel-types.ts'
import {
  createNativeKernel,
  NATIVE_LEVELS,
  NativeKernelUnavailableError,
  nativeKernelAvailable
} from '../src/blake3/native/index.ts'
import type { NativeLevel } from '../src/blake3/native/index.ts'

const available = nativeKernelAvailable()
const inCI = process.env.CI === 'true'
const needsAddon = it.skipIf(!available)

interface VectorCase { input_len: number, hash: string }
const vectors = (JSON.parse(readFileSync(fixture('blake3', 'blake3_test_vectors.json'), 'utf8')) as { cases: VectorCase[] }).cases

/** Every level cap; caps above what the CPU has fall back to its widest level. */
const LEVELS = Object.keys(NATIVE_LEVELS) as NativeLevel[]

function kernelAt (level: NativeLevel): Blake3Kernel {
  return createNativeKernel({ maxLevel: level })
}

function expectedCVs (data: Uint8Array, firstChunk: number): Uint8Array {
  const out = new Uint8Array((data.length / GROUP_LEN) * CV_LEN)
  pureTsKernel.groupCVs(data, firstChunk, out)
  return out
}

describe('native BLAKE3 kernel (Node-API addon)', () => {
  // Fails in CI when the addon is missing; skipped elsewhere.
  it.skipIf(!available && !inCI)('is built and loads (required when CI=true)', () => {
    if (!available) {
      expect.fail('build/Release/blake3_native.node is missing or does not load: CI must run `node scripts/build-native.mjs` (needs a C compiler, python3, make and Node headers)')
    }
    expect(createNativeKernel().name).toMatch(/^native-(avx512|avx2|portable)$/)
  })

  needsAddon('names kernels after the dispatch level and never exceeds the cap', () => {
    const best = createNativeKernel().name
    expect(kernelAt('portable').name).toBe('native-portable')
    expect(kernelAt('sse2').name).toBe('native-portable')
    expect(['native-avx2', 'native-portable']).toContain(kernelAt('avx2').name)
    expect(kernelAt('avx512').name).toBe(best)
  })

  needsAddon('is what loadKernel() picks by default (with AVX2/AVX-512); prefer selects the others', async () => {
    const name = createNativeKernel().name
    const chosen = await loadKernel()
    // the portable path is slower than WASM SIMD, so the default chain puts it after wasm
    expect(chosen.name).toBe(name === 'native-portable' ? 'wasm-simd' : name)
    expect((await loadKernel({ prefer: 'native' })).name).toBe(name)
    expect((await loadKernel({ prefer: 'wasm' })).name).toBe('wasm-simd')
    expect((await loadKernel({ prefer: 'pure-ts' })).name).toBe('pure-ts')
    // a preference does not replace the default kernel
    expect(await loadKernel()).toBe(chosen)
    await expect(loadKernel({ prefer: 'fastest' as 'wasm' })).rejects.toThrow(Blake3ArgumentError)
  })

  needsAddon('loadKernel() prefers WASM SIMD over the native portable path, and the portable path over pure-TS', async () => {
    vi.resetModules()
    vi.doMock('../src/blake3/native/index.ts', () => ({
      createNativeKernel: () => ({ ...createNativeKernel({ maxLevel: 'sse2' }) })
    }))
    try {
      const fresh = await import('../src/blake3/kernel.ts')
      expect((await fresh.loadKernel()).name).toBe('wasm-simd')
      expect((await fresh.loadKernel({ prefer: 'native' })).name).toBe('native-portable')
    } finally {
      vi.doUnmock('../src/blake3/native/index.ts')
      vi.resetModules()
    }
  })

  needsAddon('loadKernel() rejects a native kernel that fails its self-test', async () => {
    vi.resetModules()
    vi.doMock('../src/blake3/native/index.ts', () => ({
      createNativeKernel: (): Blake3Kernel => ({
        name: 'native-avx512',
        groupCVs: (data, firstChunk, out) => { createNativeKernel().groupCVs(data, firstChunk + 16, out) }
      })
    }))
    try {
      const fresh = await import('../src/blake3/kernel.ts')
      expect((await fresh.loadKernel()).name).toBe('wasm-simd')
      expect((await fresh.loadKernel({ prefer: 'native' })).name).toBe('wasm-simd')
    } finally {
      vi.doUnmock('../src/blake3/native/index.ts')
      vi.resetModules()
    }
  })

  const MAX_GROUPS = 200
  // first-group chunk counters: group boundaries only (the kernel contract), incl. batches that
  // cross 2^32 chunks (the counter's high word) and large counters
  const offsets = [0, 16 * 5, 2 ** 32 - 16 * 100, 2 ** 32, 2 ** 32 + 16 * 3, 2 ** 36 - 16 * 37, 3 * 2 ** 40 + 16 * 11, 2 ** 52 - 16 * 256]
  const someSizes = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 193, 199, 200]

  for (const level of LEVELS) {
    for (const [index, firstChunk] of offsets.entries()) {
      const every = index % 3 === 0
      const sizes = every ? Array.from({ length: MAX_GROUPS }, (_, i) => i + 1) : someSizes
      needsAddon(`${level}: equals pure-TS at chunk ${firstChunk}, ${every ? `every batch size 1..${MAX_GROUPS}` : 'selected batch sizes'}, unaligned input`, () => {
        const kernel = kernelAt(level)
        // odd byte offset into the backing buffer: unaligned for every vector width
        const backing = randomBytes(MAX_GROUPS * GROUP_LEN + 5, 0x5eed + index * 7 + level.length)
        const data = backing.subarray(5 - (index % 5), 5 - (index % 5) + MAX_GROUPS * GROUP_LEN)
        const expected = expectedCVs(data, firstChunk)

        expectKernelMatches(kernel, data, firstChunk, sizes, expected)
      })
    }

    needsAddon(`${level}: whole-blob digests via TreeHasher match the 35 official vectors`, () => {
      const kernel = kernelAt(level)
      expect(vectors).toHaveLength(35)
      for (const c of vectors) {
        const input = vectorInput(c.input_len)
        const expected = c.hash.slice(0, 64)
        expect(hex(new TreeHasher({ size: input.length, kernel }).update(input).finalize()), `TreeHasher ${c.input_len}`).toBe(expected)
        const split = new TreeHasher({ size: input.length, kernel })
        for (const p of pieces(input, c.input_len + 11, 5000)) split.update(p)
        expect(hex(split.finalize()), `TreeHasher pieces ${c.input_len}`).toBe(expected)
        expect(hex(blake3(input, kernel)), `blake3 ${c.input_len}`).toBe(expected)
        expect(hex(new Blake3Hasher({ kernel }).update(input).digest()), `Blake3Hasher ${c.input_len}`).toBe(expected)
      }
    })
  }

  needsAddon('hashes a multi-MiB blob like the pure-TS kernel (TreeHasher, outboard too)', () => {
    const size = 5 * 2 ** 20 + 12345
    const data = randomBytes(size, 99)
    const run = (kernel: Blake3Kernel): [string, string] => {
      const outboard: string[] = []
      const h = new TreeHasher({ size, kernel, onParent: (offset, pair) => { outboard[offset / 64] = hex(pair) } })
      for (const p of pieces(data, 3, 3 * 2 ** 20)) h.update(p)
      return [hex(h.finalize()), outboard.join('')]
    }
    expect(run(createNativeKernel())).toEqual(run(pureTsKernel))
  })

  needsAddon('reads SharedArrayBuffer-backed input and leaves the rest of `out` alone', () => {
    const kernel = createNativeKernel()
    const groups = 33
    const shared = new Uint8Array(new SharedArrayBuffer(groups * GROUP_LEN + 1)).subarray(1)
    shared.set(randomBytes(groups * GROUP_LEN, 4242))
    const out = new Uint8Array(groups * CV_LEN + 40).fill(0xa5)
    kernel.groupCVs(shared, 16 * 7, out)
    expect(hex(out.subarray(0, groups * CV_LEN))).toBe(hex(expectedCVs(shared.slice(), 16 * 7)))
    expect(out.subarray(groups * CV_LEN).every((b) => b === 0xa5)).toBe(true)
    // output into shared memory too
    const sharedOut = new Uint8Array(new SharedArrayBuffer(groups * CV_LEN))
    kernel.groupCVs(shared, 16 * 7, sharedOut)
    expect(hex(sharedOut)).toBe(hex(out.subarray(0, groups * CV_LEN)))
  })

  needsAddon('accepts empty input', () => {
    const out = new Uint8Array(0)
    createNativeKernel().groupCVs(new Uint8Array(0), 0, out)
    expect(out.length).toBe(0)
  })

  needsAddon('rejects partial groups, non-boundary or unsafe counters and short output', () => {
    const kernel = createNativeKernel()
    const out = new Uint8Array(64)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN + 1), 0, out) }).toThrow(Blake3ArgumentError)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN), -16, out) }).toThrow(Blake3ArgumentError)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN), 7, out) }).toThrow(Blake3ArgumentError)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN), 0.5, out) }).toThrow(Blake3ArgumentError)
    expect(() => { kernel.groupCVs(new Uint8Array(GROUP_LEN), 2 ** 53, out) }).toThrow(Blake3ArgumentError)
    expect(() => { kernel.groupCVs(new Uint8Array(3 * GROUP_LEN), 0, out) }).toThrow(Blake3ArgumentError)
  })

  needsAddon('the addon validates its arguments itself (no out-of-bounds access)', () => {
    const addon = createRequire(import.meta.url)('../build/Release/blake3_native.node') as {
      groupCVs: (...args: unknown[]) => void
      maxLevel: number
    }
    expect(addon.maxLevel).toBeGreaterThanOrEqual(0)
    expect(addon.maxLevel).toBeLessThanOrEqual(3)
    const group = new Uint8Array(GROUP_LEN)
    const out = new Uint8Array(32)
    expect(() => { addon.groupCVs(group, 0) }).toThrow(TypeError)
    expect(() => { addon.groupCVs(new Uint16Array(GROUP_LEN / 2), 0, out) }).toThrow(TypeError)
    expect(() => { addon.groupCVs(group, '0', out) }).toThrow(TypeError)
    expect(() => { addon.groupCVs(group, 0, [0]) }).toThrow(TypeError)
    expect(() => { addon.groupCVs(group, 0, out, 'avx2') }).toThrow(TypeError)
    expect(() => { addon.groupCVs(group, 1, out) }).toThrow(RangeError)
    expect(() => { addon.groupCVs(group, -16, out) }).toThrow(RangeError)
    expect(() => { addon.groupCVs(group, 16.5, out) }).toThrow(RangeError)
    expect(() => { addon.groupCVs(group, 2 ** 53, out) }).toThrow(RangeError)
    expect(() => { addon.groupCVs(group, Number.NaN, out) }).toThrow(RangeError)
    expect(() => { addon.groupCVs(group.subarray(1), 0, out) }).toThrow(RangeError)
    expect(() => { addon.groupCVs(group, 0, out.subarray(1)) }).toThrow(RangeError)
    // a level cap below the CPU's is honoured and still correct
    const expected = expectedCVs(group, 32)
    for (const level of [-1, 0, 1, 2, 3, 99]) {
      const got = new Uint8Array(32)
      addon.groupCVs(group, 32, got, level)
      expect(hex(got), `level ${level}`).toBe(hex(expected))
    }
  })
})

describe('NativeKernelUnavailableError', () => {
  it('is a named Error with a hint on how to build the addon', () => {
    const err = new NativeKernelUnavailableError()
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('NativeKernelUnavailableError')
    expect(NativeKernelUnavailableError.name).toBe('NativeKernelUnavailableError')
    expect(err.message).toMatch(/build-native/)
  })

  it.skipIf(available)('is what createNativeKernel() throws when the addon is not built', () => {
    expect(() => createNativeKernel()).toThrow(NativeKernelUnavailableError)
  })
})
