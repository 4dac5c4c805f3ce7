/**
 * NAR → castore, as one streaming pass (§1.9, snix `ingest_nar_and_hash`): the NAR bytes are
 * hashed (sha256, the NarHash) and counted (NarSize) as they pass to the strict NAR reader;
 * each regular file goes straight into the BlobStore (BLAKE3 digest and outboard computed while
 * it is written); directories are assembled bottom-up and stored leaves → root. Identical files
 * and subtrees get identical digests, so they are stored once.
 */
import { createNarSha256, OFFLOAD_THRESHOLD } from './sha256.ts'
import type { NarSha256 } from './sha256.ts'
import type { AbortOptions } from '../abort.ts'
import { parseNar } from '../nar/index.ts'
import type { NarReaderOptions } from '../nar/index.ts'
import type { BlobStore } from './blob-store.ts'
import type { DirectoryStore } from './directory-store.ts'
import type { CastoreNode, Directory } from './directory.ts'
import { addEntry, directorySize, emptyDirectory, validateSymlinkTarget, encodeDirectory } from './directory.ts'
import { blake3 } from '../blake3/index.ts'

/** directories are written to the DirectoryStore in batches of this many */
const DIRECTORY_BATCH = 256
/** blob commits (fsync + rename) that may run behind the parser */
const MAX_INFLIGHT_COMMITS = 8

export interface IngestOptions extends AbortOptions {
  blobs: BlobStore
  directories: DirectoryStore
  nar?: Omit<NarReaderOptions, 'signal'>
  /** expected NAR length, if known: large NARs are sha256-hashed on a worker thread */
  sizeHint?: number
}

export interface IngestResult {
  node: CastoreNode
  narHash: Uint8Array
  narSize: number
  /** blobs newly written (others were already present) */
  blobsAdded: number
  bytesAdded: number
  files: number
  directories: number
}

/** Tees a byte stream through sha256 (inline or on a worker thread) and a byte counter. */
export class NarHashingSource implements AsyncIterable<Uint8Array> {
  private readonly source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>
  private readonly sha: NarSha256
  size = 0

  constructor (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: { offload?: boolean } = {}) {
    this.source = source
    this.sha = createNarSha256(options)
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    try {
      for await (const piece of this.source) {
        this.sha.update(piece)
        this.size += piece.byteLength
        await this.sha.ready()
        yield piece
      }
    } catch (err) {
      this.sha.close()
      throw err
    }
  }

  async digest (): Promise<Uint8Array> {
    return await this.sha.digest()
  }

  close (): void {
    this.sha.close()
  }
}

export async function ingestNar (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: IngestOptions): Promise<IngestResult> {
  const { blobs, directories, signal } = options
  const hashing = new NarHashingSource(source, { offload: (options.sizeHint ?? 0) >= OFFLOAD_THRESHOLD })
  const stack: Directory[] = []
  let root: CastoreNode | undefined
  let pending: Directory[] = []
  const result = { blobsAdded: 0, bytesAdded: 0, files: 0, directories: 0 }

  const attach = (name: Uint8Array | undefined, node: CastoreNode): void => {
    if (stack.length === 0) root = node
    else addEntry(stack[stack.length - 1], name!, node)
  }
  // Blob commits run behind the parser: a file's entry needs only its digest, known as soon as
  // its bytes are hashed; the fsync and rename finish in the background (bounded), and all of
  // them are awaited before the result is returned.
  const inflight = new Set<Promise<void>>()
  let commitError: unknown
  const putBlob = async (contents: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> => {
    while (inflight.size >= MAX_INFLIGHT_COMMITS) await Promise.race(inflight)
    if (commitError !== undefined) throw commitError
    return await new Promise<Uint8Array>((resolve, reject) => {
      const done = blobs.put(contents, { size, signal, onHashed: resolve })
      const tracked: Promise<void> = done.then(r => {
        result.files++
        if (r.added) { result.blobsAdded++; result.bytesAdded += r.size }
        resolve(r.digest)
      }, err => {
        commitError ??= err
        reject(err)
      }).finally(() => { inflight.delete(tracked) })
      inflight.add(tracked)
    })
  }

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const batch = pending
    pending = []
    await directories.put(batch, { signal })
  }

  try {
    await walk()
  } catch (err) {
    // let commits already under way settle, so nothing is left writing after we return
    await Promise.allSettled(inflight)
    hashing.close()
    throw err
  }
  await Promise.all(inflight)
  if (commitError !== undefined) { hashing.close(); throw commitError }
  if (root === undefined) throw new Error('NAR reader ended without a root node')
  return { node: root, narHash: await hashing.digest(), narSize: hashing.size, ...result }

  async function walk (): Promise<void> {
  for await (const ev of parseNar(hashing, { ...options.nar, signal })) {
    const name = ev.path.length > 0 ? new Uint8Array(ev.path[ev.path.length - 1]) : undefined
    switch (ev.type) {
      case 'directory':
        stack.push(emptyDirectory())
        break
      case 'end-directory': {
        const dir = stack.pop()!
        const node: CastoreNode = { type: 'directory', digest: blake3(encodeDirectory(dir)), size: directorySize(dir) }
        pending.push(dir)
        result.directories++
        if (pending.length >= DIRECTORY_BATCH) await flush()
        attach(name, node)
        break
      }
      case 'regular': {
        const digest = await putBlob(ev.contents, ev.size)
        attach(name, { type: 'file', digest, size: ev.size, executable: ev.executable })
        break
      }
      case 'symlink':
        validateSymlinkTarget(ev.target)
        attach(name, { type: 'symlink', target: new Uint8Array(ev.target) })
        break
    }
  }
  await flush()
  }
}
