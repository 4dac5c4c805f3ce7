/** In-memory DirectoryStore and PathInfoStore, for tests and simulations. */
import type { DirectoryStore } from './directory-store.ts'
import type { KeyValueStore } from './level-stores.ts'
import { createDirectoryStore } from './directory-store-common.ts'
import type { PathInfoStore } from './path-info-store.ts'
import type { PathInfo } from './path-info.ts'
import { pathInfoFromJSON, pathInfoToJSON, splitStorePath, validatePathInfo } from './path-info.ts'

export function createMemoryDirectoryStore (): DirectoryStore {
  const map = new Map<string, Uint8Array>()
  return createDirectoryStore({
    async getRaw (key) { return map.get(key) },
    async putRaw (entries) { for (const e of entries) map.set(e.key, e.value) },
    async deleteRaw (key) { map.delete(key) },
    async * keys () { yield * [...map.keys()].sort() }
  })
}

export function createMemoryPathInfoStore (): PathInfoStore {
  const map = new Map<string, string>()
  return {
    async get (hashPart) {
      const json = map.get(hashPart)
      return json === undefined ? undefined : pathInfoFromJSON(JSON.parse(json))
    },
    async put (info: PathInfo) {
      validatePathInfo(info)
      map.set(splitStorePath(info.storePath).hashPart, JSON.stringify(pathInfoToJSON(info)))
    },
    async delete (hashPart) { map.delete(hashPart) },
    async * list () {
      for (const key of [...map.keys()].sort()) {
        const json = map.get(key)
        if (json !== undefined) yield pathInfoFromJSON(JSON.parse(json))
      }
    }
  }
}

/** In-memory KeyValueStore (see level-stores.ts). */
export function createMemoryKeyValueStore (): KeyValueStore {
  const map = new Map<string, Uint8Array>()
  return {
    async get (key) { return map.get(key) },
    async putMany (entries) { for (const e of entries) map.set(e.key, e.value) },
    async delete (key) { map.delete(key) },
    async * entries () {
      for (const key of [...map.keys()].sort()) {
        const value = map.get(key)
        if (value !== undefined) yield { key, value }
      }
    }
  }
}
