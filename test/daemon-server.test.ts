/**
 * The daemon server's ops against a real castore, through the project's own client
 * (and raw sessions for old protocol versions): queries, "builds" of existing paths,
 * stubs, unsupported ops that keep the connection, and verified uploads (signatures,
 * content addresses, NAR hashes, references) at 1.38, 1.21 (STDERR_READ) and 1.20
 * (raw NAR). Store paths computed by the server are checked against paths printed by
 * real Nix 2.8 (shared/fixtures/real-nix/store-paths.json).
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import {
  BuildStatus,
  DaemonClient,
  DaemonError,
  protocolVersion,
  STDERR_READ,
  WireWriter,
  writeFramed
} from '../src/daemon/index.ts'
import { parseSecretKey, signFingerprint, toPublicKey } from '../src/nix/index.ts'
import { wireFingerprint } from '../src/daemon/upload.ts'
import {
  RawSession,
  dirNarBytes,
  fakeStorePath,
  fileNarBytes,
  pathFor,
  seed,
  startTestDaemon
} from './helpers/daemon-harness.ts'
import type { TestDaemon, TestPath } from './helpers/daemon-harness.ts'

const SECRET = parseSecretKey(readFileSync(fixture('real-nix', 'keys', 'test-cache-1.secret'), 'utf8'))
const PUBLIC = toPublicKey(SECRET)
const TREE_NAR = new Uint8Array(readFileSync(fixture('real-nix', 'tree', 'tree.nar')))
const TREE_PATH = '/nix/store/mbig2lb0l0g5haak3zgg7lkjsypn90pw-tree'
const TREE_CA = 'fixed:r:sha256:047p5jrq0ibd1n8jnk86s5rrjf25yhkz3gyk76gs4skg5pij2mpn'

function signed (p: TestPath): TestPath {
  const sig = signFingerprint(wireFingerprint(p.info, '/nix/store'), SECRET)
  return { nar: p.nar, info: { ...p.info, signatures: [sig] } }
}

let dep: TestPath
let top: TestPath
let d: TestDaemon
let client: DaemonClient

beforeAll(async () => {
  const depPath = fakeStorePath('dep', 'dep-1.0')
  dep = pathFor(depPath, await fileNarBytes('dependency\n'), { deriver: fakeStorePath('dep-drv', 'dep-1.0.drv'), signatures: ['other-key:' + Buffer.alloc(64).toString('base64')] })
  const topPath = fakeStorePath('top', 'top-1.0')
  top = pathFor(topPath, await dirNarBytes({ 'bin-hello': `#!/bin/sh\necho ${depPath}\n`, self: topPath }), { references: [depPath, topPath].sort() })
  d = await startTestDaemon({ trustedPublicKeys: [PUBLIC] })
  await seed(d.castore, dep)
  await seed(d.castore, top)
  client = await DaemonClient.connect({ socketPath: d.socketPath })
})

afterAll(async () => {
  await client?.close()
  await d?.stop()
})

describe('queries', () => {
  it('IsValidPath, QueryValidPaths, QueryPathInfo reflect the castore', async () => {
    expect(await client.isValidPath(dep.info.path)).toBe(true)
    expect(await client.isValidPath(fakeStorePath('nope', 'nope'))).toBe(false)
    expect(await client.queryValidPaths([top.info.path, fakeStorePath('nope', 'nope'), dep.info.path])).toEqual([dep.info.path, top.info.path].sort())
    const info = await client.queryPathInfo(top.info.path)
    expect(info).toMatchObject({
      path: top.info.path,
      narHash: top.info.narHash,
      narSize: top.nar.byteLength,
      references: top.info.references,
      deriver: null,
      ultimate: false,
      signatures: [],
      ca: null
    })
    expect(info!.registrationTime).toBeGreaterThan(1_600_000_000)
    const depInfo = await client.queryPathInfo(dep.info.path)
    expect(depInfo?.deriver).toBe(dep.info.deriver)
    expect(depInfo?.signatures).toEqual(dep.info.signatures)
    expect(await client.queryPathInfo(fakeStorePath('nope', 'nope'))).toBeNull()
  })

  it('QueryPathFromHashPart, QueryAllValidPaths, QueryReferrers, QueryDeriver, QueryPathHash, QueryReferences', async () => {
    const hashPart = top.info.path.slice('/nix/store/'.length, '/nix/store/'.length + 32)
    expect(await client.queryPathFromHashPart(hashPart)).toBe(top.info.path)
    expect(await client.queryPathFromHashPart('0'.repeat(32))).toBeNull()
    expect((await client.queryAllValidPaths()).sort()).toEqual([dep.info.path, top.info.path].sort())
    expect((await client.call('QueryReferrers', { path: dep.info.path })).sort()).toEqual([top.info.path])
    expect(await client.call('QueryDeriver', { path: dep.info.path })).toBe(dep.info.deriver)
    expect(await client.call('QueryPathHash', { path: dep.info.path })).toBe(dep.info.narHash)
    expect(await client.call('QueryReferences', { path: top.info.path })).toEqual(top.info.references)
    await expect(client.call('QueryReferences', { path: fakeStorePath('nope', 'nope') })).rejects.toThrow(/is not valid/)
  })

  it('QueryMissing, BuildPaths, BuildPathsWithResults and EnsurePath treat valid paths as built', async () => {
    const missing = fakeStorePath('missing', 'missing')
    const drv = fakeStorePath('drv', 'x.drv')
    const qm = await client.call('QueryMissing', { targets: [{ type: 'opaque', path: top.info.path }, { type: 'opaque', path: missing }, { type: 'built', drvPath: drv, outputs: '*' }] })
    expect(qm).toEqual({ willBuild: [], willSubstitute: [], unknown: [drv, missing].sort(), downloadSize: 0n, narSize: 0n })
    expect(await client.call('BuildPaths', { paths: [{ type: 'opaque', path: top.info.path }], mode: 0 })).toBe(1)
    await expect(client.call('BuildPaths', { paths: [{ type: 'opaque', path: missing }], mode: 0 }))
      .rejects.toThrow(`path '${missing}' is required, but there is no substituter that can build it`)
    const results = await client.call('BuildPathsWithResults', {
      paths: [{ type: 'opaque', path: top.info.path }, { type: 'opaque', path: missing }, { type: 'built', drvPath: drv, outputs: ['out'] }],
      mode: 0
    })
    expect(results.map((r) => r.status)).toEqual([BuildStatus.AlreadyValid, BuildStatus.NoSubstituters, BuildStatus.MiscFailure])
    expect(results[2].errorMsg).toMatch(/not supported by storeswarm/)
    expect(await client.call('EnsurePath', { path: dep.info.path })).toBe(1)
    await expect(client.call('EnsurePath', { path: missing })).rejects.toBeInstanceOf(DaemonError)
  })

  it('stubs: temp roots, substitutes, realisations, roots, derivers, builtin builders (Nix: invalid op)', async () => {
    expect(await client.call('AddTempRoot', { path: dep.info.path })).toBe(1)
    expect(await client.call('AddIndirectRoot', { path: '/tmp/some-link' })).toBe(1)
    expect(await client.call('SyncWithGC', undefined)).toBe(1)
    expect(await client.call('OptimiseStore', undefined)).toBe(1)
    expect(await client.call('FindRoots', undefined)).toEqual([])
    expect(await client.call('HasSubstitutes', { path: dep.info.path })).toBe(false)
    expect(await client.call('QuerySubstitutablePaths', { paths: [dep.info.path] })).toEqual([])
    expect(await client.call('QuerySubstitutablePathInfo', { path: dep.info.path })).toBeNull()
    expect(await client.call('QuerySubstitutablePathInfos', { paths: [[dep.info.path, null]] })).toEqual([])
    expect(await client.call('QueryRealisation', { form: 'legacy', id: 'sha256:' + '1'.repeat(64) + '!out' })).toEqual({ form: 'json', realisations: [] })
    expect(await client.call('QueryValidDerivers', { path: dep.info.path })).toEqual([])
  })

  it('VerifyStore checks the whole castore (contents too) and reports no errors', async () => {
    expect(await client.call('VerifyStore', { checkContents: true, repair: false })).toBe(false)
    await expect(client.call('VerifyStore', { checkContents: false, repair: true })).rejects.toThrow(/not supported/)
  })

  it('NarFromPath streams the exact NAR', async () => {
    const parts: Uint8Array[] = []
    for await (const p of client.narFromPath(top.info.path)) parts.push(p.slice())
    expect(Buffer.compare(Buffer.concat(parts), top.nar)).toBe(0)
    await expect(async () => { for await (const p of client.narFromPath(fakeStorePath('nope', 'nope'), { narSize: 8 })) void p }).rejects.toThrow(/is not valid/)
    expect(await client.isValidPath(top.info.path)).toBe(true) // still in sync
  })

  it('NarFromPath of large files (pooled direct reads) is byte-identical, twice in a row', async () => {
    const { writeNar } = await import('../src/nar/index.ts')
    const { collect } = await import('./helpers/daemon-harness.ts')
    const enc = new TextEncoder()
    const sizes: Array<[string, number, boolean]> = [['a', 300 * 1024, false], ['b', 2.5 * 1024 * 1024 + 3, true], ['c', 1024 * 1024, false], ['d', 10, false], ['e', 1_258_291, true]]
    const bytes = (n: number, seed: number): Uint8Array => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 11)) & 0xff; return b }
    const nar = await collect(writeNar({
      type: 'directory',
      entries: async function * () {
        for (const [name, size, x] of sizes) {
          const data = bytes(size, name.charCodeAt(0))
          yield { name: enc.encode(name), node: { type: 'regular', executable: x, size, contents: async function * () { yield data } } }
        }
      }
    }))
    const p = pathFor(fakeStorePath('large', 'large'), nar)
    await seed(d.castore, p)
    for (let round = 0; round < 2; round++) {
      const parts: Uint8Array[] = []
      for await (const piece of client.narFromPath(p.info.path)) parts.push(piece.slice())
      expect(Buffer.compare(Buffer.concat(parts), nar), `round ${round}`).toBe(0)
    }
  })

  it('unsupported ops and paths outside the store are errors that keep the connection', async () => {
    await expect(client.call('CollectGarbage', { action: 0, paths: [], wholeStore: true, deleteReferrers: false, ignoreLiveness: false, maxFreed: 0n }))
      .rejects.toThrow("operation 'CollectGarbage' (20) is not supported by storeswarm")
    await expect(client.call('BuildDerivation', {
      drvPath: fakeStorePath('d', 'd.drv'),
      derivation: { outputs: [], inputSrcs: [], platform: 'x86_64-linux', builder: '/bin/sh', args: [], env: [] },
      mode: 0
    })).rejects.toThrow(/not supported by storeswarm/)
    await expect(client.isValidPath('/gnu/store/' + dep.info.path.slice('/nix/store/'.length))).rejects.toThrow(/is not in the Nix store/)
    expect(await client.isValidPath(dep.info.path)).toBe(true)
  })
})

describe('unsupported ops with payloads stay in sync (raw)', () => {
  it('AddBuildLog: the framed log is consumed before the error', async () => {
    const s = await RawSession.open(d.socketPath, protocolVersion(1, 34))
    try {
      const payload = new WireWriter()
      writeFramed(payload, new TextEncoder().encode('a build log\n'.repeat(1000)), 1000)
      const r = await s.call('AddBuildLog', { drvBaseName: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv' }, payload.take())
      expect(r.error).toBe("operation 'AddBuildLog' (45) is not supported by storeswarm")
      expect((await s.call('IsValidPath', { path: dep.info.path })).reply).toBe(true)
    } finally {
      s.close()
    }
  })
})

describe('uploads', () => {
  it('signed paths from an untrusted client are verified against trusted-public-keys and keep their signatures', async () => {
    const a = signed(pathFor(fakeStorePath('up-a', 'up-a'), await fileNarBytes('a\n')))
    const b = signed(pathFor(fakeStorePath('up-b', 'up-b'), await fileNarBytes(`${a.info.path}\n`), { references: [a.info.path] }))
    await client.addMultipleToStore([b, a].reverse().map((p) => ({ info: p.info, nar: () => [p.nar] })))
    const info = await client.queryPathInfo(b.info.path)
    expect(info?.signatures).toEqual(b.info.signatures)
    expect(info?.references).toEqual([a.info.path])
  })

  it('unsigned paths are refused ("lacks a valid signature"); nothing becomes valid; the connection survives', async () => {
    const u = pathFor(fakeStorePath('unsigned', 'unsigned'), await fileNarBytes('u\n'))
    await expect(client.addMultipleToStore([{ info: u.info, nar: () => [u.nar] }]))
      .rejects.toThrow(`cannot add path '${u.info.path}' because it lacks a valid signature`)
    expect(await client.isValidPath(u.info.path)).toBe(false)
    // a signature by an unknown key does not help
    const other = { ...u.info, signatures: ['other-key:' + Buffer.alloc(64, 1).toString('base64')] }
    await expect(client.addToStoreNar(other, [u.nar])).rejects.toThrow(/lacks a valid signature/)
    expect(await client.isValidPath(u.info.path)).toBe(false)
  })

  it('a wrong NarHash or NarSize is refused even for a trusted client with --no-check-sigs', async () => {
    const t = await startTestDaemon({ trustClients: true })
    const c = await DaemonClient.connect({ socketPath: t.socketPath })
    try {
      const p = pathFor(fakeStorePath('hash', 'hash'), await fileNarBytes('real\n'))
      const bad = { ...p.info, narHash: pathFor(p.info.path, await fileNarBytes('fake\n')).info.narHash }
      await expect(c.addMultipleToStore([{ info: bad, nar: () => [p.nar] }], { dontCheckSigs: true })).rejects.toThrow(/sha256/)
      expect(await c.isValidPath(p.info.path)).toBe(false)
      await expect(c.addToStoreNar({ ...p.info, narSize: p.info.narSize + 8 }, [p.nar], { dontCheckSigs: true })).rejects.toThrow()
      expect(await c.isValidPath(p.info.path)).toBe(false)
      await c.addToStoreNar(p.info, [p.nar], { dontCheckSigs: true })
      expect(await c.isValidPath(p.info.path)).toBe(true)
    } finally {
      await c.close()
      await t.stop()
    }
  })

  it('references must be valid or uploaded earlier in the same batch', async () => {
    const t = await startTestDaemon({ trustClients: true })
    const c = await DaemonClient.connect({ socketPath: t.socketPath })
    try {
      const ghost = fakeStorePath('ghost', 'ghost')
      const p = pathFor(fakeStorePath('refs', 'refs'), await fileNarBytes('x\n'), { references: [ghost] })
      await expect(c.addMultipleToStore([{ info: p.info, nar: () => [p.nar] }], { dontCheckSigs: true }))
        .rejects.toThrow(`cannot add path '${p.info.path}' because it references the invalid path '${ghost}'`)
      // the batch continues to be read after a refused path: the next op works
      expect(await c.isValidPath(p.info.path)).toBe(false)
    } finally {
      await c.close()
      await t.stop()
    }
  })

  it('a correct content address makes an unsigned path acceptable; a false one is refused after the NAR', async () => {
    const u = await startTestDaemon({ trustClients: false, requireSigs: true })
    const c = await DaemonClient.connect({ socketPath: u.socketPath })
    try {
      const tree = pathFor(TREE_PATH, TREE_NAR, { ca: TREE_CA })
      await c.addToStoreNar(tree.info, [tree.nar])
      expect((await c.queryPathInfo(TREE_PATH))?.ca).toBe(TREE_CA)
      // text CA for "bar" (path from real Nix), but the NAR holds different bytes with a matching NarHash
      const foo = '/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo'
      const lying = pathFor(foo, await fileNarBytes('not bar'), { ca: 'text:sha256:' + '0'.repeat(52) })
      await expect(c.addToStoreNar(lying.info, [lying.nar])).rejects.toThrow(/lacks a valid signature|ca hash mismatch/)
      const barHash = (await import('node:crypto')).createHash('sha256').update('bar').digest()
      const { encodeNixBase32 } = await import('../src/nix/index.ts')
      const fooCa = `text:sha256:${encodeNixBase32(barHash)}`
      const wrongContent = pathFor(foo, await fileNarBytes('not bar'), { ca: fooCa })
      await expect(c.addToStoreNar(wrongContent.info, [wrongContent.nar])).rejects.toThrow(`ca hash mismatch importing path '${foo}'`)
      expect(await c.isValidPath(foo)).toBe(false)
      const right = pathFor(foo, await fileNarBytes('bar'), { ca: fooCa })
      await c.addToStoreNar(right.info, [right.nar])
      expect(await c.isValidPath(foo)).toBe(true)
    } finally {
      await c.close()
      await u.stop()
    }
  })

  it('AddSignatures: verifiable signatures are added; others need a trusted client', async () => {
    const p = pathFor(fakeStorePath('sigs', 'sigs'), await fileNarBytes('s\n'))
    await seed(d.castore, p)
    const sig = signed(p).info.signatures[0]
    await expect(client.call('AddSignatures', { path: p.info.path, signatures: ['someone:' + Buffer.alloc(64, 2).toString('base64')] })).rejects.toThrow(/not privileged/)
    expect(await client.call('AddSignatures', { path: p.info.path, signatures: [sig] })).toBe(1)
    expect((await client.queryPathInfo(p.info.path))?.signatures).toEqual([sig])
  })
})

describe('content-addressed adds computed by the server (paths as printed by real Nix 2.8)', () => {
  it('AddTextToStore (8)', async () => {
    const foo = await client.call('AddTextToStore', { name: 'foo', text: 'bar', references: [] })
    expect(foo).toBe('/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo')
    const baz = await client.call('AddTextToStore', { name: 'baz', text: foo, references: [foo] })
    expect(baz).toBe('/nix/store/5xd714cbfnkz02h2vbsj4fm03x3f15nf-baz')
    expect((await client.queryPathInfo(baz))?.references).toEqual([foo])
    await expect(client.call('AddTextToStore', { name: 'q', text: 'x', references: [fakeStorePath('no', 'no')] })).rejects.toThrow(/invalid path/)
  })

  it('AddToStore ≥ 1.25 (framed) for fixed:r:sha256, fixed:sha256, fixed:sha1 and fixed:r:sha1', async () => {
    const s = await RawSession.open(d.socketPath, protocolVersion(1, 34))
    try {
      const cases: Array<[string, string, Uint8Array, string]> = [
        ['tree', 'fixed:r:sha256', TREE_NAR, TREE_PATH],
        ['hello.txt', 'fixed:sha256', new TextEncoder().encode('hello\n'), '/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt'],
        ['hello.txt', 'fixed:sha1', new TextEncoder().encode('hello\n'), '/nix/store/svdva85yi507g9vncgsaxvnd1r808h4w-hello.txt'],
        ['tree', 'fixed:r:sha1', TREE_NAR, '/nix/store/nzacmggw5xl44c2dcdbahynzj3wwhxdc-tree'],
        ['hello.txt', 'fixed:r:sha256', await fileNarBytes('hello\n'), '/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt']
      ]
      for (const [name, camStr, dump, want] of cases) {
        const payload = new WireWriter()
        writeFramed(payload, dump, 777)
        const r = await s.call('AddToStore', { form: 'framed', name, camStr, references: [], repair: false }, payload.take())
        expect(r.error).toBeNull()
        expect((r.reply as { path: string }).path).toBe(want)
      }
      expect((await s.call('QueryPathInfo', { path: TREE_PATH })).reply?.ca).toBe(TREE_CA)
    } finally {
      s.close()
    }
  })

  it('AddToStore < 1.25 (legacy, raw NAR) for recursive and flat', async () => {
    const s = await RawSession.open(d.socketPath, protocolVersion(1, 24))
    try {
      const r1 = await s.call('AddToStore', { form: 'legacy', name: 'tree', fixed: true, recursive: true, hashAlgo: 'sha256' }, TREE_NAR)
      expect(r1.reply).toBe(TREE_PATH)
      const r2 = await s.call('AddToStore', { form: 'legacy', name: 'hello.txt', fixed: true, recursive: false, hashAlgo: 'sha256' }, await fileNarBytes('hello\n'))
      expect(r2.reply).toBe('/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt')
      const r3 = await s.call('AddToStore', { form: 'legacy', name: 'x', fixed: true, recursive: false, hashAlgo: 'sha256' }, TREE_NAR)
      expect(r3.error).toMatch(/regular file expected/)
      expect((await s.call('IsValidPath', { path: TREE_PATH })).reply).toBe(true)
    } finally {
      s.close()
    }
  })
})

describe('older clients', () => {
  it('1.16: an invalid path in QueryPathInfo is an error saying "is not valid" (old error format)', async () => {
    const s = await RawSession.open(d.socketPath, protocolVersion(1, 16))
    try {
      const missing = fakeStorePath('nope', 'nope')
      const r = await s.call('QueryPathInfo', { path: missing })
      expect(r.error).toBe(`path '${missing}' is not valid`)
      const ok = await s.call('QueryPathInfo', { path: dep.info.path })
      expect(ok.reply).toMatchObject({ narHash: dep.info.narHash, signatures: dep.info.signatures })
    } finally {
      s.close()
    }
  })

  it('1.21: AddToStoreNar pulls the NAR with STDERR_READ', async () => {
    const t = await startTestDaemon({ trustClients: true })
    const s = await RawSession.open(t.socketPath, protocolVersion(1, 21))
    try {
      const p = pathFor(fakeStorePath('stderr-read', 'sr'), await dirNarBytes({ a: 'x'.repeat(200_000), b: 'y' }))
      let sent = 0
      const w = new WireWriter()
      const { writeRequest } = await import('../src/daemon/index.ts')
      writeRequest(w, 'AddToStoreNar', { info: p.info, repair: false, dontCheckSigs: true }, s.codec)
      s.write(w.take())
      const r = await s.result('AddToStoreNar', (m) => {
        expect(m.type).toBe('read')
        if (m.type !== 'read') return
        const chunk = p.nar.subarray(sent, sent + m.length)
        sent += chunk.byteLength
        s.write(new WireWriter().writeBytes(chunk).take())
      })
      expect(r.error).toBeNull()
      expect(sent).toBe(p.nar.byteLength)
      expect(r.messages.every((m) => m.type === 'read')).toBe(true)
      expect(STDERR_READ).toBe(0x64617461)
      expect(await t.castore.getPathInfo(p.info.path)).toBeDefined()
    } finally {
      s.close()
      await t.stop()
    }
  })

  it('1.20: AddToStoreNar sends the raw NAR, found by its grammar', async () => {
    const t = await startTestDaemon({ trustClients: true })
    const s = await RawSession.open(t.socketPath, protocolVersion(1, 20))
    try {
      const p = pathFor(fakeStorePath('raw', 'raw'), await fileNarBytes('raw nar\n'))
      const r = await s.call('AddToStoreNar', { info: p.info, repair: false, dontCheckSigs: true }, p.nar)
      expect(r.error).toBeNull()
      expect((await s.call('IsValidPath', { path: p.info.path })).reply).toBe(true)
    } finally {
      s.close()
      await t.stop()
    }
  })
})
