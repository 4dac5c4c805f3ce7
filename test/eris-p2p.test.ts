/**
 * ERIS over the swarm: node A holds a store path with its ERIS capability and announces the
 * capability's root reference on the DHT; node B knows only the URN, finds A through the DHT and
 * fetches the NAR block by block over `/storeswarm/eris-block/1.0.0`; its NarHash matches. A
 * peer serving a wrong block is caught (naming the block) and banned, and another provider used.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import type { PathInfo } from '../src/castore/index.ts'
import { ErisPathIndex, decodeEris, encodeErisBytes, formatBlockUrn, parseErisUrn } from '../src/eris/index.ts'
import {
  ERIS_BLOCK_PROTOCOL, MAX_ERIS_BATCH, erisKey, requestErisBlocks, encodeErisBlockRequest, decodeErisBlockRequest
} from '../src/p2p/index.ts'
import { frame, ByteReader, readFrame, readStream, send } from '../src/p2p/stream-io.ts'
import { makeNode, removeDir, sampleTree, importSigned, exportBytes } from './helpers/p2p.ts'
import type { TestNode } from './helpers/p2p.ts'
import { spawnNode, P2P_MAIN } from './helpers/p2p-proc.ts'
import type { ProcNode } from './helpers/p2p-proc.ts'

/** The real command line, asynchronously (node A serves from this process). */
async function cli (args: string[]): Promise<{ status: number, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [P2P_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => { p.kill('SIGKILL') }, 45_000)
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    p.stderr.on('data', (d: Buffer) => { err += d.toString() })
    p.on('error', reject)
    p.on('close', (code) => { clearTimeout(timer); resolve({ status: code ?? -1, stdout: out, stderr: err }) })
  })
}

async function collect (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return Buffer.concat(parts)
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('ERIS blocks between libp2p nodes', () => {
  let a: TestNode, b: TestNode, c: TestNode, e: TestNode
  let info: PathInfo
  let urn: string
  const served: string[] = []

  beforeAll(async () => {
    await loadKernel()
    a = await makeNode({ swarm: { askConnected: false, erisBlockServer: { onServe: (ref, result) => { served.push(`${formatBlockUrn(ref)} ${result}`) } } } })
    b = await makeNode({ swarm: { askConnected: false } })
    // C answers every block request with 32 KiB of noise (and serves no real blocks)
    c = await makeNode({ swarm: { askConnected: false, serveEris: false } })
    await c.host.handle(ERIS_BLOCK_PROTOCOL, async (stream) => {
      const req = await readFrame(new ByteReader(readStream(stream)), 4096)
      for (let i = 0; i < (req?.byteLength ?? 0) / 32; i++) await send(stream, frame(randomBytes(32768)))
      await stream.close()
    })
    e = await makeNode({ swarm: { askConnected: false } })
    for (const n of [b, c, e]) await n.host.dial(multiaddr(a.addr))
    await e.host.dial(multiaddr(c.addr))
    // A holds a path and announces it before its ERIS capability exists (as after an import);
    // the capability is computed afterwards (the serve backfill) and found by the ERIS rescan
    info = await importSigned(a.castore, sampleTree(7, 1024 * 1024 + 77), 'eris-p2p-1.0', 7)
    await a.swarm.announce([info.storePath])
    const encoded = await new ErisPathIndex(a.castore).encodePath(info)
    urn = encoded.urn
    const key = erisKey(urn).toString()
    const announced = new Promise<void>(resolve => {
      a.swarm.announcer.addEventListener('announced', (evt) => { if (evt.detail.keys.includes(key)) resolve() })
    })
    await a.swarm.announcer.rescanEris()
    await announced
  })

  afterAll(async () => {
    for (const n of [a, b, c, e]) { await n?.stop(); if (n !== undefined) await removeDir(n.dir) }
  })

  it('request frames are a bounded list of 32-byte references', () => {
    const refs = [randomBytes(32), randomBytes(32)]
    const framed = encodeErisBlockRequest(refs)
    expect(decodeErisBlockRequest(framed.subarray(1)).map(hex)).toEqual(refs.map(hex))
    expect(() => encodeErisBlockRequest([])).toThrow(RangeError)
    expect(() => encodeErisBlockRequest(Array.from({ length: MAX_ERIS_BATCH + 1 }, () => randomBytes(32)))).toThrow(RangeError)
    expect(() => decodeErisBlockRequest(new Uint8Array(33))).toThrow(/32-byte references/)
    expect(() => decodeErisBlockRequest(new Uint8Array(32 * (MAX_ERIS_BATCH + 1)))).toThrow(/at most/)
  })

  it('answers a batch in order: a held block (verified) and "not held"', async () => {
    const root = parseErisUrn(urn).rootReference
    const missing = randomBytes(32)
    const stream = await b.host.dialProtocol(peerIdFromString(a.swarm.peerId), ERIS_BLOCK_PROTOCOL)
    const [block, none] = await requestErisBlocks(stream, [root, missing], { signal: AbortSignal.timeout(10_000) })
    expect(block?.byteLength).toBe(32768)
    expect(none).toBeUndefined()
    expect(served).toContain(`${formatBlockUrn(root)} ok`)
    expect(served).toContain(`${formatBlockUrn(missing)} not-held`)
  })

  it('B, knowing only the URN, finds A through the DHT and fetches the NAR block by block; NarHash matches', async () => {
    const providers: string[] = []
    for await (const p of b.swarm.findErisProviders(urn, { signal: AbortSignal.timeout(10_000) })) providers.push(p)
    expect(providers).toContain(a.swarm.peerId)
    expect(providers).not.toContain(c.swarm.peerId)
    const blocks: string[] = []
    const store = b.swarm.erisBlockStore(urn, { onBlock: (evt) => { blocks.push(evt.peer) } })
    const nar = await collect(decodeEris(urn, async (ref, options) => await store.get(ref, options)))
    expect(nar.byteLength).toBe(info.narSize)
    expect(sha256(nar)).toBe(hex(info.narHash))
    // root + one internal level + a leaf per 32 KiB of NAR, all from A
    expect(blocks.length).toBeGreaterThan(info.narSize / 32768)
    expect(new Set(blocks)).toEqual(new Set([a.swarm.peerId]))
    // and the NAR imports as the path, verified against its NarHash
    const { info: got } = await b.castore.importNar([nar], { storePath: info.storePath, narHash: info.narHash })
    expect(got.narSize).toBe(info.narSize)
  })

  it('a peer serving a wrong block is caught naming the block, banned, and A is used instead', async () => {
    const root = parseErisUrn(urn).rootReference
    // directly: the receiver checks the block against its reference
    const stream = await e.host.dialProtocol(peerIdFromString(c.swarm.peerId), ERIS_BLOCK_PROTOCOL)
    await expect(requestErisBlocks(stream, [root])).rejects.toThrow(formatBlockUrn(root))
    // through the store: C is asked first (named up front), then the DHT's providers
    const bad: Array<{ peer: string, reference: string, reason: string }> = []
    e.swarm.addEventListener('eris:bad-block', (evt) => { bad.push(evt.detail) })
    const store = e.swarm.erisBlockStore(urn, { providers: [c.swarm.peerId] })
    const nar = await collect(decodeEris(urn, async (ref, options) => await store.get(ref, options)))
    expect(sha256(nar)).toBe(hex(info.narHash))
    expect(bad).toHaveLength(1)
    expect(bad[0].peer).toBe(c.swarm.peerId)
    expect(bad[0].reference).toBe(formatBlockUrn(root))
    expect(bad[0].reason).toContain(formatBlockUrn(root))
    expect(e.swarm.scores.isBanned(c.swarm.peerId)).toBe(true)
    expect(store.knownProviders()).toContain(a.swarm.peerId)
  })

  it('content nobody provides fails with NoProvidersError; a block nobody has fails naming it', async () => {
    const { urn: unknown } = await encodeErisBytes(randomBytes(5000), { blockSize: 32768 })
    const store = b.swarm.erisBlockStore(unknown, { lookupBudgetMs: 5000 })
    await expect(collect(decodeEris(unknown, async (ref, options) => await store.get(ref, options)))).rejects.toMatchObject({ name: 'NoProvidersError' })
    // A provides the URN of the path, but not this other content's blocks
    const wrong = b.swarm.erisBlockStore(unknown, { providers: [a.swarm.peerId], lookupBudgetMs: 5000 })
    await expect(collect(decodeEris(unknown, async (ref, options) => await wrong.get(ref, options)))).rejects.toMatchObject({
      name: 'ErisDecodeError',
      reason: 'block-missing',
      reference: formatBlockUrn(parseErisUrn(unknown).rootReference)
    })
  })

  it('storeswarm fetch urn:eris:… --store-path P goes through the running node, which fetches from peers and imports verified', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ss-eris-cli-'))
    let node: ProcNode | undefined
    try {
      node = await spawnNode(dir, ['--bootstrap', a.addr])
      // a wrong --nar-hash: the NAR arrives but nothing becomes valid
      const wrong = await cli(['fetch', urn, '--store-path', info.storePath, '--nar-hash', `sha256:${'00'.repeat(32)}`, '--data-dir', dir])
      expect(wrong.status).toBe(1)
      expect(wrong.stderr).toMatch(/NarHashMismatch|expected/)
      const r = await cli(['fetch', urn, '--store-path', info.storePath, '--nar-hash', `sha256:${hex(info.narHash)}`, '--data-dir', dir])
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(r.stdout.trim()).toBe(info.storePath)
      await node.stop()
      const store = await openCastore({ dataDir: dir, fsync: false })
      try {
        const got = await store.getPathInfo(info.storePath)
        expect(got?.eris).toBe(urn)
        expect(sha256(await exportBytes(store, info.storePath))).toBe(hex(info.narHash))
      } finally {
        await store.close()
      }
    } finally {
      await node?.stop()
      await removeDir(dir)
    }
  })
})
