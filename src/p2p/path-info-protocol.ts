/**
 * The path-info protocol `/storeswarm/path-info/1.0.0`: ask a provider for the PathInfo of a
 * store path (narinfo fields + castore root + signatures).
 *
 *   request  = varint(len) ‖ ascii hash part (32 nix32 characters), then close-write
 *   response = varint(len) ‖ UTF-8 JSON (`pathInfoToJSON`), or no bytes when not held
 *
 * The receiver believes an answer only per `checkPathInfoTrust` (trusted signature or valid
 * content address) and only for the hash part it asked for.
 */
import type { Stream } from '@libp2p/interface'
import type { AbortOptions } from '../abort.ts'
import type { PathInfoStore } from '../castore/path-info-store.ts'
import { pathInfoFromJSON, pathInfoToJSON, splitStorePath } from '../castore/path-info.ts'
import type { PathInfo } from '../castore/path-info.ts'
import type { PublicKey } from '../nix/signing.ts'
import { IDLE_TIMEOUT_MS, MAX_PATH_INFO_BYTES, REQUEST_TIMEOUT_MS } from './constants.ts'
import { NotHeldError, PeerMisbehavedError, ProtocolError } from './errors.ts'
import { ByteReader, frame, readFrame, readStream, send } from './stream-io.ts'
import { withIdleTimeout } from './fetch-protocol.ts'
import { checkPathInfoTrust } from './trust.ts'
import type { TrustReason } from './trust.ts'

const HASH_PART = /^[0-9a-df-np-sv-z]{32}$/

export interface PathInfoServerComponents {
  pathInfos: PathInfoStore
}

export async function servePathInfo (stream: Stream, components: PathInfoServerComponents): Promise<void> {
  try {
    const reader = new ByteReader(readStream(stream, { highWater: 1024 }))
    const req = await readFrame(reader, 64, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    if (req === undefined) throw new ProtocolError('no request')
    const hashPart = new TextDecoder().decode(req)
    if (!HASH_PART.test(hashPart)) throw new ProtocolError('bad hash part')
    const info = await components.pathInfos.get(hashPart)
    if (info !== undefined) await send(stream, frame(new TextEncoder().encode(JSON.stringify(pathInfoToJSON(info)))))
    await stream.close()
  } catch (err: any) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
}

export interface RequestPathInfoOptions extends AbortOptions {
  trustedKeys: readonly PublicKey[]
  idleTimeoutMs?: number
}

/**
 * Asks for the path info of `hashPart` on `stream`. Throws `NotHeldError` when the peer has
 * none, `PeerMisbehavedError` for malformed or mismatched answers, `UntrustedPathInfoError`
 * when the answer is neither trusted-signed nor content-addressed.
 */
export async function requestPathInfo (stream: Stream, hashPart: string, options: RequestPathInfoOptions): Promise<{ info: PathInfo, trust: TrustReason }> {
  try {
    await send(stream, frame(new TextEncoder().encode(hashPart)), options)
    await stream.close(options)
    const reader = new ByteReader(withIdleTimeout(readStream(stream, options), options.idleTimeoutMs ?? IDLE_TIMEOUT_MS))
    const payload = await readFrame(reader, MAX_PATH_INFO_BYTES, options)
    if (payload === undefined) throw new NotHeldError(`peer has no path info for ${hashPart}`)
    let info: PathInfo
    try {
      info = pathInfoFromJSON(JSON.parse(new TextDecoder().decode(payload)))
    } catch (err: any) {
      throw new PeerMisbehavedError(`malformed path info: ${err.message}`, { cause: err })
    }
    if (splitStorePath(info.storePath).hashPart !== hashPart) throw new PeerMisbehavedError(`asked for ${hashPart}, got ${info.storePath}`)
    const trust = checkPathInfoTrust(info, options.trustedKeys)
    return { info, trust }
  } catch (err: any) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}
