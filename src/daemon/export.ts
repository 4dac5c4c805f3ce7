/**
 * The Nix/Guix *export format* (§1.5): what ExportPath (16) tunnels through
 * STDERR_WRITE and `nix-store --export` / `--import` (and ImportPaths, 27) read:
 *
 * ```
 * export  = NAR, u64 0x4558494e ("NIXE"), string path, set<string> references,
 *           string deriver, u64 0 (no signature) | u64 1 + string signature
 * stream  = (u64 1, export)* u64 0
 * ```
 */
import { WireWriter } from './wire.ts'

/** "NIXE" little-endian: separates the NAR from the path's metadata. */
export const EXPORT_MAGIC = 0x4558494e

/** Metadata written after the NAR of one exported path. */
export interface ExportTrailer {
  path: string
  references: readonly string[]
  deriver: string | null
}

/** Writes the part of one export that follows its NAR (no signature). */
export function writeExportTrailer (writer: WireWriter, trailer: ExportTrailer): void {
  writer.writeU64(EXPORT_MAGIC).writeString(trailer.path).writeStringSet(trailer.references)
  writer.writeString(trailer.deriver ?? '').writeU64(0)
}

/**
 * An export *stream* of several paths (for `nix-store --import`), dependencies
 * first: each item's NAR is pulled only when the stream reaches it.
 */
export async function * exportStream (
  items: Iterable<ExportTrailer & { nar: () => AsyncIterable<Uint8Array> }>
): AsyncGenerator<Uint8Array, void, undefined> {
  for (const item of items) {
    yield new WireWriter().writeU64(1).take()
    yield * item.nar()
    const w = new WireWriter()
    writeExportTrailer(w, item)
    yield w.take()
  }
  yield new WireWriter().writeU64(0).take()
}
