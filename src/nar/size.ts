/**
 * NAR size formula (shared/specs/binary-cache.md §1.3): NarSize without rendering.
 *
 *   NAR       = 24 + node
 *   regular   = 88 + pad(size) (+32 if executable)
 *   symlink   = 88 + pad(len(target))
 *   directory = 72 + Σ entries;  entry = 88 + pad(len(name)) + node
 */
import type { AbortOptions } from '../abort.ts'
import {
  NAR_DIRECTORY_OVERHEAD,
  NAR_ENTRY_OVERHEAD,
  NAR_EXECUTABLE_OVERHEAD,
  NAR_HEADER_SIZE,
  NAR_REGULAR_OVERHEAD,
  NAR_SYMLINK_OVERHEAD
} from './constants.ts'
import { NarWriteError } from './errors.ts'
import { paddingOf } from './input.ts'
import type { NarSourceNode } from './writer.ts'

function checked (n: number): number {
  if (!Number.isSafeInteger(n)) throw new NarWriteError('NAR size exceeds 2^53 - 1 bytes')
  return n
}

function lengthOf (bytes: Uint8Array | number): number {
  return typeof bytes === 'number' ? bytes : bytes.length
}

/** `n` rounded up to a multiple of 8. */
export function padded (n: number): number {
  return n + paddingOf(n)
}

/** Serialised size of a regular-file node holding `size` bytes. */
export function narSizeOfRegular (size: number, executable: boolean): number {
  return checked(NAR_REGULAR_OVERHEAD + padded(size) + (executable ? NAR_EXECUTABLE_OVERHEAD : 0))
}

/** Serialised size of a symlink node (target given as bytes or as its length). */
export function narSizeOfSymlink (target: Uint8Array | number): number {
  return NAR_SYMLINK_OVERHEAD + padded(lengthOf(target))
}

/** Serialised size of a directory node whose entries total `entriesSize` bytes. */
export function narSizeOfDirectory (entriesSize = 0): number {
  return checked(NAR_DIRECTORY_OVERHEAD + entriesSize)
}

/** Serialised size of one directory entry (name as bytes or length) around a node of `nodeSize`. */
export function narSizeOfEntry (name: Uint8Array | number, nodeSize: number): number {
  return checked(NAR_ENTRY_OVERHEAD + padded(lengthOf(name)) + nodeSize)
}

/** Size of a whole NAR whose root node serialises to `rootNodeSize` bytes. */
export function narSizeOfArchive (rootNodeSize: number): number {
  return checked(NAR_HEADER_SIZE + rootNodeSize)
}

/** Serialised size of `node` itself, excluding its directory entries. */
function ownSize (node: NarSourceNode): number {
  switch (node.type) {
    case 'regular': return narSizeOfRegular(node.size, node.executable)
    case 'symlink': return narSizeOfSymlink(node.target)
    case 'directory': return NAR_DIRECTORY_OVERHEAD
    default: throw new NarWriteError(`unknown node type '${String((node as { type: unknown }).type)}'`)
  }
}

/**
 * Total NAR size (NarSize) of the tree rooted at `root`, computed from sizes and
 * names only (directory entries are listed, file contents are never read).
 */
export async function narSize (root: NarSourceNode, options: AbortOptions = {}): Promise<number> {
  let total = NAR_HEADER_SIZE + ownSize(root)
  const pending: NarSourceNode[] = [root]
  while (pending.length > 0) {
    const node = pending.pop() as NarSourceNode
    if (node.type !== 'directory') continue
    for await (const { name, node: child } of node.entries(options)) {
      options.signal?.throwIfAborted()
      total = checked(total + NAR_ENTRY_OVERHEAD + padded(name.length) + ownSize(child))
      if (child.type === 'directory') pending.push(child)
    }
  }
  return total
}
