/**
 * Fetch protocol: request codec, verified receiving, and hostile responders (flipped bytes,
 * wrong sizes, truncation, slow drip) — no unverified byte is ever handed out or stored.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { ChunkRanges, loadKernel, encodeBytes, hashWithOutboard, sizePrefix } from '../src/blake3/index.ts'
import type { DecodedData } from '../src/blake3/index.ts'
import {
  decodeRequest, encodeRequest, receiveBlob, receiveDirectories, KIND_BLOB, KIND_DIRECTORY,
  FETCH_PROTOCOL, readStream, PeerScores, KIND_BLOB_REFERRABLE, STATUS_DATA
} from '../src/p2p/index.ts'
import { ByteReader, frame, readFrame, send } from '../src/p2p/stream-io.ts'
import { encodeDirectory, directoryDigest, emptyDirectory, addEntry } from '../src/castore/index.ts'
import { makeNode, removeDir, pattern } from './helpers/p2p.ts'
import type { TestNode } from './helpers/p2p.ts'

async function encodeAll (data: Uint8Array, ranges = ChunkRanges.all()): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of encodeBytes(data, ranges, { sizePrefix: true })) parts.push(p)
  return Buffer.concat(parts)
}

function pieces (bytes: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i += n) out.push(bytes.subarray(i, i + n))
  return out
}

beforeAll(async () => { await loadKernel() })

describe('fetch request codec', () => {
  it('round-trips blob and directory requests', () => {
    const digest = pattern(32, 7)
    for (const ranges of [ChunkRanges.all(), ChunkRanges.from(16, 48), ChunkRanges.fromRanges([[0, 16], [64, 80], [1000, Infinity]]), ChunkRanges.lastChunk()]) {
      const f = encodeRequest({ kind: KIND_BLOB, digest, ranges })
      const req = decodeRequest(f.subarray(1 + (f[0] >= 0x80 ? 1 : 0)))
      expect(req.kind).toBe(KIND_BLOB)
      expect(Buffer.from(req.digest).equals(Buffer.from(digest))).toBe(true)
      expect(req.ranges!.equals(ranges)).toBe(true)
    }
    const d = encodeRequest({ kind: KIND_DIRECTORY, digest })
    expect(decodeRequest(d.subarray(1)).kind).toBe(KIND_DIRECTORY)
  })

  it('rejects malformed requests', () => {
    expect(() => decodeRequest(new Uint8Array(10))).toThrow(/short/)
    const bad = new Uint8Array(35); bad[0] = 9
    expect(() => decodeRequest(bad)).toThrow(/kind/)
    const dec = new Uint8Array([0, ...pattern(32, 1), 2, 5, 0])
    expect(() => decodeRequest(dec)).toThrow(/increase/)
  })
})

describe('receiveBlob verification', () => {
  const data = pattern(200 * 1024 + 17, 3)
  const { digest } = hashWithOutboard(data)

  it('delivers a whole blob and a range, verified', async () => {
    const enc = await encodeAll(data)
    const got = new Uint8Array(data.length)
    const r = await receiveBlob(pieces(enc, 1000), { digest, size: data.length, onData: (i) => { got.set(i.data, i.offset) } })
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true)
    expect(r.verified.covers(0, 201)).toBe(true)
    const ranges = ChunkRanges.from(32, 64)
    const part = await encodeAll(data, ranges)
    const items: DecodedData[] = []
    await receiveBlob([part], { digest, ranges, onData: (i) => { items.push(i) } })
    expect(items.map(i => i.offset)).toEqual([32 * 1024, 48 * 1024])
  })

  it('never delivers a corrupt byte: flipped bytes anywhere fail at the first bad node', async () => {
    const enc = await encodeAll(data)
    let failures = 0
    for (let pos = 8; pos < enc.length; pos += 4099) {
      const bad = Uint8Array.from(enc)
      bad[pos] ^= 0x01
      const delivered: DecodedData[] = []
      let err: any
      try {
        await receiveBlob([bad], { digest, size: data.length, onData: (i) => { delivered.push(i) } })
      } catch (e) { err = e }
      expect(err?.name).toBe('PeerMisbehavedError')
      failures++
      for (const item of delivered) {
        expect(Buffer.from(item.data).equals(Buffer.from(data.subarray(item.offset, item.offset + item.data.length)))).toBe(true)
      }
    }
    expect(failures).toBeGreaterThan(40)
  })

  it('rejects a wrong size, a forged size, truncation and an empty response', async () => {
    const enc = await encodeAll(data)
    await expect(receiveBlob([enc], { digest, size: data.length + 1, onData: () => {} })).rejects.toMatchObject({ name: 'PeerMisbehavedError' })
    const forged = Uint8Array.from(enc); forged.set(sizePrefix(data.length - 1024), 0)
    await expect(receiveBlob([forged], { digest, onData: () => {} })).rejects.toMatchObject({ name: 'PeerMisbehavedError' })
    await expect(receiveBlob([enc.subarray(0, enc.length - 10)], { digest, size: data.length, onData: () => {} })).rejects.toMatchObject({ name: 'ProtocolError' })
    await expect(receiveBlob([], { digest, onData: () => {} })).rejects.toMatchObject({ name: 'NotHeldError' })
  })
})

describe('receiveDirectories verification', () => {
  it('accepts a closure linked to the root and refuses strays and gaps', async () => {
    const leaf = emptyDirectory()
    addEntry(leaf, new TextEncoder().encode('f'), { type: 'file', digest: pattern(32, 9), size: 3, executable: false })
    const root = emptyDirectory()
    addEntry(root, new TextEncoder().encode('sub'), { type: 'directory', digest: directoryDigest(leaf), size: 1 })
    const rootDigest = directoryDigest(root)
    const ok = await receiveDirectories([frame(encodeDirectory(root)), frame(encodeDirectory(leaf))], rootDigest)
    expect(ok.map(d => Buffer.from(directoryDigest(d)).toString('hex'))).toEqual([directoryDigest(leaf), rootDigest].map(d => Buffer.from(d).toString('hex')))
    const stray = emptyDirectory()
    addEntry(stray, new TextEncoder().encode('x'), { type: 'symlink', target: new TextEncoder().encode('y') })
    await expect(receiveDirectories([frame(encodeDirectory(root)), frame(encodeDirectory(stray))], rootDigest)).rejects.toMatchObject({ name: 'PeerMisbehavedError' })
    await expect(receiveDirectories([frame(encodeDirectory(root))], rootDigest)).rejects.toMatchObject({ name: 'PeerMisbehavedError' })
    await expect(receiveDirectories([frame(encodeDirectory(leaf))], rootDigest)).rejects.toMatchObject({ name: 'PeerMisbehavedError' })
  })
})

type Mode = 'flip' | 'size' | 'drip' | 'stall'

/** Replaces a node's fetch handler with a liar that starts honest and then cheats. */
async function makeLiar (node: TestNode, blob: Uint8Array, mode: Mode): Promise<void> {
  await node.host.unhandle(FETCH_PROTOCOL)
  await node.host.handle(FETCH_PROTOCOL, async (stream) => {
    try {
      const reader = new ByteReader(readStream(stream))
      const payload = await readFrame(reader, 65536)
      const req = decodeRequest(payload!)
      let enc = await encodeAll(blob, req.ranges)
      if (mode === 'size') enc.set(sizePrefix(blob.length + 16384), 0)
      if (mode === 'flip') enc[Math.min(enc.length - 1, 8 + 64 * 3 + 20000)] ^= 0x80
      // a referrable request: the response starts with its status (data)
      if (req.kind === KIND_BLOB_REFERRABLE) enc = Buffer.concat([Uint8Array.of(STATUS_DATA), enc])
      if (mode === 'stall') {
        await send(stream, enc.subarray(0, 8))
        await new Promise(resolve => setTimeout(resolve, 3000))
        stream.abort(new Error('stall done'))
        return
      }
      if (mode === 'drip') {
        for (let i = 0; i < enc.length && i < 64; i++) {
          await send(stream, enc.subarray(i, i + 1))
          await new Promise(resolve => setTimeout(resolve, 100))
        }
        stream.abort(new Error('drip done'))
        return
      }
      await send(stream, enc)
      await stream.close()
    } catch (err: any) { stream.abort(err) }
  }, { maxInboundStreams: 256 })
}

describe('downloads against hostile peers (loopback)', () => {
  const nodes: TestNode[] = []
  afterAll(async () => { for (const n of nodes) { await n.stop(); await removeDir(n.dir) } })

  for (const mode of ['flip', 'size', 'drip'] as Mode[]) {
    it(`a ${mode} peer is dropped and penalised; the blob completes from the honest peer`, async () => {
      const blob = pattern(6 * 1024 * 1024 + 3000, mode.length + 11)
      const honest = await makeNode(); nodes.push(honest)
      const liar = await makeNode(); nodes.push(liar)
      const client = await makeNode({ swarm: { downloader: { idleTimeoutMs: 1500, pieceGroups: 16 } } }); nodes.push(client)
      const { digest } = await honest.castore.blobs.put([blob], { size: blob.length })
      await makeLiar(liar, blob, mode)
      await client.host.dial(multiaddr(honest.addr))
      await client.host.dial(multiaddr(liar.addr))
      const penalised: string[] = []
      client.swarm.scores.addEventListener('peer:penalised', (e) => { penalised.push(e.detail.peer) })
      const liarId = liar.host.peerId.toString()
      await client.swarm.downloader.fetchBlob(digest, [liarId, honest.host.peerId.toString()], { size: blob.length })
      const got: Uint8Array[] = []
      for await (const p of client.castore.blobs.read(digest)) got.push(p)
      expect(Buffer.concat(got).equals(Buffer.from(blob))).toBe(true)
      expect(penalised).toContain(liarId)
      expect(client.swarm.scores.penalty(liarId)).toBeGreaterThan(0)
      if (mode !== 'drip') expect(client.swarm.scores.isBanned(liarId)).toBe(true)
      expect(client.swarm.scores.penalty(honest.host.peerId.toString())).toBe(0)
    })
  }
})

describe('per-peer idle timeout', () => {
  it('a peer that stalls is timed out and penalised; no provider left → NoProvidersError, nothing stored', async () => {
    const blob = pattern(2 * 1024 * 1024, 5)
    const liar = await makeNode()
    const client = await makeNode({ swarm: { downloader: { idleTimeoutMs: 300 } } })
    try {
      const { digest } = hashWithOutboard(blob)
      await makeLiar(liar, blob, 'stall')
      await client.host.dial(multiaddr(liar.addr))
      const reasons: string[] = []
      client.swarm.scores.addEventListener('peer:penalised', (e) => { reasons.push(e.detail.reason) })
      await expect(client.swarm.downloader.fetchBlob(digest, [liar.host.peerId.toString()], { size: blob.length })).rejects.toMatchObject({ name: 'NoProvidersError' })
      expect(reasons.some(r => r.startsWith('PeerTimeoutError'))).toBe(true)
      expect(await client.castore.blobs.has(digest)).toBe(false)
    } finally {
      await liar.stop(); await client.stop(); await removeDir(liar.dir); await removeDir(client.dir)
    }
  })
})

void PeerScores
