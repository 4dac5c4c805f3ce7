/**
 * The edwards25519 group with BigInt arithmetic, and ECDSA over it as
 * libgcrypt implements it for `(ecc (curve Ed25519))` keys without the
 * `eddsa` flag — the signature scheme of Guix substitute servers
 * (binary-cache.md §5.3). This is NOT Ed25519/EdDSA (RFC 8032): the
 * signature is a plain ECDSA pair (r, s) computed in the prime-order subgroup,
 * with r = affine Edwards x of k·B reduced mod n.
 *
 * Sources: RFC 8032 §5.1 (curve constants, point encoding and decoding),
 * Hisil–Wong–Carter–Dawson 2008 extended coordinates (EFD formulas
 * `add-2008-hwcd-3` and `dbl-2008-hwcd` for a = -1), SEC 1 §4.1 (ECDSA),
 * RFC 6979 §3.2 (deterministic nonce), libgcrypt `cipher/ecc-ecdsa.c`,
 * `cipher/dsa-common.c` (`_gcry_dsa_normalize_hash`,
 * `_gcry_dsa_gen_rfc6979_k`) and `cipher/ecc-eddsa.c`
 * (`_gcry_ecc_eddsa_decodepoint`).
 *
 * Timing: BigInt arithmetic is not constant-time. Verification handles only
 * public data; signing leaks timing about the nonce, which is acceptable for
 * a cache node's narinfo key but should not be used where an attacker can
 * measure many signatures precisely.
 */
import { createHash, createHmac } from 'node:crypto'

/** Field prime p = 2^255 - 19 (RFC 8032 §5.1). */
export const ED25519_P = (1n << 255n) - 19n

/** Edwards d = -121665/121666 mod p (RFC 8032 §5.1). */
export const ED25519_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n

/** Prime order n (RFC 8032 "L") of the base point: 2^252 + 27742317777372353535851937790883648493. */
export const ED25519_N = (1n << 252n) + 27742317777372353535851937790883648493n

/** Bit length of n; ECDSA truncates digests to this many leftmost bits (binary-cache.md §5.3). */
export const ED25519_N_BITS = 253

/** Base point B (RFC 8032 §5.1): y = 4/5, x even. */
export const ED25519_BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202n
export const ED25519_BASE_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960n

/** sqrt(-1) mod p = 2^((p-1)/4) (RFC 8032 §5.1.3 step 3). */
const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n

const D2 = (2n * ED25519_D) % ED25519_P

/** Length of an encoded point (RFC 8032 §5.1.2). */
export const ED25519_POINT_BYTES = 32

/** A point in extended twisted Edwards coordinates: x = X/Z, y = Y/Z, x·y = T/Z. */
export interface EdwardsPoint {
  readonly X: bigint
  readonly Y: bigint
  readonly Z: bigint
  readonly T: bigint
}

export interface AffinePoint {
  readonly x: bigint
  readonly y: bigint
}

/** An encoded point that is not on the curve, or a malformed encoding. */
export class Ed25519PointError extends Error {
  static override name = 'Ed25519PointError'
  override name = 'Ed25519PointError'
}

/** Non-negative remainder. */
export function mod (a: bigint, m: bigint = ED25519_P): bigint {
  const r = a % m
  return r >= 0n ? r : r + m
}

/** Modular inverse by the extended Euclidean algorithm; throws RangeError if none exists. */
export function modInverse (a: bigint, m: bigint): bigint {
  let r0 = m
  let r1 = mod(a, m)
  let t0 = 0n
  let t1 = 1n
  while (r1 !== 0n) {
    const q = r0 / r1
    const r2 = r0 - q * r1
    r0 = r1
    r1 = r2
    const t2 = t0 - q * t1
    t0 = t1
    t1 = t2
  }
  if (r0 !== 1n) throw new RangeError('value is not invertible')
  return mod(t0, m)
}

/** b^e mod m for e >= 0. */
export function modPow (b: bigint, e: bigint, m: bigint): bigint {
  let result = 1n
  let base = mod(b, m)
  let exp = e
  while (exp > 0n) {
    if ((exp & 1n) === 1n) result = (result * base) % m
    base = (base * base) % m
    exp >>= 1n
  }
  return result
}

/** The neutral element (0, 1). */
export const ED25519_IDENTITY: EdwardsPoint = Object.freeze({ X: 0n, Y: 1n, Z: 1n, T: 0n })

/** Lifts affine coordinates (not checked to be on the curve; see {@link isOnCurve}). */
export function fromAffine (p: AffinePoint): EdwardsPoint {
  return { X: p.x, Y: p.y, Z: 1n, T: mod(p.x * p.y) }
}

/** The base point B. */
export const ED25519_BASE: EdwardsPoint = Object.freeze(fromAffine({ x: ED25519_BASE_X, y: ED25519_BASE_Y }))

/** Affine coordinates of a point. */
export function toAffine (p: EdwardsPoint): AffinePoint {
  const zInv = modInverse(p.Z, ED25519_P)
  return { x: mod(p.X * zInv), y: mod(p.Y * zInv) }
}

/** -x^2 + y^2 = 1 + d·x^2·y^2 (mod p), coordinates in range. */
export function isOnCurve (p: AffinePoint): boolean {
  if (p.x < 0n || p.x >= ED25519_P || p.y < 0n || p.y >= ED25519_P) return false
  const x2 = mod(p.x * p.x)
  const y2 = mod(p.y * p.y)
  return mod(y2 - x2) === mod(1n + ED25519_D * x2 * y2)
}

/** Unified addition, `add-2008-hwcd-3` (complete for a = -1 since d is a non-square). */
export function pointAdd (p: EdwardsPoint, q: EdwardsPoint): EdwardsPoint {
  const A = mod((p.Y - p.X) * (q.Y - q.X))
  const B = mod((p.Y + p.X) * (q.Y + q.X))
  const C = mod(p.T * D2 * q.T)
  const D = mod(2n * p.Z * q.Z)
  const E = B - A
  const F = D - C
  const G = D + C
  const H = B + A
  return { X: mod(E * F), Y: mod(G * H), Z: mod(F * G), T: mod(E * H) }
}

/** Doubling, `dbl-2008-hwcd` with a = -1. */
export function pointDouble (p: EdwardsPoint): EdwardsPoint {
  const A = mod(p.X * p.X)
  const B = mod(p.Y * p.Y)
  const C = mod(2n * p.Z * p.Z)
  const D = ED25519_P - A // a·A with a = -1
  const xy = p.X + p.Y
  const E = mod(xy * xy - A - B)
  const G = D + B
  const F = G - C
  const H = D - B
  return { X: mod(E * F), Y: mod(G * H), Z: mod(F * G), T: mod(E * H) }
}

export function pointNegate (p: EdwardsPoint): EdwardsPoint {
  return { X: mod(-p.X), Y: p.Y, Z: p.Z, T: mod(-p.T) }
}

/** Projective equality. */
export function pointEquals (p: EdwardsPoint, q: EdwardsPoint): boolean {
  return mod(p.X * q.Z - q.X * p.Z) === 0n && mod(p.Y * q.Z - q.Y * p.Z) === 0n
}

export function isIdentity (p: EdwardsPoint): boolean {
  return pointEquals(p, ED25519_IDENTITY)
}

/** k·P by left-to-right double-and-add; k >= 0 (not reduced, so torsion is kept). */
export function scalarMultiply (k: bigint, p: EdwardsPoint): EdwardsPoint {
  if (k < 0n) throw new RangeError('scalar must be non-negative')
  let r = ED25519_IDENTITY
  for (let i = k.toString(2).length - 1; i >= 0 && k > 0n; i--) {
    r = pointDouble(r)
    if (((k >> BigInt(i)) & 1n) === 1n) r = pointAdd(r, p)
  }
  return r
}

/** k·B. */
export function scalarMultiplyBase (k: bigint): EdwardsPoint {
  return scalarMultiply(k, ED25519_BASE)
}

function bytesToBigIntLE (b: Uint8Array): bigint {
  let v = 0n
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i])
  return v
}

/** Big-endian unsigned integer of a byte string. */
export function bytesToBigInt (b: Uint8Array): bigint {
  let v = 0n
  for (const c of b) v = (v << 8n) | BigInt(c)
  return v
}

/** Big-endian encoding; minimal length (empty for 0) unless `length` is given. */
export function bigIntToBytes (v: bigint, length?: number): Uint8Array {
  if (v < 0n) throw new RangeError('negative integer')
  let hex = v === 0n ? '' : v.toString(16)
  if (hex.length % 2 === 1) hex = '0' + hex
  if (length !== undefined) {
    if (hex.length > 2 * length) throw new RangeError(`integer does not fit in ${length} bytes`)
    hex = hex.padStart(2 * length, '0')
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** Recovers x from y and the sign bit (RFC 8032 §5.1.3 steps 2–4). */
function recoverX (y: bigint, sign: number): bigint {
  const y2 = mod(y * y)
  const u = mod(y2 - 1n)
  const v = mod(ED25519_D * y2 + 1n)
  const v3 = mod(v * v * v)
  const v7 = mod(v3 * v3 * v)
  let x = mod(u * v3 * modPow(u * v7, (ED25519_P - 5n) / 8n, ED25519_P))
  const vx2 = mod(v * x * x)
  if (vx2 === u) {
    // x is a root
  } else if (vx2 === mod(-u)) {
    x = mod(x * SQRT_M1)
  } else {
    throw new Ed25519PointError('encoded y has no matching x on edwards25519')
  }
  if (x === 0n && sign === 1) throw new Ed25519PointError('x = 0 with the sign bit set')
  if (Number(x & 1n) !== sign) x = ED25519_P - x
  return x
}

/**
 * Decodes a point the way libgcrypt does for Ed25519-curve keys
 * (`_gcry_ecc_eddsa_decodepoint`): 32 bytes, little-endian y with the parity
 * of x in the top bit (RFC 8032 §5.1.3); also `0x40` ‖ 32 bytes (compressed
 * with prefix) and `0x04` ‖ x ‖ y (uncompressed, 32-byte big-endian each).
 * Non-canonical y (>= p) is rejected.
 *
 * @throws {Ed25519PointError}
 */
export function decodePoint (bytes: Uint8Array): EdwardsPoint {
  if (bytes.length === 2 * ED25519_POINT_BYTES + 1 && bytes[0] === 0x04) {
    const x = bytesToBigInt(bytes.subarray(1, 1 + ED25519_POINT_BYTES))
    const y = bytesToBigInt(bytes.subarray(1 + ED25519_POINT_BYTES))
    if (!isOnCurve({ x, y })) throw new Ed25519PointError('uncompressed point is not on edwards25519')
    return fromAffine({ x, y })
  }
  let raw = bytes
  if (raw.length === ED25519_POINT_BYTES + 1 && raw[0] === 0x40) raw = raw.subarray(1)
  if (raw.length !== ED25519_POINT_BYTES) {
    throw new Ed25519PointError(`encoded point must be ${ED25519_POINT_BYTES} bytes (or 0x40/0x04-prefixed), got ${bytes.length}`)
  }
  const sign = raw[ED25519_POINT_BYTES - 1] >> 7
  const yBytes = Uint8Array.from(raw)
  yBytes[ED25519_POINT_BYTES - 1] &= 0x7f
  const y = bytesToBigIntLE(yBytes)
  if (y >= ED25519_P) throw new Ed25519PointError('non-canonical point encoding (y >= p)')
  const x = recoverX(y, sign)
  return fromAffine({ x, y })
}

/** RFC 8032 §5.1.2 encoding: 32 bytes, little-endian y, parity of x in bit 255. */
export function encodePoint (p: EdwardsPoint): Uint8Array {
  const { x, y } = toAffine(p)
  const out = new Uint8Array(ED25519_POINT_BYTES)
  let v = y
  for (let i = 0; i < ED25519_POINT_BYTES; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  if ((x & 1n) === 1n) out[ED25519_POINT_BYTES - 1] |= 0x80
  return out
}

// ---------------------------------------------------------------------------
// ECDSA over the edwards25519 prime-order group (libgcrypt flavour)

function bitLength (v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length
}

/**
 * bits2int (RFC 6979 §2.3.2; libgcrypt `_gcry_dsa_normalize_hash`): the
 * leftmost `qbits` bits of a digest as an integer — for this curve
 * int(digest) >> 3 for SHA-256. Not reduced mod n.
 */
export function digestToInteger (digest: Uint8Array, qbits: number = ED25519_N_BITS): bigint {
  const v = bytesToBigInt(digest)
  const bits = digest.length * 8
  return bits > qbits ? v >> BigInt(bits - qbits) : v
}

/**
 * ECDSA verification (SEC 1 §4.1.4) with the affine Edwards x coordinate:
 * w = s⁻¹, X = (e·w)·B + (r·w)·Q, valid iff X ≠ O and x(X) mod n = r.
 * `e` is the already-truncated digest ({@link digestToInteger}).
 */
export function ecdsaVerify (e: bigint, r: bigint, s: bigint, publicPoint: EdwardsPoint): boolean {
  const n = ED25519_N
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false
  const w = modInverse(s, n)
  const u1 = mod(e * w, n)
  const u2 = mod(r * w, n)
  const X = pointAdd(scalarMultiplyBase(u1), scalarMultiply(u2, publicPoint))
  if (isIdentity(X)) return false
  return mod(toAffine(X).x, n) === r
}

/** Digest length in bytes of a node:crypto hash algorithm. */
function digestLength (hashAlgorithm: string): number {
  return createHash(hashAlgorithm).digest().length
}

/**
 * Deterministic nonce of RFC 6979 §3.2 (HMAC-`hashAlgorithm`), written after
 * libgcrypt `_gcry_dsa_gen_rfc6979_k`, including its `extraLoops` used to
 * draw further candidates when r or s came out as 0. Generic in `q`; `h1` is
 * the message digest.
 */
export function rfc6979Nonce (x: bigint, q: bigint, h1: Uint8Array, hashAlgorithm: string = 'sha256', extraLoops: number = 0): bigint {
  const qbits = bitLength(q)
  const rlen = Math.ceil(qbits / 8)
  const hlen = digestLength(hashAlgorithm)
  if (h1.length !== hlen) throw new RangeError(`digest must be ${hlen} bytes for ${hashAlgorithm}`)
  if (x <= 0n || x >= q) throw new RangeError('secret scalar out of range')

  const hmac = (key: Uint8Array, ...parts: Uint8Array[]): Uint8Array => {
    const h = createHmac(hashAlgorithm, key)
    for (const p of parts) h.update(p)
    return new Uint8Array(h.digest())
  }
  const xOctets = bigIntToBytes(x, rlen)
  let z = digestToInteger(h1, qbits)
  if (z >= q) z -= q
  const hOctets = bigIntToBytes(z, rlen)
  const zero = Uint8Array.of(0)
  const one = Uint8Array.of(1)

  let V: Uint8Array = new Uint8Array(hlen).fill(1) // step b
  let K: Uint8Array = new Uint8Array(hlen) // step c
  K = hmac(K, V, zero, xOctets, hOctets) // step d
  V = hmac(K, V) // step e
  K = hmac(K, V, one, xOctets, hOctets) // step f
  V = hmac(K, V) // step g

  let loops = extraLoops
  for (;;) { // step h
    const T: Uint8Array[] = []
    let tbits = 0
    while (tbits < qbits) {
      V = hmac(K, V)
      T.push(V)
      tbits += 8 * hlen
    }
    let k = bytesToBigInt(Buffer.concat(T))
    if (tbits > qbits) k >>= BigInt(tbits - qbits)
    if (k > 0n && k < q) {
      if (loops === 0) return k
      loops--
    }
    K = hmac(K, V, zero)
    V = hmac(K, V)
  }
}

/** An ECDSA signature pair. */
export interface EcdsaSignature {
  readonly r: bigint
  readonly s: bigint
}

/**
 * ECDSA signing as libgcrypt does with `(flags rfc6979)`: k from
 * {@link rfc6979Nonce} over the raw digest, e = leftmost 253 bits of the
 * digest, r = x(k·B) mod n, s = k⁻¹(e + d·r) mod n; a zero r or s draws the
 * next nonce.
 */
export function ecdsaSign (digest: Uint8Array, d: bigint, hashAlgorithm: string = 'sha256'): EcdsaSignature {
  const n = ED25519_N
  if (d <= 0n || d >= n) throw new RangeError('secret scalar out of range')
  const e = digestToInteger(digest)
  for (let extra = 0; ; extra++) {
    const k = rfc6979Nonce(d, n, digest, hashAlgorithm, extra)
    const r = mod(toAffine(scalarMultiplyBase(k)).x, n)
    if (r === 0n) continue
    const s = mod(modInverse(k, n) * (e + d * r), n)
    if (s === 0n) continue
    return { r, s }
  }
}
