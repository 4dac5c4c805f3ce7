/**
 * Entry-name and symlink-target rules shared by the NAR reader and writer
 * (shared/specs/binary-cache.md §1.4), plus byte-string helpers for messages.
 */
import { Buffer } from 'node:buffer'

const SLASH = 0x2f
const DOT = 0x2e
const NUL = 0

/**
 * Why `name` is not a valid NAR entry name, or `undefined` if it is one.
 * A name is non-empty, not `.` or `..`, and contains no `/` and no NUL (§1.4).
 */
export function invalidNameReason (name: Uint8Array): string | undefined {
  if (name.length === 0) return 'empty'
  if (name[0] === DOT && (name.length === 1 || (name.length === 2 && name[1] === DOT))) return 'not allowed'
  if (name.indexOf(SLASH) !== -1) return 'contains \'/\''
  if (name.indexOf(NUL) !== -1) return 'contains NUL'
  return undefined
}

/** Why `target` is not a valid symlink target, or `undefined` (§1.4: non-empty, no NUL). */
export function invalidTargetReason (target: Uint8Array): string | undefined {
  if (target.length === 0) return 'empty'
  if (target.indexOf(NUL) !== -1) return 'contains NUL'
  return undefined
}

/** Unsigned byte-wise comparison (C++ `std::string` / `memcmp` order, §1.4). */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b)
}

/**
 * Printable rendering of a byte string for error messages: printable ASCII kept,
 * everything else as `\xNN`; cut after `max` bytes.
 */
export function describeBytes (bytes: Uint8Array, max = 64): string {
  let out = ''
  const n = Math.min(bytes.length, max)
  for (let i = 0; i < n; i++) {
    const b = bytes[i]
    if (b >= 0x20 && b < 0x7f && b !== 0x5c && b !== 0x27) out += String.fromCharCode(b)
    else out += '\\x' + b.toString(16).padStart(2, '0')
  }
  if (bytes.length > max) out += `…(${bytes.length} bytes)`
  return out
}

/** `a/b/c` rendering of an event path for messages. */
export function describePath (path: readonly Uint8Array[]): string {
  return path.length === 0 ? '<root>' : path.map(p => describeBytes(p)).join('/')
}
