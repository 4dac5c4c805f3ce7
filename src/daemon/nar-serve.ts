/**
 * castore → NAR for NarFromPath, tuned for throughput. Same walk and byte-identical
 * output as the castore's own renderer (`narSourceFromNode`), with one difference in how
 * large files are read: when the blob store keeps blobs as plain files (FsBlobStore's
 * public `dataPath`), they are read with a few 1 MiB reads in flight into buffers from a
 * small per-stream pool, and a buffer goes back to the pool only once the socket has
 * written it (`release`). Fresh 1 MiB allocations per read cost more than the read itself
 * (page faults, GC of external memory), which halved NarFromPath throughput. Other blob
 * stores, and small files, go through `BlobStore.read`.
 *
 * Like the castore's renderer, bytes are not re-hashed here (see `verifyOnServe`).
 */
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { AbortOptions } from '../abort.ts'
import type { BlobStore } from '../castore/blob-store.ts'
import type { DirectoryStore } from '../castore/directory-store.ts'
import type { CastoreNode } from '../castore/directory.ts'
import { directoryEntries } from '../castore/directory.ts'
import { toHex } from '../castore/digest.ts'
import { NotFoundError } from '../castore/errors.ts'
import { writeNar } from '../nar/index.ts'
import type { NarSourceNode } from '../nar/index.ts'

/** Size of one read (and of a pooled buffer). */
const PIECE = 1024 * 1024
/** Reads in flight per file. */
const READS_AHEAD = 3
/** Buffers a stream keeps for reuse (bounds its memory with the socket's own buffer). */
const POOL_SIZE = 8
/** Files up to this size are read through the blob store. */
const DIRECT_MIN = 256 * 1024

/** Reusable read buffers; a buffer is reused only after `release`. */
class BufferPool {
  private readonly free: Uint8Array[] = []
  private readonly owned = new WeakSet<ArrayBufferLike>()

  take (): Uint8Array {
    const b = this.free.pop()
    if (b !== undefined) return b
    const fresh = new Uint8Array(PIECE)
    this.owned.add(fresh.buffer)
    return fresh
  }

  /** Gives back the buffer under `piece` once nobody reads it any more (ignores foreign pieces). */
  release (piece: Uint8Array): void {
    if (!this.owned.has(piece.buffer) || this.free.length >= POOL_SIZE) return
    if (piece.byteOffset !== 0) return
    this.free.push(new Uint8Array(piece.buffer, 0, PIECE))
  }
}

interface Stores { blobs: BlobStore, directories: DirectoryStore }

function directPath (blobs: BlobStore, node: Extract<CastoreNode, { type: 'file' }>): string | null {
  const dataPath = (blobs as BlobStore & { dataPath?: (digest: Uint8Array) => string }).dataPath
  return typeof dataPath === 'function' && node.size >= DIRECT_MIN ? dataPath.call(blobs, node.digest) : null
}

async function * readFile (path: string, node: Extract<CastoreNode, { type: 'file' }>, pool: BufferPool, options?: AbortOptions): AsyncGenerator<Uint8Array> {
  let fh: FileHandle
  try {
    fh = await open(path, 'r')
  } catch (err: any) {
    if (err.code === 'ENOENT') throw new NotFoundError(`blob ${toHex(node.digest)} not found`)
    throw err
  }
  const queue: Array<Promise<Uint8Array>> = []
  try {
    if ((await fh.stat()).size !== node.size) throw new NotFoundError(`blob ${toHex(node.digest)} does not have the size its entry says`)
    let next = 0
    const issue = (): void => {
      const n = Math.min(PIECE, node.size - next)
      const at = next
      next += n
      const buf = pool.take()
      const read = fh.read(buf, 0, n, at).then(({ bytesRead }) => {
        if (bytesRead !== n) throw new NotFoundError(`blob ${toHex(node.digest)} shrank while being read`)
        return n === buf.byteLength ? buf : buf.subarray(0, n)
      })
      read.catch(() => {}) // observed when awaited below
      queue.push(read)
    }
    while (next < node.size && queue.length < READS_AHEAD) issue()
    while (queue.length > 0) {
      options?.signal?.throwIfAborted()
      const piece = await queue.shift()!
      if (next < node.size) issue()
      yield piece
    }
  } finally {
    await Promise.allSettled(queue)
    await fh.close()
  }
}

function sourceNode (node: CastoreNode, stores: Stores, pool: BufferPool): NarSourceNode {
  switch (node.type) {
    case 'symlink':
      return { type: 'symlink', target: node.target }
    case 'file': {
      const path = directPath(stores.blobs, node)
      return {
        type: 'regular',
        executable: node.executable,
        size: node.size,
        contents: (options?: AbortOptions) => path != null
          ? readFile(path, node, pool, options)
          : stores.blobs.read(node.digest, { signal: options?.signal })
      }
    }
    case 'directory':
      return {
        type: 'directory',
        entries: async function * (options?: AbortOptions) {
          const dir = await stores.directories.get(node.digest, options)
          if (dir === undefined) throw new NotFoundError(`directory ${toHex(node.digest)} not found`)
          for (const entry of directoryEntries(dir)) yield { name: entry.name, node: sourceNode(entry.node, stores, pool) }
        }
      }
  }
}

/** A NAR stream plus `release`, to be called with each piece once it has been written. */
export interface ServedNar {
  stream: AsyncGenerator<Uint8Array>
  release: (piece: Uint8Array) => void
}

/** The NAR of a castore node, for streaming to a socket. */
export function serveNar (node: CastoreNode, stores: Stores, options?: AbortOptions): ServedNar {
  const pool = new BufferPool()
  return { stream: writeNar(sourceNode(node, stores, pool), options), release: (piece) => { pool.release(piece) } }
}
