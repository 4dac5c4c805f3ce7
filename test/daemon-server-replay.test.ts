/**
 * Replay of every captured Nix 2.8.0 session (shared/fixtures/nix-worker-protocol/
 * captures-nix-2.8.0) against the storeswarm daemon server: the recorded client bytes
 * (`.c2s`) are sent to the server, and what the server answers is read back the way
 * the recorded 2.8 client reads it — handshake, then per op the stderr loop and the
 * reply body — and must carry the same values as the real daemon's answer (`.s2c`),
 * byte-identical NARs included. Run-specific values (activity ids, registration
 * times, the daemon's announced version) are not compared.
 *
 * The castore is seeded with the capture's two paths from the AddMultipleToStore
 * payload of `copy-to-unix`; that capture itself is replayed into an empty store.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import { DaemonClient, MAX_WORKER_VERSION } from '../src/daemon/index.ts'
import type { ValidPathInfo } from '../src/daemon/index.ts'
import { V134, clientOps, normalise, readConversation } from './helpers/daemon-capture.ts'
import { exchange, startTestDaemon } from './helpers/daemon-harness.ts'
import type { TestDaemon } from './helpers/daemon-harness.ts'

const DIR = fixture('nix-worker-protocol', 'captures-nix-2.8.0')
const cases = readdirSync(DIR).filter((f) => f.endsWith('.c2s')).map((f) => f.slice(0, -4)).sort()

let seeded: TestDaemon
let seedPaths: Array<{ info: ValidPathInfo, nar: Uint8Array }>

beforeAll(async () => {
  seedPaths = (await clientOps(new Uint8Array(readFileSync(`${DIR}/copy-to-unix.c2s`)))).uploads
  expect(seedPaths.map((p) => p.info.path)).toEqual([
    '/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z-dep',
    '/nix/store/avvy63mk3y5bjx9mv34pna61c0rkd1ml-top'
  ])
  seeded = await startTestDaemon({ trustClients: true, verifyOnServe: true })
  for (const p of seedPaths) {
    await seeded.castore.importNar([p.nar], {
      storePath: p.info.path,
      references: p.info.references,
      deriver: p.info.deriver ?? undefined,
      signatures: p.info.signatures,
      narHash: new Uint8Array(Buffer.from(p.info.narHash, 'hex')),
      narSize: p.info.narSize
    })
  }
})

afterAll(async () => { await seeded?.stop() })

describe('replay of the Nix 2.8.0 captures against the server', () => {
  it('covers all 14 captures', () => {
    expect(cases.length).toBe(14)
  })

  for (const name of cases) {
    it(`${name}: the server's answers are what the recorded client expects`, async () => {
      const c2s = new Uint8Array(readFileSync(`${DIR}/${name}.c2s`))
      const s2c = new Uint8Array(readFileSync(`${DIR}/${name}.s2c`))
      const { ops } = await clientOps(c2s)
      const fresh = name === 'copy-to-unix' ? await startTestDaemon({ trustClients: true }) : null
      try {
        const target = fresh ?? seeded
        const ours = await exchange(target.socketPath, c2s)
        const got = await readConversation(ours, ops)
        const want = await readConversation(s2c, ops)
        expect(got.daemonVersion).toBe(MAX_WORKER_VERSION) // advertises 1.38, negotiates down to 1.34
        expect(want.daemonVersion).toBe(V134)
        expect(got.nixVersion).toEqual(expect.any(String))
        expect(got.replies.map((r) => r.error)).toEqual(want.replies.map((r) => r.error))
        expect(got.replies.map((r) => normalise(r.body))).toEqual(want.replies.map((r) => normalise(r.body)))
        if (fresh != null) {
          // the upload made both paths valid, with the recorded metadata
          for (const p of seedPaths) {
            const info = await fresh.castore.getPathInfo(p.info.path)
            expect(info?.narSize).toBe(p.info.narSize)
            expect(Buffer.from(info!.narHash).toString('hex')).toBe(p.info.narHash)
            expect(info?.deriver).toBe(p.info.deriver)
            expect(info?.references).toEqual(p.info.references)
          }
        }
      } finally {
        await fresh?.stop()
      }
    })
  }

  it('copy-to-unix into an untrusted, signature-requiring node is refused and nothing becomes valid', async () => {
    const d = await startTestDaemon({ trustClients: false, requireSigs: true })
    try {
      const c2s = new Uint8Array(readFileSync(`${DIR}/copy-to-unix.c2s`))
      const { ops } = await clientOps(c2s)
      const got = await readConversation(await exchange(d.socketPath, c2s), ops)
      const add = got.replies[ops.indexOf('AddMultipleToStore')]
      expect(add.error).toMatch(/cannot add path '\/nix\/store\/5qn9lblnzjgza2vb23kwaclrcxnska2z-dep' because it lacks a valid signature/)
      for (const p of seedPaths) expect(await d.castore.getPathInfo(p.info.path)).toBeUndefined()
    } finally {
      await d.stop()
    }
  })

  it('a client handshake at 1.38 gets an empty feature list and no trust claim unless configured', async () => {
    const client = await DaemonClient.connect({ socketPath: seeded.socketPath })
    try {
      expect(client.version).toBe(MAX_WORKER_VERSION)
      expect(client.handshake.daemonFeatures).toEqual([])
      expect(client.handshake.trusted).toBe(true) // seeded node trusts its clients
      expect(await client.isValidPath(seedPaths[0].info.path)).toBe(true)
    } finally {
      await client.close()
    }
  })
})
