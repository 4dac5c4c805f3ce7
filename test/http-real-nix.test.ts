/**
 * The four real-Nix scenarios of issue 3, with the real Nix 2.8 client (`nix-bin`) on loopback,
 * chroot stores in temp dirs and an isolated HOME/XDG_CACHE_HOME per Nix invocation:
 *
 * 1. `nix copy --from http://node --to DIR` of paths the node imported (from a file:// cache
 *    Nix wrote, xz-compressed and signed), with require-sigs and only the node's key trusted;
 *    then `nix-store --verify --check-contents` is clean.
 * 2. `nix copy --to http://node` of closures built by real Nix (xz, the default, and zstd),
 *    then a second store substitutes them back from the node.
 * 3. Nix as a substituter (`nix-store -r --option substituters http://node`) fetching a
 *    300 MiB NAR, with the first download cut server-side and resumed with `Range` (206).
 * 4. A path the node does not hold: 404, and Nix falls back to the next substituter.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes, createHash } from 'node:crypto'
import { fixture } from './fixtures.ts'
import { requireTool } from './helpers/tools.ts'
import { nixRun, nixBuild, closureExpr, NIX_CMD, CHROOT_OPTS } from './helpers/nix.ts'
import { startCache } from './helpers/http.ts'
import type { Started } from './helpers/http.ts'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { CompressedNarCache, importFromCache, openBinaryCacheSource } from '../src/http/index.ts'
import { parsePublicKey, generateSigningKey, formatPublicKey, toPublicKey } from '../src/nix/signing.ts'
import { writeNar } from '../src/nar/index.ts'
import { encodeNixBase32 } from '../src/nix/base32.ts'
import { StorePath } from '../src/nix/store-path.ts'
import { loadOrCreateKeys } from '../node/keys.ts'
import { systemDecompressors } from '../node/decompress.ts'

const hasNix = requireTool('nix-store', 'nix-bin') && requireTool('nix', 'nix-bin') && requireTool('nix-build', 'nix-bin')
const BIG = 300 * 1024 * 1024
const CUT_AT = 64 * 1024 * 1024

let work: string
let castore: Castore
let compressed: CompressedNarCache
let srv: Started
let nodeKey: string
let testKey: string
let homes = 0
const home = (): string => join(work, `home-${homes++}`)
const cuts: string[] = []
let bigPath: string

beforeAll(async () => {
  if (!hasNix) return
  await loadKernel()
  work = await mkdtemp(join(tmpdir(), 'storeswarm-real-nix-'))
  castore = await openCastore({ dataDir: join(work, 'node'), fsync: false })
  compressed = await CompressedNarCache.open({ dir: join(work, 'node', 'cache') })
  const keys = await loadOrCreateKeys(join(work, 'node'), { keyName: 'storeswarm-test-1' })
  nodeKey = keys.nixPublic
  testKey = (await readFile(fixture('real-nix', 'keys', 'test-cache-1.public'), 'utf8')).trim()
  bigPath = `/nix/store/${encodeNixBase32(createHash('sha256').update(`big-${Date.now()}`).digest().subarray(0, 20))}-big-300m`
  srv = await startCache({
    castore,
    signing: { nixKey: keys.nix },
    compressed,
    decompressors: systemDecompressors(),
    upload: { enabled: true },
    faults: {
      // scenario 3: cut the first full download of the big NAR once, server-side
      truncateNar: ({ storePath, status }) => {
        if (storePath !== bigPath || status !== 200 || cuts.length > 0) return undefined
        cuts.push(storePath)
        return CUT_AT
      }
    }
  })
}, 120_000)

afterAll(async () => {
  if (!hasNix) return
  await srv?.cache.stop()
  compressed?.close()
  await castore?.close()
  await rm(work, { recursive: true, force: true })
})

async function ok (command: string, args: string[], h = home()): Promise<string> {
  const r = await nixRun(command, args, h, 300_000)
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${String(r.code)}:\n${r.stderr}`)
  return r.stdout + r.stderr
}

/** `nix-store --verify --check-contents` of a chroot store: clean means exit 0 and no complaint. */
async function verifyClean (store: string): Promise<void> {
  const out = await ok('nix-store', ['--store', store, ...CHROOT_OPTS, '--verify', '--check-contents'])
  expect(out).not.toMatch(/hash mismatch|corrupt|error|was modified/i)
}

async function closureOf (store: string, path: string): Promise<string[]> {
  return (await ok('nix-store', ['--store', store, ...CHROOT_OPTS, '-qR', path])).split('\n').filter(l => l.startsWith('/nix/store/')).sort()
}

const hashOf = (p: string): string => p.slice(11, 43)

describe('real Nix 2.8 against the node', () => {
  it('1. nix copy --from the node of imported paths, require-sigs with only the node key; verify --check-contents is clean', async () => {
    if (!hasNix) return
    const build = join(work, 'build')
    const [app] = await nixBuild(build, closureExpr('one'), home())
    const closure = await closureOf(build, app)
    expect(closure).toHaveLength(3)
    const cache = join(work, 'cache-one')
    await ok('nix', [...NIX_CMD, '--store', build, ...CHROOT_OPTS, 'copy', '--to', `file://${cache}?compression=xz&secret-key=${fixture('real-nix', 'keys', 'test-cache-1.secret')}`, app])
    const { imported } = await importFromCache({ castore, source: openBinaryCacheSource(`file://${cache}`), paths: [app], closure: true, trustedKeys: [parsePublicKey(testKey)], decompressors: systemDecompressors() })
    expect(imported.sort()).toEqual(closure)

    // a client trusting some other key refuses the node's paths
    const other = formatPublicKey(toPublicKey(generateSigningKey('someone-else-1')))
    const refused = await nixRun('nix', [...NIX_CMD, '--store', join(work, 'dest-refused'), ...CHROOT_OPTS, 'copy', '--from', srv.url, '--to', join(work, 'dest-refused'), app, '--option', 'require-sigs', 'true', '--option', 'trusted-public-keys', other], home())
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/lacks a valid signature|not signed/)

    const dest = join(work, 'dest-one')
    await ok('nix', [...NIX_CMD, '--store', dest, ...CHROOT_OPTS, 'copy', '--from', srv.url, '--to', dest, app, '--option', 'require-sigs', 'true', '--option', 'trusted-public-keys', nodeKey])
    expect(await closureOf(dest, app)).toEqual(closure)
    await verifyClean(dest)
    // the copied contents are the built ones
    for (const p of closure) {
      const a = await nixRun('nix-store', ['--store', build, ...CHROOT_OPTS, '--query', '--hash', p], home())
      const b = await nixRun('nix-store', ['--store', dest, ...CHROOT_OPTS, '--query', '--hash', p], home())
      expect(b.stdout).toBe(a.stdout)
    }
  })

  it('2. nix copy --to the node (xz and zstd uploads) of closures built by Nix, then a second store substitutes them back', async () => {
    if (!hasNix) return
    const build = join(work, 'build')
    for (const [tag, query] of [['two', ''], ['three', '?compression=zstd']]) {
      const [app] = await nixBuild(build, closureExpr(tag, 300_000), home())
      const closure = await closureOf(build, app)
      const before = srv.events.length
      await ok('nix', [...NIX_CMD, '--store', build, ...CHROOT_OPTS, 'copy', '--to', `${srv.url}${query}`, app])
      const puts = srv.events.slice(before).filter(e => e.method === 'PUT')
      expect(puts.filter(e => e.url.endsWith('.narinfo')).map(e => e.status)).toEqual(closure.map(() => 200))
      expect(puts.some(e => e.url.endsWith(query === '' ? '.nar.xz' : '.nar.zst'))).toBe(true)
      for (const p of closure) {
        const info = await castore.getPathInfo(p)
        expect(info?.storePath).toBe(p)
        const nixHash = (await nixRun('nix-store', ['--store', build, ...CHROOT_OPTS, '--query', '--hash', p], home())).stdout.trim()
        expect(nixHash).toBe(`sha256:${encodeNixBase32(info!.narHash)}`)
      }
      const dest = join(work, `dest-${tag}`)
      await ok('nix-store', ['--store', dest, ...CHROOT_OPTS, '-r', app, '--option', 'substituters', srv.url, '--option', 'trusted-public-keys', nodeKey])
      expect(await closureOf(dest, app)).toEqual(closure)
      await verifyClean(dest)
    }
  })

  it('3. Nix substitutes a 300 MiB NAR through the node and resumes it with Range after the connection is cut', async () => {
    if (!hasNix) return
    // a reference into scenario 1's closure, so the substitution fetches a closure
    const depInfo = await (async () => { for await (const i of castore.pathInfos.list()) if (i.storePath.endsWith('-lib-one')) return i })()
    expect(depInfo).toBeDefined()
    const chunk = randomBytes(4 * 1024 * 1024)
    let produced = 0
    const contents = async function * (): AsyncGenerator<Uint8Array> {
      while (produced < BIG) {
        // vary each chunk cheaply so the file is not a repetition of one block
        const piece = Buffer.from(chunk)
        piece.writeUInt32LE(produced / chunk.length, 0)
        produced += piece.length
        yield piece
      }
    }
    await castore.importNar(writeNar({ type: 'directory', entries: async function * () { yield { name: Buffer.from('data'), node: { type: 'regular', executable: false, size: BIG, contents } } } }), {
      storePath: bigPath,
      references: [depInfo!.storePath]
    })
    const dest = join(work, 'dest-big')
    const before = srv.events.length
    await ok('nix-store', ['--store', dest, ...CHROOT_OPTS, '-r', bigPath, '--option', 'substituters', srv.url, '--option', 'trusted-public-keys', nodeKey])
    const narGets = srv.events.slice(before).filter(e => e.url.startsWith(`/nar/${hashOf(bigPath)}-`))
    expect(cuts).toEqual([bigPath])
    expect(narGets[0].status).toBe(200)
    const resumed = narGets.find(e => e.status === 206)
    expect(resumed?.range).toMatch(/^bytes=\d+-$/)
    expect(Number(/^bytes=(\d+)-$/.exec(resumed!.range!)![1])).toBeGreaterThan(0)
    expect(await closureOf(dest, bigPath)).toEqual([bigPath, depInfo!.storePath].sort())
    const size = Number((await ok('nix-store', ['--store', dest, ...CHROOT_OPTS, '--query', '--size', bigPath])).trim())
    expect(size).toBeGreaterThan(BIG)
    expect(size).toBe((await castore.getPathInfo(bigPath))!.narSize)
    await verifyClean(dest)
  })

  it('4. a path the node does not hold answers 404 at once, and Nix falls back to the next substituter', async () => {
    if (!hasNix) return
    const build = join(work, 'build')
    const [app] = await nixBuild(build, closureExpr('four'), home())
    const cache = join(work, 'cache-four')
    await ok('nix', [...NIX_CMD, '--store', build, ...CHROOT_OPTS, 'copy', '--to', `file://${cache}?compression=none&secret-key=${fixture('real-nix', 'keys', 'test-cache-1.secret')}`, app])
    const before = srv.events.length
    const dest = join(work, 'dest-four')
    await ok('nix-store', ['--store', dest, ...CHROOT_OPTS, '-r', app, '--option', 'substituters', `${srv.url} file://${cache}?priority=50`, '--option', 'trusted-public-keys', `${nodeKey} ${testKey}`])
    await verifyClean(dest)
    const asked = srv.events.slice(before).filter(e => e.url === `/${hashOf(app)}.narinfo`)
    expect(asked.length).toBeGreaterThan(0)
    expect(asked.every(e => e.status === 404)).toBe(true)
    expect(srv.events.slice(before).every(e => e.status < 500)).toBe(true)

    // with only the node: one 404 per path, no retries, a clean "cannot substitute" failure
    const missing = StorePath.fromDigest(createHash('sha256').update('missing').digest().subarray(0, 20), 'missing-1.0').toString()
    const mark = srv.events.length
    const r = await nixRun('nix-store', ['--store', join(work, 'dest-missing'), ...CHROOT_OPTS, '-r', missing, '--option', 'substituters', srv.url, '--option', 'trusted-public-keys', nodeKey], home())
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/don't know how to build|path .* is not valid|cannot be/i)
    const lookups = srv.events.slice(mark).filter(e => e.url === `/${hashOf(missing)}.narinfo`)
    expect(lookups.map(e => e.status)).toEqual([404])
    expect(srv.errors).toEqual([])
  })
})
