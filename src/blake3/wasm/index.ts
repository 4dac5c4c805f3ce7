/**
 * BLAKE3 chunk-group kernel backed by WebAssembly SIMD (`kernel.c`, compiled by
 * `scripts/build-wasm.sh` into `kernel-wasm.ts`).
 *
 * Four chunks are compressed per i32x4 lane set with per-lane chunk counters;
 * see content-addressing.md §3.5 (backend A). Input is copied into the
 * instance's linear memory in batches of at most {@link WASM_BATCH_BYTES}.
 */
import type { Blake3Kernel } from '../kernel-types.ts'
import { GROUP_CHUNKS, GROUP_LEN, OUT_LEN } from '../constants.ts'
import { KERNEL_WASM_BASE64 } from './kernel-wasm.ts'
import { InvalidGroupInputError, WasmSimdUnavailableError } from './errors.ts'

export { InvalidGroupInputError, WasmSimdUnavailableError } from './errors.ts'

/** Input bytes copied into wasm memory per kernel call (kernel.c, BATCH_GROUPS × 16 KiB). */
export const WASM_BATCH_BYTES = 64 * GROUP_LEN

const TWO_POW_32 = 2 ** 32

/**
 * Smallest module using a v128 instruction:
 * `(module (func (result v128) i32.const 0 i32x4.splat))`.
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x11, 0x0b // code: i32.const 0; i32x4.splat; end
])

/** The parts of the WebAssembly JS API used here (its typings live in the DOM lib, not in ES/Node's). */
interface WebAssemblyApi {
  validate: (bytes: Uint8Array) => boolean
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: Record<string, never>) => { readonly exports: object }
}

function webAssembly (): WebAssemblyApi | undefined {
  return (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly
}

interface KernelExports {
  memory: { readonly buffer: ArrayBuffer }
  group_cvs: (inPtr: number, nGroups: number, chunkLo: number, chunkHi: number, outPtr: number) => void
  input_ptr: () => number
  output_ptr: () => number
  batch_groups: () => number
}

let compiled: object | undefined

/** Whether this engine validates WebAssembly SIMD (simd128) code. */
export function wasmSimdSupported (): boolean {
  const wasm = webAssembly()
  return wasm !== undefined && wasm.validate(SIMD_PROBE)
}

function decodeBase64 (text: string): Uint8Array {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

function kernelModule (wasm: WebAssemblyApi): object {
  if (compiled === undefined) {
    if (!wasm.validate(SIMD_PROBE)) throw new WasmSimdUnavailableError()
    compiled = new wasm.Module(decodeBase64(KERNEL_WASM_BASE64))
  }
  return compiled
}

/**
 * A {@link Blake3Kernel} running the WebAssembly SIMD kernel. Each call
 * creates its own instance (own linear memory, ~1.1 MiB); the compiled
 * module is shared.
 *
 * @throws {WasmSimdUnavailableError} if the engine lacks WebAssembly SIMD
 */
export function createWasmKernel (): Blake3Kernel {
  const wasm = webAssembly()
  if (wasm === undefined) throw new WasmSimdUnavailableError('WebAssembly is not available in this JavaScript engine; use the pure-TS BLAKE3 kernel')
  const instance = new wasm.Instance(kernelModule(wasm), {})
  const ex = instance.exports as KernelExports
  const inPtr = ex.input_ptr()
  const outPtr = ex.output_ptr()
  const batchGroups = ex.batch_groups()
  if (batchGroups * GROUP_LEN !== WASM_BATCH_BYTES) {
    throw new Error(`wasm kernel batch size mismatch: ${batchGroups} groups`)
  }
  let heap = new Uint8Array(ex.memory.buffer)

  function groupCVs (data: Uint8Array, firstChunk: number, out: Uint8Array): void {
    if (data.length % GROUP_LEN !== 0) {
      throw new InvalidGroupInputError(`input length ${data.length} is not a multiple of ${GROUP_LEN}`)
    }
    const groups = data.length / GROUP_LEN
    if (!Number.isSafeInteger(firstChunk) || firstChunk < 0 ||
        !Number.isSafeInteger(firstChunk + groups * GROUP_CHUNKS)) {
      throw new InvalidGroupInputError(`invalid first chunk counter ${firstChunk}`)
    }
    if (out.length < groups * OUT_LEN) {
      throw new InvalidGroupInputError(`output has ${out.length} bytes, need ${groups * OUT_LEN}`)
    }
    if (heap.buffer !== ex.memory.buffer) heap = new Uint8Array(ex.memory.buffer)

    let chunk = firstChunk
    for (let g = 0; g < groups; g += batchGroups) {
      const n = Math.min(batchGroups, groups - g)
      const start = g * GROUP_LEN
      heap.set(data.subarray(start, start + n * GROUP_LEN), inPtr)
      ex.group_cvs(inPtr, n, chunk % TWO_POW_32, Math.floor(chunk / TWO_POW_32), outPtr)
      out.set(heap.subarray(outPtr, outPtr + n * OUT_LEN), g * OUT_LEN)
      chunk += n * GROUP_CHUNKS
    }
  }

  return { name: 'wasm-simd', groupCVs }
}
