/**
 * Streaming, strict NAR reader (shared/specs/binary-cache.md §1).
 *
 * Accepts exactly the canonical NARs that Nix master accepts (sorted, unique,
 * valid names; `executable` before `contents`; zero padding; non-empty symlink
 * targets; nothing after the root node). File contents are handed out as views
 * of the incoming pieces, never copied.
 */
import type { AbortOptions } from '../abort.ts'
import {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_NAME_LENGTH,
  DEFAULT_MAX_SIZE,
  DEFAULT_MAX_TARGET_LENGTH,
  MAX_TAG_LENGTH,
  NAR_MAGIC
} from './constants.ts'
import { NarParseError, NarUsageError } from './errors.ts'
import { NarInput, paddingOf, truncated } from './input.ts'
import { compareBytes, describeBytes, describePath, invalidNameReason, invalidTargetReason } from './names.ts'

export type NarEvent =
  | { type: 'directory', path: Uint8Array[] }
  | { type: 'end-directory', path: Uint8Array[] }
  | {
    type: 'regular'
    path: Uint8Array[]
    executable: boolean
    size: number
    /** NAR byte offset of the first content byte. */
    offset: number
    /** Exactly `size` bytes; pieces are views valid until the next pull. Iterable once. */
    contents: AsyncIterable<Uint8Array>
  }
  | { type: 'symlink', path: Uint8Array[], target: Uint8Array }

export interface NarReaderOptions extends AbortOptions {
  /** Deepest allowed node (root = 0). Default {@link DEFAULT_MAX_DEPTH}. */
  maxDepth?: number
  /** Longest allowed entry name in bytes. Default 255. */
  maxNameLength?: number
  /** Longest allowed symlink target in bytes. Default 4095. */
  maxTargetLength?: number
  /** Largest allowed total NAR size in bytes. Default 2^53 − 1. */
  maxSize?: number
}

const utf8 = new TextEncoder()
const T_MAGIC = utf8.encode(NAR_MAGIC)
const T_OPEN = utf8.encode('(')
const T_CLOSE = utf8.encode(')')
const T_TYPE = utf8.encode('type')
const T_REGULAR = utf8.encode('regular')
const T_SYMLINK = utf8.encode('symlink')
const T_DIRECTORY = utf8.encode('directory')
const T_EXECUTABLE = utf8.encode('executable')
const T_CONTENTS = utf8.encode('contents')
const T_TARGET = utf8.encode('target')
const T_ENTRY = utf8.encode('entry')
const T_NAME = utf8.encode('name')
const T_NODE = utf8.encode('node')

function same (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function limit (value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative safe integer`)
  return value
}

/** A tag token: its bytes, or its length when too long to be any tag. */
type Tag = Uint8Array | number

function tagText (tag: Tag, input: NarInput): string {
  if (typeof tag !== 'number') return `'${describeBytes(tag)}'`
  return `a ${Number.isSafeInteger(tag) ? String(tag) : input.lastBigText}-byte string`
}

function expectedTag (expected: string, tag: Tag, input: NarInput, offset: number): NarParseError {
  return new NarParseError(`bad archive: expected tag ${expected}, got ${tagText(tag, input)}`, offset)
}

/** Contents of the current regular file; iterable once, only while the file is current. */
class FileContents implements AsyncIterable<Uint8Array> {
  remaining: number
  private readonly input: NarInput
  private readonly path: Uint8Array[]
  private active = true
  private iterated = false
  private inflight: Promise<IteratorResult<Uint8Array>> | undefined

  constructor (input: NarInput, size: number, path: Uint8Array[]) {
    this.input = input
    this.remaining = size
    this.path = path
  }

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new NarUsageError(`contents of '${describePath(this.path)}' can only be iterated once`)
    this.iterated = true
    return {
      next: async () => await this.next(),
      return: async () => ({ done: true, value: undefined })
    }
  }

  private async next (): Promise<IteratorResult<Uint8Array>> {
    if (!this.active) {
      throw new NarUsageError(`contents of '${describePath(this.path)}' read after the reader moved to the next event`)
    }
    if (this.inflight !== undefined) throw new NarUsageError('concurrent reads of the same file contents')
    if (this.remaining === 0) return { done: true, value: undefined }
    const input = this.input
    if (input.available() === 0) {
      this.inflight = input.advance().then(ok => {
        if (!ok) throw truncated('file contents', input.offset)
        return this.take()
      }).finally(() => { this.inflight = undefined })
      return await this.inflight
    }
    return this.take()
  }

  private take (): IteratorResult<Uint8Array> {
    const input = this.input
    const n = Math.min(this.remaining, input.available())
    const piece = input.buf.subarray(input.pos, input.pos + n)
    input.pos += n
    this.remaining -= n
    return { done: false, value: piece }
  }

  /** Synchronous `finish` when the rest of the file is already buffered. */
  trySkipRest (): boolean {
    if (this.inflight !== undefined || !this.input.trySkip(this.remaining)) return false
    this.active = false
    this.remaining = 0
    return true
  }

  /** Called when the consumer pulls the next event: skip whatever was not read. */
  async finish (): Promise<void> {
    this.active = false
    if (this.inflight !== undefined) {
      try { await this.inflight } catch {}
    }
    if (this.remaining > 0) {
      const n = this.remaining
      this.remaining = 0
      await this.input.skip(n, 'file contents')
    }
  }
}

interface Frame {
  path: Uint8Array[]
  prev: Uint8Array | undefined
}

/** Concatenation of `str(t)` for each token: what the fast paths compare against. */
function framed (...tokens: string[]): Uint8Array {
  const parts: number[] = []
  for (const t of tokens) {
    const b = utf8.encode(t)
    parts.push(b.length, 0, 0, 0, 0, 0, 0, 0, ...b, ...new Array<number>(paddingOf(b.length)).fill(0))
  }
  return Uint8Array.from(parts)
}

const F_NODE_START = framed('(', 'type')
const F_REGULAR = framed('regular')
const F_DIRECTORY = framed('directory')
const F_SYMLINK = framed('symlink')
const F_CONTENTS = framed('contents')
const F_EXECUTABLE_CONTENTS = framed('executable', '', 'contents')
const F_TARGET = framed('target')
const F_CLOSE = framed(')')
const F_ENTRY_START = framed('entry', '(', 'name')
const F_NODE = framed('node')

/**
 * Parse a NAR from `source`, yielding events in NAR order. Throws `NarParseError`
 * for anything that is not a canonical NAR; errors thrown by `source` itself and
 * abort reasons propagate unchanged.
 *
 * Tokens are decoded synchronously straight from the buffered piece when it holds
 * them entirely (the common case); the async paths handle piece boundaries and
 * produce the error messages.
 */
export async function * parseNar (source: AsyncIterable<Uint8Array>, options: NarReaderOptions = {}): AsyncGenerator<NarEvent> {
  const maxDepth = limit(options.maxDepth, DEFAULT_MAX_DEPTH, 'maxDepth')
  const maxNameLength = limit(options.maxNameLength, DEFAULT_MAX_NAME_LENGTH, 'maxNameLength')
  const maxTargetLength = limit(options.maxTargetLength, DEFAULT_MAX_TARGET_LENGTH, 'maxTargetLength')
  const maxSize = limit(options.maxSize, DEFAULT_MAX_SIZE, 'maxSize')
  const signal = options.signal
  const input = new NarInput(source, signal)

  /** Read a token where a tag is expected; long tokens are not consumed. */
  const readTag = async (): Promise<Tag> => {
    const len = await input.readU64('a tag')
    if (len > MAX_TAG_LENGTH) return len
    return await input.readPadded(len, 'a tag')
  }

  const expect = async (tag: Uint8Array, text: string): Promise<void> => {
    const offset = input.offset
    const got = await readTag()
    if (typeof got === 'number' || !same(got, tag)) throw expectedTag(`'${text}'`, got, input, offset)
  }

  /** Read a length-prefixed string of at most `max` bytes and copy it. */
  const readString = async (max: number, what: string): Promise<Uint8Array> => {
    const fast = input.tryString(max)
    // Copy (a view would alias the source's piece; Buffer#slice would not copy).
    if (fast !== undefined) return new Uint8Array(fast)
    const offset = input.offset
    const len = await input.readU64(what)
    if (len > max) {
      const text = Number.isSafeInteger(len) ? String(len) : input.lastBigText
      throw new NarParseError(`${what} of ${text} bytes exceeds the limit of ${max} bytes`, offset)
    }
    return new Uint8Array(await input.readPadded(len, what))
  }

  /** body = str("regular") [ str("executable") str("") ] str("contents") ... : returns `executable`. */
  const readRegularHead = async (): Promise<boolean> => {
    let tagOffset = input.offset
    let tag = await readTag()
    let executable = false
    if (typeof tag !== 'number' && same(tag, T_EXECUTABLE)) {
      const valueOffset = input.offset
      const len = await input.readU64('the executable marker')
      if (len !== 0) throw new NarParseError('bad archive: executable marker has non-empty value', valueOffset)
      executable = true
      tagOffset = input.offset
      tag = await readTag()
    }
    if (typeof tag === 'number' || !same(tag, T_CONTENTS)) throw expectedTag('\'contents\'', tag, input, tagOffset)
    return executable
  }

  const REGULAR = 1
  const DIRECTORY = 2
  const SYMLINK = 3

  const readType = async (): Promise<number> => {
    const typeOffset = input.offset
    const type = await readTag()
    if (typeof type !== 'number') {
      if (same(type, T_REGULAR)) return REGULAR
      if (same(type, T_DIRECTORY)) return DIRECTORY
      if (same(type, T_SYMLINK)) return SYMLINK
    }
    throw new NarParseError(`bad archive: unknown file type ${tagText(type, input)}`, typeOffset)
  }

  let finished = false
  try {
    // nar = str("nix-archive-1") node
    {
      let ok = false
      try {
        const magic = await readTag()
        ok = typeof magic !== 'number' && same(magic, T_MAGIC)
      } catch (err) {
        if (!(err instanceof NarParseError)) throw err
      }
      if (!ok) throw new NarParseError('input doesn\'t look like a Nix archive', 0)
    }

    const stack: Frame[] = []
    let path: Uint8Array[] = []

    nodes: while (true) {
      if (signal?.aborted === true) signal.throwIfAborted()
      // node = str("(") str("type") body str(")")
      if (!input.tryExpect(F_NODE_START)) {
        await expect(T_OPEN, '(')
        await expect(T_TYPE, 'type')
      }
      const type = input.tryExpect(F_REGULAR)
        ? REGULAR
        : input.tryExpect(F_DIRECTORY) ? DIRECTORY : input.tryExpect(F_SYMLINK) ? SYMLINK : await readType()
      let childDone = true

      if (type === REGULAR) {
        let executable = false
        if (input.tryExpect(F_EXECUTABLE_CONTENTS)) executable = true
        else if (!input.tryExpect(F_CONTENTS)) executable = await readRegularHead()
        const sizeOffset = input.offset
        const size = input.tryU64() ?? await input.readU64('the file size')
        const offset = sizeOffset + 8
        const pad = paddingOf(size)
        if (!Number.isSafeInteger(size) || offset + size + pad > maxSize) {
          const text = Number.isSafeInteger(size) ? String(size) : input.lastBigText
          throw new NarParseError(`file size ${text} exceeds the NAR size limit of ${maxSize} bytes`, sizeOffset)
        }
        const contents = new FileContents(input, size, path)
        yield { type: 'regular', path, executable, size, offset, contents }
        if (!contents.trySkipRest()) await contents.finish()
        if (!input.tryZeros(pad)) await input.readZeros(pad, 'file padding')
        if (!input.tryExpect(F_CLOSE)) await expect(T_CLOSE, ')')
      } else if (type === SYMLINK) {
        if (!input.tryExpect(F_TARGET)) await expect(T_TARGET, 'target')
        const targetOffset = input.offset
        const target = await readString(maxTargetLength, 'symlink target')
        const bad = invalidTargetReason(target)
        if (bad !== undefined) {
          throw new NarParseError(`bad archive: NAR contains invalid symlink target '${describeBytes(target)}' (${bad})`, targetOffset)
        }
        yield { type: 'symlink', path, target }
        if (!input.tryExpect(F_CLOSE)) await expect(T_CLOSE, ')')
      } else {
        yield { type: 'directory', path }
        stack.push({ path, prev: undefined })
        childDone = false
      }

      // Continue in the innermost open directory:
      // { str("entry") str("(") str("name") str(name) str("node") node str(")") } str(")")
      while (true) {
        const frame = stack[stack.length - 1]
        if (frame === undefined) break nodes
        if (childDone && !input.tryExpect(F_CLOSE)) await expect(T_CLOSE, ')')
        childDone = false
        if (input.offset > maxSize) {
          throw new NarParseError(`NAR exceeds the size limit of ${maxSize} bytes`, input.offset)
        }
        if (!input.tryExpect(F_ENTRY_START)) {
          const tagOffset = input.offset
          if (input.tryExpect(F_CLOSE)) {
            stack.pop()
            yield { type: 'end-directory', path: frame.path }
            childDone = true
            continue
          }
          const tag = await readTag()
          if (typeof tag !== 'number' && same(tag, T_CLOSE)) {
            stack.pop()
            yield { type: 'end-directory', path: frame.path }
            childDone = true
            continue
          }
          if (typeof tag === 'number' || !same(tag, T_ENTRY)) throw expectedTag('\'entry\' or \')\'', tag, input, tagOffset)
          await expect(T_OPEN, '(')
          await expect(T_NAME, 'name')
        }
        const nameOffset = input.offset
        const name = await readString(maxNameLength, 'file name')
        const bad = invalidNameReason(name)
        if (bad !== undefined) {
          throw new NarParseError(`bad archive: NAR contains invalid file name '${describeBytes(name)}' (${bad})`, nameOffset)
        }
        if (frame.prev !== undefined) {
          const order = compareBytes(frame.prev, name)
          if (order >= 0) {
            throw new NarParseError(order === 0
              ? `NAR directory is not sorted: duplicate entry '${describeBytes(name)}'`
              : `NAR directory is not sorted: entry '${describeBytes(name)}' after '${describeBytes(frame.prev)}'`, nameOffset)
          }
        }
        frame.prev = name
        if (!input.tryExpect(F_NODE)) await expect(T_NODE, 'node')
        if (frame.path.length >= maxDepth) {
          throw new NarParseError(`NAR nesting exceeds the maximum depth of ${maxDepth}`, input.offset)
        }
        path = [...frame.path, name]
        continue nodes
      }
    }

    await input.expectEnd()
    finished = true
  } finally {
    if (!finished) {
      // Let the source clean up; its own failure must not mask ours.
      try { await input.close() } catch {}
    }
  }
}
