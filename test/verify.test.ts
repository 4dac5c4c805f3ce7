/**
 * `verifyCastore` as fsck: damage of every kind is found, `repair` removes exactly the damaged
 * objects and the paths that depended on them (naming each), sound paths survive, and the CLI
 * (`storeswarm verify`) exits 1 on damage, 0 after repair — both on a stopped store and through a
 * running node's control socket.
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { mkdtemp, rm, writeFile, mkdir, readdir, open, stat, unlink, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { openCastore, toHex, FsBlobStore } from '../src/castore/index.ts'
import type { Castore, PathInfo } from '../src/castore/index.ts'
import { verifyCastore, verifyFoundDamage } from '../src/castore/verify.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { startNode } from '../node/serve.ts'

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))

function file (data: Uint8Array, executable = false): NarSourceNode {
  return { type: 'regular', executable, size: data.length, contents: async function * () { yield data } }
}
function dir (entries: Record<string, NarSourceNode>): NarSourceNode {
  const sorted = Object.keys(entries).sort()
  return { type: 'directory', entries: async function * () { for (const k of sorted) yield { name: Buffer.from(k), node: entries[k] } } }
}
function filled (n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n)
  let s = seed
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; b[i] = s >>> 24 }
  return b
}

const A = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a'
const B = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b'
const C = '/nix/store/cccccccccccccccccccccccccccccccc-c'

/** A: big file (has an outboard) + shared small file; B: sub-directory with its own file; C: only the shared file. */
async function populate (store: Castore): Promise<{ a: PathInfo, b: PathInfo, c: PathInfo, big: Uint8Array, own: Uint8Array }> {
  const big = filled(100_000, 1)
  const shared = filled(5000, 2)
  const own = filled(3000, 3)
  const a = (await store.importNar(writeNar(dir({ big: file(big), shared: file(shared) })), { storePath: A })).info
  const b = (await store.importNar(writeNar(dir({ sub: dir({ own: file(own, true) }), link: { type: 'symlink', target: Buffer.from('sub/own') } })), { storePath: B })).info
  const c = (await store.importNar(writeNar(dir({ shared: file(shared) })), { storePath: C })).info
  return { a, b, c, big, own }
}

function blobFile (store: Castore, data: Uint8Array): string {
  return (store.blobs as FsBlobStore).dataPath(blakeOf(data))
}
let blakeOf: (d: Uint8Array) => Uint8Array

async function runCli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  const proc = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number>(resolve => proc.on('close', (c) => resolve(c ?? -1)))
  return { code, stdout, stderr }
}

describe('verify (fsck)', () => {
  beforeAll(async () => {
    await loadKernel()
    const { blake3 } = await import('../src/blake3/index.ts')
    blakeOf = blake3
  })

  it('a sound store is clean; damage is found, repaired, and lost paths are named', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'storeswarm-verify-'))
    try {
      let store = await openCastore({ dataDir })
      const { a, b, big, own } = await populate(store)
      const clean = await verifyCastore(store, { dataDir })
      expect(clean.problems).toEqual([])
      expect(clean.leftovers).toEqual([])
      expect(clean.paths).toBe(3)
      expect(clean.blobsChecked).toBe(3)

      // damage: flip a byte of B's file (same length), truncate A's outboard; residue: tmp file,
      // orphan outboard, stray file in a shard, a partial record of a complete blob, a bad record
      const ownPath = blobFile(store, own)
      const fh = await open(ownPath, 'r+')
      await fh.write(new Uint8Array([0xff ^ own[10]]), 0, 1, 10)
      await fh.close()
      const bigPath = blobFile(store, big)
      await writeFile(bigPath + '.obao', new Uint8Array(10))
      await writeFile(join(dataDir, 'blobs', 'ff', `ff${'0'.repeat(62)}.obao`), new Uint8Array(64)).catch(async () => {
        await mkdir(join(dataDir, 'blobs', 'ff'), { recursive: true })
        await writeFile(join(dataDir, 'blobs', 'ff', `ff${'0'.repeat(62)}.obao`), new Uint8Array(64))
      })
      await writeFile(join(dataDir, 'blobs', toHex(blakeOf(big)).slice(0, 2), 'junk'), 'x')
      await writeFile(join(dataDir, 'tmp', 'deadbeef'), 'partial write')
      await mkdir(join(dataDir, 'partial'), { recursive: true })
      await writeFile(join(dataDir, 'partial', `${toHex(blakeOf(big))}.ranges`), JSON.stringify({ size: big.length, ranges: [0, 10] }))
      const missing = 'ab'.repeat(32)
      await writeFile(join(dataDir, 'partial', `${missing}.ranges`), JSON.stringify({ size: 2048, ranges: [0, 5] }))

      const found = await verifyCastore(store, { dataDir, narHashes: false })
      expect(verifyFoundDamage(found)).toBe(true)
      const kinds = found.problems.map(p => `${p.kind} ${p.storePath ?? p.object}`).sort()
      expect(kinds).toEqual([
        `blob-corrupt ${toHex(blakeOf(own))}`,
        'outboard-bad ' + toHex(blakeOf(big)),
        `partial-bad partial/${missing}.ranges`,
        `path-incomplete ${B}`
      ].sort())
      expect(found.leftovers.map(p => p.kind).sort()).toEqual(['orphan-outboard', 'partial-done', 'stray-file', 'temp-file'])
      expect(found.lostPaths).toEqual([])
      // nothing was touched without --repair
      expect((await stat(ownPath)).size).toBe(own.length)
      expect(await store.getPathInfo(B)).toBeDefined()

      const fixed = await verifyCastore(store, { dataDir, narHashes: true, repair: true })
      expect(fixed.lostPaths).toEqual([B])
      expect(fixed.problems.every(p => p.repaired === true)).toBe(true)
      expect(verifyFoundDamage(fixed)).toBe(false)
      expect(await store.getPathInfo(B)).toBeUndefined()
      await expect(stat(ownPath)).rejects.toThrow(/ENOENT/)
      expect(await readdir(join(dataDir, 'tmp'))).toEqual([])
      expect(await readdir(join(dataDir, 'partial'))).toEqual([])
      // sound paths are intact and export correctly (the rewritten outboard included)
      for (const info of [a]) {
        let n = 0
        for await (const piece of store.exportNar(info.storePath)) n += piece.byteLength
        expect(n).toBe(info.narSize)
      }
      expect((await stat(bigPath + '.obao')).size).toBeGreaterThan(10)
      expect(b.storePath).toBe(B)

      const again = await verifyCastore(store, { dataDir })
      expect(again.problems).toEqual([])
      expect(again.leftovers).toEqual([])
      expect(again.paths).toBe(2)
      await store.close()

      // a directory whose child is gone is damage; repair drops it and the path above it
      store = await openCastore({ dataDir })
      const { b: b2 } = await populate(store) // re-imports B (own blob is stored again)
      expect(b2.node.type).toBe('directory')
      const root = await store.directories.get((b2.node as { digest: Uint8Array }).digest)
      await store.directories.delete(root!.directories[0].digest)
      const dirDamage = await verifyCastore(store, { dataDir, repair: true })
      expect(dirDamage.problems.map(p => p.kind).sort()).toEqual(['directory-incomplete', 'path-incomplete'])
      expect(dirDamage.lostPaths).toEqual([B])
      expect((await verifyCastore(store, { dataDir })).problems).toEqual([])
      await store.close()
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 60_000)

  it('with a running node (minAgeMs), young leftovers are left alone, old ones repaired', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'storeswarm-verify-'))
    try {
      const store = await openCastore({ dataDir })
      await populate(store)
      const young = join(dataDir, 'tmp', 'in-flight')
      const old = join(dataDir, 'tmp', 'abandoned')
      await writeFile(young, 'x')
      await writeFile(old, 'y')
      const past = new Date(Date.now() - 3600_000)
      await utimes(old, past, past)
      const r = await verifyCastore(store, { dataDir, minAgeMs: 600_000, repair: true })
      expect(r.problems).toEqual([])
      expect(r.leftovers.map(p => `${p.object} ${p.repaired === true}`)).toEqual(['tmp/abandoned true'])
      expect(await readdir(join(dataDir, 'tmp'))).toEqual(['in-flight'])
      await store.close()
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 30_000)

  it('NarSize and NarHash mismatches are damage (NarHash only with narHashes)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'storeswarm-verify-'))
    try {
      const store = await openCastore({ dataDir })
      const { a, c } = await populate(store)
      await store.pathInfos.put({ ...a, narSize: a.narSize + 8 })
      const wrongHash = new Uint8Array(c.narHash)
      wrongHash[0] ^= 1
      await store.pathInfos.put({ ...c, narHash: wrongHash })
      const quick = await verifyCastore(store, { narHashes: false })
      expect(quick.problems.map(p => `${p.kind} ${p.storePath}`)).toEqual([`nar-size ${A}`])
      const full = await verifyCastore(store, { narHashes: true })
      expect(full.problems.map(p => `${p.kind} ${p.storePath}`).sort()).toEqual([`nar-hash ${C}`, `nar-size ${A}`])
      // contents: false (VerifyStore without checkContents) only checks presence and sizes
      const light = await verifyCastore(store, { narHashes: false, contents: false })
      expect(light.blobsChecked).toBe(0)
      expect(light.problems.map(p => `${p.kind} ${p.storePath}`)).toEqual([`nar-size ${A}`])
      await store.blobs.delete(blakeOf(filled(3000, 3)))
      const gone = await verifyCastore(store, { narHashes: false, contents: false })
      expect(gone.problems.map(p => `${p.kind} ${p.storePath}`).sort()).toEqual([`nar-size ${A}`, `path-incomplete ${B}`])
      await store.close()
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 30_000)

  it('the CLI exits 1 on damage, repairs, and works through a running node', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'storeswarm-verify-'))
    try {
      const store = await openCastore({ dataDir })
      const { own } = await populate(store)
      const ownPath = blobFile(store, own)
      await store.close()
      await unlink(ownPath)
      await writeFile(join(dataDir, 'tmp', 'leftover'), 'x')

      const first = await runCli(['verify', '--data-dir', dataDir, '--json'])
      expect(first.stderr).toBe('')
      expect(first.code).toBe(1)
      const report = JSON.parse(first.stdout)
      expect(report.damaged).toBe(true)
      expect(report.problems.map((p: any) => `${p.kind} ${p.storePath}`)).toEqual([`path-incomplete ${B}`])
      expect(report.leftovers.map((p: any) => p.object)).toEqual(['tmp/leftover'])

      const text = await runCli(['verify', '--data-dir', dataDir, '--repair'])
      expect(text.code).toBe(0)
      expect(text.stdout).toContain(`lost: ${B}`)

      // now through the control socket of a running node
      const node = await startNode({ dataDir, http: '127.0.0.1:0', daemonSocket: false, eris: false, log: () => {} })
      try {
        const viaNode = await runCli(['verify', '--data-dir', dataDir, '--json', '--check-nar-hash'])
        expect(viaNode.stderr).toBe('')
        expect(viaNode.code).toBe(0)
        const r = JSON.parse(viaNode.stdout)
        expect(r.paths).toBe(2)
        expect(r.problems).toEqual([])
      } finally {
        await node.stop()
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 60_000)
})
