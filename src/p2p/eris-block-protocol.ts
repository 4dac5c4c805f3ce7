/**
 * The ERIS block protocol `/storeswarm/eris-block/1.0.0`: ask a peer for ERIS blocks by their
 * 32-byte BLAKE2b-256 reference (content-addressing.md §4.4, the libp2p counterpart of the HTTP
 * N2R binding).
 *
 * Goals
 * - The smallest thing that moves ERIS blocks between peers: one request frame naming one or a
 *   small batch of references, one answer per reference, in order, then the stream ends.
 * - Answered from local data: the responder's `getBlock` (the node's `ErisPathIndex`, which
 *   regenerates leaves from castore and checks every block against its reference before
 *   answering).
 * - Bounded everything: at most `MAX_ERIS_BATCH` references per request, blocks of exactly
 *   1 KiB or 32 KiB, request and idle timeouts, the stream limits of the other protocols.
 * - The receiver never trusts a block: `requestErisBlocks` checks BLAKE2b-256(block) against the
 *   reference (so a lying peer is caught per block and another one asked), and `decodeEris`
 *   checks everything again (references, keys, padding).
 *
 * Non-goals
 * - No discovery: providers come from the DHT (`erisKey` of the root reference).
 * - No trees or streaming of whole contents: the decoder walks the tree and asks block by block.
 * - No storing of blocks pushed by peers (there is no put).
 * - No store-path semantics: what the decoded NAR is, and whether it is wanted, is checked by the
 *   importer (NarHash, NarSize).
 *
 * Wire format (varints are unsigned LEB128):
 *
 *   request  = varint(32 · n) ‖ n × reference:32        1 ≤ n ≤ MAX_ERIS_BATCH, then close-write
 *   response = n × (varint(len) ‖ block:len)            in request order; len ∈ {0, 1024, 32768};
 *                                                       len 0 = not held
 *
 * A response with fewer answers than references is cut off (`ProtocolError`); a length other than
 * 0, 1024 or 32768, or a block whose hash is not its reference, is misbehaviour
 * (`PeerMisbehavedError`, naming the block as `urn:blake2b:…`).
 */
import type { Stream } from '@libp2p/interface'
import type { AbortOptions } from '../abort.ts'
import { Blake3TruncatedError } from '../blake3/index.ts'
import { formatBlockUrn } from '../eris/capability.ts'
import { ERIS_BLOCK_SIZE_1KIB, ERIS_BLOCK_SIZE_32KIB, REFERENCE_LENGTH } from '../eris/constants.ts'
import { unkeyedBlake2b256 } from '../eris/crypto.ts'
import { IDLE_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from './constants.ts'
import { PeerMisbehavedError, ProtocolError } from './errors.ts'
import { ByteReader, encodeVarint, frame, readFrame, readStream, readVarint, send } from './stream-io.ts'
import { withIdleTimeout } from './fetch-protocol.ts'
import type { RateLimiter } from './fetch-protocol.ts'

/** Protocol id. */
export const ERIS_BLOCK_PROTOCOL = '/storeswarm/eris-block/1.0.0'
/** Most references in one request (32 × 32 KiB = 1 MiB of answer at most). */
export const MAX_ERIS_BATCH = 32
/** Streams of this protocol per connection, each way (as the path-info protocol). */
export const ERIS_BLOCK_MAX_STREAMS = 64

export type ErisLocalBlockGetter = (reference: Uint8Array, options?: AbortOptions) => Promise<Uint8Array | undefined>

export interface ErisBlockServerComponents {
  /** the block with this reference from local data (checked against it), or undefined */
  getBlock: ErisLocalBlockGetter
}

export interface ErisBlockServerInit {
  /** called per reference answered (observability, tests) */
  onServe?: (reference: Uint8Array, result: 'ok' | 'not-held') => void
  onError?: (err: Error) => void
}

export function encodeErisBlockRequest (references: Uint8Array[]): Uint8Array {
  if (references.length === 0 || references.length > MAX_ERIS_BATCH) throw new RangeError(`1 to ${MAX_ERIS_BATCH} references per request`)
  for (const r of references) if (r.byteLength !== REFERENCE_LENGTH) throw new RangeError(`block reference must be ${REFERENCE_LENGTH} bytes`)
  return frame(Buffer.concat(references))
}

export function decodeErisBlockRequest (payload: Uint8Array): Uint8Array[] {
  if (payload.byteLength === 0 || payload.byteLength % REFERENCE_LENGTH !== 0) throw new ProtocolError('ERIS block request is not a list of 32-byte references')
  const n = payload.byteLength / REFERENCE_LENGTH
  if (n > MAX_ERIS_BATCH) throw new ProtocolError(`ERIS block request names ${n} blocks, at most ${MAX_ERIS_BATCH}`)
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) out.push(payload.slice(i * REFERENCE_LENGTH, (i + 1) * REFERENCE_LENGTH))
  return out
}

/** Serves one ERIS block stream (the protocol handler); `peerBytes`: the requesting peer's byte budget (limits.ts). */
export async function serveErisBlocks (stream: Stream, components: ErisBlockServerComponents, init: ErisBlockServerInit = {}, peerBytes?: RateLimiter): Promise<void> {
  try {
    const reader = new ByteReader(readStream(stream, { highWater: 4096 }))
    const payload = await readFrame(reader, MAX_ERIS_BATCH * REFERENCE_LENGTH, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    if (payload === undefined) throw new ProtocolError('no request')
    for (const reference of decodeErisBlockRequest(payload)) {
      const block = await components.getBlock(reference)
      if (block === undefined || (block.byteLength !== ERIS_BLOCK_SIZE_1KIB && block.byteLength !== ERIS_BLOCK_SIZE_32KIB)) {
        await send(stream, encodeVarint(0))
        init.onServe?.(reference, 'not-held')
      } else {
        await peerBytes?.take(block.byteLength)
        await send(stream, frame(block))
        init.onServe?.(reference, 'ok')
      }
    }
    await stream.close()
  } catch (err: any) {
    init.onError?.(err)
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
}

export interface RequestErisBlocksOptions extends AbortOptions {
  idleTimeoutMs?: number
}

/**
 * Asks for `references` on `stream`; returns one entry per reference, in order: the block
 * (its BLAKE2b-256 checked against the reference) or undefined when the peer does not hold it.
 */
export async function requestErisBlocks (stream: Stream, references: Uint8Array[], options: RequestErisBlocksOptions = {}): Promise<Array<Uint8Array | undefined>> {
  try {
    await send(stream, encodeErisBlockRequest(references), options)
    await stream.close(options)
    const reader = new ByteReader(withIdleTimeout(readStream(stream, { ...options, highWater: 2 * ERIS_BLOCK_SIZE_32KIB }), options.idleTimeoutMs ?? IDLE_TIMEOUT_MS))
    const hash = await unkeyedBlake2b256()
    const out: Array<Uint8Array | undefined> = []
    for (const reference of references) {
      let len: number
      let block: Uint8Array
      try {
        if (await reader.atEnd(options)) throw new ProtocolError(`ERIS block response cut off after ${out.length} of ${references.length} answers`)
        len = await readVarint(reader, options)
        if (len === 0) { out.push(undefined); continue }
        if (len !== ERIS_BLOCK_SIZE_1KIB && len !== ERIS_BLOCK_SIZE_32KIB) {
          throw new PeerMisbehavedError(`peer answered ${formatBlockUrn(reference)} with ${len} bytes (ERIS blocks are 1024 or 32768 bytes)`)
        }
        block = (await reader.read(len, options)).slice()
      } catch (err: any) {
        if (err instanceof Blake3TruncatedError) throw new ProtocolError(`ERIS block response cut off in ${formatBlockUrn(reference)}`, { cause: err })
        throw err
      }
      if (Buffer.compare(hash.digest(block), reference) !== 0) {
        throw new PeerMisbehavedError(`peer sent a block that does not hash to ${formatBlockUrn(reference)}`)
      }
      out.push(block)
    }
    if (!(await reader.atEnd(options))) throw new PeerMisbehavedError('trailing bytes after the ERIS block answers')
    return out
  } catch (err: any) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}
