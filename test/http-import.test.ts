/**
 * `import --from-cache`: reading Nix binary caches written by real Nix 2.8 (file://, every
 * compression it writes) and other nodes over http://, checking signatures, FileHash/NarHash,
 * following closures — and agreeing with Nix 2.8 on which of the 45 client cases are
 * acceptable substitutes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, rm, readFile, readdir, cp, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { fixture } from './fixtures.ts'
import { requireTool, hasTool } from './helpers/tools.ts'
import { fixtureStore, startCache, HELLO, DEP, TREE, testKey } from './helpers/http.ts'
import type { TestStore } from './helpers/http.ts'
import { collect } from './nar-helpers.ts'
import { importFromCache, openBinaryCacheSource, CacheImportError, UnsupportedCompressionError } from '../src/http/index.ts'
import { parseNarInfo } from '../src/nix/narinfo.ts'
import { generateSigningKey, toPublicKey, formatPublicKey } from '../src/nix/signing.ts'
import type { PublicKey } from '../src/nix/signing.ts'
import { systemDecompressors } from '../node/decompress.ts'

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
let key: PublicKey
let work: string
const stores: TestStore[] = []
const nars = new Map<string, Buffer>()

beforeAll(async () => {
  key = await testKey()
  work = await mkdtemp(join(tmpdir(), 'storeswarm-import-'))
  const dir = fixture('real-nix', 'cache-none')
  for (const f of (await readdir(dir)).filter(f => f.endsWith('.narinfo'))) {
    const ni = parseNarInfo(await readFile(join(dir, f)))
    nars.set(ni.storePath.toString(), await readFile(join(dir, ni.url)))
  }
})
afterAll(async () => {
  for (const s of stores) await s.close()
  await rm(work, { recursive: true, force: true })
})

async function empty (): Promise<TestStore> {
  const s = await fixtureStore(false)
  stores.push(s)
  return s
}

async function exported (s: TestStore, path: string): Promise<Buffer> {
  return Buffer.from(await collect(s.castore.exportNar(path)))
}

describe('import from file:// caches written by Nix 2.8', () => {
  const compressions = ['none', 'xz', 'bzip2', 'zstd', 'br', 'gzip', 'lz4', 'lzip']
  for (const c of compressions) {
    it(`imports the hello closure from cache-${c}`, async () => {
      const command = { xz: 'xz', bzip2: 'bzip2', lz4: 'lz4', lzip: 'lzip' }[c]
      const present = command === undefined || (c === 'xz' || c === 'bzip2' ? requireTool(command, c === 'xz' ? 'xz-utils' : 'bzip2') : hasTool(command))
      const s = await empty()
      const run = importFromCache({ castore: s.castore, source: openBinaryCacheSource(`file://${fixture('real-nix', `cache-${c}`)}`), paths: [HELLO], closure: true, trustedKeys: [key], decompressors: systemDecompressors() })
      if (!present) {
        // lzip/lz4 are optional: without the command the error says what to install
        await expect(run).rejects.toThrow(UnsupportedCompressionError)
        await expect(run).rejects.toThrow(/apt-get install/)
        expect(await s.castore.getPathInfo(HELLO)).toBeUndefined()
        return
      }
      const result = await run
      expect(result.imported).toEqual([DEP, HELLO])
      for (const p of [HELLO, DEP]) expect((await exported(s, p)).equals(nars.get(p)!)).toBe(true)
      const info = await s.castore.getPathInfo(HELLO)
      expect(info!.signatures[0]).toMatch(/^test-cache-1:/)
      expect(info!.deriver).toBe('/nix/store/5lsr47d6lb6h68vx9fji08b455jjsxif-hello-ia-1.0.drv')
    })
  }

  it('imports a content-addressed path without any trusted key (its CA proves it)', async () => {
    const s = await empty()
    const r = await importFromCache({ castore: s.castore, source: openBinaryCacheSource(`file://${fixture('real-nix', 'cache-none')}`), paths: ['mbig2lb0l0g5haak3zgg7lkjsypn90pw'], trustedKeys: [] })
    expect(r.imported).toEqual([TREE])
    expect((await s.castore.getPathInfo(TREE))!.ca).toMatch(/^fixed:r:sha256:/)
  })

  it('refuses untrusted signatures, missing paths and corrupt files, leaving nothing valid', async () => {
    const s = await empty()
    const source = openBinaryCacheSource(`file://${fixture('real-nix', 'cache-none')}`)
    await expect(importFromCache({ castore: s.castore, source, paths: [HELLO], trustedKeys: [] })).rejects.toThrow(/not signed by any trusted key/)
    await expect(importFromCache({ castore: s.castore, source, paths: [HELLO], trustedKeys: [toPublicKey(generateSigningKey('test-cache-1'))] })).rejects.toThrow(CacheImportError)
    await expect(importFromCache({ castore: s.castore, source, paths: ['/nix/store/00000000000000000000000000000000-nope'], trustedKeys: [key] })).rejects.toThrow(/is not in/)
    expect(await s.castore.getPathInfo(HELLO)).toBeUndefined()
    // accepted with --no-check-sigs
    await importFromCache({ castore: s.castore, source, paths: [DEP], noCheckSigs: true })
    expect(await s.castore.getPathInfo(DEP)).toBeDefined()

    // a copy of the cache with a corrupted NAR, then with a wrong (unsigned) FileHash
    const copy = join(work, 'corrupt')
    await cp(fixture('real-nix', 'cache-none'), copy, { recursive: true })
    const ni = parseNarInfo(await readFile(join(copy, 'l3z61ajw87plwaj8680kwzg5kkw0dch6.narinfo')))
    const narFile = join(copy, ni.url)
    await chmod(narFile, 0o644)
    const bytes = await readFile(narFile)
    bytes[bytes.length - 100] ^= 1
    await writeFile(narFile, bytes)
    const t = await empty()
    await expect(importFromCache({ castore: t.castore, source: openBinaryCacheSource(`file://${copy}`), paths: [HELLO], closure: true, trustedKeys: [key] })).rejects.toThrow()
    expect(await t.castore.getPathInfo(HELLO)).toBeUndefined()
    bytes[bytes.length - 100] ^= 1
    await writeFile(narFile, bytes)
    const infoFile = join(copy, 'l3z61ajw87plwaj8680kwzg5kkw0dch6.narinfo')
    await chmod(infoFile, 0o644)
    const text = await readFile(infoFile, 'utf8')
    await writeFile(infoFile, text.replace(/^FileHash: sha256:\w+$/m, 'FileHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73'))
    await expect(importFromCache({ castore: t.castore, source: openBinaryCacheSource(`file://${copy}`), paths: [HELLO], trustedKeys: [key] })).rejects.toThrow(/FileHash mismatch/)
    expect(await t.castore.getPathInfo(HELLO)).toBeUndefined()
  })
})

describe('agreement with Nix 2.8 on the client cases', () => {
  interface Case { case: string, server_mode: Record<string, unknown>, substituter_url_suffix: string, extra_nix_options: string[], substituted: boolean, nix_output: string[] }
  // cases about HTTP behaviour or client options, or whose URL points at the original server
  const skip = new Set(['absolute-url', 'url-with-query', 'no-nix-cache-info', 'unsigned-trusted', 'unsigned-nosigs'])

  it('accepts exactly the narinfo/NAR combinations Nix 2.8 substituted', async () => {
    const cases: Case[] = JSON.parse(await readFile(fixture('real-nix', 'client-cases', 'results.json'), 'utf8'))
    let checked = 0
    for (const c of cases) {
      if (skip.has(c.case) || Object.keys(c.server_mode).length > 0 || c.substituter_url_suffix !== '' || c.extra_nix_options.length > 0) continue
      const dir = fixture('real-nix', 'client-cases', c.case)
      const hash = (await readdir(dir)).find(f => f.endsWith('.narinfo'))!.slice(0, 32)
      const path = /'(\/nix\/store\/[^']+)'/.exec(c.nix_output.join('\n'))?.[1] ?? `/nix/store/${hash}-synth-${c.case}`
      const s = await empty()
      let imported = false
      let error = ''
      try {
        await importFromCache({ castore: s.castore, source: openBinaryCacheSource(`file://${dir}`), paths: [path], trustedKeys: [key], decompressors: systemDecompressors() })
        imported = (await s.castore.getPathInfo(path)) !== undefined
      } catch (err: any) {
        error = err.message
        expect(await s.castore.getPathInfo(path.slice(11, 43))).toBeUndefined()
      }
      expect(imported, `${c.case}: ${error}`).toBe(c.substituted)
      checked++
    }
    expect(checked).toBeGreaterThanOrEqual(27)
  })
})

describe('import over http:// from another node', () => {
  it('pulls a closure from a running node (uncompressed and zstd), trusting its key', async () => {
    const src = await fixtureStore()
    stores.push(src)
    const nodeKey = generateSigningKey('source-node-1')
    for (const compression of ['none', 'zstd'] as const) {
      const a = await startCache({ castore: src.castore, signing: { nixKey: nodeKey }, compressed: src.compressed, compression })
      try {
        const s = await empty()
        const r = await importFromCache({ castore: s.castore, source: openBinaryCacheSource(a.url), paths: [HELLO, TREE], closure: true, trustedKeys: [toPublicKey(nodeKey)] })
        expect(r.imported.sort()).toEqual([DEP, HELLO, TREE].sort())
        for (const p of [HELLO, DEP, TREE]) expect((await exported(s, p)).equals(nars.get(p)!)).toBe(true)
        expect(a.events.filter(e => e.url.startsWith('/nar/')).every(e => e.url.endsWith(compression === 'zstd' ? '.nar.zst' : '.nar'))).toBe(true)
        // and refuses when the node's key is not trusted (TREE is CA, the others are not)
        const t = await empty()
        await expect(importFromCache({ castore: t.castore, source: openBinaryCacheSource(a.url), paths: [HELLO], trustedKeys: [] })).rejects.toThrow(/not signed/)
      } finally {
        await a.cache.stop()
      }
    }
  })

  it('reports an unreachable cache as an error, not a hang', async () => {
    const s = await empty()
    await expect(importFromCache({ castore: s.castore, source: openBinaryCacheSource('http://127.0.0.1:9/'), paths: [HELLO], trustedKeys: [key] })).rejects.toThrow(CacheImportError)
  })
})

describe('storeswarm import --from-cache (CLI)', () => {
  function cli (args: string[], dataDir: string): { status: number, stdout: string, stderr: string } {
    const r = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, STORESWARM_DATA_DIR: dataDir } })
    return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
  }

  it('imports a closure with a trusted key, prints the paths, and fails clearly without one', async () => {
    requireTool('xz', 'xz-utils')
    const dataDir = join(work, 'cli-data')
    const url = `file://${fixture('real-nix', 'cache-xz')}`
    const refused = cli(['import', '--from-cache', url, HELLO, '--closure'], dataDir)
    expect(refused.status).toBe(1)
    expect(refused.stderr).toMatch(/not signed by any trusted key \(cache\.nixos\.org-1\)/)
    const r = cli(['import', '--from-cache', url, HELLO, '--closure', '--trusted-public-key', formatPublicKey(key)], dataDir)
    expect(r.stderr).toMatch(/imported 2 path/)
    expect(r.status).toBe(0)
    expect(r.stdout.trim().split('\n')).toEqual([DEP, HELLO])
    const info = cli(['info', HELLO, '--json'], dataDir)
    expect(JSON.parse(info.stdout).narHash).toBe(`sha256:${'1alla391y2lbhzr8ak3xhc3gxvciyvscxzm1hwkwf21q6p1ns4q8'}`)
    const again = cli(['import', '--from-cache', url, HELLO, '--closure', '--trusted-public-key', formatPublicKey(key)], dataDir)
    expect(again.status).toBe(0)
    expect(again.stderr).toMatch(/2 already valid/)
    const usage = cli(['import', '--from-cache', url], dataDir)
    expect(usage.status).toBe(2)
    const mixed = cli(['import', '--from-cache', url, HELLO, '--store-path', HELLO], dataDir)
    expect(mixed.status).toBe(2)
  })
})
