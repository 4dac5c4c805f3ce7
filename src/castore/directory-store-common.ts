/**
 * Behaviour shared by DirectoryStore backends: validation of a batch leaves → root and the
 * breadth-first recursive walk. Backends only provide raw get/put of encoded messages.
 */
import type { AbortOptions } from '../abort.ts'
import type { B3Digest } from './digest.ts'
import { toHex } from './digest.ts'
import type { Directory } from './directory.ts'
import { decodeDirectory, directoryMinimumSize, encodeDirectory, validateDirectory } from './directory.ts'
import { blake3 } from '../blake3/index.ts'
import { CastoreValidationError, DigestMismatchError, NotFoundError } from './errors.ts'
import { MAX_DIRECTORIES_PER_TREE } from './constants.ts'
import type { DirectoryStore } from './directory-store.ts'

export interface RawDirectoryBackend {
  getRaw: (key: string, options?: AbortOptions) => Promise<Uint8Array | undefined>
  putRaw: (entries: Array<{ key: string, value: Uint8Array }>, options?: AbortOptions) => Promise<void>
  deleteRaw: (key: string, options?: AbortOptions) => Promise<void>
  keys: (options?: AbortOptions) => AsyncIterable<string>
}

export function createDirectoryStore (backend: RawDirectoryBackend): DirectoryStore {
  const get = async (digest: B3Digest, options?: AbortOptions): Promise<Directory | undefined> => {
    const raw = await backend.getRaw(toHex(digest), options)
    if (raw === undefined) return undefined
    const actual = blake3(raw)
    if (toHex(actual) !== toHex(digest)) throw new DigestMismatchError(`stored directory ${toHex(digest)}`, toHex(digest), toHex(actual))
    return decodeDirectory(raw)
  }
  return {
    get,
    async has (digest, options) {
      return (await backend.getRaw(toHex(digest), options)) !== undefined
    },
    async put (directories, options) {
      const fresh = new Map<string, Directory>()
      const out: B3Digest[] = []
      const batch: Array<{ key: string, value: Uint8Array }> = []
      for (const dir of directories) {
        options?.signal?.throwIfAborted()
        validateDirectory(dir)
        for (const child of dir.directories) {
          const key = toHex(child.digest)
          const known = fresh.get(key) ?? await get(child.digest, options)
          if (known === undefined) throw new NotFoundError(`directory refers to ${key}, which is not stored (put leaves before roots)`)
          if (child.size < directoryMinimumSize(known)) {
            throw new CastoreValidationError(`entry ${Buffer.from(child.name).toString('latin1')} claims size ${child.size}, below the ${directoryMinimumSize(known)} elements of ${key}`)
          }
        }
        const bytes = encodeDirectory(dir)
        const digest = blake3(bytes)
        const key = toHex(digest)
        fresh.set(key, dir)
        batch.push({ key, value: bytes })
        out.push(digest)
      }
      await backend.putRaw(batch, options)
      return out
    },
    async * getRecursive (root, options) {
      const seen = new Set<string>([toHex(root)])
      let level: B3Digest[] = [root]
      while (level.length > 0) {
        const next: B3Digest[] = []
        for (const digest of level) {
          options?.signal?.throwIfAborted()
          const directory = await get(digest, options)
          if (directory === undefined) throw new NotFoundError(`directory ${toHex(digest)} not found`)
          yield { digest, directory }
          for (const child of directory.directories) {
            const key = toHex(child.digest)
            if (seen.has(key)) continue
            seen.add(key)
            if (seen.size > MAX_DIRECTORIES_PER_TREE) throw new CastoreValidationError(`tree has more than ${MAX_DIRECTORIES_PER_TREE} directories`)
            next.push(child.digest)
          }
        }
        level = next
      }
    },
    async delete (digest, options) {
      await backend.deleteRaw(toHex(digest), options)
    },
    async * list (options) {
      for await (const key of backend.keys(options)) yield new Uint8Array(Buffer.from(key, 'hex'))
    }
  }
}
