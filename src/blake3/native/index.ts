/**
 * BLAKE3 chunk-group kernel backed by the optional native Node-API addon
 * (`blake3_native.c`, built by `scripts/build-native.mjs` via the root `binding.gyp`
 * into `build/Release/blake3_native.node`).
 *
 * The addon hashes the caller's bytes in place (no copies): 16 chunks per pass with
 * AVX-512, 8 with AVX2, 4 with SSE2, else one at a time, chosen at run time
 * (content-addressing.md §3.5, backend C).
 */
import { createRequire } from 'node:module'
import type { Blake3Kernel } from '../kernel-types.ts'
import { GROUP_CHUNKS, GROUP_LEN, OUT_LEN } from '../constants.ts'
import { Blake3ArgumentError } from '../errors.ts'
import { NativeKernelUnavailableError } from './errors.ts'

export { NativeKernelUnavailableError } from './errors.ts'

/** Where node-gyp puts the addon, relative to this file. */
const ADDON_PATH = '../../../build/Release/blake3_native.node'

/** Instruction-set levels of the addon's dispatcher (`B3_LEVEL_*` in blake3_native.c). */
export const NATIVE_LEVELS = { portable: 0, sse2: 1, avx2: 2, avx512: 3 } as const
export type NativeLevel = keyof typeof NATIVE_LEVELS

interface Addon {
  groupCVs: (data: Uint8Array, firstChunk: number, out: Uint8Array, level?: number) => void
  /** Widest level this CPU supports. */
  maxLevel: number
}

let addon: Addon | undefined
let loadError: unknown

function loadAddon (): Addon {
  if (addon !== undefined) return addon
  if (loadError === undefined) {
    try {
      const mod = createRequire(import.meta.url)(ADDON_PATH) as Partial<Addon>
      if (typeof mod.groupCVs !== 'function' || typeof mod.maxLevel !== 'number') {
        throw new Error('the addon does not export groupCVs/maxLevel')
      }
      addon = mod as Addon
      return addon
    } catch (err) {
      loadError = err
    }
  }
  const detail = loadError instanceof Error ? loadError.message.split('\n')[0] : String(loadError)
  throw new NativeKernelUnavailableError(
    `the native BLAKE3 kernel is not available (${detail}); build it with \`node scripts/build-native.mjs\` or use the WASM/pure-TS kernel`,
    { cause: loadError })
}

/** Whether the addon is built and loads in this process. */
export function nativeKernelAvailable (): boolean {
  try {
    loadAddon()
    return true
  } catch {
    return false
  }
}

/** Kernel name for a dispatch level. */
function levelName (level: number): string {
  if (level >= NATIVE_LEVELS.avx512) return 'native-avx512'
  if (level >= NATIVE_LEVELS.avx2) return 'native-avx2'
  return 'native-portable'
}

export interface NativeKernelOptions {
  /**
   * Cap the instruction set (for tests and comparisons); the CPU's widest supported level
   * is used when omitted or when the cap is wider than what the CPU has.
   */
  maxLevel?: NativeLevel
}

/**
 * A {@link Blake3Kernel} running the native addon; named `native-avx512`, `native-avx2` or
 * `native-portable` (SSE2 or scalar) after the instruction set it dispatches to. `groupCVs`
 * reads `data` and writes `out` in place (any alignment, also SharedArrayBuffer-backed); they
 * must not overlap. It runs synchronously on the calling thread (~0.2–0.3 ms per MiB with
 * AVX-512 or AVX2).
 *
 * @throws {NativeKernelUnavailableError} if the addon is not built or does not load
 */
export function createNativeKernel (options: NativeKernelOptions = {}): Blake3Kernel {
  const mod = loadAddon()
  const level = Math.min(mod.maxLevel, options.maxLevel === undefined ? mod.maxLevel : NATIVE_LEVELS[options.maxLevel])
  const native = mod.groupCVs

  function groupCVs (data: Uint8Array, firstChunk: number, out: Uint8Array): void {
    if (data.length % GROUP_LEN !== 0) {
      throw new Blake3ArgumentError(`groupCVs: data length ${data.length} is not a multiple of ${GROUP_LEN}`)
    }
    const groups = data.length / GROUP_LEN
    if (!Number.isSafeInteger(firstChunk) || firstChunk < 0 || firstChunk % GROUP_CHUNKS !== 0 ||
        !Number.isSafeInteger(firstChunk + groups * GROUP_CHUNKS)) {
      throw new Blake3ArgumentError(`groupCVs: first chunk ${firstChunk} is not a group boundary`)
    }
    if (out.length < groups * OUT_LEN) {
      throw new Blake3ArgumentError(`groupCVs: output buffer too small (${out.length} < ${groups * OUT_LEN})`)
    }
    if (groups === 0) return
    native(data, firstChunk, out, level)
  }

  return { name: levelName(level), groupCVs }
}
