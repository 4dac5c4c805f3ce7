/**
 * Three nodes in one process on 127.0.0.1: A imports a signed path, B is the DHT hub, C knows
 * only B, finds the path through the DHT, fetches it verified, and its NAR matches A's.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { loadKernel } from '../src/blake3/index.ts'
import { generateSigningKey } from '../src/nix/signing.ts'
import { storePathKey } from '../src/p2p/index.ts'
import { splitStorePath } from '../src/castore/index.ts'
import { makeNode, removeDir, sampleTree, importSigned, publicKeyOf, exportBytes } from './helpers/p2p.ts'
import type { TestNode } from './helpers/p2p.ts'

const key = generateSigningKey('cache.test-1')
const trusted = [publicKeyOf(key)]

describe('p2p swarm, three nodes in one process', () => {
  let a: TestNode, b: TestNode, c: TestNode
  beforeAll(async () => {
    await loadKernel()
    a = await makeNode({ swarm: { trustedKeys: trusted } })
    b = await makeNode({ swarm: { trustedKeys: trusted } })
    c = await makeNode({ swarm: { trustedKeys: trusted, askConnected: false } })
  })
  afterAll(async () => {
    for (const n of [a, b, c]) { await n?.stop(); if (n !== undefined) await removeDir(n.dir) }
  })

  it('C, knowing only B, finds A through the DHT and fetches the path; NarHash matches', async () => {
    const info = await importSigned(a.castore, sampleTree(1), 'hello-1.0', 1, key)
    await a.host.dial(multiaddr(b.addr))
    await a.swarm.announce([info.storePath])
    await c.host.dial(multiaddr(b.addr))
    const hashPart = splitStorePath(info.storePath).hashPart
    const providers: string[] = []
    for await (const p of c.swarm.findProviders(storePathKey(hashPart), { signal: AbortSignal.timeout(10_000) })) providers.push(p)
    expect(providers).toContain(a.host.peerId.toString())
    const got = await c.swarm.fetchStorePath(info.storePath, { budgetMs: 10_000 })
    expect(got?.storePath).toBe(info.storePath)
    expect(Buffer.from(got!.narHash).toString('hex')).toBe(Buffer.from(info.narHash).toString('hex'))
    const mine = await exportBytes(c.castore, info.storePath)
    const theirs = await exportBytes(a.castore, info.storePath)
    expect(mine.equals(theirs)).toBe(true)
  })
})

describe('askConnected: "local" asks the connected LAN peers, not the others', () => {
  let a: TestNode, d: TestNode
  beforeAll(async () => {
    await loadKernel()
    a = await makeNode({ swarm: { trustedKeys: trusted } })
    d = await makeNode({ swarm: { trustedKeys: trusted, askConnected: 'local' } })
  })
  afterAll(async () => {
    for (const n of [a, d]) { await n?.stop(); if (n !== undefined) await removeDir(n.dir) }
  })

  it('finds a path held by a connected peer only while that peer counts as local', async () => {
    // not announced: only asking A directly can find it
    const info = await importSigned(a.castore, sampleTree(2), 'local-1.0', 2, key)
    await d.host.dial(multiaddr(a.addr))
    const hashPart = splitStorePath(info.storePath).hashPart
    const isLocal = d.swarm.locality.isLocal.bind(d.swarm.locality)
    // loopback is a local address; pretend A is afar first
    Object.assign(d.swarm.locality, { isLocal: () => false })
    expect(await d.swarm.lookupPath(hashPart, { budgetMs: 1500 })).toBeUndefined()
    Object.assign(d.swarm.locality, { isLocal })
    const found = await d.swarm.lookupPath(hashPart, { budgetMs: 5000 })
    expect(found?.source).toBe(a.host.peerId.toString())
    const got = await d.swarm.fetchStorePath(info.storePath, { budgetMs: 5000 })
    expect(Buffer.from(got!.narHash).toString('hex')).toBe(Buffer.from(info.narHash).toString('hex'))
  })
})
