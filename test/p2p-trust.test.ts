/**
 * Trust of path infos from peers: a signature by an untrusted key is refused, a trusted one is
 * accepted, a valid content address is accepted without signature, a bogus CA is refused, and a
 * signed path info whose castore root does not match its NarHash never becomes valid.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { loadKernel } from '../src/blake3/index.ts'
import { generateSigningKey } from '../src/nix/signing.ts'
import { makeFixedOutputPath } from '../src/nix/store-path.ts'
import { renderContentAddress } from '../src/nix/content-address.ts'
import { writeNar } from '../src/nar/index.ts'
import { splitStorePath } from '../src/castore/index.ts'
import type { PathInfo } from '../src/castore/index.ts'
import { checkPathInfoTrust } from '../src/p2p/index.ts'
import { makeNode, removeDir, sampleTree, importSigned, publicKeyOf } from './helpers/p2p.ts'
import type { TestNode } from './helpers/p2p.ts'

const trustedKey = generateSigningKey('trusted.example-1')
const otherKey = generateSigningKey('stranger.example-1')
const nodes: TestNode[] = []

beforeAll(async () => { await loadKernel() })
afterAll(async () => { for (const n of nodes) { await n.stop(); await removeDir(n.dir) } })

async function pair (): Promise<{ a: TestNode, c: TestNode, rejected: string[] }> {
  const a = await makeNode(); nodes.push(a)
  const c = await makeNode({ swarm: { trustedKeys: [publicKeyOf(trustedKey)] } }); nodes.push(c)
  await c.host.dial(multiaddr(a.addr))
  const rejected: string[] = []
  c.swarm.addEventListener('path-info:rejected', (e) => { rejected.push(e.detail.reason) })
  return { a, c, rejected }
}

async function caPath (a: TestNode, seed: number, bogus = false): Promise<PathInfo> {
  const tree = sampleTree(seed, 40_000)
  const { info: tmp } = await a.castore.importNar(writeNar(tree), { storePath: '/nix/store/' + '0'.repeat(32) + '-tmp' })
  const hash = { algorithm: 'sha256' as const, digest: tmp.narHash }
  const storePath = makeFixedOutputPath({ method: 'recursive', hash, name: `ca-${seed}` }).toString()
  const claimed = bogus ? { algorithm: 'sha256' as const, digest: new Uint8Array(32).fill(7) } : hash
  const { info } = await a.castore.importNar(writeNar(tree), { storePath, ca: renderContentAddress({ method: 'recursive', hash: claimed }) })
  return info
}

describe('trust of path infos from peers', () => {
  it('refuses a path signed by an untrusted key; nothing becomes valid', async () => {
    const { a, c, rejected } = await pair()
    const info = await importSigned(a.castore, sampleTree(20), 'untrusted', 20, otherKey)
    expect(await c.swarm.fetchStorePath(info.storePath, { budgetMs: 2000 })).toBeUndefined()
    expect(rejected.some(r => r.startsWith('UntrustedPathInfoError'))).toBe(true)
    expect(await c.castore.getPathInfo(info.storePath)).toBeUndefined()
  })

  it('refuses an unsigned path', async () => {
    const { a, c, rejected } = await pair()
    const info = await importSigned(a.castore, sampleTree(21), 'unsigned', 21)
    expect(await c.swarm.substituteFromPeers(splitStorePath(info.storePath).hashPart, { budgetMs: 2000 })).toBeUndefined()
    expect(rejected.length).toBeGreaterThan(0)
  })

  it('accepts a path signed by a trusted key', async () => {
    const { a, c } = await pair()
    const info = await importSigned(a.castore, sampleTree(22), 'trusted', 22, trustedKey)
    const got = await c.swarm.substituteFromPeers(splitStorePath(info.storePath).hashPart, { budgetMs: 2000 })
    expect(got?.storePath).toBe(info.storePath)
    expect(checkPathInfoTrust(got!, [publicKeyOf(trustedKey)])).toBe('signature')
  })

  it('accepts an unsigned content-addressed path whose CA checks out, refuses a bogus CA', async () => {
    const { a, c, rejected } = await pair()
    const good = await caPath(a, 23)
    const got = await c.swarm.fetchStorePath(good.storePath, { budgetMs: 2000 })
    expect(got?.storePath).toBe(good.storePath)
    expect(checkPathInfoTrust(got!, [])).toBe('content-address')
    const bogus = await caPath(a, 24, true)
    expect(await c.swarm.fetchStorePath(bogus.storePath, { budgetMs: 2000 })).toBeUndefined()
    expect(rejected.some(r => r.startsWith('UntrustedPathInfoError'))).toBe(true)
  })

  it('a signed path info with a swapped castore root never becomes valid; the peer is banned', async () => {
    const { a, c } = await pair()
    const real = await importSigned(a.castore, sampleTree(25), 'swapped', 25, trustedKey)
    const other = await importSigned(a.castore, sampleTree(26), 'other', 26, trustedKey)
    await a.castore.pathInfos.put({ ...real, node: other.node })
    await expect(c.swarm.fetchStorePath(real.storePath, { budgetMs: 2000 })).rejects.toMatchObject({ name: 'NarHashMismatchError' })
    expect(await c.castore.getPathInfo(real.storePath)).toBeUndefined()
    expect(c.swarm.scores.isBanned(a.host.peerId.toString())).toBe(true)
  })
})
