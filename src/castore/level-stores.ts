/**
 * DirectoryStore and PathInfoStore on `level` (LevelDB, embedded; the default backend).
 * One database holds both, in sublevels `dir` (digest hex → encoded Directory) and
 * `path` (hash part → PathInfo JSON). Batches are atomic in LevelDB, and each write is synced.
 */
import { Level } from 'level'
import type { AbortOptions } from '../abort.ts'
import type { DirectoryStore } from './directory-store.ts'
import { createDirectoryStore } from './directory-store-common.ts'
import type { PathInfoStore } from './path-info-store.ts'
import type { PathInfo } from './path-info.ts'
import { StoreLockedError } from './errors.ts'
import { pathInfoFromJSON, pathInfoToJSON, splitStorePath, validatePathInfo } from './path-info.ts'

/** A small key-value namespace in the same database, for indexes kept beside the castore. */
export interface KeyValueStore {
  get: (key: string, options?: AbortOptions) => Promise<Uint8Array | undefined>
  putMany: (entries: Array<{ key: string, value: Uint8Array }>, options?: AbortOptions) => Promise<void>
  delete: (key: string, options?: AbortOptions) => Promise<void>
  /** every entry, in key order (pins and other small namespaces) */
  entries?: (options?: AbortOptions) => AsyncIterable<{ key: string, value: Uint8Array }>
}

export interface CastoreDb {
  directories: DirectoryStore
  pathInfos: PathInfoStore
  /** opens (or reuses) the namespace `name` */
  kv: (name: string) => KeyValueStore
  close: () => Promise<void>
}

export interface LevelStoresInit {
  /** directory of the LevelDB database */
  location: string
  /** sync every write to disk (default true) */
  sync?: boolean
}

export async function openLevelStores (init: LevelStoresInit, options?: AbortOptions): Promise<CastoreDb> {
  options?.signal?.throwIfAborted()
  const db = new Level<string, Uint8Array>(init.location, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    await db.open()
  } catch (err: any) {
    if (err?.cause?.code === 'LEVEL_LOCKED') {
      throw new StoreLockedError(`the store at ${init.location} is in use by another process (a running \`storeswarm serve\`?): stop it, or use another data directory`)
    }
    throw err
  }
  // classic-level honours `sync` (fsync before returning); abstract-level's types don't list it
  const writeOptions = { sync: init.sync ?? true, keyEncoding: 'utf8' as const }
  const dirs = db.sublevel<string, Uint8Array>('dir', { keyEncoding: 'utf8', valueEncoding: 'view' })
  const paths = db.sublevel<string, string>('path', { keyEncoding: 'utf8', valueEncoding: 'utf8' })

  const directories = createDirectoryStore({
    async getRaw (key) { return await dirs.get(key) },
    async putRaw (entries) {
      if (entries.length === 0) return
      await dirs.batch(entries.map(e => ({ type: 'put' as const, key: e.key, value: e.value })), writeOptions)
    },
    async deleteRaw (key) { await dirs.del(key, writeOptions) },
    async * keys (opts) {
      for await (const key of dirs.keys()) {
        opts?.signal?.throwIfAborted()
        yield key
      }
    }
  })

  const pathInfos: PathInfoStore = {
    async get (hashPart) {
      const json = await paths.get(hashPart)
      return json === undefined ? undefined : pathInfoFromJSON(JSON.parse(json))
    },
    async put (info: PathInfo) {
      validatePathInfo(info)
      await paths.put(splitStorePath(info.storePath).hashPart, JSON.stringify(pathInfoToJSON(info)), writeOptions)
    },
    async delete (hashPart) { await paths.del(hashPart, writeOptions) },
    async * list (opts) {
      for await (const json of paths.values()) {
        opts?.signal?.throwIfAborted()
        yield pathInfoFromJSON(JSON.parse(json))
      }
    }
  }

  const kv = (name: string): KeyValueStore => {
    const sub = db.sublevel<string, Uint8Array>(`kv-${name}`, { keyEncoding: 'utf8', valueEncoding: 'view' })
    return {
      async get (key) { return await sub.get(key) },
      async putMany (entries) {
        if (entries.length === 0) return
        await sub.batch(entries.map(e => ({ type: 'put' as const, key: e.key, value: e.value })), writeOptions)
      },
      async delete (key) { await sub.del(key, writeOptions) },
      async * entries (opts) {
        for await (const [key, value] of sub.iterator()) {
          opts?.signal?.throwIfAborted()
          yield { key, value }
        }
      }
    }
  }

  return { directories, pathInfos, kv, close: async () => { await db.close() } }
}
