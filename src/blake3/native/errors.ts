/** The optional native BLAKE3 addon (build/Release/blake3_native.node) is not built or does not load. */
export class NativeKernelUnavailableError extends Error {
  static override name = 'NativeKernelUnavailableError'
  override name = 'NativeKernelUnavailableError'

  constructor (message = 'the native BLAKE3 kernel is not built (run `node scripts/build-native.mjs`); use the WASM or pure-TS kernel', options?: ErrorOptions) {
    super(message, options)
  }
}
