/**
 * Binary-cache signing keys and Ed25519 signatures (spec §2.4, Nix `crypto.cc`), on Node's
 * native Ed25519.
 *
 * Key files as `nix-store --generate-binary-cache-key` writes them (no trailing newline):
 * public `<name>:base64(32 B)`, secret `<name>:base64(64 B = seed ‖ public key)`.
 * Signatures are `<name>:base64(64 B)` over the UTF-8 fingerprint; Ed25519 is deterministic.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { encodeBase64 } from './base64.ts'
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SECRET_KEY_BYTES, ED25519_SEED_BYTES, ED25519_SIGNATURE_BYTES } from './constants.ts'
import { InvalidSigningKeyError } from './errors.ts'
import { isContentAddressed } from './content-address.ts'
import { fingerprint } from './fingerprint.ts'
import type { NarInfo } from './narinfo.ts'
import { formatSignature, splitNamedBase64, validateKeyName } from './signature.ts'
import { StorePath } from './store-path.ts'

export interface PublicKey {
  name: string
  /** 32-byte Ed25519 public key. */
  key: Uint8Array
}

export interface SecretKey {
  name: string
  /** 32-byte Ed25519 seed (RFC 8032 private key). */
  seed: Uint8Array
  /** 32-byte public key belonging to the seed. */
  publicKey: Uint8Array
}

/** DER prefixes wrapping raw Ed25519 keys (RFC 8410): PKCS#8 for the seed, SPKI for the public key. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

const privateKeyObjects = new WeakMap<Uint8Array, KeyObject>()
const publicKeyObjects = new WeakMap<Uint8Array, KeyObject>()

function privateKeyObject (seed: Uint8Array): KeyObject {
  let key = privateKeyObjects.get(seed)
  if (key == null) {
    if (seed.length !== ED25519_SEED_BYTES) {
      throw new InvalidSigningKeyError(`Ed25519 seed must be ${ED25519_SEED_BYTES} bytes`)
    }
    key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
    privateKeyObjects.set(seed, key)
  }
  return key
}

function publicKeyObject (publicKey: Uint8Array): KeyObject {
  let key = publicKeyObjects.get(publicKey)
  if (key == null) {
    if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
      throw new InvalidSigningKeyError(`Ed25519 public key must be ${ED25519_PUBLIC_KEY_BYTES} bytes`)
    }
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' })
    publicKeyObjects.set(publicKey, key)
  }
  return key
}

/** The raw 32-byte public key of a seed. */
function derivePublicKey (seed: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' })
  return new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length))
}

function keyText (text: string): string {
  if (typeof text !== 'string' || text.length > 1024) {
    throw new InvalidSigningKeyError('key text is not a string of reasonable size')
  }
  // key files may end with a newline when written by hand; Nix's decoder skips it too
  return text.trim()
}

/** Parses a public key `<name>:<base64 of 32 bytes>` (a `trusted-public-keys` entry). */
export function parsePublicKey (text: string): PublicKey {
  const parts = splitNamedBase64(keyText(text), ED25519_PUBLIC_KEY_BYTES)
  if (parts == null) {
    throw new InvalidSigningKeyError(`invalid public key: expected <name>:<base64 of ${ED25519_PUBLIC_KEY_BYTES} bytes>`)
  }
  return { name: parts.name, key: parts.bytes }
}

/**
 * Parses a `trusted-public-keys` setting: whitespace-separated `<name>:<base64>` entries.
 * Throws `InvalidSigningKeyError` if any entry is malformed.
 */
export function parseTrustedPublicKeys (setting: string): PublicKey[] {
  if (typeof setting !== 'string' || setting.length > 1024 * 1024) {
    throw new InvalidSigningKeyError('trusted-public-keys setting is not a string of reasonable size')
  }
  return setting.split(/\s+/).filter(entry => entry.length > 0).map(parsePublicKey)
}

/**
 * Parses a secret key `<name>:<base64 of 64 bytes = seed ‖ public key>`; the public half
 * must belong to the seed.
 */
export function parseSecretKey (text: string): SecretKey {
  const parts = splitNamedBase64(keyText(text), ED25519_SECRET_KEY_BYTES)
  if (parts == null) {
    throw new InvalidSigningKeyError(`invalid secret key: expected <name>:<base64 of ${ED25519_SECRET_KEY_BYTES} bytes>`)
  }
  const seed = parts.bytes.slice(0, ED25519_SEED_BYTES)
  const publicKey = parts.bytes.slice(ED25519_SEED_BYTES)
  if (Buffer.compare(derivePublicKey(seed), publicKey) !== 0) {
    throw new InvalidSigningKeyError('invalid secret key: the public half does not belong to the seed')
  }
  return { name: parts.name, seed, publicKey }
}

/** `<name>:<base64>` of the public key (no trailing newline). */
export function formatPublicKey (key: PublicKey): string {
  validateKeyName(key.name)
  if (key.key?.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new InvalidSigningKeyError(`public key must be ${ED25519_PUBLIC_KEY_BYTES} bytes`)
  }
  return `${key.name}:${encodeBase64(key.key)}`
}

/** `<name>:<base64 of seed ‖ public key>` (no trailing newline), as Nix writes secret key files. */
export function formatSecretKey (key: SecretKey): string {
  validateKeyName(key.name)
  if (key.seed?.length !== ED25519_SEED_BYTES || key.publicKey?.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new InvalidSigningKeyError('secret key must have a 32-byte seed and a 32-byte public key')
  }
  const bytes = new Uint8Array(ED25519_SECRET_KEY_BYTES)
  bytes.set(key.seed, 0)
  bytes.set(key.publicKey, ED25519_SEED_BYTES)
  return `${key.name}:${encodeBase64(bytes)}`
}

/** The public key of a secret key, under the same name. */
export function toPublicKey (secretKey: SecretKey): PublicKey {
  return { name: secretKey.name, key: secretKey.publicKey }
}

/** A fresh random key pair (`nix-store --generate-binary-cache-key <name>`). */
export function generateSigningKey (name: string): SecretKey {
  validateKeyName(name)
  const { privateKey } = generateKeyPairSync('ed25519')
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
  const seed = new Uint8Array(pkcs8.subarray(PKCS8_ED25519_PREFIX.length))
  return { name, seed, publicKey: derivePublicKey(seed) }
}

/** Signs a fingerprint: returns `<keyname>:<base64 signature>` (a `Sig:` value). */
export function signFingerprint (fingerprint: string, secretKey: SecretKey): string {
  validateKeyName(secretKey.name)
  const signature = sign(null, Buffer.from(fingerprint, 'utf8'), privateKeyObject(secretKey.seed))
  return formatSignature({ keyName: secretKey.name, signature: new Uint8Array(signature) })
}

/**
 * True if `signature` (`<keyname>:<base64>`) is a valid Ed25519 signature of `fingerprint`
 * by a trusted key with exactly that name. Unknown key names, malformed signatures and
 * malformed keys give `false`, never an exception.
 */
export function verifySignature (fingerprint: string, signature: string, trustedKeys: Iterable<PublicKey>): boolean {
  if (typeof signature !== 'string' || typeof fingerprint !== 'string') {
    return false
  }
  const parts = splitNamedBase64(signature, ED25519_SIGNATURE_BYTES)
  if (parts == null) {
    return false
  }
  const data = Buffer.from(fingerprint, 'utf8')
  for (const key of trustedKeys) {
    if (key.name !== parts.name) {
      continue
    }
    try {
      if (verify(null, data, publicKeyObject(key.key), parts.bytes)) {
        return true
      }
    } catch {
      // malformed public key: not a valid signature under it
    }
  }
  return false
}

/** The `Sig` values of a narinfo that verify against the trusted keys, in document order. */
export function validSignatures (info: NarInfo, trustedKeys: Iterable<PublicKey>): string[] {
  if (info.signatures.length === 0) {
    return []
  }
  const keys = [...trustedKeys]
  const fp = fingerprint(info)
  return info.signatures.filter(sig => verifySignature(fp, sig, keys))
}

/**
 * Whether Nix 2.8 (with `require-sigs`) would accept this narinfo: its `CA` recomputes the
 * store path exactly, or at least one `Sig` verifies (`ValidPathInfo::checkSignatures`).
 */
export function verifyNarInfo (info: NarInfo, trustedKeys: Iterable<PublicKey>): boolean {
  if (info.ca != null) {
    try {
      const refs = info.references.map(r => StorePath.fromBaseName(r, info.storePath.storeDir))
      if (isContentAddressed(info.storePath, info.ca, refs)) {
        return true
      }
    } catch {
      // invalid references: fall through to signatures
    }
  }
  return validSignatures(info, trustedKeys).length > 0
}

/**
 * Returns a copy of `info` with a signature by `secretKey` added (unless the same signature
 * is already there).
 */
export function signNarInfo (info: NarInfo, secretKey: SecretKey): NarInfo {
  const sig = signFingerprint(fingerprint(info), secretKey)
  return {
    ...info,
    signatures: info.signatures.includes(sig) ? [...info.signatures] : [...info.signatures, sig]
  }
}
