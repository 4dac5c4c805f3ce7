import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import { CACHE_NIXOS_ORG_KEY } from '../src/nix/constants.ts'
import { InvalidNarInfoError, InvalidSignatureError, InvalidSigningKeyError } from '../src/nix/errors.ts'
import { fingerprint, fingerprintPath } from '../src/nix/fingerprint.ts'
import { parseNarInfo, renderNarInfo } from '../src/nix/narinfo.ts'
import { formatSignature, parseSignature } from '../src/nix/signature.ts'
import {
  formatPublicKey, formatSecretKey, generateSigningKey, parsePublicKey, parseSecretKey, parseTrustedPublicKeys, signFingerprint, signNarInfo,
  toPublicKey, validSignatures, verifyNarInfo, verifySignature
} from '../src/nix/signing.ts'
import type { PublicKey } from '../src/nix/signing.ts'

const readText = (...parts: string[]): string => readFileSync(fixture(...parts), 'utf8')
interface SigningVector { key: string, fingerprint: string, expected_sig: string }
const vectors: { keys: Record<string, unknown>, signing: SigningVector[] } = JSON.parse(readText('narinfo', 'hash-and-key-vectors.json'))
const keyPairs: Array<{ secret: string, public: string }> = Object.values(vectors.keys).filter((v: any) => typeof v === 'object') as any
const secretKeys = new Map(keyPairs.map(p => { const k = parseSecretKey(p.secret); return [k.name, k] }))

/** Every public key the fixtures know (what signature-verification.json was computed with). */
const trusted: PublicKey[] = [parsePublicKey(CACHE_NIXOS_ORG_KEY), ...keyPairs.map(p => parsePublicKey(p.public))]

describe('signing keys', () => {
  it('has the four fixture keys', () => {
    expect(trusted.map(k => k.name).sort()).toEqual(['cache.example.com-1', 'cache.nixos.org-1', 'test-cache-1', 'test1'])
    expect(vectors.keys['cache.nixos.org-1 (public, real)']).toBe(CACHE_NIXOS_ORG_KEY)
  })

  it.each(keyPairs)('parses, derives and re-formats $public', pair => {
    const secret = parseSecretKey(pair.secret)
    expect(secret.seed).toHaveLength(32)
    expect(secret.publicKey).toHaveLength(32)
    expect(formatSecretKey(secret)).toBe(pair.secret)
    expect(formatPublicKey(toPublicKey(secret))).toBe(pair.public)
    expect(formatPublicKey(parsePublicKey(pair.public))).toBe(pair.public)
  })

  it('reads the real Nix 2.8 key files (no trailing newline) and writes them identically', () => {
    const secretText = readText('real-nix', 'keys', 'test-cache-1.secret')
    const publicText = readText('real-nix', 'keys', 'test-cache-1.public')
    expect(secretText.endsWith('\n')).toBe(false)
    const secret = parseSecretKey(secretText)
    expect(secret.name).toBe('test-cache-1')
    expect(formatSecretKey(secret)).toBe(secretText)
    expect(formatPublicKey(toPublicKey(secret))).toBe(publicText)
    expect(formatPublicKey(parsePublicKey(`${publicText}\n`))).toBe(publicText)
  })

  it('parses a whitespace-separated trusted-public-keys setting', () => {
    const setting = ` ${CACHE_NIXOS_ORG_KEY}\n\t${keyPairs[0].public}  `
    expect(parseTrustedPublicKeys(setting).map(formatPublicKey)).toEqual([CACHE_NIXOS_ORG_KEY, keyPairs[0].public])
    expect(parseTrustedPublicKeys('')).toEqual([])
    expect(() => parseTrustedPublicKeys(`${CACHE_NIXOS_ORG_KEY} broken`)).toThrow(InvalidSigningKeyError)
  })

  it('generates fresh key pairs that round-trip and sign', () => {
    const a = generateSigningKey('my-cache-1')
    const b = generateSigningKey('my-cache-1')
    expect(a.name).toBe('my-cache-1')
    expect(Buffer.compare(a.seed, b.seed)).not.toBe(0)
    const text = formatSecretKey(a)
    expect(text).toMatch(/^my-cache-1:[A-Za-z0-9+/]{86}==$/)
    expect(formatSecretKey(parseSecretKey(text))).toBe(text)
    const sig = signFingerprint('hello', a)
    expect(verifySignature('hello', sig, [toPublicKey(a)])).toBe(true)
    expect(verifySignature('hello', sig, [toPublicKey(b)])).toBe(false)
    expect(() => generateSigningKey('bad:name')).toThrow(InvalidSigningKeyError)
    expect(() => generateSigningKey('')).toThrow(InvalidSigningKeyError)
  })

  it.each([
    ['no name', ':u7VJZVfkAjdVThcP/uY1Ta4SeFLck2H7fCZ5CR+dFxM='],
    ['no colon', 'u7VJZVfkAjdVThcP/uY1Ta4SeFLck2H7fCZ5CR+dFxM='],
    ['empty key', 'test-cache-1:'],
    ['31 bytes', `k:${Buffer.alloc(31).toString('base64')}`],
    ['33 bytes', `k:${Buffer.alloc(33).toString('base64')}`],
    ['bad base64', 'k:u7VJZVfkAjdVThcP/uY1Ta4SeFLck2H7fCZ5CR+dFx!='],
    ['space in name', 'my key:u7VJZVfkAjdVThcP/uY1Ta4SeFLck2H7fCZ5CR+dFxM='],
    ['huge', `k:${'A'.repeat(100_000)}`]
  ])('rejects public key: %s', (_label, text) => {
    expect(() => parsePublicKey(text)).toThrow(InvalidSigningKeyError)
  })

  it('rejects secret keys that are malformed or whose public half does not match the seed', () => {
    const good = readText('real-nix', 'keys', 'test-cache-1.secret')
    const bytes = Buffer.from(good.slice(good.indexOf(':') + 1), 'base64')
    bytes[40] ^= 1
    expect(() => parseSecretKey(`test-cache-1:${bytes.toString('base64')}`)).toThrow(InvalidSigningKeyError)
    expect(() => parseSecretKey(readText('real-nix', 'keys', 'test-cache-1.public'))).toThrow(InvalidSigningKeyError)
    expect(() => parseSecretKey('garbage')).toThrow(InvalidSigningKeyError)
  })
})

describe('signatures', () => {
  it.each(vectors.signing)('reproduces the $key signature byte-for-byte', ({ key, fingerprint: fp, expected_sig: expected }) => {
    const secret = secretKeys.get(key)!
    expect(signFingerprint(fp, secret)).toBe(expected)
    expect(verifySignature(fp, expected, trusted)).toBe(true)
    expect(verifySignature(`${fp} `, expected, trusted)).toBe(false)
    expect(verifySignature(fp, expected, trusted.filter(k => k.name !== key))).toBe(false)
  })

  it('signing the real hello-ia narinfo reproduces the file Nix 2.8 wrote', () => {
    const secret = parseSecretKey(readText('real-nix', 'keys', 'test-cache-1.secret'))
    for (const file of ['l3z61ajw87plwaj8680kwzg5kkw0dch6', 'mqnj02vvb8zdsnliwssxa74kkysaraal', 'mbig2lb0l0g5haak3zgg7lkjsypn90pw']) {
      const text = readText('real-nix', 'cache-none', `${file}.narinfo`)
      const unsigned = { ...parseNarInfo(text), signatures: [] }
      const signed = signNarInfo(unsigned, secret)
      expect(renderNarInfo(signed)).toBe(text)
      expect(signNarInfo(signed, secret).signatures).toEqual(signed.signatures)
    }
  })

  it('returns false (never throws) for malformed signatures and keys', () => {
    const fp = vectors.signing[1].fingerprint
    const sig = vectors.signing[1].expected_sig as string
    const [name, b64] = sig.split(':')
    const flipped = Buffer.from(b64, 'base64')
    flipped[0] ^= 1
    for (const bad of ['', 'nocolon', `${name}:`, `${name}:${b64.slice(4)}`, `${name}:${Buffer.alloc(63).toString('base64')}`,
      `${name}:${flipped.toString('base64')}`, `other-name:${b64}`, `:${b64}`]) {
      expect(verifySignature(fp, bad, trusted)).toBe(false)
    }
    const weirdKeys: PublicKey[] = [{ name, key: new Uint8Array(32).fill(0xff) }, { name, key: new Uint8Array(5) }]
    expect(verifySignature(fp, sig, weirdKeys)).toBe(false)
    expect(verifySignature(fp, sig, [...weirdKeys, ...trusted])).toBe(true)
  })

  it('parses and formats signature strings', () => {
    const sig = vectors.signing[0].expected_sig as string
    const parsed = parseSignature(sig)
    expect(parsed.keyName).toBe('test1')
    expect(parsed.signature).toHaveLength(64)
    expect(formatSignature(parsed)).toBe(sig)
    expect(() => parseSignature('test1:AAAA')).toThrow(InvalidSignatureError)
  })
})

describe('signature-verification.json (fingerprints and per-signature verdicts)', () => {
  interface Entry { file: string, fingerprint: string, signatures: Array<{ key: string, valid: boolean | null, valid_with_unsorted_refs?: boolean }> }
  const entries: Entry[] = JSON.parse(readText('narinfo', 'signature-verification.json'))

  it('covers every narinfo fixture', () => {
    expect(entries).toHaveLength(17)
  })

  it.each(entries)('$file', entry => {
    const info = parseNarInfo(readText('narinfo', entry.file))
    const fp = fingerprint(info)
    expect(fp).toBe(entry.fingerprint)
    expect(info.signatures.map(s => s.slice(0, s.indexOf(':')))).toEqual(entry.signatures.map(s => s.key))
    entry.signatures.forEach((verdict, i) => {
      const ok = verifySignature(fp, info.signatures[i], trusted)
      if (verdict.valid === null) {
        expect(trusted.some(k => k.name === verdict.key)).toBe(false)
        expect(ok).toBe(false)
      } else {
        expect(ok).toBe(verdict.valid)
      }
      if (verdict.valid_with_unsorted_refs === true) {
        // old cache.nixos.org signature over the refs in file order: C++ Nix (which sorts) rejects it
        const unsorted = `1;${info.storePath.toString()};sha256:${fp.split(';')[2].slice(7)};${info.narSize};${info.references.map(r => `/nix/store/${r}`).join(',')}`
        expect(unsorted).not.toBe(fp)
        expect(verifySignature(unsorted, info.signatures[i], trusted)).toBe(true)
      }
    })
    const anyValid = entry.signatures.some(s => s.valid === true)
    expect(validSignatures(info, trusted).length).toBe(entry.signatures.filter(s => s.valid === true).length)
    // CA narinfos whose CA recomputes the path are accepted without signatures
    const caOk = info.ca != null && verifyNarInfo({ ...info, signatures: [] }, [])
    expect(verifyNarInfo(info, trusted)).toBe(anyValid || caOk)
  })

  it('a real cache.nixos.org CA narinfo is self-verifying (fixed:r:sha1)', () => {
    const info = parseNarInfo(readText('narinfo', 'nixos-cache', 'tvix_texlive-hyphenex_ca-fixed-r-sha1.narinfo'))
    expect(verifyNarInfo({ ...info, signatures: [] }, [])).toBe(true)
    const wrong = parseNarInfo(readText('narinfo', 'nixos-cache', 'tvix_perl-HTTP-Cookies_unsigned_for-sign-test.narinfo'))
    expect(verifyNarInfo(wrong, trusted)).toBe(false)
  })

  it('the fingerprint sorts and de-duplicates references and refuses NarSize 0', () => {
    const info = parseNarInfo(readText('narinfo', 'nixos-cache', 'go-nix_curl-7.82.0-bin_multirefs.narinfo'))
    const shuffled = [...info.references].reverse()
    expect(fingerprintPath(info.storePath, info.narHash, info.narSize, [...shuffled, shuffled[0]])).toBe(fingerprint(info))
    expect(() => fingerprint({ ...info, narSize: 0 })).toThrow(InvalidNarInfoError)
    expect(() => fingerprint({ ...info, references: ['x;y'] })).toThrow(InvalidNarInfoError)
  })
})
