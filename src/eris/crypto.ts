/**
 * The two primitives of ERIS 1.0 (spec §4.2 steps 3–4):
 * - BLAKE2b-256, keyed (leaf keys, key = convergence secret) and unkeyed (references, node keys),
 *   via hash-wasm; one wasm instance per hasher, reused with `init()`;
 * - IETF ChaCha20 (RFC 8439, 96-bit nonce, block counter 0): Node's OpenSSL binding for large
 *   inputs, a plain TypeScript version for small ones (context setup dominates there).
 *
 * Every function here is synchronous, so a hasher can be shared by concurrent async callers.
 */
import { createCipheriv } from 'node:crypto'
import { createBLAKE2b } from 'hash-wasm'
import type { IHasher } from 'hash-wasm'
import { chacha20Js, chacha20JsAvailable } from './chacha20-js.ts'
import { CHACHA20_KEY_LENGTH, CONVERGENCE_SECRET_LENGTH } from './constants.ts'

/** A reusable BLAKE2b-256 hasher (keyed or unkeyed). */
export class Blake2b256 {
  readonly #hasher: IHasher

  constructor (hasher: IHasher) {
    this.#hasher = hasher
  }

  /** BLAKE2b-256 of `data` (with this hasher's key, if any): a fresh 32-byte array. */
  digest (data: Uint8Array): Uint8Array {
    return this.#hasher.init().update(data).digest('binary')
  }
}

let unkeyed: Promise<Blake2b256> | undefined
let nullKeyed: Promise<Blake2b256> | undefined

/** The shared unkeyed BLAKE2b-256 hasher (created on first use). */
export async function unkeyedBlake2b256 (): Promise<Blake2b256> {
  unkeyed ??= createBLAKE2b(256).then(h => new Blake2b256(h))
  return unkeyed
}

/**
 * A BLAKE2b-256 hasher keyed with a 32-byte convergence secret. The null (all-zero) secret is
 * a 32-byte all-zero *key*, not "unkeyed" (§4.2 step 3); its hasher is shared.
 */
export async function keyedBlake2b256 (key: Uint8Array): Promise<Blake2b256> {
  if (key.length !== CONVERGENCE_SECRET_LENGTH) {
    throw new RangeError(`BLAKE2b key must be ${CONVERGENCE_SECRET_LENGTH} bytes, got ${key.length}`)
  }
  if (key.every(b => b === 0)) {
    nullKeyed ??= createBLAKE2b(256, new Uint8Array(CONVERGENCE_SECRET_LENGTH)).then(h => new Blake2b256(h))
    return nullKeyed
  }
  return new Blake2b256(await createBLAKE2b(256, key.slice()))
}

/** OpenSSL's `chacha20` takes a 16-byte IV: 32-bit little-endian block counter ‖ 96-bit nonce. */
const iv = new Uint8Array(16)

/** Up to this many bytes the TypeScript ChaCha20 beats OpenSSL's per-call setup (measured crossover ≈ 3.5 KiB). */
const SMALL_INPUT = 2048

/**
 * ChaCha20 with `key`, nonce `[level, 0 × 11]` and initial counter 0 (§4.2 steps 3–4).
 * Encryption and decryption are the same operation. Returns a fresh array.
 */
export function chacha20 (key: Uint8Array, level: number, data: Uint8Array): Uint8Array {
  if (key.length !== CHACHA20_KEY_LENGTH) {
    throw new RangeError(`ChaCha20 key must be ${CHACHA20_KEY_LENGTH} bytes, got ${key.length}`)
  }
  if (data.length <= SMALL_INPUT && chacha20JsAvailable) {
    return chacha20Js(key, level, data)
  }
  return chacha20OpenSsl(key, level, data)
}

/** ChaCha20 through Node's OpenSSL binding (one context per call). */
export function chacha20OpenSsl (key: Uint8Array, level: number, data: Uint8Array): Uint8Array {
  iv[4] = level
  const out = createCipheriv('chacha20', key, iv).update(data)
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}
