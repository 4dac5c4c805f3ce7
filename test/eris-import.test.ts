/**
 * Substitution of a store path whose narinfo gives only an ERIS URN: `importFromCache` decodes
 * the NAR block by block from an ERIS store — by default the cache's own base URL, since
 * storeswarm nodes serve `/uri-res/N2R` — and checks it against NarHash / NarSize as usual. The
 * same happens when the narinfo's URL fails. A capability naming other content is refused.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createHash } from 'node:crypto'
import { ErisPathIndex } from '../src/eris/index.ts'
import { importFromCache, CacheImportError } from '../src/http/index.ts'
import type { BinaryCacheSource } from '../src/http/index.ts'
import type { PublicKey } from '../src/nix/signing.ts'
import { splitStorePath } from '../src/castore/index.ts'
import { collect } from './nar-helpers.ts'
import { fixtureStore, startCache, HELLO, TREE, testKey } from './helpers/http.ts'
import type { Started, TestStore } from './helpers/http.ts'

let a: TestStore
let served: Started
let key: PublicKey
const urns = new Map<string, string>()
const narinfos = new Map<string, string>()

const hashPart = (p: string): string => splitStorePath(p).hashPart

/** A cache whose narinfos are `texts` (by hash part) and whose NAR files all fail. */
function cacheSource (url: string, texts: Map<string, string>, requested: string[] = []): BinaryCacheSource {
  return {
    url,
    get: async (path) => {
      const m = /^([0-9a-z]{32})\.narinfo$/.exec(path)
      const text = m === null ? undefined : texts.get(m[1])
      return text === undefined ? undefined : new TextEncoder().encode(text)
    },
    stream: async (url) => {
      requested.push(url)
      throw new CacheImportError(`${url} does not exist in the cache`)
    }
  }
}

/** The narinfo without the lines that say where the NAR file is. */
function erisOnly (text: string): string {
  return text.split('\n').filter(l => !/^(URL|Compression|FileHash|FileSize):/.test(l)).join('\n')
}

beforeAll(async () => {
  key = await testKey()
  a = await fixtureStore()
  const index = new ErisPathIndex(a.castore)
  for (const p of [HELLO, TREE]) {
    const info = await a.castore.getPathInfo(p)
    urns.set(p, (await index.encodePath(info!)).urn)
  }
  served = await startCache({ castore: a.castore })
  for (const p of [HELLO, TREE]) {
    const res = await fetch(`${served.url}/${hashPart(p)}.narinfo`)
    narinfos.set(p, await res.text())
  }
})

afterAll(async () => {
  await served?.cache.stop()
  await a?.close()
})

describe('ERIS-only narinfos', () => {
  it('the node advertises the URN and a signature that does not cover the URL', () => {
    expect(narinfos.get(TREE)).toContain(`\nERIS: ${urns.get(TREE)!}\n`)
    expect(narinfos.get(TREE)).toMatch(/\nSig: /)
  })

  it('a narinfo without URL is substituted from the node\'s N2R endpoint (the cache URL); NarHash matches', async () => {
    const b = await fixtureStore(false)
    try {
      const text = erisOnly(narinfos.get(TREE)!)
      expect(text).not.toMatch(/^URL:/m)
      const requested: string[] = []
      const before = served.events.length
      const r = await importFromCache({ castore: b.castore, source: cacheSource(served.url, new Map([[hashPart(TREE), text]]), requested), paths: [TREE], trustedKeys: [key] })
      expect(r.imported).toEqual([TREE])
      expect(requested).toEqual([])
      // the blocks came from the node's /uri-res/N2R
      expect(served.events.slice(before).some(e => e.url.startsWith('/uri-res/N2R') && e.status === 200)).toBe(true)
      const info = await b.castore.getPathInfo(TREE)
      const mine = await collect(b.castore.exportNar(TREE))
      const theirs = await collect(a.castore.exportNar(TREE))
      expect(Buffer.compare(mine, theirs)).toBe(0)
      expect(createHash('sha256').update(mine).digest('hex')).toBe(Buffer.from(info!.narHash).toString('hex'))
    } finally {
      await b.close()
    }
  })

  it('a narinfo whose URL fails falls back to ERIS from the given --eris-store', async () => {
    const b = await fixtureStore(false)
    try {
      const requested: string[] = []
      const source = cacheSource('file:///nonexistent-cache', new Map([[hashPart(TREE), narinfos.get(TREE)!]]), requested)
      const r = await importFromCache({ castore: b.castore, source, paths: [TREE], trustedKeys: [key], erisStore: served.url })
      expect(r.imported).toEqual([TREE])
      expect(requested).toHaveLength(1)
      expect((await b.castore.getPathInfo(TREE))?.narSize).toBe((await a.castore.getPathInfo(TREE))?.narSize)
      // without ERIS the same failure is the error
      const c = await fixtureStore(false)
      try {
        await expect(importFromCache({ castore: c.castore, source, paths: [TREE], trustedKeys: [key], erisStore: false })).rejects.toThrow(/does not exist in the cache/)
        expect(await c.castore.getPathInfo(TREE)).toBeUndefined()
      } finally {
        await c.close()
      }
    } finally {
      await b.close()
    }
  })

  it('an ERIS field naming other content fails the NarHash / NarSize check; nothing becomes valid', async () => {
    const b = await fixtureStore(false)
    try {
      const forged = erisOnly(narinfos.get(TREE)!).replace(urns.get(TREE)!, urns.get(HELLO)!)
      const source = cacheSource(served.url, new Map([[hashPart(TREE), forged]]))
      await expect(importFromCache({ castore: b.castore, source, paths: [TREE], trustedKeys: [key] })).rejects.toThrow(/through ERIS failed: .*expected/)
      expect(await b.castore.getPathInfo(TREE)).toBeUndefined()
    } finally {
      await b.close()
    }
  })

  it('an ERIS-only narinfo with no ERIS store to ask (file:// cache) is a clear error', async () => {
    const b = await fixtureStore(false)
    try {
      const source = cacheSource('file:///nonexistent-cache', new Map([[hashPart(TREE), erisOnly(narinfos.get(TREE)!)]]))
      await expect(importFromCache({ castore: b.castore, source, paths: [TREE], trustedKeys: [key] })).rejects.toThrow(/no ERIS store/)
      expect(await b.castore.getPathInfo(TREE)).toBeUndefined()
    } finally {
      await b.close()
    }
  })
})
