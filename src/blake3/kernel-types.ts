/**
 * The compression kernel behind the BLAKE3 tree layer.
 *
 * The tree layer (chunk groups, parents, root, outboards, verified ranges) is
 * written once in TypeScript; a kernel only has to turn complete 16 KiB chunk
 * groups into their (non-root) chaining values, which is where ~99.6 % of the
 * compressions happen (spec: shared/specs/content-addressing.md §2.3).
 */
export interface Blake3Kernel {
  /** Short name for logs and benchmarks, e.g. `wasm-simd` or `pure-ts`. */
  readonly name: string
  /**
   * Chaining values of `data.length / 16384` consecutive complete chunk groups
   * (2^4 chunks of 1024 bytes each), hash mode (key = IV), none of them the root.
   *
   * @param data - a whole number of 16 KiB groups (length % 16384 === 0)
   * @param firstChunk - chunk counter of `data[0]`, i.e. group index × 16
   * @param out - receives 32 bytes per group, in order (CV words little-endian)
   */
  groupCVs: (data: Uint8Array, firstChunk: number, out: Uint8Array) => void
}
