/**
 * S-expressions as libgcrypt reads and prints them — the format of Guix key
 * files, ACLs and narinfo signatures (binary-cache.md §5.3).
 *
 * Grammar: R. Rivest, "S-Expressions", draft-rivest-sexp-00 (1997) §4 and
 * libgcrypt `src/sexp.c` (`do_vsexp_sscan`, `_gcry_sexp_sprint`):
 *
 * - canonical / verbatim atoms `3:abc`, lists `( … )`, display hints `[3:txt]`
 *   before an atom;
 * - "advanced" forms: tokens (`ecc`, `sha256`, `rfc6979`), `#hex#` (whitespace
 *   allowed inside), `|base64|`, quoted strings with C escapes, each optionally
 *   prefixed by its decoded length (`3"abc"`, `3#616263#`);
 * - the transport form `{base64 of a canonical s-expression}` (Rivest §6.3;
 *   libgcrypt itself rejects it, we accept it with canonical content only).
 *
 * Parsing is iterative (no recursion on input nesting) and bounded by
 * {@link SexpLimits}; every malformed input raises {@link SexpParseError}.
 */

/** An octet-string leaf, with an optional display hint (Rivest §4.6). */
export interface SexpAtom {
  readonly type: 'atom'
  readonly value: Uint8Array
  readonly hint?: Uint8Array
}

/** A (possibly empty) list. */
export interface SexpList {
  readonly type: 'list'
  readonly items: readonly Sexp[]
}

export type Sexp = SexpAtom | SexpList

/** Resource bounds applied while parsing. */
export interface SexpLimits {
  /** Maximum list nesting depth (the outermost list is depth 1). */
  maxDepth?: number
  /** Maximum decoded length of a single atom, in bytes. */
  maxAtomLength?: number
  /** Maximum input length, in bytes. */
  maxSize?: number
  /** Maximum number of atoms plus lists. */
  maxNodes?: number
}

/**
 * Defaults: Guix signatures are ~600 bytes with depth 4 and ~20 nodes; key
 * files and ACLs are smaller than a few KiB. The bounds leave ample room.
 */
export const DEFAULT_SEXP_LIMITS: Readonly<Required<SexpLimits>> = Object.freeze({
  maxDepth: 64,
  maxAtomLength: 64 * 1024,
  maxSize: 1024 * 1024,
  maxNodes: 100_000
})

/** Malformed or over-limit s-expression text. */
export class SexpParseError extends Error {
  static override name = 'SexpParseError'
  override name = 'SexpParseError'
  /** Byte offset in the input where the problem was detected. */
  offset: number

  constructor (message: string, offset: number) {
    super(`${message} (at byte ${offset})`)
    this.offset = offset
  }
}

/** Token characters: libgcrypt `sexp.c` `tokenchars`, Rivest §4.3 (alpha, digits, `-./_:*+=`). */
const TOKEN_PUNCTUATION = '-./_:*+='

/** Maximum number of digits in a length prefix (keeps the value far below 2^53). */
const MAX_LENGTH_DIGITS = 9

const CH_OPEN = 0x28 // (
const CH_CLOSE = 0x29 // )
const CH_HINT_OPEN = 0x5b // [
const CH_HINT_CLOSE = 0x5d // ]
const CH_TRANSPORT_OPEN = 0x7b // {
const CH_TRANSPORT_CLOSE = 0x7d // }
const CH_QUOTE = 0x22 // "
const CH_HASH = 0x23 // #
const CH_BAR = 0x7c // |
const CH_COLON = 0x3a // :
const CH_BACKSLASH = 0x5c // \

const textEncoder = new TextEncoder()

function isDigit (c: number): boolean {
  return c >= 0x30 && c <= 0x39
}

function isAlpha (c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
}

function isTokenPunctuation (c: number): boolean {
  return c < 0x80 && TOKEN_PUNCTUATION.includes(String.fromCharCode(c))
}

function isTokenChar (c: number): boolean {
  return isAlpha(c) || isDigit(c) || isTokenPunctuation(c)
}

/** libgcrypt `whitespacep`: space, TAB, VT, FF, CR, LF. */
function isWhitespace (c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || c === 0x0d || c === 0x0a
}

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10
  return -1
}

function isBase64Char (c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 0x2b || c === 0x2f
}

function toBytes (input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? textEncoder.encode(input) : input
}

/** Strict base64 (RFC 4648 §4) of already whitespace-stripped text; padding optional. */
function decodeBase64Text (text: string, offset: number): Uint8Array {
  let end = text.length
  let pad = 0
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d) { end--; pad++ }
  if (pad > 2) throw new SexpParseError('invalid base64: too much padding', offset)
  for (let i = 0; i < end; i++) {
    if (!isBase64Char(text.charCodeAt(i))) throw new SexpParseError('invalid base64 character', offset)
  }
  if (pad > 0 ? text.length % 4 !== 0 : end % 4 === 1) {
    throw new SexpParseError('invalid base64 length', offset)
  }
  const bytes = Buffer.from(text.slice(0, end), 'base64')
  // Reject non-zero trailing bits (non-canonical encodings of the same bytes).
  if (Buffer.from(bytes).toString('base64').replace(/=+$/, '') !== text.slice(0, end)) {
    throw new SexpParseError('invalid base64: non-canonical trailing bits', offset)
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

class Parser {
  private readonly b: Uint8Array
  private i = 0
  private readonly maxDepth: number
  private readonly maxAtomLength: number
  private nodesLeft: number
  private readonly canonicalOnly: boolean
  private readonly baseOffset: number

  constructor (b: Uint8Array, limits: Required<SexpLimits>, canonicalOnly: boolean, baseOffset: number) {
    this.b = b
    this.maxDepth = limits.maxDepth
    this.maxAtomLength = limits.maxAtomLength
    this.nodesLeft = limits.maxNodes
    this.canonicalOnly = canonicalOnly
    this.baseOffset = baseOffset
  }

  /** Node budget left after parsing (used to chain transport blocks). */
  get remainingNodes (): number {
    return this.nodesLeft
  }

  private fail (message: string, at: number = this.i): never {
    throw new SexpParseError(message, this.baseOffset + at)
  }

  private countNode (): void {
    if (--this.nodesLeft < 0) this.fail('too many s-expression nodes')
  }

  private skipWhitespace (): void {
    if (this.canonicalOnly) return
    while (this.i < this.b.length && isWhitespace(this.b[this.i])) this.i++
  }

  parse (depthOffset: number): Sexp {
    const b = this.b
    const stack: Sexp[][] = []
    let result: Sexp | undefined
    let hint: Uint8Array | undefined
    let hintAt = 0

    const emit = (node: Sexp): void => {
      this.countNode()
      if (stack.length === 0) result = node
      else stack[stack.length - 1].push(node)
    }

    for (;;) {
      this.skipWhitespace()
      if (this.i >= b.length) break
      const c = b[this.i]
      if (result !== undefined) this.fail('unexpected data after the s-expression')

      if (c === CH_OPEN) {
        if (hint !== undefined) this.fail('display hint must precede an atom, not a list')
        if (stack.length + 1 + depthOffset > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`)
        stack.push([])
        this.i++
      } else if (c === CH_CLOSE) {
        if (hint !== undefined) this.fail('display hint not followed by an atom')
        const items = stack.pop()
        if (items === undefined) this.fail('unmatched ")"')
        this.i++
        emit({ type: 'list', items })
      } else if (c === CH_HINT_OPEN) {
        if (hint !== undefined) this.fail('nested display hint')
        hintAt = this.i
        this.i++
        this.skipWhitespace()
        hint = this.readSimpleAtom()
        this.skipWhitespace()
        if (this.i >= b.length) this.fail('unterminated display hint')
        if (b[this.i] !== CH_HINT_CLOSE) this.fail('expected "]" after display hint')
        this.i++
      } else if (c === CH_HINT_CLOSE) {
        this.fail('unmatched "]"')
      } else if (c === CH_TRANSPORT_OPEN && !this.canonicalOnly) {
        if (hint !== undefined) this.fail('display hint must precede an atom')
        emit(this.readTransport(stack.length + depthOffset))
      } else {
        const value = this.readSimpleAtom()
        if (hint !== undefined) {
          emit({ type: 'atom', value, hint })
          hint = undefined
        } else {
          emit({ type: 'atom', value })
        }
      }
    }

    if (hint !== undefined) this.fail('display hint not followed by an atom', hintAt)
    if (stack.length > 0) this.fail(`unexpected end of input: ${stack.length} unclosed list(s)`)
    if (result === undefined) this.fail('empty s-expression')
    return result
  }

  /** Reads one atom in any of the permitted encodings, starting at `this.i`. */
  private readSimpleAtom (): Uint8Array {
    const b = this.b
    if (this.i >= b.length) this.fail('unexpected end of input, expected an atom')
    const c = b[this.i]
    if (isDigit(c)) {
      const start = this.i
      while (this.i < b.length && isDigit(b[this.i])) this.i++
      const digits = this.i - start
      if (digits > MAX_LENGTH_DIGITS) this.fail('length prefix too large', start)
      if (digits > 1 && c === 0x30) this.fail('length prefix with a leading zero', start)
      let length = 0
      for (let k = start; k < this.i; k++) length = length * 10 + (b[k] - 0x30)
      if (length > this.maxAtomLength) this.fail(`atom longer than ${this.maxAtomLength} bytes`, start)
      if (this.i >= b.length) this.fail('unexpected end of input after length prefix')
      const next = b[this.i]
      if (next === CH_COLON) {
        this.i++
        if (length > b.length - this.i) this.fail(`verbatim atom of ${length} bytes runs past the end of input`, start)
        const value = b.slice(this.i, this.i + length)
        this.i += length
        return value
      }
      if (this.canonicalOnly) this.fail('only verbatim atoms are allowed in canonical form')
      let value: Uint8Array
      if (next === CH_QUOTE) value = this.readQuoted()
      else if (next === CH_HASH) value = this.readHex()
      else if (next === CH_BAR) value = this.readBase64()
      else this.fail('invalid character after length prefix')
      if (value.length !== length) this.fail(`length prefix ${length} does not match the atom's ${value.length} bytes`, start)
      return value
    }
    if (this.canonicalOnly) this.fail('only verbatim atoms are allowed in canonical form')
    if (c === CH_QUOTE) return this.readQuoted()
    if (c === CH_HASH) return this.readHex()
    if (c === CH_BAR) return this.readBase64()
    if (isAlpha(c) || isTokenPunctuation(c)) {
      const start = this.i
      while (this.i < b.length && isTokenChar(b[this.i])) this.i++
      if (this.i - start > this.maxAtomLength) this.fail(`atom longer than ${this.maxAtomLength} bytes`, start)
      return b.slice(start, this.i)
    }
    this.fail(`unexpected character 0x${c.toString(16).padStart(2, '0')}`)
  }

  /** `"…"` with libgcrypt's escapes: \b \t \v \n \f \r \" \' \\, \ooo, \xHH, backslash-newline. */
  private readQuoted (): Uint8Array {
    const b = this.b
    const start = this.i
    this.i++ // opening quote
    const out: number[] = []
    for (;;) {
      if (this.i >= b.length) this.fail('unterminated quoted string', start)
      const c = b[this.i++]
      if (c === CH_QUOTE) break
      if (c !== CH_BACKSLASH) {
        out.push(c)
      } else {
        if (this.i >= b.length) this.fail('unterminated escape in quoted string', start)
        const e = b[this.i++]
        switch (e) {
          case 0x62: out.push(0x08); break // \b
          case 0x74: out.push(0x09); break // \t
          case 0x76: out.push(0x0b); break // \v
          case 0x6e: out.push(0x0a); break // \n
          case 0x66: out.push(0x0c); break // \f
          case 0x72: out.push(0x0d); break // \r
          case 0x22: case 0x27: case 0x5c: out.push(e); break // \" \' \\
          case 0x0d: // backslash CR [LF]: line continuation
            if (this.i < b.length && b[this.i] === 0x0a) this.i++
            break
          case 0x0a: // backslash LF [CR]: line continuation
            if (this.i < b.length && b[this.i] === 0x0d) this.i++
            break
          case 0x78: { // \xHH
            const hi = this.i < b.length ? hexValue(b[this.i]) : -1
            const lo = this.i + 1 < b.length ? hexValue(b[this.i + 1]) : -1
            if (hi < 0 || lo < 0) this.fail('invalid \\x escape in quoted string', this.i - 2)
            out.push(hi * 16 + lo)
            this.i += 2
            break
          }
          default: {
            if (e >= 0x30 && e <= 0x37) { // \ooo
              const o2 = this.i < b.length ? b[this.i] : 0
              const o3 = this.i + 1 < b.length ? b[this.i + 1] : 0
              if (!(o2 >= 0x30 && o2 <= 0x37 && o3 >= 0x30 && o3 <= 0x37)) this.fail('invalid octal escape in quoted string', this.i - 2)
              const v = (e - 0x30) * 64 + (o2 - 0x30) * 8 + (o3 - 0x30)
              if (v > 0xff) this.fail('octal escape out of range', this.i - 2)
              out.push(v)
              this.i += 2
            } else {
              this.fail('invalid escape in quoted string', this.i - 2)
            }
          }
        }
      }
      if (out.length > this.maxAtomLength) this.fail(`atom longer than ${this.maxAtomLength} bytes`, start)
    }
    return Uint8Array.from(out)
  }

  /** `#…#`: hex digits, whitespace ignored, even digit count. */
  private readHex (): Uint8Array {
    const b = this.b
    const start = this.i
    this.i++
    const nibbles: number[] = []
    for (;;) {
      if (this.i >= b.length) this.fail('unterminated hex string', start)
      const c = b[this.i++]
      if (c === CH_HASH) break
      if (isWhitespace(c)) continue
      const v = hexValue(c)
      if (v < 0) this.fail('invalid character in hex string', this.i - 1)
      nibbles.push(v)
      if (nibbles.length > 2 * this.maxAtomLength) this.fail(`atom longer than ${this.maxAtomLength} bytes`, start)
    }
    if (nibbles.length % 2 !== 0) this.fail('odd number of hex digits', start)
    const out = new Uint8Array(nibbles.length / 2)
    for (let k = 0; k < out.length; k++) out[k] = nibbles[2 * k] * 16 + nibbles[2 * k + 1]
    return out
  }

  /** `|…|`: base64, whitespace ignored. */
  private readBase64 (): Uint8Array {
    const b = this.b
    const start = this.i
    this.i++
    let text = ''
    for (;;) {
      if (this.i >= b.length) this.fail('unterminated base64 string', start)
      const c = b[this.i++]
      if (c === CH_BAR) break
      if (isWhitespace(c)) continue
      if (!isBase64Char(c) && c !== 0x3d) this.fail('invalid character in base64 string', this.i - 1)
      text += String.fromCharCode(c)
      if (text.length > Math.ceil(this.maxAtomLength / 3) * 4) this.fail(`atom longer than ${this.maxAtomLength} bytes`, start)
    }
    return decodeBase64Text(text, this.baseOffset + start)
  }

  /** `{…}`: base64 of a canonical s-expression (Rivest §6.3). */
  private readTransport (depth: number): Sexp {
    const b = this.b
    const start = this.i
    this.i++
    let text = ''
    for (;;) {
      if (this.i >= b.length) this.fail('unterminated transport block', start)
      const c = b[this.i++]
      if (c === CH_TRANSPORT_CLOSE) break
      if (isWhitespace(c)) continue
      if (!isBase64Char(c) && c !== 0x3d) this.fail('invalid character in transport block', this.i - 1)
      text += String.fromCharCode(c)
    }
    const inner = decodeBase64Text(text, this.baseOffset + start)
    const sub = new Parser(inner, {
      maxDepth: this.maxDepth,
      maxAtomLength: this.maxAtomLength,
      maxSize: inner.length,
      maxNodes: this.nodesLeft
    }, true, this.baseOffset + start)
    const node = sub.parse(depth)
    // The sub-parser counted the returned node too; emit() will count it again.
    this.nodesLeft = sub.remainingNodes + 1
    return node
  }
}

function resolveLimits (limits?: SexpLimits): Required<SexpLimits> {
  return {
    maxDepth: limits?.maxDepth ?? DEFAULT_SEXP_LIMITS.maxDepth,
    maxAtomLength: limits?.maxAtomLength ?? DEFAULT_SEXP_LIMITS.maxAtomLength,
    maxSize: limits?.maxSize ?? DEFAULT_SEXP_LIMITS.maxSize,
    maxNodes: limits?.maxNodes ?? DEFAULT_SEXP_LIMITS.maxNodes
  }
}

/**
 * Parses one s-expression in canonical, advanced or transport syntax.
 * Leading and trailing whitespace is allowed; anything else after the
 * expression is an error. Strings are taken as UTF-8.
 *
 * @throws {SexpParseError} on malformed input or when a limit is exceeded
 */
export function parseSexp (input: string | Uint8Array, limits?: SexpLimits): Sexp {
  const l = resolveLimits(limits)
  // A string's UTF-8 form is never shorter than its UTF-16 length: check before encoding.
  if (typeof input === 'string' && input.length > l.maxSize) throw new SexpParseError(`input larger than ${l.maxSize} bytes`, l.maxSize)
  const bytes = toBytes(input)
  if (bytes.length > l.maxSize) throw new SexpParseError(`input larger than ${l.maxSize} bytes`, l.maxSize)
  return new Parser(bytes, l, false, 0).parse(0)
}

/**
 * Parses the canonical encoding only (`(3:abc[1:h]1:x)`, no whitespace).
 *
 * @throws {SexpParseError}
 */
export function parseCanonicalSexp (input: Uint8Array, limits?: SexpLimits): Sexp {
  const l = resolveLimits(limits)
  if (input.length > l.maxSize) throw new SexpParseError(`input larger than ${l.maxSize} bytes`, l.maxSize)
  return new Parser(input, l, true, 0).parse(0)
}

// ---------------------------------------------------------------------------
// Construction and inspection

/** Builds an atom from bytes or from a string (UTF-8). */
export function sexpAtom (value: string | Uint8Array, hint?: string | Uint8Array): SexpAtom {
  const v = toBytes(value)
  return hint === undefined ? { type: 'atom', value: v } : { type: 'atom', value: v, hint: toBytes(hint) }
}

/** Builds a list. */
export function sexpList (...items: Sexp[]): SexpList {
  return { type: 'list', items }
}

export function isSexpAtom (s: Sexp | undefined): s is SexpAtom {
  return s?.type === 'atom'
}

export function isSexpList (s: Sexp | undefined): s is SexpList {
  return s?.type === 'list'
}

function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** True when `atom` is an atom whose bytes are the UTF-8 of `text`. */
export function atomIs (atom: Sexp | undefined, text: string): boolean {
  return isSexpAtom(atom) && bytesEqual(atom.value, textEncoder.encode(text))
}

/** An atom's bytes as a string (Latin-1: one char per byte, lossless). */
export function atomText (atom: SexpAtom): string {
  return Buffer.from(atom.value).toString('latin1')
}

/** Structural equality (atoms by bytes and hints), iterative. */
export function sexpEquals (a: Sexp, b: Sexp): boolean {
  const work: Array<[Sexp, Sexp]> = [[a, b]]
  while (work.length > 0) {
    const [x, y] = work.pop() as [Sexp, Sexp]
    if (x.type !== y.type) return false
    if (x.type === 'atom' && y.type === 'atom') {
      if (!bytesEqual(x.value, y.value)) return false
      if ((x.hint === undefined) !== (y.hint === undefined)) return false
      if (x.hint !== undefined && y.hint !== undefined && !bytesEqual(x.hint, y.hint)) return false
    } else if (x.type === 'list' && y.type === 'list') {
      if (x.items.length !== y.items.length) return false
      for (let i = 0; i < x.items.length; i++) work.push([x.items[i], y.items[i]])
    }
  }
  return true
}

/**
 * The first list, in document (pre-order) order and including `sexp` itself,
 * whose first element is the atom `token` — libgcrypt `gcry_sexp_find_token`,
 * which Guix uses as `find-sexp-token`.
 */
export function findSexpToken (sexp: Sexp, token: string): SexpList | undefined {
  const want = textEncoder.encode(token)
  const work: Sexp[] = [sexp]
  while (work.length > 0) {
    const s = work.pop() as Sexp
    if (s.type !== 'list') continue
    const head = s.items[0]
    if (head !== undefined && head.type === 'atom' && bytesEqual(head.value, want)) return s
    for (let i = s.items.length - 1; i >= 0; i--) work.push(s.items[i])
  }
  return undefined
}

/** The `n`th element of a list (`gcry_sexp_nth`), or undefined. */
export function sexpNth (list: Sexp | undefined, n: number): Sexp | undefined {
  return isSexpList(list) ? list.items[n] : undefined
}

/** The `n`th element of a list if it is an atom (`gcry_sexp_nth_data`). */
export function sexpNthAtom (list: Sexp | undefined, n: number): SexpAtom | undefined {
  const s = sexpNth(list, n)
  return isSexpAtom(s) ? s : undefined
}

// ---------------------------------------------------------------------------
// Serialization

class ByteSink {
  private chunks: number[] = []
  pushByte (c: number): void { this.chunks.push(c) }
  pushAscii (s: string): void { for (let i = 0; i < s.length; i++) this.chunks.push(s.charCodeAt(i)) }
  pushBytes (b: Uint8Array): void { for (const c of b) this.chunks.push(c) }
  result (): Uint8Array { return Uint8Array.from(this.chunks) }
}

function canonicalAtom (sink: ByteSink, v: Uint8Array): void {
  sink.pushAscii(`${v.length}:`)
  sink.pushBytes(v)
}

/** Canonical encoding (Rivest §6.1): `(3:abc[1:h]1:x)`, no whitespace. */
export function encodeCanonicalSexp (sexp: Sexp): Uint8Array {
  const sink = new ByteSink()
  const work: Array<Sexp | 'close'> = [sexp]
  while (work.length > 0) {
    const s = work.pop() as Sexp | 'close'
    if (s === 'close') { sink.pushByte(CH_CLOSE); continue }
    if (s.type === 'atom') {
      if (s.hint !== undefined) {
        sink.pushByte(CH_HINT_OPEN)
        canonicalAtom(sink, s.hint)
        sink.pushByte(CH_HINT_CLOSE)
      }
      canonicalAtom(sink, s.value)
    } else {
      sink.pushByte(CH_OPEN)
      work.push('close')
      for (let i = s.items.length - 1; i >= 0; i--) work.push(s.items[i])
    }
  }
  return sink.result()
}

/** libgcrypt `suitable_encoding`: 0 = hex, 1 = quoted string, 2 = token. */
function suitableEncoding (v: Uint8Array): 0 | 1 | 2 {
  if (v.length === 0) return 1
  if ((v[0] & 0x80) !== 0) return 0 // looks like a negative number
  if (v[0] === 0) return 0 // leading zero: binary
  let maybeToken = true
  for (const c of v) {
    if ((c < 0x20 || (c >= 0x7f && c <= 0xa0)) && !'\b\t\v\n\f\r"\'\\'.includes(String.fromCharCode(c))) return 0
    if (maybeToken && !isTokenChar(c)) maybeToken = false
  }
  return maybeToken && !isDigit(v[0]) ? 2 : 1
}

const STRING_ESCAPES: Record<number, string> = {
  0x08: '\\b', 0x09: '\\t', 0x0b: '\\v', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r', 0x22: '\\"', 0x27: "\\'", 0x5c: '\\\\'
}

/** One atom as libgcrypt's advanced format prints it. */
function advancedAtom (sink: ByteSink, v: Uint8Array): void {
  const kind = suitableEncoding(v)
  if (kind === 2) {
    sink.pushBytes(v)
  } else if (kind === 1) {
    sink.pushByte(CH_QUOTE)
    for (const c of v) {
      const esc = STRING_ESCAPES[c]
      if (esc !== undefined) sink.pushAscii(esc)
      else if (c < 0x20 || (c >= 0x7f && c <= 0xa0)) sink.pushAscii(`\\x${c.toString(16).padStart(2, '0')}`)
      else sink.pushByte(c)
    }
    sink.pushByte(CH_QUOTE)
  } else {
    sink.pushByte(CH_HASH)
    sink.pushAscii(Buffer.from(v).toString('hex').toUpperCase())
    sink.pushByte(CH_HASH)
  }
}

/**
 * The "advanced" text form exactly as libgcrypt's
 * `gcry_sexp_sprint(…, GCRYSEXP_FMT_ADVANCED, …)` prints it (what Guix's
 * `canonical-sexp->string` writes into key files and signatures): a newline
 * and `depth` spaces before every nested `(`, a space after an atom unless a
 * `)` follows, a newline plus indentation after a `)` that is followed by
 * another `)`, and a final newline. Display hints (which libgcrypt drops) are
 * printed as `[hint]` before their atom.
 */
export function formatAdvancedSexp (sexp: Sexp): Uint8Array {
  // Flatten into libgcrypt's token stream, then replay sprint's state machine.
  type Tok = { t: 'open' } | { t: 'close' } | { t: 'data', atom: SexpAtom }
  const toks: Tok[] = []
  const work: Array<Sexp | 'close'> = [sexp]
  while (work.length > 0) {
    const s = work.pop() as Sexp | 'close'
    if (s === 'close') { toks.push({ t: 'close' }); continue }
    if (s.type === 'atom') {
      toks.push({ t: 'data', atom: s })
    } else {
      toks.push({ t: 'open' })
      work.push('close')
      for (let i = s.items.length - 1; i >= 0; i--) work.push(s.items[i])
    }
  }

  const sink = new ByteSink()
  let indent = 0
  for (let k = 0; k < toks.length; k++) {
    const tok = toks[k]
    const next = toks[k + 1]
    if (tok.t === 'open') {
      if (indent > 0) {
        sink.pushByte(0x0a)
        for (let j = 0; j < indent; j++) sink.pushByte(0x20)
      }
      sink.pushByte(CH_OPEN)
      indent++
    } else if (tok.t === 'close') {
      sink.pushByte(CH_CLOSE)
      indent--
      if (next !== undefined && next.t !== 'open') {
        sink.pushByte(0x0a)
        for (let j = 0; j < indent; j++) sink.pushByte(0x20)
      }
    } else {
      if (tok.atom.hint !== undefined) {
        sink.pushByte(CH_HINT_OPEN)
        advancedAtom(sink, tok.atom.hint)
        sink.pushByte(CH_HINT_CLOSE)
      }
      advancedAtom(sink, tok.atom.value)
      if (next === undefined || next.t !== 'close') sink.pushByte(0x20)
    }
  }
  sink.pushByte(0x0a)
  return sink.result()
}

/** {@link formatAdvancedSexp} as a string (Latin-1, one char per byte). */
export function formatAdvancedSexpString (sexp: Sexp): string {
  return Buffer.from(formatAdvancedSexp(sexp)).toString('latin1')
}

/** Transport encoding (Rivest §6.3): `{` base64(canonical) `}`. */
export function encodeTransportSexp (sexp: Sexp): string {
  return `{${Buffer.from(encodeCanonicalSexp(sexp)).toString('base64')}}`
}
