/**
 * The Guix dialect on its own server (§4): handshake at 0x163 (no version string, no
 * trust flag, no features), Guix's SetOptions layout, the Nix ≤ 1.15 reply layouts,
 * old-style errors, ExportPath through STDERR_WRITE, AddTextToStore / AddToStore with
 * `/gnu/store` paths as real Nix computes them for that store dir, and refusal of ops
 * and clients of the other dialect.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import {
  DaemonClient,
  EXPORT_MAGIC,
  GUIX_PROTOCOL_VERSION,
  GUIX_PROTOCOL_VERSION_LATEST,
  Op,
  WireReader,
  WireWriter,
  concatBytes,
  walkNar,
  writeGuixSetOptions
} from '../src/daemon/index.ts'
import { RawSession, dirNarBytes, fakeStorePath, fileNarBytes, pathFor, seed, startTestDaemon } from './helpers/daemon-harness.ts'
import type { TestDaemon, TestPath } from './helpers/daemon-harness.ts'

const G = '/gnu/store'
let d: TestDaemon
let dep: TestPath
let top: TestPath

beforeAll(async () => {
  d = await startTestDaemon({ dialect: 'guix' })
  dep = pathFor(fakeStorePath('gdep', 'dep', G), await fileNarBytes('dep\n'), { deriver: fakeStorePath('gdrv', 'dep.drv', G) })
  top = pathFor(fakeStorePath('gtop', 'top', G), await dirNarBytes({ x: dep.info.path }), { references: [dep.info.path] })
  await seed(d.castore, dep)
  await seed(d.castore, top)
})
afterAll(async () => { await d?.stop() })

async function guixSession (version = GUIX_PROTOCOL_VERSION): Promise<RawSession> {
  const s = await RawSession.open(d.socketPath, version, G)
  // SetOptions in the Guix layout (8 words at minor ≥ 0x61, then settings)
  const w = new WireWriter().writeU64(Op.SetOptions)
  writeGuixSetOptions(w, {
    keepFailed: 0, keepGoing: 0, tryFallback: 0, verbosity: 3, useBuildHook: 1, buildVerbosity: 0, logType: 0,
    printBuildTrace: 0, useSubstitutes: 1, overrides: [['build-cores', '2'], ['substitute-urls', 'https://example.org']]
  }, version)
  s.write(w.take())
  const r = await s.result('SetOptions')
  expect(r.error).toBeNull()
  return s
}

describe('Guix dialect', () => {
  it('handshake: 0x163, no daemon version string or trust flag', async () => {
    const s = await guixSession()
    try {
      expect(s.hs.daemonVersion).toBe(GUIX_PROTOCOL_VERSION)
      expect(s.hs.daemonNixVersion).toBeNull()
      expect(s.hs.trusted).toBeNull()
    } finally {
      s.close()
    }
  })

  it('queries use the Guix (Nix ≤ 1.15) layouts; invalid paths are old-style errors', async () => {
    const s = await guixSession()
    try {
      expect((await s.call('IsValidPath', { path: top.info.path })).reply).toBe(true)
      const info = await s.call('QueryPathInfo', { path: top.info.path })
      expect(info.reply).toMatchObject({ deriver: null, narHash: top.info.narHash, references: [dep.info.path], narSize: top.nar.byteLength })
      const missing = fakeStorePath('none', 'none', G)
      const bad = await s.call('QueryPathInfo', { path: missing })
      expect(bad.error).toBe(`path '${missing}' is not valid`)
      expect((await s.call('QueryReferences', { path: top.info.path })).reply).toEqual([dep.info.path])
      expect((await s.call('QueryValidPaths', { paths: [top.info.path, missing], substitute: false })).reply).toEqual([top.info.path])
      expect((await s.call('QueryDeriver', { path: dep.info.path })).reply).toBe(dep.info.deriver)
      expect((await s.call('QueryPathHash', { path: dep.info.path })).reply).toBe(dep.info.narHash)
      expect((await s.call('BuiltinBuilders', undefined)).reply).toEqual([])
      expect((await s.call('QueryFailedPaths', undefined)).reply).toEqual([])
      expect((await s.call('BuildPaths', { paths: [{ type: 'opaque', path: top.info.path }], mode: 0 })).reply).toBe(1)
      const nix = await s.call('IsValidPath', { path: '/nix/store/' + top.info.path.slice(G.length + 1) })
      expect(nix.error).toMatch(/is not in the Nix store/)
    } finally {
      s.close()
    }
  })

  it('ExportPath streams the export format through STDERR_WRITE', async () => {
    const s = await guixSession()
    try {
      const r = await s.call('ExportPath', { path: top.info.path, sign: false })
      expect(r.error).toBeNull()
      expect(r.reply).toBe(1)
      expect(r.messages.every((m) => m.type === 'write')).toBe(true)
      const data = concatBytes(r.messages.map((m) => (m as { data: Uint8Array }).data))
      const er = new WireReader(data)
      expect(await walkNar(er)).toBe(top.nar.byteLength)
      expect(Buffer.compare(data.subarray(0, top.nar.byteLength), top.nar)).toBe(0)
      expect(await er.readNumber()).toBe(EXPORT_MAGIC)
      expect(await er.readString()).toBe(top.info.path)
      expect(await er.readStrings()).toEqual([dep.info.path])
      expect(await er.readString()).toBe('')
      expect(await er.readNumber()).toBe(0)
      expect(await er.atEnd()).toBe(true)
    } finally {
      s.close()
    }
  })

  it('AddTextToStore and legacy AddToStore give the /gnu/store paths real Nix computes', async () => {
    const s = await guixSession()
    try {
      const foo = await s.call('AddTextToStore', { name: 'foo', text: 'bar', references: [] })
      expect(foo.reply).toBe('/gnu/store/798sxvdgr0680czdggbls7rd3sfwk2yx-foo')
      const tree = new Uint8Array(readFileSync(fixture('real-nix', 'tree', 'tree.nar')))
      const added = await s.call('AddToStore', { form: 'legacy', name: 'tree', fixed: true, recursive: true, hashAlgo: 'sha256' }, tree)
      expect(added.reply).toBe('/gnu/store/7l7i5703191piz8j4dpyzgqawppdci8y-tree')
      expect((await s.call('IsValidPath', { path: '/gnu/store/7l7i5703191piz8j4dpyzgqawppdci8y-tree' })).reply).toBe(true)
      // ImportPaths needs Guix signatures: refused without asking for data, connection kept
      const imp = await s.call('ImportPaths', undefined)
      expect(imp.error).toMatch(/not supported by storeswarm/)
      expect((await s.call('IsValidPath', { path: top.info.path })).reply).toBe(true)
    } finally {
      s.close()
    }
  })

  it('Nix-only ops are invalid operations and close the connection; op 81 needs 0x164', async () => {
    const s = await guixSession()
    s.write(new WireWriter().writeU64(Op.NarFromPath).writeString(top.info.path).take())
    const r = await s.result('NarFromPath')
    expect(r.error).toBe('invalid operation 38')
    await s.closed()

    const s2 = await guixSession()
    s2.write(new WireWriter().writeU64(Op.SubstituteURLs).take())
    expect((await s2.result('SubstituteURLs')).error).toBe('invalid operation 81')
    await s2.closed()

    const latest = await startTestDaemon({ dialect: 'guix', version: GUIX_PROTOCOL_VERSION_LATEST })
    try {
      const s3 = await RawSession.open(latest.socketPath, GUIX_PROTOCOL_VERSION_LATEST, G)
      expect((await s3.call('SubstituteURLs', undefined)).reply).toEqual([])
      s3.close()
    } finally {
      await latest.stop()
    }
  })

  it('a Nix client is refused on the Guix socket, a Guix client on the Nix socket', async () => {
    await expect(DaemonClient.connect({ socketPath: d.socketPath })).rejects.toThrow()
    const nix = await startTestDaemon()
    try {
      await expect(RawSession.open(nix.socketPath, GUIX_PROTOCOL_VERSION, G)).rejects.toThrow()
      // and the Guix server still serves Guix clients afterwards
      const s = await guixSession()
      expect((await s.call('IsValidPath', { path: dep.info.path })).reply).toBe(true)
      s.close()
    } finally {
      await nix.stop()
    }
  })
})
