/** The JavaScript engine cannot run WebAssembly with the SIMD (simd128) proposal. */
export class WasmSimdUnavailableError extends Error {
  static override name = 'WasmSimdUnavailableError'
  override name = 'WasmSimdUnavailableError'

  constructor (message = 'WebAssembly SIMD (simd128) is not available in this JavaScript engine; use the pure-TS BLAKE3 kernel') {
    super(message)
  }
}

/** `groupCVs` was called with input that is not a whole number of 16 KiB groups, a bad counter or a short output. */
export class InvalidGroupInputError extends Error {
  static override name = 'InvalidGroupInputError'
  override name = 'InvalidGroupInputError'
}
