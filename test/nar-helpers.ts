/**
 * Test helpers for the NAR tests (not a test file itself).
 */
import { createHash } from 'node:crypto'
import { parseNar } from '../src/nar/index.ts'
import type { NarEvent, NarReaderOptions, NarSourceNode } from '../src/nar/index.ts'

const utf8 = new TextEncoder()

export function bytes (s: string): Uint8Array {
  return utf8.encode(s)
}

export function concat (parts: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of parts) total += p.length
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

export async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p.slice())
  return concat(parts)
}

/** `data` as an async source of pieces of `size` bytes (the last may be shorter). */
export async function * chunked (data: Uint8Array, size: number = data.length || 1): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, Math.min(data.length, i + size))
}

export function sha256hex (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export function hex (data: Uint8Array): string {
  return Buffer.from(data).toString('hex')
}

// ---------------------------------------------------------------------------
// Hand-built NAR bytes (grammar of shared/specs/binary-cache.md §1.2)

/** u64 little-endian. */
export function u64 (n: number | bigint): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true)
  return out
}

/** str(x) = u64(len) ‖ x ‖ zero padding to 8. */
export function str (x: string | Uint8Array): Uint8Array {
  const b = typeof x === 'string' ? bytes(x) : x
  return concat([u64(b.length), b, new Uint8Array((8 - (b.length % 8)) % 8)])
}

export function tokens (...xs: Array<string | Uint8Array>): Uint8Array {
  return concat(xs.map(str))
}

// ---------------------------------------------------------------------------
// In-memory trees

export type MemNode =
  | { type: 'regular', executable: boolean, contents: Uint8Array }
  | { type: 'symlink', target: Uint8Array }
  | { type: 'directory', entries: Array<[Uint8Array, MemNode]> }

/** Build the tree described by a NAR (contents buffered). */
export async function treeFromEvents (events: AsyncIterable<NarEvent>): Promise<MemNode> {
  let root: MemNode | undefined
  const stack: Array<Extract<MemNode, { type: 'directory' }>> = []
  const attach = (path: Uint8Array[], node: MemNode): void => {
    if (path.length === 0) root = node
    else stack[stack.length - 1].entries.push([path[path.length - 1], node])
  }
  for await (const ev of events) {
    switch (ev.type) {
      case 'directory': {
        const dir: MemNode = { type: 'directory', entries: [] }
        attach(ev.path, dir)
        stack.push(dir)
        break
      }
      case 'end-directory':
        stack.pop()
        break
      case 'symlink':
        attach(ev.path, { type: 'symlink', target: ev.target })
        break
      case 'regular':
        attach(ev.path, { type: 'regular', executable: ev.executable, contents: await collect(ev.contents) })
        break
    }
  }
  if (root === undefined) throw new Error('no root')
  return root
}

export async function treeFromNar (source: AsyncIterable<Uint8Array>, options?: NarReaderOptions): Promise<MemNode> {
  return await treeFromEvents(parseNar(source, options))
}

/** A writer source over an in-memory tree; file contents in pieces of `pieceSize`. */
export function sourceNode (node: MemNode, pieceSize = 1000): NarSourceNode {
  switch (node.type) {
    case 'regular':
      return {
        type: 'regular',
        executable: node.executable,
        size: node.contents.length,
        contents: () => chunked(node.contents, pieceSize)
      }
    case 'symlink':
      return { type: 'symlink', target: node.target }
    case 'directory':
      return {
        type: 'directory',
        entries: async function * () {
          for (const [name, child] of node.entries) yield { name, node: sourceNode(child, pieceSize) }
        }
      }
  }
}

/** Comparable rendering of the events of a NAR (contents hex-encoded). */
export async function eventLog (source: AsyncIterable<Uint8Array>, options?: NarReaderOptions): Promise<string[]> {
  const log: string[] = []
  for await (const ev of parseNar(source, options)) {
    const path = ev.path.map(hex).join('/')
    switch (ev.type) {
      case 'regular':
        log.push(`regular ${path} x=${ev.executable} size=${ev.size} at=${ev.offset} ${hex(await collect(ev.contents))}`)
        break
      case 'symlink':
        log.push(`symlink ${path} -> ${hex(ev.target)}`)
        break
      default:
        log.push(`${ev.type} ${path}`)
    }
  }
  return log
}

/** Run `fn` and return the error it throws (fails if it does not throw). */
export async function rejection (fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a rejection')
}

/** Drain a NAR through the reader, skipping all contents. */
export async function drain (source: AsyncIterable<Uint8Array>, options?: NarReaderOptions): Promise<number> {
  let n = 0
  for await (const ev of parseNar(source, options)) {
    void ev
    n++
  }
  return n
}

/** A string that identifies a tree exactly (cheap to compare, unlike deep-equal on big arrays). */
export function treeKey (node: MemNode): string {
  switch (node.type) {
    case 'regular': return `F${node.executable ? 'x' : '-'}${hex(node.contents)}`
    case 'symlink': return `L${hex(node.target)}`
    case 'directory': return `D[${node.entries.map(([n, c]) => `${hex(n)}:${treeKey(c)}`).join(',')}]`
  }
}
