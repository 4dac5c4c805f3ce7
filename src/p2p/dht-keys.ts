/**
 * DHT key scheme (content-addressing.md §5.2–§5.3, libp2p-notes.md gotcha 2).
 *
 * kad-dht 16 only accepts sha2-256 multihash keys in its ADD_PROVIDER / GET_PROVIDERS handlers,
 * so nothing is announced under a raw BLAKE3 multihash. Every key is instead a domain-separated
 * sha2-256 alias, wrapped as CIDv1(raw 0x55, sha2-256):
 *
 *   castore digest (blob or directory root):  sha256(DOMAIN ‖ "b3" ‖ 0x00 ‖ 0x1e 0x20 ‖ digest)
 *   store path (by hash part):               sha256(DOMAIN ‖ "store-path" ‖ 0x00 ‖ ascii(hash part))
 *   ERIS content (by root reference):        sha256(DOMAIN ‖ "eris" ‖ 0x00 ‖ root reference (32 bytes))
 *
 * DOMAIN = "storeswarm/dht-key/v1\0". The alias only routes: content is verified against the
 * BLAKE3 digest and path infos against signatures / content addresses. The store-path key covers
 * Nix and Guix alike (the hash part is unique across store directories for practical purposes).
 * The ERIS key names only the root reference (BLAKE2b-256 of the encrypted root block), never the
 * root key: the DHT learns who holds some content, not how to read it; blocks are verified
 * against their references by the receiver.
 */
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { parseErisUrn } from '../eris/capability.ts'
import { DHT_KEY_DOMAIN } from './constants.ts'

const RAW = 0x55
const SHA2_256 = 0x12
const BLAKE3 = 0x1e

/** CIDv1(raw, blake3) of a castore digest: its self-describing name (not a DHT key). */
export function blake3Cid (digest: Uint8Array): CID {
  if (digest.byteLength !== 32) throw new RangeError('BLAKE3 digest must be 32 bytes')
  return CID.createV1(RAW, Digest.create(BLAKE3, digest))
}

function alias (kind: string, payload: Uint8Array): CID {
  const h = createHash('sha256').update(DHT_KEY_DOMAIN).update(kind).update(new Uint8Array([0])).update(payload).digest()
  return CID.createV1(RAW, Digest.create(SHA2_256, new Uint8Array(h)))
}

/** DHT key announcing a castore blob or directory digest. */
export function digestKey (digest: Uint8Array): CID {
  return alias('b3', blake3Cid(digest).multihash.bytes)
}

/** DHT key announcing a store path, by its 32-character hash part. */
export function storePathKey (hashPart: string): CID {
  if (!/^[0-9a-df-np-sv-z]{32}$/.test(hashPart)) throw new RangeError(`not a store path hash part: ${JSON.stringify(hashPart.slice(0, 40))}`)
  return alias('store-path', new TextEncoder().encode(hashPart))
}

/**
 * DHT key announcing ERIS content, by the root reference of its read capability: a
 * `urn:eris:…` URN, or the 32-byte root reference itself.
 */
export function erisKey (capOrRootReference: string | Uint8Array): CID {
  const root = typeof capOrRootReference === 'string' ? parseErisUrn(capOrRootReference).rootReference : capOrRootReference
  if (!(root instanceof Uint8Array) || root.byteLength !== 32) throw new RangeError('ERIS root reference must be 32 bytes')
  return alias('eris', root)
}
