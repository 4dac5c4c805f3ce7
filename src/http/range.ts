/**
 * `Range` (RFC 9110 §14) as binary caches need it: one byte range, `bytes=a-b`, `bytes=a-` or
 * `bytes=-n`; Nix 2.8 sends `bytes=<received>-` when it resumes (§3.5). Several ranges or an
 * unparsable header are ignored (the full resource is sent, as RFC 9110 allows); a range
 * starting past the end is unsatisfiable (416). `If-Range` with another validator → full.
 */
import { RangeNotSatisfiableError } from './errors.ts'

/** Half-open byte interval `[start, end)`. */
export interface ByteRange {
  start: number
  end: number
}

const SINGLE = /^bytes=(\d{0,16})-(\d{0,16})$/

/**
 * The range to serve of a resource of `size` bytes, or undefined for the whole resource.
 * Throws `RangeNotSatisfiableError` for a syntactically valid but unsatisfiable range.
 */
export function parseRange (header: string | string[] | undefined, size: number, ifRange?: string | string[], etag?: string): ByteRange | undefined {
  if (typeof header !== 'string') return undefined
  if (typeof ifRange === 'string' && ifRange !== etag) return undefined
  const m = SINGLE.exec(header.replace(/\s+/g, ''))
  if (m === null) return undefined
  const [, a, b] = m
  if (a === '' && b === '') return undefined
  if (a === '') {
    const n = Number(b)
    // RFC 9110 §14.1.1: a suffix range is satisfiable only for a non-empty representation
    if (n === 0 || size === 0) throw new RangeNotSatisfiableError(size)
    return { start: Math.max(0, size - n), end: size }
  }
  const start = Number(a)
  if (b !== '' && Number(b) < start) return undefined
  if (start >= size) throw new RangeNotSatisfiableError(size)
  const last = b === '' ? size - 1 : Number(b)
  return { start, end: Math.min(size, last + 1) }
}
