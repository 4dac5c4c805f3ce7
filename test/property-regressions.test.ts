/**
 * The parser bugs the fuzzer found, one test each (the inputs themselves are replayed from
 * test/regressions/ by fuzz-regressions.test.ts):
 * - p2p frames cut off mid-length or mid-payload threw the BLAKE3 reader's Blake3TruncatedError
 *   (so `requestPathInfo` leaked it to callers expecting the p2p errors);
 * - a p2p frame was allocated at its announced size before any of it arrived;
 * - `bytes=-N` on an empty resource gave the empty range {0, 0} instead of 416;
 * - `pathInfoFromJSON` (peer answers) threw a TypeError on objects where scalars belong;
 * - a finished daemon connection stayed reachable (buffers and all) for the 5 s close-grace timer,
 *   which under the session fuzzer's connection rate grew memory without bound and stalled it.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ByteReader, readFrame, readVarint } from '../src/p2p/stream-io.ts'
import { ProtocolError } from '../src/p2p/errors.ts'
import { parseRange } from '../src/http/range.ts'
import { RangeNotSatisfiableError } from '../src/http/errors.ts'
import { pathInfoFromJSON, pathInfoToJSON } from '../src/castore/path-info.ts'
import type { PathInfo } from '../src/castore/path-info.ts'
import { CastoreValidationError } from '../src/castore/errors.ts'
import { Duplex } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createDaemonServer } from '../src/daemon/index.ts'
import type { DaemonSocket } from '../src/daemon/index.ts'
import { Castore } from '../src/castore/store.ts'
import { MemoryBlobStore } from '../src/castore/memory-blob-store.ts'
import { createMemoryDirectoryStore, createMemoryPathInfoStore } from '../src/castore/memory-stores.ts'

async function thrown (f: () => Promise<unknown> | unknown): Promise<unknown> {
  try { await f() } catch (err) { return err }
  return undefined
}

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

describe('fuzzer findings stay fixed', () => {
  it('daemon: a finished connection is not kept alive by its close-grace timer', async () => {
    const castore = new Castore({ blobs: new MemoryBlobStore(), directories: createMemoryDirectoryStore(), pathInfos: createMemoryPathInfoStore() })
    const server = createDaemonServer({ castore, pathInfoCache: false })
    const refs: Array<WeakRef<object>> = []
    for (let i = 0; i < 20; i++) {
      const socket = new Duplex({ read () {}, write (_c, _e, cb) { cb() } })
      socket.push(Buffer.from('not a handshake, but long enough to read')) // bad magic
      socket.push(null)
      refs.push(new WeakRef(socket))
      await server.handleConnection(socket as unknown as DaemonSocket)
    }
    for (let i = 0; i < 5; i++) {
      await new Promise(resolve => setImmediate(resolve))
      gc()
    }
    // without the fix, all 20 are held by pending 5 s timers
    expect(refs.filter(r => r.deref() !== undefined).length).toBeLessThan(5)
    await server.stop()
  })

  it('p2p: a frame cut off anywhere is a p2p ProtocolError', async () => {
    // length varint 0x2b = 43, then fewer bytes
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 42 }), async (n) => {
      const err = await thrown(async () => await readFrame(new ByteReader([new Uint8Array([0x2b, ...new Uint8Array(n)])]), 64))
      expect(err).toBeInstanceOf(ProtocolError)
      expect((err as Error).message).toMatch(/cut off/)
    }), { seed: 1, numRuns: 43 })
    expect(await thrown(async () => await readFrame(new ByteReader([new Uint8Array([0xff])]), 64))).toBeInstanceOf(ProtocolError)
    expect(await thrown(async () => await readVarint(new ByteReader([new Uint8Array([0x80, 0x80])])))).toBeInstanceOf(ProtocolError)
  })

  it('p2p: a large frame arriving in pieces is read whole', async () => {
    const payload = new Uint8Array(200_000).map((_, i) => i * 7)
    const len = [(200_000 & 0x7f) | 0x80, ((200_000 >> 7) & 0x7f) | 0x80, 200_000 >> 14] // LEB128
    const bytes = new Uint8Array([...len, ...payload])
    const pieces = Array.from({ length: Math.ceil(bytes.length / 9973) }, (_, i) => bytes.subarray(i * 9973, (i + 1) * 9973))
    const got = await readFrame(new ByteReader(pieces), 1 << 20)
    expect(got?.length).toBe(payload.length)
    expect(Buffer.compare(got as Uint8Array, payload)).toBe(0)
  })

  it('HTTP Range: any suffix range of an empty resource is unsatisfiable', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (n) => {
      expect(() => parseRange(`bytes=-${n}`, 0)).toThrow(RangeNotSatisfiableError)
    }), { seed: 2, numRuns: 50 })
    expect(parseRange('bytes=-5', 3)).toEqual({ start: 0, end: 3 })
  })

  it('pathInfoFromJSON: objects and arrays where scalars belong are a CastoreValidationError', () => {
    const info: PathInfo = {
      storePath: '/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello-2.10',
      node: { type: 'file', digest: new Uint8Array(32).fill(1), size: 3, executable: false },
      references: [],
      narHash: new Uint8Array(32).fill(2),
      narSize: 100,
      signatures: [],
      registrationTime: 0
    }
    const good = pathInfoToJSON(info) as any
    expect(pathInfoFromJSON(structuredClone(good))).toEqual(info)
    const hostile: unknown[] = [{ toString: 1 }, [{ toString: 1 }], { valueOf: null, toString: null }]
    const places: Array<(j: any, v: unknown) => void> = [
      (j, v) => { j.storePath = v },
      (j, v) => { j.narHash = v },
      (j, v) => { j.narSize = v },
      (j, v) => { j.references = [v] },
      (j, v) => { j.signatures = [v] },
      (j, v) => { j.registrationTime = v },
      (j, v) => { j.deriver = v },
      (j, v) => { j.ca = v },
      (j, v) => { j.eris = v },
      (j, v) => { j.node.digest = v },
      (j, v) => { j.node.size = v },
      (j, v) => { j.node = { type: 'symlink', target: v } },
      (j, v) => { j.node.type = v }
    ]
    for (const place of places) {
      for (const v of hostile) {
        const j = structuredClone(good)
        place(j, structuredClone(v))
        expect(() => pathInfoFromJSON(j)).toThrow(CastoreValidationError)
      }
    }
  })
})
