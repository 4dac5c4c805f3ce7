/**
 * NAR (Nix ARchive): strict streaming reader, canonical writer, size formula,
 * `.ls` listings and filesystem restore/dump. Spec: shared/specs/binary-cache.md §1.
 */
export { parseNar } from './reader.ts'
export type { NarEvent, NarReaderOptions } from './reader.ts'
export { writeNar } from './writer.ts'
export type { NarSourceNode } from './writer.ts'
export {
  narSize,
  narSizeOfArchive,
  narSizeOfDirectory,
  narSizeOfEntry,
  narSizeOfRegular,
  narSizeOfSymlink,
  padded
} from './size.ts'
export { listNar, narListing } from './listing.ts'
export type { NarListing, NarListingNode } from './listing.ts'
export { dumpPath, restoreNar } from './restore.ts'
export { NarParseError, NarUsageError, NarWriteError } from './errors.ts'
export { compareBytes, invalidNameReason, invalidTargetReason } from './names.ts'
export * from './constants.ts'
export { framed, NAR_TOKENS } from './tokens.ts'
