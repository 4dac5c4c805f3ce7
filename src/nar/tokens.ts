/**
 * The fixed token sequences of the NAR grammar (binary-cache.md §1.1–1.2), pre-encoded once:
 * each is the concatenation of `str(token)` = u64 LE length ‖ bytes ‖ zero padding to 8.
 * Shared by the writer and by castore's seekable renderer, which must produce the same bytes.
 */
import { NAR_MAGIC } from './constants.ts'
import { paddingOf } from './input.ts'

const utf8 = new TextEncoder()

/** Concatenation of `str(t)` for each token (§1.1). */
export function framed (...tokens: string[]): Uint8Array {
  const parts = tokens.map(t => utf8.encode(t))
  const total = parts.reduce((n, p) => n + 8 + p.length + paddingOf(p.length), 0)
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  let at = 0
  for (const p of parts) {
    view.setBigUint64(at, BigInt(p.length), true)
    out.set(p, at + 8)
    at += 8 + p.length + paddingOf(p.length)
  }
  return out
}

export const NAR_TOKENS = {
  HEADER: framed(NAR_MAGIC),
  REGULAR: framed('(', 'type', 'regular', 'contents'),
  EXECUTABLE: framed('(', 'type', 'regular', 'executable', '', 'contents'),
  SYMLINK: framed('(', 'type', 'symlink', 'target'),
  DIRECTORY: framed('(', 'type', 'directory'),
  ENTRY: framed('entry', '(', 'name'),
  NODE: framed('node'),
  CLOSE: framed(')'),
  /** padding source */
  ZEROS: new Uint8Array(8)
} as const
