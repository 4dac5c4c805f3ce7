/**
 * Streaming canonical NAR writer (shared/specs/binary-cache.md §1.2).
 *
 * Small tokens and small content pieces are coalesced into ~64 KiB output pieces;
 * large content pieces are passed through as they are (no copy).
 */
import type { AbortOptions } from '../abort.ts'
import {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_NAME_LENGTH,
  DEFAULT_MAX_TARGET_LENGTH,
  WRITER_CHUNK_SIZE,
  WRITER_PASS_THROUGH_SIZE
} from './constants.ts'
import { NarWriteError } from './errors.ts'
import { paddingOf } from './input.ts'
import { compareBytes, describeBytes, invalidNameReason, invalidTargetReason } from './names.ts'
import { NAR_TOKENS } from './tokens.ts'

export type NarSourceNode =
  | {
    type: 'regular'
    executable: boolean
    size: number
    contents: (options?: AbortOptions) => AsyncIterable<Uint8Array>
  }
  | { type: 'symlink', target: Uint8Array }
  | {
    type: 'directory'
    /** Entries in strictly ascending byte order of `name`. */
    entries: (options?: AbortOptions) => AsyncIterable<{ name: Uint8Array, node: NarSourceNode }>
  }

const { HEADER, REGULAR, EXECUTABLE, SYMLINK, DIRECTORY, ENTRY, NODE, CLOSE, ZEROS } = NAR_TOKENS

/** Coalesces small writes into pieces of exactly `WRITER_CHUNK_SIZE` bytes. */
class Output {
  private buf = new Uint8Array(WRITER_CHUNK_SIZE)
  private start = 0
  private fill = 0
  private readonly u64 = new Uint8Array(8)

  /** Append `bytes` (shorter than a chunk); returns a completed piece, if any. */
  write (bytes: Uint8Array): Uint8Array | undefined {
    const room = this.buf.length - this.fill
    if (bytes.length <= room) {
      this.buf.set(bytes, this.fill)
      this.fill += bytes.length
      return undefined
    }
    this.buf.set(bytes.subarray(0, room), this.fill)
    const done = this.buf.subarray(this.start)
    this.buf = new Uint8Array(WRITER_CHUNK_SIZE)
    this.buf.set(bytes.subarray(room), 0)
    this.start = 0
    this.fill = bytes.length - room
    return done
  }

  writeU64 (n: number): Uint8Array | undefined {
    const b = this.u64
    let lo = n % 0x1_0000_0000
    let hi = Math.floor(n / 0x1_0000_0000)
    for (let i = 0; i < 4; i++) {
      b[i] = lo & 0xff
      b[i + 4] = hi & 0xff
      lo >>>= 8
      hi >>>= 8
    }
    return this.write(b)
  }

  /** Take whatever is buffered (for a pass-through piece or the end). */
  take (): Uint8Array | undefined {
    if (this.fill === this.start) return undefined
    const out = this.buf.subarray(this.start, this.fill)
    if (this.buf.length - this.fill < 4096) {
      this.buf = new Uint8Array(WRITER_CHUNK_SIZE)
      this.fill = 0
    }
    this.start = this.fill
    return out
  }
}

interface Frame {
  iterator: AsyncIterator<{ name: Uint8Array, node: NarSourceNode }>
  /** The entry of this directory being written (also the previous name, for the order check). */
  prev: Uint8Array | undefined
}

/** Path of the directory at `stack[depth - 1]` (depth 0 = root), built only for error messages. */
function pathOf (stack: readonly Frame[], depth: number): string {
  if (depth === 0) return '<root>'
  return stack.slice(0, depth).map(f => describeBytes(f.prev ?? new Uint8Array(0))).join('/')
}

/**
 * Serialise `root` as a canonical NAR. Throws `NarWriteError` if the tree cannot
 * be written canonically (unsorted/duplicate/invalid names, bad targets, contents
 * that do not have exactly `size` bytes, unknown node types).
 */
export async function * writeNar (root: NarSourceNode, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
  const signal = options.signal
  const out = new Output()
  const stack: Frame[] = []
  let piece: Uint8Array | undefined
  let node: NarSourceNode = root
  /** Path of the current node, for error messages. */
  const shown = (): string => pathOf(stack, stack.length)

  try {
    piece = out.write(HEADER)
    if (piece !== undefined) yield piece

    nodes: while (true) {
      signal?.throwIfAborted()
      if (node == null || typeof node !== 'object') throw new NarWriteError(`node '${shown()}' is not an object`)
      let childDone = true
      if (node.type === 'regular') {
        const { size, executable } = node
        if (!Number.isSafeInteger(size) || size < 0) {
          throw new NarWriteError(`file '${shown()}' has an invalid size ${String(size)}`)
        }
        piece = out.write(executable === true ? EXECUTABLE : REGULAR)
        if (piece !== undefined) yield piece
        piece = out.writeU64(size)
        if (piece !== undefined) yield piece
        let written = 0
        for await (const data of node.contents(options)) {
          if (!(data instanceof Uint8Array)) throw new NarWriteError(`contents of '${shown()}' yielded a non-Uint8Array`)
          written += data.length
          if (written > size) {
            throw new NarWriteError(`file '${shown()}' has more than its declared size of ${size} bytes`)
          }
          if (data.length >= WRITER_PASS_THROUGH_SIZE) {
            piece = out.take()
            if (piece !== undefined) yield piece
            yield data
          } else if (data.length > 0) {
            piece = out.write(data)
            if (piece !== undefined) yield piece
          }
          signal?.throwIfAborted()
        }
        if (written !== size) {
          throw new NarWriteError(`file '${shown()}' has ${written} bytes but its declared size is ${size}`)
        }
        piece = out.write(ZEROS.subarray(0, paddingOf(size)))
        if (piece !== undefined) yield piece
        piece = out.write(CLOSE)
        if (piece !== undefined) yield piece
      } else if (node.type === 'symlink') {
        const target = node.target
        if (!(target instanceof Uint8Array)) throw new NarWriteError(`symlink '${shown()}' has no byte target`)
        const bad = invalidTargetReason(target) ??
          (target.length > DEFAULT_MAX_TARGET_LENGTH ? `longer than ${DEFAULT_MAX_TARGET_LENGTH} bytes` : undefined)
        if (bad !== undefined) throw new NarWriteError(`symlink '${shown()}' has an invalid target (${bad})`)
        piece = out.write(SYMLINK)
        if (piece !== undefined) yield piece
        piece = out.writeU64(target.length)
        if (piece !== undefined) yield piece
        piece = out.write(target)
        if (piece !== undefined) yield piece
        piece = out.write(ZEROS.subarray(0, paddingOf(target.length)))
        if (piece !== undefined) yield piece
        piece = out.write(CLOSE)
        if (piece !== undefined) yield piece
      } else if (node.type === 'directory') {
        piece = out.write(DIRECTORY)
        if (piece !== undefined) yield piece
        stack.push({ iterator: node.entries(options)[Symbol.asyncIterator](), prev: undefined })
        childDone = false
      } else {
        throw new NarWriteError(`node '${shown()}' has unknown type '${String((node as { type: unknown }).type)}'`)
      }

      while (true) {
        const frame = stack[stack.length - 1]
        if (frame === undefined) break nodes
        if (childDone) {
          piece = out.write(CLOSE)
          if (piece !== undefined) yield piece
        }
        const r = await frame.iterator.next()
        if (r.done === true) {
          stack.pop()
          piece = out.write(CLOSE)
          if (piece !== undefined) yield piece
          childDone = true
          continue
        }
        const { name, node: next } = r.value
        if (!(name instanceof Uint8Array)) throw new NarWriteError(`an entry of '${pathOf(stack, stack.length - 1)}' has no byte name`)
        const bad = invalidNameReason(name) ??
          (name.length > DEFAULT_MAX_NAME_LENGTH ? `longer than ${DEFAULT_MAX_NAME_LENGTH} bytes` : undefined)
        if (bad !== undefined) {
          throw new NarWriteError(`directory '${pathOf(stack, stack.length - 1)}' has an invalid entry name '${describeBytes(name)}' (${bad})`)
        }
        if (frame.prev !== undefined && compareBytes(frame.prev, name) >= 0) {
          throw new NarWriteError(`directory '${pathOf(stack, stack.length - 1)}' entries are not in strictly ascending byte order: '${describeBytes(name)}' after '${describeBytes(frame.prev)}'`)
        }
        frame.prev = name
        if (stack.length > DEFAULT_MAX_DEPTH) {
          throw new NarWriteError(`tree is deeper than ${DEFAULT_MAX_DEPTH} levels at '${pathOf(stack, stack.length - 1)}'`)
        }
        piece = out.write(ENTRY)
        if (piece !== undefined) yield piece
        piece = out.writeU64(name.length)
        if (piece !== undefined) yield piece
        piece = out.write(name)
        if (piece !== undefined) yield piece
        piece = out.write(ZEROS.subarray(0, paddingOf(name.length)))
        if (piece !== undefined) yield piece
        piece = out.write(NODE)
        if (piece !== undefined) yield piece
        node = next
        continue nodes
      }
    }

    piece = out.take()
    if (piece !== undefined) yield piece
  } finally {
    // Close directory iterators left open by an error or an early return.
    for (let i = stack.length - 1; i >= 0; i--) {
      try { await stack[i].iterator.return?.() } catch {}
    }
  }
}
