/**
 * ERIS 1.0.0 — Encoding for Robust Immutable Storage (spec: shared/specs/content-addressing.md §4).
 */
export * from './constants.ts'
export { ErisDecodeError, ErisEncodeError, ErisUrnError } from './errors.ts'
export type { ErisDecodeFailure } from './errors.ts'
export { base32Decode, base32Encode } from './base32.ts'
export {
  blockSizeFromByte,
  blockSizeToByte,
  decodeReadCapability,
  encodeReadCapability,
  formatBlockUrn,
  formatErisUrn,
  isErisBlockSize,
  parseBlockUrn,
  parseErisUrn,
  toReadCapability
} from './capability.ts'
export type { ErisReadCapability } from './capability.ts'
export { ErisEncoder, encodeEris, encodeErisBytes } from './encode.ts'
export type { EncodeErisBytesResult, EncodeErisOptions, EncodeErisResult, ErisBlockSink, ErisBlockInfo } from './encode.ts'
export { decodeEris, decodeErisBytes } from './decode.ts'
export type { DecodeErisOptions, ErisBlockGetter } from './decode.ts'
export { MemoryBlockStore } from './block-store.ts'
export type { ErisBlockStore } from './block-store.ts'
export { ErisPathIndex, ERIS_INDEX_NAMESPACE, STORE_PATH_BLOCK_SIZE } from './store-paths.ts'
export type { ErisEncodePathResult } from './store-paths.ts'
export { createHttpBlockStore, ErisHttpError } from './http-store.ts'
export type { HttpBlockStoreInit } from './http-store.ts'
