/**
 * Nix formats: nixbase32, hashes, store paths, content addresses, narinfo, fingerprints and
 * binary-cache signing keys (spec `binary-cache.md` §2, §4).
 */
export * from './constants.ts'
export * from './errors.ts'
export * from './base32.ts'
export * from './hash.ts'
export * from './store-path.ts'
export * from './content-address.ts'
export * from './narinfo.ts'
export * from './fingerprint.ts'
export * from './signature.ts'
export * from './signing.ts'
// Guix: narinfo, canonical s-expressions, ECDSA-on-Ed25519 signatures (binary-cache.md §5)
export * from './sexp.ts'
export * from './ed25519-curve.ts'
export * from './guix-narinfo.ts'
export * from './guix-signature.ts'
