/**
 * Compression kernels: the pure-TypeScript kernel (always available) and the loader that
 * prefers the WASM-SIMD kernel from `./wasm/index.ts` when it can be loaded.
 *
 * A kernel turns whole 16 KiB chunk groups into their non-root chaining values
 * (spec: shared/specs/content-addressing.md §2.3, §3.5).
 */
import type { Blake3Kernel } from './kernel-types.ts'
import type { AbortOptions } from '../abort.ts'
import { compressChunk, parentCVWords, storeWords, IV, IS_LITTLE_ENDIAN, loadWords } from './compress.ts'
import { CHUNK_LEN, GROUP_LEN, GROUP_CHUNKS, OUT_LEN } from './constants.ts'
import { Blake3ArgumentError } from './errors.ts'

export type { Blake3Kernel } from './kernel-types.ts'

/** Words per group. */
const GROUP_WORDS = GROUP_LEN >> 2
/** Words per chunk. */
const CHUNK_WORDS = CHUNK_LEN >> 2

/** Scratch for unaligned (or big-endian) input: one group of words. */
let alignedScratch: Int32Array | undefined
/** CVs of the 16 chunks of one group, merged in place level by level. */
const cvScratch = new Int32Array(GROUP_CHUNKS * 8)

function checkGroupArgs (data: Uint8Array, firstChunk: number, out: Uint8Array): number {
  if (data.length % GROUP_LEN !== 0) {
    throw new Blake3ArgumentError(`groupCVs: data length ${data.length} is not a multiple of ${GROUP_LEN}`)
  }
  if (!Number.isSafeInteger(firstChunk) || firstChunk < 0 || firstChunk % GROUP_CHUNKS !== 0) {
    throw new Blake3ArgumentError(`groupCVs: first chunk ${firstChunk} is not a group boundary`)
  }
  const groups = data.length / GROUP_LEN
  if (out.length < groups * OUT_LEN) {
    throw new Blake3ArgumentError(`groupCVs: output buffer too small (${out.length} < ${groups * OUT_LEN})`)
  }
  return groups
}

/** CV of the group whose words are at `words[wOff..wOff+4096)`, written as bytes to `out[outOff]`. */
function groupCV (words: Int32Array, wOff: number, firstChunk: number, out: Uint8Array, outOff: number): void {
  const cvs = cvScratch
  for (let c = 0; c < GROUP_CHUNKS; c++) {
    compressChunk(IV, 0, words, wOff + c * CHUNK_WORDS, firstChunk + c, 0, cvs, c << 3)
  }
  // Merge the 16 chunk CVs pairwise: 8, 4, 2, 1 parents (none of them the root).
  for (let n = GROUP_CHUNKS; n > 1; n >>= 1) {
    for (let i = 0; i < n; i += 2) {
      parentCVWords(cvs, i << 3, cvs, (i + 1) << 3, false, cvs, (i >> 1) << 3)
    }
  }
  storeWords(cvs, 0, 8, out, outOff)
}

/**
 * The pure-TypeScript kernel: unrolled compression, no allocation per group. Reads the
 * caller's bytes in place when they are 4-byte aligned on a little-endian host, otherwise
 * copies one group at a time into an aligned scratch buffer.
 */
export const pureTsKernel: Blake3Kernel = {
  name: 'pure-ts',
  groupCVs (data: Uint8Array, firstChunk: number, out: Uint8Array): void {
    const groups = checkGroupArgs(data, firstChunk, out)
    if (groups === 0) return
    if (IS_LITTLE_ENDIAN && data.byteOffset % 4 === 0) {
      const words = new Int32Array(data.buffer, data.byteOffset, data.length >> 2)
      for (let g = 0; g < groups; g++) {
        groupCV(words, g * GROUP_WORDS, firstChunk + g * GROUP_CHUNKS, out, g * OUT_LEN)
      }
      return
    }
    alignedScratch ??= new Int32Array(GROUP_WORDS)
    for (let g = 0; g < groups; g++) {
      loadWords(data, g * GROUP_LEN, alignedScratch, 0, GROUP_WORDS)
      groupCV(alignedScratch, 0, firstChunk + g * GROUP_CHUNKS, out, g * OUT_LEN)
    }
  }
}

/**
 * Checks a kernel against the pure-TS kernel on two groups (non-zero chunk counter,
 * unaligned input) before trusting it.
 */
function selfTest (kernel: Blake3Kernel): boolean {
  const data = new Uint8Array(2 * GROUP_LEN + 1).subarray(1)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >>> 8)) & 0xff
  const firstChunk = 0x100000010 // > 2^32 chunks: exercises the counter's high word
  const expected = new Uint8Array(2 * OUT_LEN)
  const actual = new Uint8Array(2 * OUT_LEN)
  pureTsKernel.groupCVs(data, firstChunk, expected)
  kernel.groupCVs(data, firstChunk, actual)
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] !== actual[i]) return false
  }
  return true
}

let loaded: Blake3Kernel | undefined
let loading: Promise<Blake3Kernel> | undefined

/** Where the optional WASM kernel lives; resolved at run time so a missing module is not a type error. */
const WASM_MODULE = './wasm/index.ts'

/**
 * Loads the fastest available kernel once: the WASM-SIMD kernel (`createWasmKernel()` from
 * `./wasm/index.ts`) if it imports and constructs, else the pure-TS kernel. Never rejects.
 * The result is cached; later calls return the same kernel.
 */
export async function loadKernel (options?: AbortOptions): Promise<Blake3Kernel> {
  options?.signal?.throwIfAborted()
  if (loaded !== undefined) return loaded
  loading ??= (async (): Promise<Blake3Kernel> => {
    let kernel: Blake3Kernel = pureTsKernel
    try {
      const mod: { createWasmKernel?: () => Blake3Kernel } = await import(WASM_MODULE)
      if (typeof mod.createWasmKernel === 'function') {
        const k = mod.createWasmKernel()
        if (k != null && typeof k.groupCVs === 'function' && selfTest(k)) kernel = k
      }
    } catch {
      kernel = pureTsKernel
    }
    loaded = kernel
    return kernel
  })()
  return loading
}

/** The kernel loaded by `loadKernel()`, or the pure-TS kernel if none has been loaded yet. */
export function defaultKernel (): Blake3Kernel {
  return loaded ?? pureTsKernel
}
