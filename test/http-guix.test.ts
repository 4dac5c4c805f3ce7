/**
 * The Guix dialect (binary-cache.md §5): `guix publish`-style endpoints on their own listener
 * for /gnu/store paths — nix-cache-info, narinfos with several URL/Compression pairs and a
 * Guix signature that the verifier from the core accepts, NARs under /nar/<base>,
 * /nar/{none,zstd,gzip}/<base> (URI-encoded names), pipelined narinfo lookups each with
 * Content-Length. Guix is not installable here, so formats are checked against the spec and
 * the real berlin narinfo fixture.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import zlib from 'node:zlib'
import { fixture } from './fixtures.ts'
import { fixtureStore, startCache, rawExchange, parseResponses, rawRequest, TREE } from './helpers/http.ts'
import type { TestStore, Started } from './helpers/http.ts'
import { parseGuixNarInfo, parseGuixNarInfoFields, guixNarInfoSignedPart, equivalentGuixNarInfo, createGuixNarInfo, renderGuixNarInfo } from '../src/nix/guix-narinfo.ts'
import { generateGuixKeyPair, verifyGuixNarInfo, parseGuixPublicKey } from '../src/nix/guix-signature.ts'
import { makeFixedOutputPath } from '../src/nix/store-path.ts'
import { encodeNixBase32 } from '../src/nix/base32.ts'

const keys = generateGuixKeyPair()
let store: TestStore
let guix: Started
let nix: Started
let treeNar: Buffer
let gnuTree: string
let gnuPlus: string

beforeAll(async () => {
  store = await fixtureStore()
  treeNar = await readFile(fixture('real-nix', 'tree', 'tree.nar'))
  const narHash = createHash('sha256').update(treeNar).digest()
  // the same content as a Guix path: same algorithm, other store dir (§4.4)
  gnuTree = makeFixedOutputPath({ method: 'recursive', hash: { algorithm: 'sha256', digest: narHash }, name: 'tree', storeDir: '/gnu/store' }).toString()
  await store.castore.importNar([treeNar], { storePath: gnuTree, ca: `fixed:r:sha256:${encodeNixBase32(narHash)}` })
  gnuPlus = `/gnu/store/${'a'.repeat(32)}-gtk+-2.24.33`
  await store.castore.importNar([treeNar], { storePath: gnuPlus, references: [gnuTree, gnuPlus], deriver: `/gnu/store/${'b'.repeat(32)}-gtk+-2.24.33.drv` })
  guix = await startCache({ castore: store.castore, dialect: 'guix', signing: { guixKey: keys.secretKey, hostname: 'node.example' }, compressed: store.compressed, guixCompressions: ['zstd', 'gzip', 'none'] })
  nix = await startCache({ castore: store.castore })
})
afterAll(async () => {
  await guix?.cache.stop()
  await nix?.cache.stop()
  await store?.close()
})

const hashOf = (p: string): string => p.slice('/gnu/store/'.length, '/gnu/store/'.length + 32)

async function getText (url: string): Promise<string> {
  const res = await fetch(url)
  expect(res.status).toBe(200)
  return await res.text()
}

describe('Guix listener', () => {
  it('announces /gnu/store like guix publish', async () => {
    expect(await getText(`${guix.url}/nix-cache-info`)).toBe('StoreDir: /gnu/store\nWantMassQuery: 0\nPriority: 100\n')
  })

  it('serves narinfos in the current guix publish layout, signed with the node key', async () => {
    const res = await fetch(`${guix.url}/${hashOf(gnuPlus)}.narinfo`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/x-nix-narinfo')
    const text = await res.text()
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text))
    const info = parseGuixNarInfo(text)
    expect(info.storePath).toBe(gnuPlus)
    expect(info.narHash).toBe(`sha256:${encodeNixBase32(createHash('sha256').update(treeNar).digest())}`)
    expect(info.narSize).toBe(treeNar.length)
    expect(info.references).toEqual([gnuPlus, gnuTree].sort().map(p => p.slice('/gnu/store/'.length)))
    expect(info.deriver).toBe(`${'b'.repeat(32)}-gtk+-2.24.33.drv`)
    // StorePath, NarHash, NarSize, References, Deriver, Signature, then URL/Compression pairs
    const keysInOrder = parseGuixNarInfoFields(text).map(f => f.key)
    expect(keysInOrder.slice(0, 6)).toEqual(['StorePath', 'NarHash', 'NarSize', 'References', 'Deriver', 'Signature'])
    expect(info.nars.map(n => n.compression)).toEqual(['zstd', 'gzip', 'none'])
    expect(info.nars.map(n => n.url)).toEqual(['zstd', 'gzip', 'none'].map(c => `nar/${c === 'none' ? '' : c + '/'}${hashOf(gnuPlus)}-gtk%2B-2.24.33`))
    // the signed part holds what Guix requires, and the signature verifies with our key only
    const signed = Buffer.from(guixNarInfoSignedPart(text)!).toString()
    for (const k of ['StorePath:', 'NarHash:', 'References:']) expect(signed).toContain(k)
    expect(signed).not.toContain('URL:')
    const ok = verifyGuixNarInfo(text, [keys.publicKey])
    expect(ok.ok).toBe(true)
    expect(ok.status).toBe('valid-signature')
    expect(verifyGuixNarInfo(text, [generateGuixKeyPair().publicKey]).status).toBe('unauthorized-key')
    const berlin = parseGuixPublicKey(await readFile(fixture('narinfo', 'guix', 'berlin.guix.gnu.org.pub')))
    expect(verifyGuixNarInfo(text, [berlin]).ok).toBe(false)
    expect(info.signature).toMatch(/^1;node\.example;/)
  })

  it('gives FileSize for every URL once all are known, and none before (Guix zips the lists)', async () => {
    const before = parseGuixNarInfo(await getText(`${guix.url}/${hashOf(gnuTree)}.narinfo`))
    expect(before.nars.every(n => n.fileSize === undefined)).toBe(true)
    const sizes: Record<string, number> = {}
    for (const n of before.nars) {
      const res = await fetch(`${guix.url}/${n.url}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/x-nix-archive; charset=ISO-8859-1')
      const body = Buffer.from(await res.arrayBuffer())
      expect(Number(res.headers.get('content-length'))).toBe(body.length)
      sizes[n.compression!] = body.length
      const nar = n.compression === 'zstd' ? zlib.zstdDecompressSync(body) : n.compression === 'gzip' ? zlib.gunzipSync(body) : body
      expect(nar.equals(treeNar)).toBe(true)
    }
    const text = await getText(`${guix.url}/${hashOf(gnuTree)}.narinfo`)
    const after = parseGuixNarInfo(text)
    expect(after.nars.map(n => [n.compression, n.fileSize])).toEqual([['zstd', sizes.zstd], ['gzip', sizes.gzip], ['none', treeNar.length]])
    expect(verifyGuixNarInfo(text, [keys.publicKey]).ok).toBe(true)
  })

  it('serves /nar/<base>, /nar/none/<base> and URI-encoded names, with Range, and 404 for names that do not match', async () => {
    for (const target of [`/nar/${hashOf(gnuPlus)}-gtk%2B-2.24.33`, `/nar/none/${hashOf(gnuPlus)}-gtk+-2.24.33`]) {
      const r = await rawRequest(guix.port, 'GET', target)
      expect(r.status, target).toBe(200)
      expect(r.body.equals(treeNar)).toBe(true)
    }
    const part = await rawRequest(guix.port, 'GET', `/nar/${hashOf(gnuTree)}-tree`, { Range: 'bytes=1000-' })
    expect(part.status).toBe(206)
    expect(part.body.equals(treeNar.subarray(1000))).toBe(true)
    expect((await rawRequest(guix.port, 'GET', `/nar/${hashOf(gnuTree)}-other`)).status).toBe(404)
    expect((await rawRequest(guix.port, 'GET', `/nar/lzip/${hashOf(gnuTree)}-tree`)).status).toBe(404)
    expect((await rawRequest(guix.port, 'GET', '/nar/..%2F..%2Fetc%2Fpasswd')).status).toBe(400)
  })

  it('answers a pipelined batch of narinfo lookups in order, 200 and 404 alike with Content-Length', async () => {
    const hashes = [hashOf(gnuTree), '0'.repeat(32), hashOf(gnuPlus), '1'.repeat(32), hashOf(gnuTree)]
    const payload = hashes.map((h, i) => `GET /${h}.narinfo HTTP/1.1\r\nHost: x\r\nUser-Agent: GNU Guile\r\n${i === hashes.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join('')
    const responses = parseResponses(await rawExchange(guix.port, payload))
    expect(responses.map(r => r.status)).toEqual([200, 404, 200, 404, 200])
    for (const r of responses) expect(r.headers['content-length']).toBe(String(r.body.length))
    expect(parseGuixNarInfo(responses[2].body).storePath).toBe(gnuPlus)
    expect(responses[1].headers['cache-control']).toMatch(/max-age=\d+/)
  })

  it('keeps the two store directories apart: Nix paths only on the Nix listener, Guix paths only on the Guix one', async () => {
    expect((await fetch(`${guix.url}/${TREE.slice(11, 43)}.narinfo`)).status).toBe(404)
    expect((await fetch(`${nix.url}/${hashOf(gnuTree)}.narinfo`)).status).toBe(404)
    expect((await fetch(`${nix.url}/${TREE.slice(11, 43)}.narinfo`)).status).toBe(200)
  })

  it('produces narinfos equivalent to what an official server would sign for the same item (unsigned mirror rule)', async () => {
    const ours = parseGuixNarInfo(await getText(`${guix.url}/${hashOf(gnuTree)}.narinfo`))
    const official = parseGuixNarInfo(renderGuixNarInfo(createGuixNarInfo({
      storePath: gnuTree,
      narHash: ours.narHash,
      narSize: treeNar.length,
      references: [],
      nars: [{ url: `nar/lzip/${hashOf(gnuTree)}-tree`, compression: 'lzip', fileSize: 900 }]
    })))
    expect(equivalentGuixNarInfo(ours, official)).toBe(true)
  })

  it('serves the public key, is GET-only and never upload-capable', async () => {
    const key = await getText(`${guix.url}/signing-key.pub`)
    expect(parseGuixPublicKey(key).q).toEqual(keys.publicKey.q)
    const put = await rawRequest(guix.port, 'PUT', `/${hashOf(gnuTree)}.narinfo`, {}, Buffer.from('x'))
    expect(put.status).toBe(405)
    expect(guix.errors).toEqual([])
  })

  it('serves unsigned narinfos with signing mode none (for the equivalent-narinfo rule)', async () => {
    const unsigned = await startCache({ castore: store.castore, dialect: 'guix', signing: { guixKey: keys.secretKey, mode: 'none' } })
    try {
      const text = await getText(`${unsigned.url}/${hashOf(gnuTree)}.narinfo`)
      expect(parseGuixNarInfo(text).signature).toBeUndefined()
      expect(parseGuixNarInfo(text).nars.map(n => n.compression)).toEqual(['none'])
    } finally {
      await unsigned.cache.stop()
    }
  })
})
