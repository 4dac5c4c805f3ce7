/**
 * Guix keys and narinfo signatures (binary-cache.md §5.3; guix `guix/pki.scm`
 * `signature-sexp`, `%signature-status`; `guix/narinfo.scm`
 * `narinfo-signature->canonical-sexp`, `narinfo-sha256`, `valid-narinfo?`;
 * `guix/scripts/publish.scm` `signed-string`; `guix/scripts/archive.scm`
 * `%key-generation-parameters`).
 *
 * Keys are libgcrypt ECDSA keys on the Ed25519 curve:
 *
 *     (public-key (ecc (curve Ed25519) (q #<32-byte point>#)))
 *     (private-key (ecc (curve Ed25519) (q #…#) (d #<scalar>#)))
 *
 * and a narinfo's `Signature: 1;<host>;<base64>` carries, base64-encoded, the
 * advanced-format text of
 *
 *     (signature (data (flags rfc6979) (hash sha256 #<sha256 of signed part>#))
 *                (sig-val (ecdsa (r #…#) (s #…#)))
 *                (public-key (ecc (curve Ed25519) (q #…#))))
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  ED25519_N,
  Ed25519PointError,
  bigIntToBytes,
  bytesToBigInt,
  decodePoint,
  digestToInteger,
  ecdsaSign,
  ecdsaVerify,
  encodePoint,
  pointEquals,
  scalarMultiplyBase
} from './ed25519-curve.ts'
import type { EdwardsPoint } from './ed25519-curve.ts'
import {
  GUIX_SIGNED_MANDATORY_KEYS,
  GuixNarInfoError,
  guixNarInfoSignedBody,
  guixNarInfoSignedPart,
  parseGuixNarInfoFields,
  withGuixSignature
} from './guix-narinfo.ts'
import type { GuixNarInfo } from './guix-narinfo.ts'
import {
  SexpParseError,
  atomIs,
  atomText,
  findSexpToken,
  formatAdvancedSexp,
  formatAdvancedSexpString,
  isSexpAtom,
  isSexpList,
  parseSexp,
  sexpAtom,
  sexpEquals,
  sexpList,
  sexpNth,
  sexpNthAtom
} from './sexp.ts'
import type { Sexp, SexpLimits, SexpList } from './sexp.ts'

/** The only signature version (`narinfo-signature->canonical-sexp`). */
export const GUIX_SIGNATURE_VERSION = 1

/** Curve name written by libgcrypt for Guix keys. */
export const GUIX_KEY_CURVE = 'Ed25519'

/** Names libgcrypt accepts for this curve (`cipher/ecc-curves.c` `curve_aliases`). */
const CURVE_NAMES: readonly string[] = ['Ed25519', '1.3.6.1.4.1.11591.15.1']

/** Key-type atoms libgcrypt maps to its ECC module (`ecc_names`), as used in key files. */
const KEY_ALGORITHMS: readonly string[] = ['ecc', 'ecdsa']

/** Signature algorithms that mean ECDSA (`sig-val` algorithm names other than eddsa/gost/sm2). */
const ECDSA_SIG_ALGORITHMS: readonly string[] = ['ecdsa', 'ecc']

/** Domain parameters that would override the named curve (libgcrypt `(flags param)` keys). */
const EXPLICIT_CURVE_PARAMS: readonly string[] = ['p', 'a', 'b', 'g', 'n', 'h']

/** Bounds for key files, ACLs and signature s-expressions. */
export const GUIX_SEXP_LIMITS: Readonly<Required<SexpLimits>> = Object.freeze({
  maxDepth: 16,
  maxAtomLength: 4096,
  maxSize: 256 * 1024,
  maxNodes: 10_000
})

/** Upper bound on the base64 part of a `Signature` field (a real one is ~800 chars). */
export const GUIX_SIGNATURE_FIELD_MAX = 16 * 1024

/** A key file or ACL that is not a usable Guix key. */
export class GuixKeyError extends Error {
  static override name = 'GuixKeyError'
  override name = 'GuixKeyError'
}

/** A `Signature` field or signature s-expression that cannot be used. */
export class GuixSignatureError extends Error {
  static override name = 'GuixSignatureError'
  override name = 'GuixSignatureError'
}

/** A parsed public key. */
export interface GuixPublicKey {
  /** Curve name as written (`Ed25519`). */
  readonly curve: string
  /** Raw `q` bytes as written (normally the 32-byte RFC 8032 encoding). */
  readonly q: Uint8Array
  readonly point: EdwardsPoint
  /** Atoms of an optional `(flags …)`; Guix keys have none. */
  readonly flags: readonly string[]
  /** The whole `(public-key …)` expression: what Guix compares against its ACL. */
  readonly sexp: SexpList
}

/** A parsed secret key. */
export interface GuixSecretKey {
  readonly curve: string
  /** The ECDSA secret scalar (not an EdDSA seed), 0 < d < n. */
  readonly d: bigint
  readonly publicKey: GuixPublicKey
  /** The whole `(private-key …)` expression. */
  readonly sexp: SexpList
}

function toSexp (input: string | Uint8Array | Sexp, what: string): Sexp {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      return parseSexp(input, GUIX_SEXP_LIMITS)
    } catch (err) {
      if (err instanceof SexpParseError) throw new GuixKeyError(`${what} is not a valid s-expression: ${err.message}`, { cause: err })
      throw err
    }
  }
  return input
}

interface EccParams {
  curve: string
  flags: string[]
  q?: Uint8Array
  d?: Uint8Array
}

/** Reads `(<kind> (ecc (curve …) [(flags …)] (q …) [(d …)]))`. */
function readEccKey (root: Sexp, kind: 'public-key' | 'private-key'): EccParams {
  if (!isSexpList(root) || !atomIs(root.items[0], kind)) throw new GuixKeyError(`expected a (${kind} …) expression`)
  const algo = sexpNth(root, 1)
  if (!isSexpList(algo) || !KEY_ALGORITHMS.some(a => atomIs(algo.items[0], a))) {
    throw new GuixKeyError(`expected (${kind} (ecc …)); only ECC keys are supported`)
  }
  const curveAtom = sexpNthAtom(findSexpToken(algo, 'curve'), 1)
  if (curveAtom === undefined) throw new GuixKeyError('key has no (curve …)')
  const curve = atomText(curveAtom)
  if (!CURVE_NAMES.includes(curve)) throw new GuixKeyError(`unsupported curve ${JSON.stringify(curve.slice(0, 64))}; Guix keys use Ed25519`)
  for (const p of EXPLICIT_CURVE_PARAMS) {
    if (findSexpToken(algo, p) !== undefined) throw new GuixKeyError(`explicit curve parameter (${p} …) is not supported`)
  }
  const flagsList = findSexpToken(algo, 'flags')
  const flags = flagsList === undefined ? [] : flagsList.items.slice(1).filter(isSexpAtom).map(atomText)
  const q = sexpNthAtom(findSexpToken(algo, 'q'), 1)?.value
  const d = sexpNthAtom(findSexpToken(algo, 'd'), 1)?.value
  const out: EccParams = { curve, flags }
  if (q !== undefined) out.q = q
  if (d !== undefined) out.d = d
  return out
}

function decodeQ (q: Uint8Array): EdwardsPoint {
  try {
    return decodePoint(q)
  } catch (err) {
    if (err instanceof Ed25519PointError) throw new GuixKeyError(`invalid public point q: ${err.message}`, { cause: err })
    throw err
  }
}

function publicKeySexp (curve: string, flags: readonly string[], q: Uint8Array): SexpList {
  const params: Sexp[] = [sexpAtom('ecc'), sexpList(sexpAtom('curve'), sexpAtom(curve))]
  if (flags.length > 0) params.push(sexpList(sexpAtom('flags'), ...flags.map(f => sexpAtom(f))))
  params.push(sexpList(sexpAtom('q'), sexpAtom(q)))
  return sexpList(sexpAtom('public-key'), sexpList(...params))
}

/**
 * Parses a public key file (`/etc/guix/signing-key.pub`,
 * `etc/substitutes/*.pub`) or a `(public-key …)` expression.
 *
 * @throws {GuixKeyError}
 */
export function parseGuixPublicKey (input: string | Uint8Array | Sexp): GuixPublicKey {
  const root = toSexp(input, 'public key')
  const params = readEccKey(root, 'public-key')
  if (params.q === undefined) throw new GuixKeyError('public key has no (q …)')
  if (params.d !== undefined) throw new GuixKeyError('public key contains a secret (d …)')
  return {
    curve: params.curve,
    q: params.q,
    point: decodeQ(params.q),
    flags: params.flags,
    sexp: root as SexpList
  }
}

/**
 * Parses a secret key file (`/etc/guix/signing-key.sec`). `q` is optional
 * (derived from `d`); when present it must match `d`.
 *
 * @throws {GuixKeyError}
 */
export function parseGuixSecretKey (input: string | Uint8Array | Sexp): GuixSecretKey {
  const root = toSexp(input, 'secret key')
  const params = readEccKey(root, 'private-key')
  if (params.d === undefined) throw new GuixKeyError('secret key has no (d …)')
  // With (flags eddsa) libgcrypt would treat d as an EdDSA seed and sign/verify EdDSA.
  if (params.flags.includes('eddsa')) throw new GuixKeyError('EdDSA-flagged secret key; Guix keys are ECDSA keys')
  const d = bytesToBigInt(params.d)
  if (d <= 0n || d >= ED25519_N) throw new GuixKeyError('secret scalar d out of range (0 < d < n)')
  const point = scalarMultiplyBase(d)
  let q: Uint8Array
  if (params.q !== undefined) {
    if (!pointEquals(decodeQ(params.q), point)) throw new GuixKeyError('q does not match d')
    q = params.q
  } else {
    q = encodePoint(point)
  }
  return {
    curve: params.curve,
    d,
    publicKey: {
      curve: params.curve,
      q,
      point,
      flags: params.flags,
      sexp: publicKeySexp(params.curve, params.flags, q)
    },
    sexp: root as SexpList
  }
}

/**
 * Authorized keys of a Guix ACL (`/etc/guix/acl`): every subject of an
 * `(entry <public-key> (tag (guix import)))`, as `authorized-key?` reads it.
 *
 * @throws {GuixKeyError}
 */
export function parseGuixAcl (input: string | Uint8Array | Sexp): GuixPublicKey[] {
  const root = toSexp(input, 'ACL')
  if (!isSexpList(root) || !atomIs(root.items[0], 'acl')) throw new GuixKeyError('expected an (acl …) expression')
  const keys: GuixPublicKey[] = []
  for (const entry of root.items.slice(1)) {
    if (!isSexpList(entry) || !atomIs(entry.items[0], 'entry')) continue
    const tag = sexpNth(entry, 2)
    const tagValue = sexpNth(tag, 1)
    const isImport = isSexpList(tag) && atomIs(tag.items[0], 'tag') && tag.items.length === 2 &&
      isSexpList(tagValue) && tagValue.items.length === 2 && atomIs(tagValue.items[0], 'guix') && atomIs(tagValue.items[1], 'import')
    const subject = sexpNth(entry, 1)
    if (isImport && subject !== undefined) keys.push(parseGuixPublicKey(subject))
  }
  return keys
}

/** MPI in libgcrypt's "STD" format (`%m`): minimal big-endian, 0x00 prepended if the top bit is set. */
function mpiStdBytes (v: bigint): Uint8Array {
  const b = bigIntToBytes(v)
  if (b.length > 0 && (b[0] & 0x80) !== 0) return Uint8Array.of(0, ...b)
  return b
}

/** Builds a key pair from a secret scalar, with the key-file layout libgcrypt's `genkey` produces. */
export function guixKeyPairFromScalar (d: bigint): { publicKey: GuixPublicKey, secretKey: GuixSecretKey } {
  if (d <= 0n || d >= ED25519_N) throw new GuixKeyError('secret scalar d out of range (0 < d < n)')
  const point = scalarMultiplyBase(d)
  const q = encodePoint(point)
  const publicKey: GuixPublicKey = { curve: GUIX_KEY_CURVE, q, point, flags: [], sexp: publicKeySexp(GUIX_KEY_CURVE, [], q) }
  const sexp = sexpList(sexpAtom('private-key'), sexpList(
    sexpAtom('ecc'),
    sexpList(sexpAtom('curve'), sexpAtom(GUIX_KEY_CURVE)),
    sexpList(sexpAtom('q'), sexpAtom(q)),
    sexpList(sexpAtom('d'), sexpAtom(mpiStdBytes(d)))
  ))
  return { publicKey, secretKey: { curve: GUIX_KEY_CURVE, d, publicKey, sexp } }
}

/** A new key pair, like `guix archive --generate-key` (`(genkey (ecdsa (curve Ed25519) (flags rfc6979)))`). */
export function generateGuixKeyPair (): { publicKey: GuixPublicKey, secretKey: GuixSecretKey, publicKeyFile: string, secretKeyFile: string } {
  // Rejection sampling of a uniform scalar in [1, n-1] from 253-bit candidates.
  for (;;) {
    const bytes = randomBytes(32)
    bytes[0] &= 0x1f
    const d = bytesToBigInt(bytes)
    if (d > 0n && d < ED25519_N) {
      const pair = guixKeyPairFromScalar(d)
      return { ...pair, publicKeyFile: formatGuixPublicKey(pair.publicKey), secretKeyFile: formatGuixSecretKey(pair.secretKey) }
    }
  }
}

/** Public key file text, as libgcrypt/Guix print it (advanced format, final newline). */
export function formatGuixPublicKey (key: GuixPublicKey): string {
  return formatAdvancedSexpString(key.sexp)
}

/** Secret key file text, as libgcrypt/Guix print it. Keep it private (mode 0600). */
export function formatGuixSecretKey (key: GuixSecretKey): string {
  return formatAdvancedSexpString(key.sexp)
}

// ---------------------------------------------------------------------------
// Signatures

/** A parsed signature s-expression. */
export interface GuixSignature {
  /** The whole `(signature …)` expression. */
  readonly sexp: Sexp
  /** Hash algorithm named in `(data (hash <algo> …))`. */
  readonly hashAlgorithm: string
  /** The signed digest from `(data (hash <algo> <digest>))`. */
  readonly digest: Uint8Array
  /** Atoms of `(data (flags …))`, normally `rfc6979`. */
  readonly dataFlags: readonly string[]
  readonly r: bigint
  readonly s: bigint
  /** The embedded `(public-key …)` (the "subject" Guix checks against its ACL). */
  readonly subject: SexpList
  /** The subject parsed. */
  readonly publicKey: GuixPublicKey
}

/** A parsed `Signature:` field value. */
export interface GuixSignatureField {
  readonly version: number
  /** Informational host name. */
  readonly host: string
  /** Base64-decoded s-expression text. */
  readonly text: Uint8Array
  readonly signature: GuixSignature
}

function unsignedInteger (list: Sexp | undefined, name: string): bigint {
  const atom = sexpNthAtom(list, 1)
  if (atom === undefined) throw new GuixSignatureError(`signature has no (${name} …) value`)
  if (atom.value.length > 64) throw new GuixSignatureError(`signature value ${name} is too long`)
  return bytesToBigInt(atom.value)
}

/**
 * Parses a `(signature (data …) (sig-val …) (public-key …))` expression.
 * Like Guix and libgcrypt, parts are located with find-token semantics.
 *
 * @throws {GuixSignatureError}
 */
export function parseGuixSignatureSexp (input: string | Uint8Array | Sexp): GuixSignature {
  let root: Sexp
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      root = parseSexp(input, GUIX_SEXP_LIMITS)
    } catch (err) {
      if (err instanceof SexpParseError) throw new GuixSignatureError(`signature is not a valid s-expression: ${err.message}`, { cause: err })
      throw err
    }
  } else {
    root = input
  }

  const data = findSexpToken(root, 'data')
  const subject = findSexpToken(root, 'public-key')
  if (data === undefined) throw new GuixSignatureError('signature has no (data …)')
  if (subject === undefined) throw new GuixSignatureError('signature has no (public-key …)')

  const hash = findSexpToken(data, 'hash')
  const algoAtom = sexpNthAtom(hash, 1)
  const digestAtom = sexpNthAtom(hash, 2)
  if (algoAtom === undefined || digestAtom === undefined) throw new GuixSignatureError('signature data has no (hash <algo> <digest>)')
  const flagsList = findSexpToken(data, 'flags')
  const dataFlags = flagsList === undefined ? [] : flagsList.items.slice(1).filter(isSexpAtom).map(atomText)

  // libgcrypt _gcry_pk_util_preparse_sigval: (sig-val [(flags …)] (<algo> (r …) (s …)))
  const sigVal = findSexpToken(root, 'sig-val')
  if (sigVal === undefined) throw new GuixSignatureError('signature has no (sig-val …)')
  let algoList = sexpNth(sigVal, 1)
  if (isSexpList(algoList) && atomIs(algoList.items[0], 'flags')) algoList = sexpNth(sigVal, 2)
  if (!isSexpList(algoList) || !isSexpAtom(algoList.items[0])) throw new GuixSignatureError('malformed (sig-val …)')
  const sigAlgo = atomText(algoList.items[0])
  if (!ECDSA_SIG_ALGORITHMS.includes(sigAlgo)) {
    throw new GuixSignatureError(`unsupported signature algorithm ${JSON.stringify(sigAlgo.slice(0, 32))}; Guix signs with ECDSA`)
  }
  const r = unsignedInteger(findSexpToken(algoList, 'r'), 'r')
  const s = unsignedInteger(findSexpToken(algoList, 's'), 's')

  let publicKey: GuixPublicKey
  try {
    publicKey = parseGuixPublicKey(subject)
  } catch (err) {
    if (err instanceof GuixKeyError) throw new GuixSignatureError(`signature public key: ${err.message}`, { cause: err })
    throw err
  }

  return { sexp: root, hashAlgorithm: atomText(algoAtom), digest: digestAtom.value, dataFlags, r, s, subject, publicKey }
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Parses a `Signature` field value `1;<host>;<base64>`: exactly three
 * `;`-separated parts, version 1, strict base64 of the s-expression text.
 *
 * @throws {GuixSignatureError}
 */
export function parseGuixSignatureField (value: string): GuixSignatureField {
  const parts = value.split(';')
  if (parts.length !== 3) throw new GuixSignatureError('Signature must be "<version>;<host>;<base64>"')
  const [version, host, b64] = parts
  if (!/^[0-9]+$/.test(version)) throw new GuixSignatureError(`signature version must be a number: ${JSON.stringify(version.slice(0, 16))}`)
  if (Number(version) !== GUIX_SIGNATURE_VERSION) throw new GuixSignatureError(`unsupported signature version: ${version.slice(0, 16)}`)
  if (b64.length > GUIX_SIGNATURE_FIELD_MAX) throw new GuixSignatureError('signature too long')
  if (b64.length === 0 || !BASE64_RE.test(b64)) throw new GuixSignatureError('signature is not valid base64')
  const text = new Uint8Array(Buffer.from(b64, 'base64'))
  return { version: GUIX_SIGNATURE_VERSION, host, text, signature: parseGuixSignatureSexp(text) }
}

/** `%signature-status` outcomes (guix/pki.scm), plus the two ways a narinfo can fail before it. */
export type GuixSignatureStatus =
  | 'valid-signature'
  | 'invalid-signature'
  | 'hash-mismatch'
  | 'unauthorized-key'
  | 'corrupt-signature'
  | 'unsigned'
  | 'malformed-narinfo'

export interface GuixVerifyResult {
  ok: boolean
  status: GuixSignatureStatus
  /** Human-readable explanation when not ok. */
  reason?: string
  /** The trusted key that matched the signature's subject. */
  key?: GuixPublicKey
  signature?: GuixSignature
}

/**
 * Checks a signature against a digest and trusted keys in Guix's order:
 * the embedded public key must equal a trusted key (structurally, as
 * `authorized-key?` compares), the signed hash must equal `digest`, and the
 * ECDSA signature must verify (e = leftmost 253 bits of the hash).
 */
export function verifyGuixSignature (signature: GuixSignature, digest: Uint8Array, trustedKeys: Iterable<GuixPublicKey>): GuixVerifyResult {
  let key: GuixPublicKey | undefined
  for (const k of trustedKeys) {
    if (sexpEquals(k.sexp, signature.subject)) { key = k; break }
  }
  if (key === undefined) return { ok: false, status: 'unauthorized-key', reason: 'signed by a key that is not trusted', signature }
  if (signature.digest.length !== digest.length || !signature.digest.every((b, i) => b === digest[i])) {
    return { ok: false, status: 'hash-mismatch', reason: 'the hash in the signature does not match the signed text', key, signature }
  }
  if (signature.hashAlgorithm !== 'sha256' || signature.digest.length !== 32) {
    return { ok: false, status: 'invalid-signature', reason: `unsupported hash algorithm ${JSON.stringify(signature.hashAlgorithm.slice(0, 32))}`, key, signature }
  }
  if (signature.publicKey.flags.includes('eddsa') || signature.dataFlags.includes('eddsa')) {
    return { ok: false, status: 'invalid-signature', reason: 'EdDSA-flagged key or data; Guix signatures are ECDSA', key, signature }
  }
  const e = digestToInteger(signature.digest)
  if (!ecdsaVerify(e, signature.r, signature.s, signature.publicKey.point)) {
    return { ok: false, status: 'invalid-signature', reason: 'ECDSA verification failed', key, signature }
  }
  return { ok: true, status: 'valid-signature', key, signature }
}

function sha256 (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest())
}

const textEncoder = new TextEncoder()

/**
 * Verifies a narinfo as `guix substitute` does (`valid-narinfo?`): the text
 * before the first `Signature:` is the signed part and must contain
 * StorePath, NarHash and References; the `Signature` field must parse; then
 * {@link verifyGuixSignature} with sha256 of the signed part. Never throws on
 * bad input. Only the signature is checked: use `parseGuixNarInfo` for the
 * fields themselves.
 */
export function verifyGuixNarInfo (text: string | Uint8Array, trustedKeys: Iterable<GuixPublicKey>): GuixVerifyResult {
  const bytes = typeof text === 'string' ? textEncoder.encode(text) : text
  let signatureValue: string | undefined
  try {
    signatureValue = parseGuixNarInfoFields(bytes).find(f => f.key === 'Signature')?.value
  } catch (err) {
    if (err instanceof GuixNarInfoError) return { ok: false, status: 'malformed-narinfo', reason: err.message }
    throw err
  }
  const signed = guixNarInfoSignedPart(bytes)
  if (signed === undefined || signatureValue === undefined) return { ok: false, status: 'unsigned', reason: 'no Signature field' }
  try {
    const above = new Set(parseGuixNarInfoFields(signed).map(f => f.key))
    const missing = GUIX_SIGNED_MANDATORY_KEYS.filter(k => !above.has(k))
    if (missing.length > 0) return { ok: false, status: 'unsigned', reason: `${missing.join(', ')} not above the Signature line` }
  } catch (err) {
    if (err instanceof GuixNarInfoError) return { ok: false, status: 'unsigned', reason: `signed part does not parse: ${err.message}` }
    throw err
  }
  let field: GuixSignatureField
  try {
    field = parseGuixSignatureField(signatureValue)
  } catch (err) {
    if (err instanceof GuixSignatureError) return { ok: false, status: 'corrupt-signature', reason: err.message }
    throw err
  }
  return verifyGuixSignature(field.signature, sha256(signed), trustedKeys)
}

/** The `(signature …)` expression Guix would produce for `digest` (a sha256) with `secretKey`. */
export function createGuixSignatureSexp (digest: Uint8Array, secretKey: GuixSecretKey): SexpList {
  if (digest.length !== 32) throw new RangeError('digest must be a 32-byte sha256')
  const { r, s } = ecdsaSign(digest, secretKey.d, 'sha256')
  return sexpList(
    sexpAtom('signature'),
    sexpList(
      sexpAtom('data'),
      sexpList(sexpAtom('flags'), sexpAtom('rfc6979')),
      sexpList(sexpAtom('hash'), sexpAtom('sha256'), sexpAtom(digest))
    ),
    // libgcrypt `(sig-val(ecdsa(r%M)(s%M)))`: unsigned minimal-length MPIs
    sexpList(sexpAtom('sig-val'), sexpList(
      sexpAtom('ecdsa'),
      sexpList(sexpAtom('r'), sexpAtom(bigIntToBytes(r))),
      sexpList(sexpAtom('s'), sexpAtom(bigIntToBytes(s)))
    )),
    secretKey.publicKey.sexp
  )
}

export interface SignGuixNarInfoOptions {
  /** Host name written in the field (informational; Guix writes `gethostname`). Default `localhost`. */
  hostname?: string
}

/**
 * Signs the signed part of a narinfo (the exact text that will precede the
 * `Signature:` line) and returns the `Signature` field value
 * `1;<host>;<base64>`. Deterministic (RFC 6979 nonce, as libgcrypt with
 * `(flags rfc6979)`).
 *
 * @throws {GuixSignatureError} for a host name that cannot be written
 */
export function signGuixNarInfo (body: string | Uint8Array, secretKey: GuixSecretKey, options: SignGuixNarInfoOptions = {}): string {
  const hostname = options.hostname ?? 'localhost'
  if (!/^[^\s;]*$/.test(hostname)) throw new GuixSignatureError('hostname must not contain ";" or whitespace')
  const bytes = typeof body === 'string' ? textEncoder.encode(body) : body
  const sig = createGuixSignatureSexp(sha256(bytes), secretKey)
  return `${GUIX_SIGNATURE_VERSION};${hostname};${Buffer.from(formatAdvancedSexp(sig)).toString('base64')}`
}

/**
 * Signs a narinfo record: computes its signed body
 * (`guixNarInfoSignedBody`) and sets its `Signature` field.
 *
 * @throws {GuixNarInfoError | GuixSignatureError}
 */
export function addGuixSignature (info: Pick<GuixNarInfo, 'fields'>, secretKey: GuixSecretKey, options: SignGuixNarInfoOptions = {}): GuixNarInfo {
  return withGuixSignature(info, signGuixNarInfo(guixNarInfoSignedBody(info), secretKey, options))
}
