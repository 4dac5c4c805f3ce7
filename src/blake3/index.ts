/**
 * BLAKE3 tree layer: hashing with chunk groups, pre-order outboards, chunk ranges, and
 * bao / bao-tree / iroh-blobs compatible verified streaming.
 * Spec: shared/specs/content-addressing.md §2.
 */
export * from './constants.ts'
export * from './errors.ts'
export type { Blake3Kernel } from './kernel-types.ts'
export { pureTsKernel, loadKernel, defaultKernel } from './kernel.ts'
export {
  compress, compressChunk, chunkCV, parentCV, pairCV, chunkOutput, parentOutput, subtreeOutput,
  hashXof, keyedHash, deriveKey, keyedMode, HASH_MODE, Output
} from './compress.ts'
export type { HashMode } from './compress.ts'
export { subtreeCV } from './subtree.ts'
export {
  TreeGeometry, checkSize, checkGroupLog, chunkCount, groupBytes, groupCount, outboardSize,
  largestPowerOfTwoBelow, preOrderIndex, nodeDepth, parentNode, parentsPreOrder, popcount
} from './tree.ts'
export type { ParentNode } from './tree.ts'
export {
  TreeHasher, Blake3Hasher, hashWithOutboard, treeHashStream, blake3
} from './hasher.ts'
export type { TreeHasherInit, Blake3HasherInit, OutboardOptions, ParentCallback } from './hasher.ts'
export { PreOrderOutboard, bytesReader, readExactly, equalBytes } from './outboard.ts'
export type { RandomAccessReader, PreOrderOutboardInit } from './outboard.ts'
export { ChunkRanges, chunkRangesToByteRanges } from './ranges.ts'
export type { Range } from './ranges.ts'
export {
  encodeRanges, encodeRangesWithSize, encodeBytes, sizePrefix, parseSizePrefix
} from './encode.ts'
export type { EncodeOptions, EncodeBytesOptions } from './encode.ts'
export { RangeDecoder, decodeRanges, decodeAll } from './decode.ts'
export type { DecodedItem, DecodedData, DecodedParent, RangeDecoderInit } from './decode.ts'
export { ByteReader } from './reader.ts'
export type { ByteSource } from './reader.ts'
