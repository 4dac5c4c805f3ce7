/**
 * Simulation nodes: the real `Swarm` (announcer, downloader, fetch and path-info protocols,
 * trust checks, peer scores) over a `SimHost`, with in-memory castore stores; and the liars'
 * protocol handlers (corrupt blobs, wrong sizes, unsigned or forged path infos).
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { Castore, MemoryBlobStore, createMemoryDirectoryStore, createMemoryPathInfoStore, encodeDirectory, pathInfoToJSON, splitStorePath } from '../src/castore/index.ts'
import type { BlobStore, PathInfo } from '../src/castore/index.ts'
import { toHex } from '../src/castore/digest.ts'
import type { B3Digest } from '../src/castore/digest.ts'
import { ChunkRanges, chunkCount, sizePrefix, ByteReader, bytesReader } from '../src/blake3/index.ts'
import { SparseOutboard } from '../src/castore/partial-blob.ts'
import type { PartialBlobStore } from '../src/castore/partial-blob.ts'
import type { BlobPutResult } from '../src/castore/blob-store.ts'
import { createSwarm, serveFetch, decodeRequest, KIND_DIRECTORY, FETCH_PROTOCOL, PATH_INFO_PROTOCOL, readStream } from '../src/p2p/index.ts'
import type { Swarm, SwarmInit, Host, ServablePartial } from '../src/p2p/index.ts'
import { frame, readFrame, send } from '../src/p2p/stream-io.ts'
import type { Net, NetNode, NodeSpec, ProviderIndex } from './net.ts'
import { SimHost } from './net.ts'
import { Rng, fillBytes } from './rng.ts'

export type LiarKind = 'corrupt-blob' | 'wrong-size' | 'unsigned-info' | 'forged-info'

export type Role = 'seeder' | 'peer' | 'liar' | 'relay'

export interface SimNode {
  role: Role
  liar?: LiarKind
  net: NetNode
  host: SimHost
  castore: Castore
  swarm: Swarm | undefined
  partials: MemoryPartialBlobStore
}

export async function makePeerId (seed: number): Promise<PeerId> {
  const bytes = new Uint8Array(32)
  new DataView(bytes.buffer).setUint32(0, seed >>> 0)
  new DataView(bytes.buffer).setUint32(4, 0x53494d31)
  return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', bytes))
}

/** Partial blobs in memory, with the interface the downloader uses (they survive a node's leave and return). */
export class MemoryPartialBlobStore {
  private readonly held = new Map<string, MemoryPartialBlob>()

  async open (digest: B3Digest, size: number): Promise<MemoryPartialBlob> {
    const hex = toHex(digest)
    let p = this.held.get(hex)
    if (p === undefined || p.size !== size) {
      p = new MemoryPartialBlob(this, digest, hex, size)
      this.held.set(hex, p)
    }
    return p
  }

  async verifiedRanges (digest: B3Digest, size: number): Promise<ChunkRanges> {
    const p = this.held.get(toHex(digest))
    return p !== undefined && p.size === size ? p.verified : ChunkRanges.empty()
  }

  async discard (digest: B3Digest): Promise<void> {
    this.held.delete(toHex(digest))
  }

  /** As `PartialBlobStore.servable`: the verified groups of a held blob whose parents were kept. */
  servable (digest: B3Digest): ServablePartial | undefined {
    return this.held.get(toHex(digest))?.servable()
  }

  /** @internal */
  remove (hex: string): void {
    this.held.delete(hex)
  }
}

export class MemoryPartialBlob {
  readonly digest: B3Digest
  readonly size: number
  readonly hex: string
  verified = ChunkRanges.empty()
  private readonly data: Uint8Array
  private readonly store: MemoryPartialBlobStore
  private readonly parents: SparseOutboard

  constructor (store: MemoryPartialBlobStore, digest: B3Digest, hex: string, size: number) {
    this.store = store
    this.digest = digest
    this.hex = hex
    this.size = size
    this.data = new Uint8Array(size)
    this.parents = new SparseOutboard(digest, size)
  }

  get durable (): ChunkRanges { return this.verified }

  get complete (): boolean { return this.verified.covers(0, chunkCount(this.size)) }

  async writeVerified (offset: number, data: Uint8Array): Promise<void> {
    if (offset % 1024 !== 0 || offset + data.byteLength > this.size) throw new RangeError(`bad verified range at ${offset}+${data.byteLength}`)
    if (data.byteLength === 0) return
    this.data.set(data, offset)
    const end = offset + data.byteLength === this.size ? chunkCount(this.size) : (offset + data.byteLength) / 1024
    this.verified = this.verified.union(ChunkRanges.from(offset / 1024, end))
    this.parents.noteWritten(offset / 1024, end, this.verified)
  }

  writeParent (offset: number, pair: Uint8Array): void {
    this.parents.write(offset, pair)
  }

  servable (): ServablePartial | undefined {
    const outboard = this.parents.outboard()
    if (outboard === undefined) return undefined
    return { size: this.size, verified: this.parents.servable, outboard, reader: bytesReader(this.data) }
  }

  async flush (): Promise<void> {}

  async * read (): AsyncGenerator<Uint8Array> { yield this.data }

  async finalize (blobs: BlobStore): Promise<BlobPutResult> {
    if (!this.complete) throw new Error(`partial blob ${this.hex} is not complete`)
    const r = await blobs.put([this.data], { size: this.size, expected: this.digest })
    this.store.remove(this.hex)
    return r
  }

  async close (): Promise<void> {}
}

/** The blob store's map, for sharing preloaded contents between nodes without copying. */
export function shareBlobs (from: MemoryBlobStore, to: MemoryBlobStore): void {
  const src = (from as any).blobs as Map<string, unknown>
  const dst = (to as any).blobs as Map<string, unknown>
  for (const [k, v] of src) dst.set(k, v)
}

export async function copyStore (from: Castore, to: Castore, infos: PathInfo[]): Promise<void> {
  shareBlobs(from.blobs as MemoryBlobStore, to.blobs as MemoryBlobStore)
  for (const info of infos) {
    if (info.node.type === 'directory') {
      const dirs = []
      for await (const { directory } of from.directories.getRecursive(info.node.digest)) dirs.push(directory)
      await to.directories.put(dirs.reverse())
    }
    await to.pathInfos.put(info)
  }
}

export function makeCastore (): Castore {
  return new Castore({ blobs: new MemoryBlobStore(), directories: createMemoryDirectoryStore(), pathInfos: createMemoryPathInfoStore() })
}

export async function makeSimNode (net: Net, dht: ProviderIndex, hub: PeerId, role: Role, spec: NodeSpec, seed: number, init: SwarmInit, liar?: LiarKind): Promise<SimNode> {
  const peerId = await makePeerId(seed)
  const netNode = net.addNode(peerId, spec, role !== 'relay')
  const host = new SimHost(netNode, net, dht, hub)
  const castore = makeCastore()
  const partials = new MemoryPartialBlobStore()
  // every node its own seeded randomness (fetch order, referral order): runs stay reproducible
  const rng = new Rng(seed * 2654435761)
  const swarm = role === 'relay' ? undefined : createSwarm({ host: host as unknown as Host, castore, partials: partials as unknown as PartialBlobStore }, { random: () => rng.next(), ...init })
  if (swarm !== undefined) {
    // `Announcer.announce` polls every 250 ms until its path is provided, for callers that await
    // it; `Swarm.fetchStorePath` does not await it, and with hundreds of queued paths per node the
    // polls were most of the simulation's events. Queue without the wait (the drain loop, which
    // does the provides, is unchanged).
    const announcer = swarm.announcer as any
    announcer.announce = async (info: PathInfo): Promise<void> => { announcer.pending.set(info.storePath, info); announcer.kick() }
  }
  return { role, liar, net: netNode, host, castore, swarm, partials }
}

/** A blob store that hands out damaged bytes (one flipped byte per KiB). */
function corruptingBlobs (blobs: BlobStore): BlobStore {
  return Object.assign(Object.create(blobs), {
    read: async function * (digest: B3Digest, options?: any): AsyncGenerator<Uint8Array> {
      for await (const piece of blobs.read(digest, options)) {
        const copy = piece.slice()
        for (let i = 0; i < copy.byteLength; i += 1024) copy[i] ^= 0xff
        yield copy
      }
    }
  }) as BlobStore
}

/** Replaces an honest node's protocol handlers with a liar's (after `swarm.start()`). */
export function installLiar (node: SimNode, kind: LiarKind, infos: PathInfo[]): void {
  const castore = node.castore
  const byHash = new Map(infos.map(i => [splitStorePath(i.storePath).hashPart, i]))
  const components = { blobs: castore.blobs, directories: castore.directories }
  if (kind === 'corrupt-blob') {
    node.net.handlers.set(FETCH_PROTOCOL, async (stream: any) => { await serveFetch(stream, { blobs: corruptingBlobs(castore.blobs), directories: castore.directories }, { validate: false }) })
  } else if (kind === 'wrong-size') {
    node.net.handlers.set(FETCH_PROTOCOL, async (stream: any) => {
      try {
        const reader = new ByteReader(readStream(stream, { highWater: 64 * 1024 }))
        const payload = await readFrame(reader, 64 * 1024)
        if (payload === undefined) { await stream.close(); return }
        const req = decodeRequest(payload)
        if (req.kind === KIND_DIRECTORY) {
          for await (const { directory } of components.directories.getRecursive(req.digest)) await send(stream, frame(encodeDirectory(directory)))
        } else {
          const stat = await components.blobs.stat(req.digest)
          if (stat !== undefined) {
            await send(stream, sizePrefix(stat.size * 2 + 4096))
            await send(stream, fillBytes(Math.min(stat.size, 16 * 1024), stat.size))
          }
        }
        await stream.close()
      } catch (err: any) {
        stream.abort(err)
      }
    })
  } else {
    const rootOf = infos.map(i => i.node)
    node.net.handlers.set(PATH_INFO_PROTOCOL, async (stream: any) => {
      try {
        const reader = new ByteReader(readStream(stream, { highWater: 1024 }))
        const req = await readFrame(reader, 64)
        const hashPart = new TextDecoder().decode(req ?? new Uint8Array())
        const info = byHash.get(hashPart)
        if (info !== undefined) {
          let lie: PathInfo
          if (kind === 'unsigned-info') {
            lie = { ...info, narHash: fillBytes(32, hashPart.charCodeAt(0)), signatures: [] }
          } else {
            // a trusted signature over the right NarHash, but another path's castore root
            const i = infos.indexOf(info)
            lie = { ...info, node: rootOf[(i + 1) % rootOf.length] }
          }
          await send(stream, frame(new TextEncoder().encode(JSON.stringify(pathInfoToJSON(lie)))))
        }
        await stream.close()
      } catch (err: any) {
        stream.abort(err)
      }
    })
  }
}
