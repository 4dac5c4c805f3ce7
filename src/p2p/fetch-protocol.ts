/**
 * The fetch protocol `/storeswarm/fetch/1.0.0`: verified range transfer of castore blobs and
 * directory closures between peers (iroh-blobs semantics, content-addressing.md §2.5–§2.6).
 *
 * Goals
 * - Be paranoid about data integrity: the receiver verifies every parent pair and every 16 KiB
 *   group against the BLAKE3 root as it streams, and hands out only verified bytes. A peer can
 *   waste our time, never corrupt our store.
 * - Range requests: any set of chunk ranges (1 KiB units) of a blob, so one blob can be split
 *   across several peers and an interrupted download resumes exactly where verification stopped.
 * - Blobs of any size with O(depth + one group) memory on both sides.
 * - One request per stream, no session state: a stream is cheap on yamux and a failed transfer
 *   costs only its stream.
 * - Directories travel as a whole closure in one round trip, each verified by its digest and
 *   linked to the requested root.
 * - Swarming: verified ranges of blobs still being downloaded are served too, and a node that
 *   has sent some ranges to enough peers may refer a requester to them (referrals.ts), so a
 *   seeder's upload does not grow with the number of peers fetching at once.
 *
 * Non-goals
 * - No hash agility (BLAKE3 only, 16 KiB groups only).
 * - No discovery: which peer to ask comes from the DHT / path-info protocol.
 * - No store-path semantics: trust in a store path is the path-info protocol's job; this
 *   protocol moves content-addressed bytes.
 * - No serving of incomplete data: a blob still being downloaded is served only for requests whose
 *   ranges lie wholly inside its verified groups (with their parents received), exactly like a
 *   complete blob; any other request for it is answered "not held".
 *
 * Wire format (all integers unsigned LEB128 varints unless stated):
 *
 *   request  = varint(len) ‖ kind:u8 ‖ digest:32 ‖ body         (one frame, then close-write)
 *     kind 0 (blob ranges):    body = varint(n) ‖ n × varint    delta-encoded ChunkRanges
 *                                     boundaries (first absolute; odd n = open last range)
 *     kind 1 (directory tree): body = empty
 *     kind 2 (blob ranges, may be referred): body = flags:u8 ‖ ranges as kind 0
 *                                     flags bit 0 = insist (serve, do not refer)
 *                                     flags bit 1 = wait: the asker, on the responder's local
 *                                     network, would rather wait for the responder's own copy
 *                                     than fetch across its WAN: "ask again later" when the
 *                                     responder is fetching the blob itself, else a referral
 *                                     to the LAN peers that asked so before, instead of not held
 *   A kind-2 request for ranges the responder is receiving right now may be held until they
 *   are in (at most SERVE_WAIT_MS), then answered.
 *   response, kind 0 = size:u64le ‖ bao-tree pre-order encoding of the ranges (16 KiB groups)
 *   response, kind 1 = frames varint(len) ‖ encoded castore Directory, root first, each once
 *   response, kind 2 = 0x00 ‖ the kind-0 response
 *                    | 0x01 ‖ varint(n) ‖ n × (varint(len) ‖ peer id, UTF-8)   a referral:
 *                      ask those peers (n ≤ 16; n = 0: "ask again later")
 *   not held         = the responder closes the stream without sending a byte
 */
import type { Stream } from '@libp2p/interface'
import type { AbortOptions } from '../abort.ts'
import {
  ChunkRanges, PreOrderOutboard, RangeDecoder, encodeRanges, sizePrefix, parseSizePrefix,
  Blake3VerifyError, Blake3TruncatedError
} from '../blake3/index.ts'
import type { RandomAccessReader, DecodedData, DecodedParent, ByteSource } from '../blake3/index.ts'
import type { BlobStore } from '../castore/blob-store.ts'
import type { DirectoryStore } from '../castore/directory-store.ts'
import { decodeDirectory, directoryDigest, directoryEntries, encodeDirectory } from '../castore/directory.ts'
import type { Directory } from '../castore/directory.ts'
import type { ServablePartial } from '../castore/partial-blob.ts'
import { digestEquals, toHex } from '../castore/digest.ts'
import { GROUP_LOG, IDLE_TIMEOUT_MS, MAX_DIRECTORIES, MAX_DIRECTORY_BYTES, MAX_REQUEST_BYTES, REQUEST_TIMEOUT_MS } from './constants.ts'
import type { Referrals } from './referrals.ts'
import { NotHeldError, PeerMisbehavedError, PeerTimeoutError, ProtocolError, ReferredError } from './errors.ts'
import { ByteReader, decodeVarint, encodeVarint, frame, readFrame, readStream, send } from './stream-io.ts'

export const KIND_BLOB = 0
export const KIND_DIRECTORY = 1
export const KIND_BLOB_REFERRABLE = 2
/** kind-2 flag: serve even if the ranges were sent to enough peers already (no referral) */
export const FLAG_INSIST = 1
/** kind-2 request flag: answer "later" rather than "not held" when fetching the blob yourself */
export const FLAG_WAIT = 2
/** kind-2 response status: the blob response follows */
export const STATUS_DATA = 0
/** kind-2 response status: a referral follows */
export const STATUS_REFER = 1
/** Most peers named in one referral. */
export const MAX_REFERRED = 16

export interface FetchRequest {
  kind: typeof KIND_BLOB | typeof KIND_DIRECTORY | typeof KIND_BLOB_REFERRABLE
  digest: Uint8Array
  /** kinds 0 and 2 */
  ranges?: ChunkRanges
  /** kind 2 only */
  insist?: boolean
  /** kind 2 only: a LAN peer waiting for this node's copy (FLAG_WAIT) */
  wait?: boolean
}

export function encodeRequest (req: FetchRequest): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([req.kind]), req.digest]
  if (req.kind === KIND_BLOB_REFERRABLE) parts.push(new Uint8Array([(req.insist === true ? FLAG_INSIST : 0) | (req.wait === true ? FLAG_WAIT : 0)]))
  if (req.kind === KIND_BLOB || req.kind === KIND_BLOB_REFERRABLE) {
    const b = (req.ranges ?? ChunkRanges.all()).boundaries
    parts.push(encodeVarint(b.length))
    let prev = 0
    for (const x of b) {
      parts.push(encodeVarint(x - prev))
      prev = x
    }
  }
  return frame(Buffer.concat(parts))
}

export function decodeRequest (payload: Uint8Array): FetchRequest {
  if (payload.byteLength < 33) throw new ProtocolError('request too short')
  const kind = payload[0]
  const digest = payload.slice(1, 33)
  if (kind === KIND_DIRECTORY) {
    if (payload.byteLength !== 33) throw new ProtocolError('directory request has a body')
    return { kind, digest }
  }
  if (kind !== KIND_BLOB && kind !== KIND_BLOB_REFERRABLE) throw new ProtocolError(`unknown request kind ${kind}`)
  let flags = 0
  if (kind === KIND_BLOB_REFERRABLE) {
    if (payload.byteLength < 34) throw new ProtocolError('request too short')
    flags = payload[33]
    if ((flags & ~(FLAG_INSIST | FLAG_WAIT)) !== 0) throw new ProtocolError(`unknown request flags ${flags}`)
  }
  let { value: n, offset } = decodeVarint(payload, kind === KIND_BLOB_REFERRABLE ? 34 : 33)
  if (n > 4096) throw new ProtocolError('too many range boundaries')
  const b: number[] = []
  let prev = 0
  for (let i = 0; i < n; i++) {
    const d = decodeVarint(payload, offset)
    offset = d.offset
    if (i > 0 && d.value === 0) throw new ProtocolError('range boundaries must increase')
    prev += d.value
    if (!Number.isSafeInteger(prev)) throw new ProtocolError('range boundary too large')
    b.push(prev)
  }
  if (offset !== payload.byteLength) throw new ProtocolError('trailing bytes in request')
  const ranges = ChunkRanges.fromBoundaries(b)
  return kind === KIND_BLOB ? { kind, digest, ranges } : { kind, digest, ranges, insist: (flags & FLAG_INSIST) !== 0, ...((flags & FLAG_WAIT) !== 0 ? { wait: true } : {}) }
}

/** A kind-2 referral response: status ‖ varint(n) ‖ n × (varint(len) ‖ peer id, UTF-8). */
export function encodeReferral (peers: string[]): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([STATUS_REFER]), encodeVarint(Math.min(peers.length, MAX_REFERRED))]
  for (const p of peers.slice(0, MAX_REFERRED)) {
    const b = new TextEncoder().encode(p)
    parts.push(encodeVarint(b.byteLength), b)
  }
  return Buffer.concat(parts)
}

/** Reads the body of a referral (after its status byte). */
async function readReferral (reader: ByteReader, options: AbortOptions): Promise<string[]> {
  const n = await readVarint(reader, options)
  if (n > MAX_REFERRED) throw new ProtocolError(`referral names ${n} peers (at most ${MAX_REFERRED})`)
  const peers: string[] = []
  for (let i = 0; i < n; i++) {
    const len = await readVarint(reader, options)
    if (len === 0 || len > 128) throw new ProtocolError(`bad peer id length ${len} in a referral`)
    peers.push(new TextDecoder('utf-8', { fatal: true }).decode(await reader.read(len, options)))
  }
  return peers
}

/** One varint from a stream (at most 8 bytes). */
async function readVarint (reader: ByteReader, options: AbortOptions): Promise<number> {
  let value = 0
  for (let i = 0; i < 8; i++) {
    const b = (await reader.read(1, options))[0]
    value += (b & 0x7f) * 2 ** (7 * i)
    if ((b & 0x80) === 0) return value
  }
  throw new ProtocolError('varint too long')
}

/* ------------------------------------------------------------------ server */

export interface FetchServerComponents {
  blobs: BlobStore
  directories: DirectoryStore
  /** blobs being downloaded: their verified ranges are served too (castore/partial-blob.ts) */
  partials?: PartialSource
}

export type { ServablePartial }

/** Where partial blobs are looked up (`PartialBlobStore`). */
export interface PartialSource {
  servable: (digest: Uint8Array) => ServablePartial | undefined
}

/** A blob ready to be encoded: complete in the BlobStore, or the verified part of a partial one. */
export interface ServableBlob {
  size: number
  outboard: PreOrderOutboard
  reader: RandomAccessReader
  partial: boolean
}

export interface FetchServerInit {
  /** re-hash groups and check parents before sending (bao-tree `encode_ranges_validated`); default true */
  validate?: boolean
  /** called for each served request (observability, tests) */
  onServe?: (req: FetchRequest, result: 'ok' | 'not-held' | 'referred' | 'error') => void
  /** who was sent what: kind-2 requests for ranges sent to enough peers are referred to them (referrals.ts) */
  referrals?: Referrals
  /** whether this node is fetching blob `hex` itself (a FLAG_WAIT request is then told "later") */
  fetching?: (hex: string) => boolean
  /**
   * For a kind-2 request for ranges this node does not hold yet: while it is receiving them,
   * resolves true once they can be served, false when they cannot soon (a short, bounded wait:
   * less than a requester's idle timeout). The request is then answered as if it came now,
   * rather than "not held" — a requester would ask again a little later anyway.
   */
  awaitServable?: (digest: Uint8Array, ranges: ChunkRanges) => Promise<boolean>
  /** called with any error that ended a served stream */
  onError?: (err: Error) => void
  /** upload limit shared by every stream served with this init (`createRateLimiter`) */
  rateLimiter?: RateLimiter
  /** called with the bytes of each send (observability: bytes served to peers) */
  onSent?: (bytes: number, peer: string | undefined) => void
}

/** Token bucket for upload limits: `take(n)` resolves when n more bytes may be sent. */
export interface RateLimiter {
  take: (bytes: number) => Promise<void>
}

/** A token bucket of `bytesPerSecond` with a burst of 1/8 s (at least 256 KiB). */
export function createRateLimiter (bytesPerSecond: number): RateLimiter {
  const burst = Math.max(256 * 1024, bytesPerSecond / 8)
  let tokens = burst
  let last = performance.now()
  let chain: Promise<void> = Promise.resolve()
  return {
    take: async (bytes: number) => {
      const run = async (): Promise<void> => {
        const now = performance.now()
        tokens = Math.min(burst, tokens + (now - last) * bytesPerSecond / 1000)
        last = now
        tokens -= bytes
        if (tokens < 0) await new Promise(resolve => setTimeout(resolve, -tokens / bytesPerSecond * 1000))
      }
      chain = chain.then(run, run)
      await chain
    }
  }
}

/** Windowed random access over a BlobStore's `read(range)` (few opens for a big blob). */
export function blobReader (blobs: BlobStore, digest: Uint8Array, size: number, window: number = 1024 * 1024): RandomAccessReader {
  let buf: Uint8Array | undefined
  let bufStart = 0
  return {
    read: async (offset, length, options) => {
      if (buf === undefined || offset < bufStart || offset + length > bufStart + buf.byteLength) {
        const want = Math.min(Math.max(length, window), size - offset)
        const pieces: Uint8Array[] = []
        for await (const p of blobs.read(digest, { offset, length: want, signal: options?.signal })) pieces.push(p)
        buf = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces)
        bufStart = offset
      }
      return buf.subarray(offset - bufStart, offset - bufStart + length)
    }
  }
}

/** Bytes per send on the server: bigger sends measured faster through Noise (libp2p-notes.md §3.1: 1 MiB frames 249 vs 183 MB/s at 256 KiB). */
const SEND_BATCH = 1024 * 1024
const OUTBOARD_CACHE_BYTES = 64 * 1024 * 1024
const outboardCaches = new WeakMap<object, Map<string, Uint8Array>>()

/**
 * Outboards of recently served blobs: a large blob is asked for piece by piece (one request per
 * piece), and its outboard (64 bytes per 16 KiB: 4 MiB for 1 GiB) should be read once.
 */
async function cachedOutboard (blobs: BlobStore, digest: Uint8Array, owner: object): Promise<Uint8Array | undefined> {
  let cache = outboardCaches.get(owner)
  if (cache === undefined) {
    cache = new Map()
    outboardCaches.set(owner, cache)
  }
  const hex = toHex(digest)
  const hit = cache.get(hex)
  if (hit !== undefined) {
    cache.delete(hex)
    cache.set(hex, hit)
    return hit
  }
  const ob = await blobs.outboard(digest)
  if (ob === undefined || ob.byteLength < 64 * 1024) return ob
  cache.set(hex, ob)
  let total = 0
  for (const v of cache.values()) total += v.byteLength
  for (const [k, v] of cache) {
    if (total <= OUTBOARD_CACHE_BYTES) break
    cache.delete(k)
    total -= v.byteLength
  }
  return ob
}

/**
 * What can answer a request for `ranges` of `digest`: the complete blob, else a partial blob
 * whose servable ranges cover the (truncated, non-empty) request; undefined = not held.
 * `cacheOwner` keys the outboard cache of complete blobs (default: `components`).
 */
export async function openServable (components: FetchServerComponents, digest: Uint8Array, ranges: ChunkRanges, cacheOwner: object = components): Promise<ServableBlob | undefined> {
  const stat = await components.blobs.stat(digest)
  const ob = stat === undefined ? undefined : await cachedOutboard(components.blobs, digest, cacheOwner)
  if (stat !== undefined && ob !== undefined) {
    const outboard = new PreOrderOutboard({ root: digest, size: stat.size, groupLog: GROUP_LOG, outboard: ob })
    return { size: stat.size, outboard, reader: blobReader(components.blobs, digest, stat.size), partial: false }
  }
  const p = components.partials?.servable(digest)
  if (p === undefined) return undefined
  const wanted = ranges.truncate(p.size)
  if (wanted.isEmpty() || !p.verified.isSuperset(wanted)) return undefined
  return { size: p.size, outboard: p.outboard, reader: p.reader, partial: true }
}

/**
 * Serves one fetch stream (the protocol handler). `peerBytes`: the requesting peer's byte budget
 * (limits.ts), taken before each send.
 */
export async function serveFetch (stream: Stream, components: FetchServerComponents, init: FetchServerInit = {}, peer?: string, peerBytes?: RateLimiter): Promise<void> {
  let req: FetchRequest | undefined
  try {
    const reader = new ByteReader(readStream(stream, { highWater: MAX_REQUEST_BYTES }))
    const payload = await readFrame(reader, MAX_REQUEST_BYTES, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    if (payload === undefined) throw new ProtocolError('no request')
    req = decodeRequest(payload)
    if (req.kind === KIND_BLOB || req.kind === KIND_BLOB_REFERRABLE) {
      let held = await openServable(components, req.digest, req.ranges ?? ChunkRanges.all(), init)
      if (held === undefined && req.kind === KIND_BLOB_REFERRABLE && req.insist !== true && init.awaitServable !== undefined &&
        await init.awaitServable(req.digest, req.ranges ?? ChunkRanges.all())) {
        held = await openServable(components, req.digest, req.ranges ?? ChunkRanges.all(), init)
      }
      if (held === undefined) {
        if (req.kind === KIND_BLOB_REFERRABLE && req.wait === true && init.fetching?.(toHex(req.digest)) === true) {
          // a LAN peer waits for our copy: "ask again later"
          await send(stream, encodeReferral([]))
          await stream.close()
          init.onServe?.(req, 'referred')
          return
        }
        if (req.kind === KIND_BLOB_REFERRABLE && req.wait === true) {
          // a LAN peer asks us as the site's gateway, and we are not after this blob: name the
          // LAN peers that asked us so before (they went to fetch it from afar themselves)
          const waiters = init.referrals?.lanWaiters(toHex(req.digest), req.ranges ?? ChunkRanges.all(), peer) ?? []
          if (waiters.length > 0) {
            await send(stream, encodeReferral(waiters))
            await stream.close()
            init.onServe?.(req, 'referred')
            return
          }
        }
        init.onServe?.(req, 'not-held')
        await stream.close()
        return
      }
      const outboard = held.outboard
      const hex = toHex(req.digest)
      const wanted = (req.ranges ?? ChunkRanges.all()).truncate(held.size)
      if (req.kind === KIND_BLOB_REFERRABLE && req.insist !== true) {
        const referred = init.referrals?.refer(hex, wanted, peer)
        if (referred !== undefined) {
          await send(stream, encodeReferral(referred))
          await stream.close()
          init.onServe?.(req, 'referred')
          return
        }
      }
      const ticket = init.referrals?.sending(hex, wanted, peer)
      let complete = false
      try {
        // a partial blob is always validated: a hole in its outboard must fail, not be sent
        // coalesce the encoder's pieces (16 KiB groups, 64-byte parents) into larger sends:
        // every send is a yamux frame and a Noise/TLS record batch
        let batch: Uint8Array[] = req.kind === KIND_BLOB_REFERRABLE ? [new Uint8Array([STATUS_DATA]), sizePrefix(held.size)] : [sizePrefix(held.size)]
        let batched = req.kind === KIND_BLOB_REFERRABLE ? 9 : 8
        const flush = async (): Promise<void> => {
          if (batched === 0) return
          const bytes = batch.length === 1 ? batch[0] : Buffer.concat(batch, batched)
          batch = []
          batched = 0
          await init.rateLimiter?.take(bytes.byteLength)
          await peerBytes?.take(bytes.byteLength)
          await send(stream, bytes)
          init.onSent?.(bytes.byteLength, peer)
        }
        for await (const piece of encodeRanges(outboard, held.reader, req.ranges ?? ChunkRanges.all(), { validate: held.partial || (init.validate ?? true) })) {
          batch.push(piece)
          batched += piece.byteLength
          if (batched >= SEND_BATCH) await flush()
        }
        await flush()
        await stream.close()
        complete = true
      } finally {
        ticket?.done(complete)
      }
      init.onServe?.(req, 'ok')
      return
    } else {
      if (!(await components.directories.has(req.digest))) {
        init.onServe?.(req, 'not-held')
        await stream.close()
        return
      }
      for await (const { directory } of components.directories.getRecursive(req.digest)) {
        const bytes = frame(encodeDirectory(directory))
        await peerBytes?.take(bytes.byteLength)
        await send(stream, bytes)
        init.onSent?.(bytes.byteLength, peer)
      }
    }
    await stream.close()
    init.onServe?.(req, 'ok')
  } catch (err: any) {
    if (req !== undefined) init.onServe?.(req, 'error')
    init.onError?.(err)
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
}

/* ------------------------------------------------------------------ client */

/**
 * Byte source that fails with `PeerTimeoutError` when no piece arrives for `idleMs` while it is
 * waited for (time the consumer spends on a piece does not count). One timer per `idleMs`, re-armed
 * for the time left when data came meanwhile, not one per piece: a blob stream is many pieces.
 */
export async function * withIdleTimeout (source: AsyncIterable<Uint8Array>, idleMs: number, onTimeout?: () => void): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]()
  let since = performance.now()
  /** set while a piece is waited for */
  let fail: ((err: Error) => void) | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  const fire = (): void => {
    timer = undefined
    // not waiting (the consumer holds a piece, or left without closing us): armed again at the
    // next wait. A timer re-armed here would keep an abandoned reader's process alive.
    if (fail === undefined) return
    const idle = performance.now() - since
    if (idle < idleMs) {
      // at least 1 ms: a remainder rounded to nothing would fire at the same instant forever
      timer = setTimeout(fire, Math.max(1, idleMs - idle))
      return
    }
    onTimeout?.()
    fail(new PeerTimeoutError(`no data for ${idleMs} ms`))
  }
  try {
    while (true) {
      since = performance.now()
      const next = await new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        fail = reject
        timer ??= setTimeout(fire, idleMs)
        it.next().then(resolve, reject)
      })
      fail = undefined
      if (next.done === true) return
      yield next.value
    }
  } finally {
    fail = undefined
    clearTimeout(timer)
    void it.return?.()
  }
}

export interface ReceiveBlobOptions extends AbortOptions {
  /** the blob's root hash (castore digest) */
  digest: Uint8Array
  /** ranges asked for (default all) */
  ranges?: ChunkRanges
  /** the size, when known from a verified directory entry: a different size prefix is misbehaviour */
  size?: number
  /** receives verified data only, in stream order; awaited (backpressure) */
  onData: (item: DecodedData) => Promise<void> | void
  /** called with the claimed size as soon as the prefix is read */
  onSize?: (size: number) => void
  /** called with every verified parent pair of the outboard, before the data below it reaches `onData` */
  onParent?: (item: DecodedParent) => void
  /** the response is to a kind-2 request: a status byte comes first, and may be a referral (`ReferredError`) */
  referrable?: boolean
}

export interface ReceiveResult {
  size: number
  /** chunks verified and delivered */
  verified: ChunkRanges
  /** encoded bytes read */
  bytes: number
}

/**
 * Decodes and verifies a kind-0 response from `source`. Verified data goes to `onData`; the
 * first bad parent or group, or a size prefix contradicting `size`, throws
 * `PeerMisbehavedError` (nothing of the bad group is delivered). An empty response throws
 * `NotHeldError`; a cut-off one `ProtocolError` (with what was verified delivered already).
 */
export async function receiveBlob (source: ByteSource | ByteReader, options: ReceiveBlobOptions): Promise<ReceiveResult> {
  const reader = source instanceof ByteReader ? source : new ByteReader(source)
  if (await reader.atEnd(options)) throw new NotHeldError(`peer does not hold blob ${toHex(options.digest)}`)
  if (options.referrable === true) {
    let status: number
    let peers: string[]
    try {
      status = (await reader.read(1, options))[0]
      if (status === STATUS_DATA) peers = []
      else if (status === STATUS_REFER) peers = await readReferral(reader, options)
      else throw new ProtocolError(`unknown response status ${status}`)
    } catch (err: any) {
      if (err instanceof Blake3TruncatedError) throw new ProtocolError('response cut off in a referral', { cause: err })
      if (err instanceof TypeError) throw new ProtocolError('peer id in a referral is not UTF-8', { cause: err })
      throw err
    }
    if (status === STATUS_REFER) {
      if (!(await reader.atEnd(options))) throw new ProtocolError('trailing bytes after a referral')
      throw new ReferredError(`peer refers blob ${toHex(options.digest)} to ${peers.length} peers`, peers)
    }
  }
  let size: number
  try {
    size = parseSizePrefix(await reader.read(8, options))
  } catch (err: any) {
    if (err instanceof Blake3TruncatedError) throw new ProtocolError('response cut off in the size prefix', { cause: err })
    if (err?.name === 'Blake3SizeError') throw new PeerMisbehavedError(`bad size prefix: ${err.message}`, { cause: err })
    throw err
  }
  if (options.size !== undefined && size !== options.size) {
    throw new PeerMisbehavedError(`peer claims blob ${toHex(options.digest)} has ${size} bytes, expected ${options.size}`)
  }
  options.onSize?.(size)
  const decoder = new RangeDecoder(reader, { root: options.digest, size, ranges: options.ranges ?? ChunkRanges.all(), groupLog: GROUP_LOG })
  try {
    for await (const item of decoder.decode(options)) {
      if (item.type === 'data') await options.onData(item)
      else options.onParent?.(item)
    }
  } catch (err: any) {
    if (err instanceof Blake3VerifyError) throw new PeerMisbehavedError(`verification failed: ${err.message}`, { cause: err })
    if (err instanceof Blake3TruncatedError) throw new ProtocolError(`response cut off: ${err.message}`, { cause: err })
    throw err
  }
  return { size, verified: decoder.verifiedRanges(), bytes: reader.position }
}

export interface FetchBlobOptions extends Omit<ReceiveBlobOptions, 'digest' | 'referrable'> {
  idleTimeoutMs?: number
  /** send a kind-2 request: the peer may answer with a referral (`ReferredError`) unless `insist`; `wait`: FLAG_WAIT */
  referrable?: { insist: boolean, wait?: boolean }
}

/**
 * Sends a blob request on `stream` and receives the verified response. With `referrable`, a
 * referral throws `ReferredError` naming the peers to ask instead.
 */
export async function fetchBlobOnStream (stream: Stream, digest: Uint8Array, options: FetchBlobOptions): Promise<ReceiveResult> {
  try {
    const req: FetchRequest = options.referrable === undefined
      ? { kind: KIND_BLOB, digest, ranges: options.ranges }
      : { kind: KIND_BLOB_REFERRABLE, digest, ranges: options.ranges, insist: options.referrable.insist, ...(options.referrable.wait === true ? { wait: true } : {}) }
    await send(stream, encodeRequest(req), options)
    await stream.close(options)
    const source = withIdleTimeout(readStream(stream, options), options.idleTimeoutMs ?? IDLE_TIMEOUT_MS)
    const result = await receiveBlob(source, { ...options, digest, referrable: options.referrable !== undefined })
    return result
  } catch (err: any) {
    if (err instanceof ReferredError) await stream.close().catch(() => {})
    else stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

/**
 * Decodes a kind-1 response: directories, root first. Each must hash to the root or to a child
 * digest named by a directory already received; at the end every child must have arrived
 * unless `have(digest)` says it is held locally already. Returns them leaves first (ready for
 * `DirectoryStore.put`).
 */
export async function receiveDirectories (source: ByteSource | ByteReader, root: Uint8Array, options: AbortOptions & { have?: (digest: Uint8Array) => Promise<boolean> } = {}): Promise<Directory[]> {
  const reader = source instanceof ByteReader ? source : new ByteReader(source)
  const byHex = new Map<string, Directory>()
  const expected = new Set<string>([toHex(root)])
  let first = true
  while (true) {
    let payload: Uint8Array | undefined
    try {
      payload = await readFrame(reader, MAX_DIRECTORY_BYTES, options)
    } catch (err: any) {
      if (err instanceof Blake3TruncatedError) throw new ProtocolError('directory response cut off', { cause: err })
      throw err
    }
    if (payload === undefined) break
    if (byHex.size >= MAX_DIRECTORIES) throw new PeerMisbehavedError('too many directories')
    let dir: Directory
    try {
      dir = decodeDirectory(payload)
    } catch (err: any) {
      throw new PeerMisbehavedError(`invalid directory: ${err.message}`, { cause: err })
    }
    const hex = toHex(directoryDigest(dir))
    if (first && !digestEquals(directoryDigest(dir), root)) throw new PeerMisbehavedError('first directory is not the requested root')
    first = false
    if (!expected.has(hex) || byHex.has(hex)) throw new PeerMisbehavedError(`unexpected directory ${hex}`)
    byHex.set(hex, dir)
    for (const { node } of directoryEntries(dir)) {
      if (node.type === 'directory') expected.add(toHex(node.digest))
    }
  }
  if (first) throw new NotHeldError(`peer does not hold directory ${toHex(root)}`)
  for (const hex of expected) {
    if (!byHex.has(hex) && !(await options.have?.(Buffer.from(hex, 'hex')) ?? false)) {
      throw new PeerMisbehavedError(`directory closure is missing ${hex}`)
    }
  }
  // post-order from the root: children before parents
  const out: Directory[] = []
  const done = new Set<string>()
  const visit = (hex: string): void => {
    if (done.has(hex)) return
    done.add(hex)
    const dir = byHex.get(hex)
    if (dir === undefined) return
    for (const { node } of directoryEntries(dir)) {
      if (node.type === 'directory') visit(toHex(node.digest))
    }
    out.push(dir)
  }
  visit(toHex(root))
  return out
}

/** Sends a directory-closure request on `stream` and receives it verified. */
export async function fetchDirectoriesOnStream (stream: Stream, root: Uint8Array, options: AbortOptions & { have?: (digest: Uint8Array) => Promise<boolean>, idleTimeoutMs?: number } = {}): Promise<Directory[]> {
  try {
    await send(stream, encodeRequest({ kind: KIND_DIRECTORY, digest: root }), options)
    await stream.close(options)
    return await receiveDirectories(withIdleTimeout(readStream(stream, options), options.idleTimeoutMs ?? IDLE_TIMEOUT_MS), root, options)
  } catch (err: any) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}
