/**
 * castore → NAR, as a stream (§1.9, snix `nar/renderer.rs`): directories are fetched as the
 * walk reaches them, entries merged into name order, file contents streamed from the
 * BlobStore. The output is canonical, so a path ingested from a canonical NAR renders to the
 * identical bytes.
 */
import type { AbortOptions } from '../abort.ts'
import { writeNar } from '../nar/index.ts'
import type { NarSourceNode } from '../nar/index.ts'
import type { BlobStore } from './blob-store.ts'
import type { DirectoryStore } from './directory-store.ts'
import type { CastoreNode } from './directory.ts'
import { directoryEntries } from './directory.ts'
import { toHex } from './digest.ts'
import { NotFoundError } from './errors.ts'

export interface RenderStores {
  blobs: BlobStore
  directories: DirectoryStore
}

/** Lazily maps a castore node onto the NAR writer's source tree. */
export function narSourceFromNode (node: CastoreNode, stores: RenderStores): NarSourceNode {
  switch (node.type) {
    case 'symlink':
      return { type: 'symlink', target: node.target }
    case 'file':
      return {
        type: 'regular',
        executable: node.executable,
        size: node.size,
        contents: (options?: AbortOptions) => stores.blobs.read(node.digest, { signal: options?.signal })
      }
    case 'directory':
      return {
        type: 'directory',
        entries: async function * (options?: AbortOptions) {
          const dir = await stores.directories.get(node.digest, options)
          if (dir === undefined) throw new NotFoundError(`directory ${toHex(node.digest)} not found`)
          for (const entry of directoryEntries(dir)) {
            yield { name: entry.name, node: narSourceFromNode(entry.node, stores) }
          }
        }
      }
  }
}

export function renderNar (node: CastoreNode, stores: RenderStores, options?: AbortOptions): AsyncGenerator<Uint8Array> {
  return writeNar(narSourceFromNode(node, stores), options)
}
