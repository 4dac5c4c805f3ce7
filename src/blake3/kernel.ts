/**
 * Compression kernels: the pure-TypeScript kernel (always available) and the loader that
 * prefers the optional native addon kernel from `./native/index.ts`, then the WASM-SIMD kernel
 * from `./wasm/index.ts`, when they can be loaded.
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

/** Where the optional kernels live; resolved at run time so a missing module is not a type error. */
const NATIVE_MODULE = './native/index.ts'
const WASM_MODULE = './wasm/index.ts'

/** A kernel to start the fallback chain at (see {@link LoadKernelOptions.prefer}). */
export type KernelPreference = 'native' | 'wasm' | 'pure-ts'
const PREFERENCES: readonly KernelPreference[] = ['native', 'wasm', 'pure-ts']

/** Name of the native kernel when the CPU has neither AVX2 nor AVX-512 (slower than WASM SIMD). */
const NATIVE_PORTABLE = 'native-portable'

export interface LoadKernelOptions extends AbortOptions {
  /**
   * Start the fallback chain native → wasm → pure-ts at this kernel, e.g. to compare kernels:
   * `{ prefer: 'native' }` takes the native addon at whatever level the CPU has (also
   * `native-portable`), `{ prefer: 'wasm' }` skips the addon, `{ prefer: 'pure-ts' }` always
   * gives the pure-TS kernel. A preferred kernel that is unavailable or fails its self-test
   * still falls back to the next one; check `name` for what was loaded. Kernels loaded with
   * `prefer` do not become the `defaultKernel()`.
   */
  prefer?: KernelPreference
}

/** Imports `specifier`, calls its `factory` export and self-tests the kernel; undefined on any failure. */
async function tryKernel (specifier: string, factory: string): Promise<Blake3Kernel | undefined> {
  try {
    const mod: Record<string, unknown> = await import(specifier)
    const create = mod[factory]
    if (typeof create !== 'function') return undefined
    const k = (create as () => Blake3Kernel)()
    if (k != null && typeof k.groupCVs === 'function' && selfTest(k)) return k
  } catch {
    // not built / not supported by this runtime / failed: try the next kernel
  }
  return undefined
}

const tryNative = async (): Promise<Blake3Kernel | undefined> => await tryKernel(NATIVE_MODULE, 'createNativeKernel')
const tryWasm = async (): Promise<Blake3Kernel | undefined> => await tryKernel(WASM_MODULE, 'createWasmKernel')

/**
 * The default chain: native with AVX2/AVX-512, else WASM SIMD, else the native kernel's
 * portable (SSE2/scalar) path, which is slower than WASM SIMD, else pure-TS.
 */
async function loadDefault (): Promise<Blake3Kernel> {
  const native = await tryNative()
  if (native !== undefined && native.name !== NATIVE_PORTABLE) return native
  return (await tryWasm()) ?? native ?? pureTsKernel
}

/** The first kernel of the chain native → wasm → pure-ts, starting at `start`, that loads and self-tests. */
async function loadPreferred (start: KernelPreference): Promise<Blake3Kernel> {
  if (start === 'native') {
    const native = await tryNative()
    if (native !== undefined) return native
  }
  if (start !== 'pure-ts') {
    const wasm = await tryWasm()
    if (wasm !== undefined) return wasm
  }
  return pureTsKernel
}

/** Kernels loaded with an explicit preference, one per preference. */
const preferred = new Map<KernelPreference, Promise<Blake3Kernel>>()

/**
 * Loads the fastest available kernel once: the native addon kernel (`createNativeKernel()` from
 * `./native/index.ts`, only if `scripts/build-native.mjs` built it and the CPU has AVX2 or
 * AVX-512), else the WASM-SIMD kernel (`createWasmKernel()` from `./wasm/index.ts`), else the
 * native addon's portable path, else the pure-TS kernel; each candidate is self-tested against
 * the pure-TS kernel first. Never rejects, except when `signal` is already aborted or `prefer`
 * is not a {@link KernelPreference}. The result is cached and becomes `defaultKernel()`; later
 * calls return the same kernel. With `prefer`, the chain starts at that kernel instead (see
 * {@link LoadKernelOptions.prefer}).
 */
export async function loadKernel (options?: LoadKernelOptions): Promise<Blake3Kernel> {
  options?.signal?.throwIfAborted()
  const prefer = options?.prefer
  if (prefer !== undefined) {
    if (!PREFERENCES.includes(prefer)) throw new Blake3ArgumentError(`loadKernel: unknown kernel preference ${String(prefer)}`)
    let p = preferred.get(prefer)
    if (p === undefined) {
      p = loadPreferred(prefer)
      preferred.set(prefer, p)
    }
    return await p
  }
  if (loaded !== undefined) return loaded
  loading ??= loadDefault().then((kernel) => {
    loaded = kernel
    return kernel
  })
  return await loading
}

/** The kernel loaded by `loadKernel()`, or the pure-TS kernel if none has been loaded yet. */
export function defaultKernel (): Blake3Kernel {
  return loaded ?? pureTsKernel
}
