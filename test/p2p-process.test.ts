/**
 * Three swarm nodes in separate processes on 127.0.0.1: A imports a signed path; C, knowing only
 * B (bootstrap), finds it through the DHT and fetches it through its control socket (the
 * `storeswarm fetch` path); C's NAR equals A's and matches the NarHash.
 */
import { describe, it, expect, afterAll } from 'vitest'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import { generateSigningKey, formatPublicKey } from '../src/nix/signing.ts'
import { controlRequest } from '../node/p2p.ts'
import { sampleTree, importSigned, publicKeyOf, exportBytes, removeDir } from './helpers/p2p.ts'
import { spawnNode, P2P_MAIN } from './helpers/p2p-proc.ts'
import type { ProcNode } from './helpers/p2p-proc.ts'

const key = generateSigningKey('proc.test-1')
const trust = ['--trusted-public-key', formatPublicKey(publicKeyOf(key))]
const procs: ProcNode[] = []
const dirs: string[] = []

afterAll(async () => {
  for (const p of procs) await p.stop()
  for (const d of dirs) await removeDir(d)
})

describe('three nodes in separate processes', () => {
  it('C finds A through B and fetches the path; NarHash matches', async () => {
    await loadKernel()
    const [da, db, dc] = await Promise.all([0, 1, 2].map(async () => await mkdtemp(join(tmpdir(), 'ss-proc-'))))
    dirs.push(da, db, dc)
    const store = await openCastore({ dataDir: da, fsync: false })
    const info = await importSigned(store, sampleTree(77, 5 * 1024 * 1024 + 1), 'proc-1.0', 77, key)
    const original = await exportBytes(store, info.storePath)
    await store.close()

    const b = await spawnNode(db, trust); procs.push(b)
    const a = await spawnNode(da, [...trust, '--bootstrap', b.addr]); procs.push(a)
    expect(await controlRequest(da, 'announce', [info.storePath])).toEqual([info.storePath])
    const c = await spawnNode(dc, [...trust, '--bootstrap', b.addr]); procs.push(c)
    // peers: C knows only B at first
    const peers = await controlRequest(dc, 'peers', []) as any
    expect(peers.self).toBe(c.peerId)

    // the CLI command talks to the running node over its control socket
    const r = spawnSync(process.execPath, [P2P_MAIN, 'fetch', '--data-dir', dc, info.storePath], { encoding: 'utf8', timeout: 60_000 })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout).storePath).toBe(info.storePath)
    await c.stop()

    const cs = await openCastore({ dataDir: dc, fsync: false })
    try {
      const got = await exportBytes(cs, info.storePath)
      expect(got.equals(original)).toBe(true)
      expect(createHash('sha256').update(got).digest('hex')).toBe(Buffer.from(info.narHash).toString('hex'))
    } finally {
      await cs.close()
    }
  })
})
