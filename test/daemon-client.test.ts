/**
 * The daemon-protocol client and `importFromDaemon`, against the storeswarm server
 * (the real nix-daemon is in daemon-nix.test.ts): closures in dependency order, NAR
 * streams, daemon errors that keep the connection, abandoned NAR streams that break
 * it, seeding a second castore with signatures kept, and connection failures.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openCastore } from '../src/castore/index.ts'
import {
  DaemonClient,
  DaemonConnectionError,
  DaemonError,
  importFromDaemon,
  topoSort
} from '../src/daemon/index.ts'
import type { DaemonPathInfo, ImportProgress } from '../src/daemon/index.ts'
import { dirNarBytes, fakeStorePath, fileNarBytes, pathFor, seed, startTestDaemon } from './helpers/daemon-harness.ts'
import type { TestDaemon, TestPath } from './helpers/daemon-harness.ts'

let d: TestDaemon
let a: TestPath
let b: TestPath
let c: TestPath
let big: TestPath

beforeAll(async () => {
  d = await startTestDaemon()
  a = pathFor(fakeStorePath('ca', 'a'), await fileNarBytes('a\n'), { signatures: ['k1:' + Buffer.alloc(64, 7).toString('base64')] })
  b = pathFor(fakeStorePath('cb', 'b'), await fileNarBytes(a.info.path), { references: [a.info.path] })
  const cPath = fakeStorePath('cc', 'c')
  c = pathFor(cPath, await dirNarBytes({ x: a.info.path, y: b.info.path, z: cPath }), { references: [a.info.path, b.info.path, cPath].sort(), deriver: fakeStorePath('cd', 'c.drv') })
  big = pathFor(fakeStorePath('big', 'big'), await fileNarBytes(new Uint8Array(3 * 1024 * 1024).fill(0x5a)))
  for (const p of [a, b, c, big]) await seed(d.castore, p)
})

afterAll(async () => { await d?.stop() })

describe('DaemonClient', () => {
  it('queryClosure returns dependencies before the paths that refer to them', async () => {
    const client = await DaemonClient.connect({ socketPath: d.socketPath })
    try {
      const closure = await client.queryClosure([c.info.path])
      expect(closure.map((i) => i.path)).toEqual([a.info.path, b.info.path, c.info.path])
      expect(closure[2].deriver).toBe(c.info.deriver)
      await expect(client.queryClosure([fakeStorePath('x', 'x')])).rejects.toBeInstanceOf(DaemonError)
      expect(await client.isValidPath(a.info.path)).toBe(true)
    } finally {
      await client.close()
    }
  })

  it('topoSort ignores self-references and orders every path after its references', () => {
    const info = (path: string, references: string[]): DaemonPathInfo => ({ path, references, deriver: null, narHash: '', registrationTime: 0, narSize: 0, ultimate: false, signatures: [], ca: null })
    const m = new Map([
      ['/s/z', info('/s/z', ['/s/z', '/s/y'])],
      ['/s/y', info('/s/y', ['/s/x'])],
      ['/s/x', info('/s/x', [])],
      ['/s/w', info('/s/w', ['/s/x', '/s/z'])]
    ])
    const order = topoSort(m).map((i) => i.path)
    expect(order.indexOf('/s/x')).toBeLessThan(order.indexOf('/s/y'))
    expect(order.indexOf('/s/y')).toBeLessThan(order.indexOf('/s/z'))
    expect(order.indexOf('/s/z')).toBeLessThan(order.indexOf('/s/w'))
  })

  it('narFromPath streams the NAR; an error reply keeps the connection; an abandoned stream breaks it', async () => {
    const client = await DaemonClient.connect({ socketPath: d.socketPath })
    try {
      const parts: Uint8Array[] = []
      for await (const p of client.narFromPath(big.info.path)) parts.push(p.slice())
      expect(Buffer.compare(Buffer.concat(parts), big.nar)).toBe(0)
      await expect(async () => { for await (const p of client.narFromPath(fakeStorePath('no', 'no'), { narSize: 16 })) void p }).rejects.toBeInstanceOf(DaemonError)
      expect(await client.isValidPath(big.info.path)).toBe(true)
      for await (const p of client.narFromPath(big.info.path)) { void p; break }
      await expect(client.isValidPath(big.info.path)).rejects.toBeInstanceOf(DaemonConnectionError)
    } finally {
      await client.close()
    }
  })

  it('connecting to a missing socket, or with an aborted signal, fails with a named error', async () => {
    await expect(DaemonClient.connect({ socketPath: join(d.dir, 'nothing.sock') })).rejects.toBeInstanceOf(DaemonConnectionError)
    const ac = new AbortController()
    ac.abort(new Error('stop'))
    await expect(DaemonClient.connect({ socketPath: d.socketPath, signal: ac.signal })).rejects.toThrow('stop')
  })
})

describe('importFromDaemon', () => {
  it('copies a closure with its metadata and signatures; a second run skips everything', async () => {
    const target = await openCastore({ dataDir: join(d.dir, 'target'), fsync: false })
    const client = await DaemonClient.connect({ socketPath: d.socketPath })
    try {
      const progress: ImportProgress[] = []
      const r = await importFromDaemon(client, target, [c.info.path], { closure: true, onProgress: (p) => progress.push(p) })
      expect(r.imported).toEqual([a.info.path, b.info.path, c.info.path])
      expect(progress.at(-1)).toMatchObject({ paths: 3, imported: 3, skipped: 0 })
      expect(progress.at(-1)!.bytesDone).toBe(progress.at(-1)!.bytes)
      const ia = await target.getPathInfo(a.info.path)
      expect(ia?.signatures).toEqual(a.info.signatures)
      const ic = await target.getPathInfo(c.info.path)
      expect(ic?.deriver).toBe(c.info.deriver)
      expect(ic?.references).toEqual(c.info.references)
      const again = await importFromDaemon(client, target, [c.info.path], { closure: true })
      expect(again).toEqual({ imported: [], skipped: [a.info.path, b.info.path, c.info.path] })
      const all = await importFromDaemon(client, target, [], { all: true })
      expect(all.imported).toEqual([big.info.path])
    } finally {
      await client.close()
      await target.close()
    }
  })
})
