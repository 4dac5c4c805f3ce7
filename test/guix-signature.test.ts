/**
 * Guix keys and narinfo signatures (src/nix/guix-signature.ts): the real
 * berlin signature (shared/fixtures/narinfo/guix), tampering, and our own
 * key generation and signing.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import {
  GuixKeyError,
  GuixSignatureError,
  addGuixSignature,
  createGuixSignatureSexp,
  formatGuixPublicKey,
  formatGuixSecretKey,
  generateGuixKeyPair,
  guixKeyPairFromScalar,
  parseGuixAcl,
  parseGuixPublicKey,
  parseGuixSecretKey,
  parseGuixSignatureField,
  signGuixNarInfo,
  verifyGuixNarInfo,
  verifyGuixSignature
} from '../src/nix/guix-signature.ts'
import type { GuixPublicKey } from '../src/nix/guix-signature.ts'
import { createGuixNarInfo, guixNarInfoSignedBody, guixNarInfoSignedPart, parseGuixNarInfo, renderGuixNarInfo } from '../src/nix/guix-narinfo.ts'
import { bigIntToBytes, pointEquals, toAffine } from '../src/nix/ed25519-curve.ts'
import {
  atomIs,
  findSexpToken,
  formatAdvancedSexp,
  formatAdvancedSexpString,
  parseSexp,
  sexpAtom,
  sexpEquals,
  sexpList,
  sexpNthAtom
} from '../src/nix/sexp.ts'
import type { Sexp, SexpList } from '../src/nix/sexp.ts'

const guix = (name: string): Buffer => readFileSync(fixture('narinfo', 'guix', name))
const BERLIN_NARINFO = guix('berlin_y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test.narinfo')
const BERLIN_SEXP = guix('berlin_y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test.signature.sexp')
const check = JSON.parse(guix('berlin_signature_check.json').toString('utf8'))
const berlin = parseGuixPublicKey(guix('berlin.guix.gnu.org.pub'))
const bordeaux = parseGuixPublicKey(guix('bordeaux.guix.gnu.org.pub'))

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const SIG_PREFIX = 'Signature: 1;berlin.guixsd.org;'

/** Replaces the Signature field's base64 with the advanced text of `sig`. */
function withSignatureSexp (narinfo: Buffer, sig: Sexp): Buffer {
  const text = narinfo.toString('utf8')
  const start = text.indexOf(SIG_PREFIX) + SIG_PREFIX.length
  const end = text.indexOf('\n', start)
  return Buffer.from(text.slice(0, start) + Buffer.from(formatAdvancedSexp(sig)).toString('base64') + text.slice(end))
}

/** Returns a copy of `s` in which the atom right after the token `name` is replaced. */
function replaceValue (s: Sexp, name: string, value: Uint8Array): Sexp {
  if (s.type === 'atom') return s
  if (atomIs(s.items[0], name) && s.items.length === 2) return sexpList(s.items[0], sexpAtom(value))
  return sexpList(...s.items.map(i => replaceValue(i, name, value)))
}

describe('the real berlin signature', () => {
  it('verifies with berlin.guix.gnu.org.pub', () => {
    const result = verifyGuixNarInfo(BERLIN_NARINFO, [berlin])
    expect(result.reason).toBeUndefined()
    expect(result).toMatchObject({ ok: true, status: 'valid-signature' })
    expect(result.key).toBe(berlin)
    // Also from a string, and with several trusted keys.
    expect(verifyGuixNarInfo(BERLIN_NARINFO.toString('utf8'), [bordeaux, berlin]).ok).toBe(true)
  })

  it('decodes to the values in berlin_signature_check.json', () => {
    const info = parseGuixNarInfo(BERLIN_NARINFO)
    const field = parseGuixSignatureField(info.signature!)
    expect(field.version).toBe(1)
    expect(field.host).toBe('berlin.guixsd.org')
    expect(Buffer.from(field.text).equals(BERLIN_SEXP)).toBe(true)
    const sig = field.signature
    expect(sig.hashAlgorithm).toBe('sha256')
    expect(sig.dataFlags).toEqual(['rfc6979'])
    expect(hex(sig.digest)).toBe(check.hash_in_signature_sexp_hex)
    expect(hex(guixNarInfoSignedPart(BERLIN_NARINFO)!).length / 2).toBe(check.signed_bytes_length)
    expect(sig.r.toString(16)).toBe(check.ecdsa_r_hex)
    expect(sig.s.toString(16)).toBe(check.ecdsa_s_hex)
    expect(hex(sig.publicKey.q).toUpperCase()).toBe(check.public_key_q_hex)
    const { x, y } = toAffine(sig.publicKey.point)
    expect(x).toBe(BigInt(check.public_key_point_affine_edwards.x))
    expect(y).toBe(BigInt(check.public_key_point_affine_edwards.y))
    expect(sexpEquals(sig.subject, berlin.sexp)).toBe(true)
  })

  it('does NOT verify with bordeaux.guix.gnu.org.pub, nor with no keys', () => {
    expect(verifyGuixNarInfo(BERLIN_NARINFO, [bordeaux])).toMatchObject({ ok: false, status: 'unauthorized-key' })
    expect(verifyGuixNarInfo(BERLIN_NARINFO, [])).toMatchObject({ ok: false, status: 'unauthorized-key' })
  })

  it('fails when any byte of the signed body is flipped', () => {
    const bodyLength = guixNarInfoSignedPart(BERLIN_NARINFO)!.length
    const statuses = new Set<string>()
    for (let i = 0; i < bodyLength; i++) {
      const copy = Buffer.from(BERLIN_NARINFO)
      copy[i] ^= 0x01
      const result = verifyGuixNarInfo(copy, [berlin])
      expect(result.ok, `byte ${i}`).toBe(false)
      statuses.add(result.status)
    }
    expect(statuses.has('hash-mismatch')).toBe(true)
  })

  it('fails when any byte of r or s is flipped (and for other r/s tampering)', () => {
    const sig = parseSexp(BERLIN_SEXP)
    for (const name of ['r', 's']) {
      const value = sexpNthAtom(findSexpToken(sig, name), 1)!.value
      for (let i = 0; i < value.length; i++) {
        const changed = Uint8Array.from(value)
        changed[i] ^= 0x01
        const result = verifyGuixNarInfo(withSignatureSexp(BERLIN_NARINFO, replaceValue(sig, name, changed)), [berlin])
        expect(result, `${name}[${i}]`).toMatchObject({ ok: false, status: 'invalid-signature' })
      }
    }
    // Unchanged re-encoding still verifies (the helper itself is faithful).
    expect(verifyGuixNarInfo(withSignatureSexp(BERLIN_NARINFO, sig), [berlin]).ok).toBe(true)
    // Leading zero bytes do not change an integer; s = n - s and r = 0 do.
    const r = sexpNthAtom(findSexpToken(sig, 'r'), 1)!.value
    expect(verifyGuixNarInfo(withSignatureSexp(BERLIN_NARINFO, replaceValue(sig, 'r', Uint8Array.of(0, ...r))), [berlin]).ok).toBe(true)
    expect(verifyGuixNarInfo(withSignatureSexp(BERLIN_NARINFO, replaceValue(sig, 'r', new Uint8Array(0))), [berlin]).status).toBe('invalid-signature')
    const nMinusS = (2n ** 252n + 27742317777372353535851937790883648493n) - BigInt('0x' + check.ecdsa_s_hex)
    expect(verifyGuixNarInfo(withSignatureSexp(BERLIN_NARINFO, replaceValue(sig, 's', bigIntToBytes(nMinusS))), [berlin]).status).toBe('invalid-signature')
  })

  it('reports hash-mismatch when the hash inside the signature is changed', () => {
    const sig = parseSexp(BERLIN_SEXP) as SexpList
    const data = findSexpToken(sig, 'data')!
    const digest = Uint8Array.from(sexpNthAtom(findSexpToken(data, 'hash'), 2)!.value)
    digest[0] ^= 0x80
    const tampered = sexpList(...sig.items.map(i => i === data
      ? sexpList(sexpAtom('data'), sexpList(sexpAtom('flags'), sexpAtom('rfc6979')), sexpList(sexpAtom('hash'), sexpAtom('sha256'), sexpAtom(digest)))
      : i))
    expect(verifyGuixNarInfo(withSignatureSexp(BERLIN_NARINFO, tampered), [berlin]).status).toBe('hash-mismatch')
  })
})

describe('corrupt, unsigned and malformed narinfos', () => {
  const text = BERLIN_NARINFO.toString('utf8')
  const sigLine = text.slice(text.indexOf('Signature:'))
  const withSig = (value: string): string => text.replace(sigLine, `Signature: ${value}\n`)
  const b64 = (s: string): string => Buffer.from(s).toString('base64')

  it.each([
    ['two parts', '1;' + b64('(signature)')],
    ['four parts', '1;a;b;' + b64('(signature)')],
    ['version 2', '2;h;' + sigLine.split(';')[2].trim()],
    ['non-numeric version', 'x;h;' + sigLine.split(';')[2].trim()],
    ['not base64', '1;h;@@@@'],
    ['empty base64', '1;h;'],
    ['not an s-expression', '1;h;' + b64('(signature')],
    ['no data', '1;h;' + b64('(signature (public-key (ecc (curve Ed25519) (q #00#))))')],
    ['no sig-val', '1;h;' + b64(BERLIN_SEXP.toString().replace('sig-val', 'sig-vax'))],
    ['eddsa sig-val', '1;h;' + b64(BERLIN_SEXP.toString().replace('(ecdsa', '(eddsa'))],
    ['bad public key point', '1;h;' + b64(BERLIN_SEXP.toString().replace('#8D156F', '#8D15'))],
    ['deeply nested', '1;h;' + b64('('.repeat(5000) + ')'.repeat(5000))],
    ['huge length', '1;h;' + b64('(signature 999999999:x)')]
  ])('corrupt signature: %s', (_name, value) => {
    const result = verifyGuixNarInfo(withSig(value), [berlin])
    expect(result.ok).toBe(false)
    expect(result.status).toBe('corrupt-signature')
    expect(typeof result.reason).toBe('string')
  })

  it('unsigned: no Signature, or a mandatory field below it', () => {
    expect(verifyGuixNarInfo(text.replace(sigLine, ''), [berlin]).status).toBe('unsigned')
    const moved = text.replace(/References: .*\n/, '') + 'References: 2sznibwwvp6x0ha2j6n8s1z1brf8ra4q-opensmtpd-test-builder\n'
    expect(verifyGuixNarInfo(moved, [berlin])).toMatchObject({ ok: false, status: 'unsigned' })
  })

  it('malformed narinfo text', () => {
    expect(verifyGuixNarInfo(text.replace(/\n/g, '\r\n'), [berlin]).status).toBe('malformed-narinfo')
    expect(verifyGuixNarInfo(Uint8Array.of(0xff, 0xfe), [berlin]).status).toBe('malformed-narinfo')
  })

  it('parseGuixSignatureField throws GuixSignatureError', () => {
    expect(() => parseGuixSignatureField('garbage')).toThrow(GuixSignatureError)
    expect(() => parseGuixSignatureField('1;h;' + 'A'.repeat(20000))).toThrow(GuixSignatureError)
  })

  it('fast-check: random Signature values never verify and never throw', () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), fc.uint8Array({ maxLength: 120 }), (host, junk) => {
      for (const value of [`1;${host.replace(/[;\n\r]/g, '')};${Buffer.from(junk).toString('base64')}`, host.replace(/[\n\r]/g, '')]) {
        const result = verifyGuixNarInfo(withSig(value), [berlin])
        expect(result.ok).toBe(false)
      }
    }), { numRuns: 500 })
  })
})

describe('keys', () => {
  it('parses the official keys and prints berlin\'s key file byte-for-byte', () => {
    expect(berlin.curve).toBe('Ed25519')
    expect(berlin.flags).toEqual([])
    expect(formatGuixPublicKey(berlin)).toBe(guix('berlin.guix.gnu.org.pub').toString())
    expect(hex(bordeaux.q).toUpperCase()).toBe('7D602902D3A2DBB83F8A0FB98602A754C5493B0B778C8D1DD4E0F41DE14DE34F')
  })

  it('accepts (flags …), the 0x40 prefix and the OID curve name', () => {
    const q = hex(berlin.q)
    const flagged = parseGuixPublicKey(`(public-key (ecc (curve Ed25519) (flags eddsa) (q #${q}#)))`)
    expect(flagged.flags).toEqual(['eddsa'])
    expect(pointEquals(parseGuixPublicKey(`(public-key (ecc (curve Ed25519) (q #40${q}#)))`).point, berlin.point)).toBe(true)
    expect(pointEquals(parseGuixPublicKey(`(public-key (ecc (curve "1.3.6.1.4.1.11591.15.1") (q #${q}#)))`).point, berlin.point)).toBe(true)
  })

  it.each([
    ['garbage', '(public-key'],
    ['not a public key', '(private-key (ecc (curve Ed25519) (q #00#)))'],
    ['rsa', '(public-key (rsa (n #00#) (e #010001#)))'],
    ['other curve', '(public-key (ecc (curve NIST-P256) (q #04#)))'],
    ['no curve', '(public-key (ecc (q #00#)))'],
    ['no q', '(public-key (ecc (curve Ed25519)))'],
    ['bad q length', '(public-key (ecc (curve Ed25519) (q #0011#)))'],
    ['explicit params', `(public-key (ecc (curve Ed25519) (p #7F#) (q #${'00'.repeat(32)}#)))`],
    ['secret in public key', `(public-key (ecc (curve Ed25519) (q #${'00'.repeat(32)}#) (d #01#)))`]
  ])('rejects %s with GuixKeyError', (_name, text) => {
    expect(() => parseGuixPublicKey(text)).toThrow(GuixKeyError)
  })

  it('reads ACLs like authorized-key? (only (tag (guix import)) entries)', () => {
    const acl = `(acl (entry ${formatGuixPublicKey(berlin)} (tag (guix import))) (entry ${formatGuixPublicKey(bordeaux)} (tag (guix other))))`
    const keys = parseGuixAcl(acl)
    expect(keys.length).toBe(1)
    expect(verifyGuixNarInfo(BERLIN_NARINFO, keys).ok).toBe(true)
    expect(() => parseGuixAcl('(public-key)')).toThrow(GuixKeyError)
  })
})

describe('our own keys and signatures', () => {
  const pair = generateGuixKeyPair()
  const info = createGuixNarInfo({
    storePath: '/gnu/store/y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test',
    narHash: 'sha256:136lm3fxh4kbsgz32157cnmyypgynkkmrqqb03biym1nm6cdwyv7',
    narSize: 2600,
    references: ['2sznibwwvp6x0ha2j6n8s1z1brf8ra4q-opensmtpd-test-builder'],
    deriver: '8aski1xwcn6lj112yc9ylgp2y3c7sj83-opensmtpd-test.drv',
    nars: [{ url: 'nar/y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test', compression: 'none', fileSize: 2600 }]
  })

  it('writes key files in libgcrypt\'s layout that parse back', () => {
    expect(pair.publicKeyFile).toMatch(/^\(public-key \n \(ecc \n {2}\(curve Ed25519\)\n {2}\(q #[0-9A-F]{64}#\)\n {2}\)\n \)\n$/)
    expect(pair.secretKeyFile).toMatch(/^\(private-key \n \(ecc \n {2}\(curve Ed25519\)\n {2}\(q #[0-9A-F]{64}#\)\n {2}\(d #[0-9A-F]+#\)\n {2}\)\n \)\n$/)
    const pub = parseGuixPublicKey(pair.publicKeyFile)
    expect(sexpEquals(pub.sexp, pair.publicKey.sexp)).toBe(true)
    expect(formatGuixPublicKey(pub)).toBe(pair.publicKeyFile)
    const sec = parseGuixSecretKey(pair.secretKeyFile)
    expect(sec.d).toBe(pair.secretKey.d)
    expect(sexpEquals(sec.publicKey.sexp, pub.sexp)).toBe(true)
    expect(formatGuixSecretKey(sec)).toBe(pair.secretKeyFile)
  })

  it('writes d as libgcrypt\'s signed MPI (leading 00 when the top bit is set)', () => {
    const small = guixKeyPairFromScalar(0x80n)
    expect(formatGuixSecretKey(small.secretKey)).toContain('(d #0080#)')
    expect(parseGuixSecretKey(formatGuixSecretKey(small.secretKey)).d).toBe(0x80n)
  })

  it('rejects inconsistent secret keys', () => {
    const other = generateGuixKeyPair()
    const mixed = pair.secretKeyFile.replace(/\(q #[0-9A-F]+#\)/, `(q #${hex(other.publicKey.q).toUpperCase()}#)`)
    expect(() => parseGuixSecretKey(mixed)).toThrow(/q does not match d/)
    expect(() => parseGuixSecretKey('(private-key (ecc (curve Ed25519) (d #00#)))')).toThrow(GuixKeyError)
    expect(() => parseGuixSecretKey('(private-key (ecc (curve Ed25519)))')).toThrow(GuixKeyError)
    expect(() => guixKeyPairFromScalar(0n)).toThrow(GuixKeyError)
    expect(() => parseGuixSecretKey(pair.secretKeyFile.replace('(curve Ed25519)', '(curve Ed25519) (flags eddsa)'))).toThrow(/EdDSA/)
    // Without q, it is derived from d.
    const noQ = parseGuixSecretKey(pair.secretKeyFile.replace(/\(q #[0-9A-F]+#\)/, ''))
    expect(sexpEquals(noQ.publicKey.sexp, pair.publicKey.sexp)).toBe(true)
  })

  it('sign → verify round trip, deterministic, Guix text layout', () => {
    const signed = addGuixSignature(info, pair.secretKey, { hostname: 'node.example' })
    const text = renderGuixNarInfo(signed)
    expect(text.split('\n').map(l => l.split(':')[0])).toEqual(['StorePath', 'NarHash', 'NarSize', 'References', 'Deriver', 'Signature', 'URL', 'Compression', 'FileSize', ''])
    const pub = parseGuixPublicKey(pair.publicKeyFile)
    expect(verifyGuixNarInfo(text, [pub])).toMatchObject({ ok: true, status: 'valid-signature' })
    expect(verifyGuixNarInfo(text, [berlin, bordeaux]).status).toBe('unauthorized-key')
    expect(renderGuixNarInfo(addGuixSignature(info, pair.secretKey, { hostname: 'node.example' }))).toBe(text)
    // Same shape as the text berlin signed with libgcrypt, up to the hex values.
    const field = parseGuixSignatureField(signed.signature!)
    const shape = (b: Uint8Array): string => Buffer.from(b).toString().replace(/#[0-9A-F]+#/g, '#…#')
    expect(shape(field.text)).toBe(shape(BERLIN_SEXP))
    expect(field.host).toBe('node.example')
  })

  it('URL/Compression/FileSize below the signature may be rewritten; signed fields may not', () => {
    const text = renderGuixNarInfo(addGuixSignature(info, pair.secretKey))
    const mirrored = text.replace(/URL: .*\nCompression: none\nFileSize: 2600\n/, 'URL: https://mirror.example/nar/zstd/x\nCompression: zstd\nFileSize: 900\n')
    expect(mirrored).not.toBe(text)
    expect(verifyGuixNarInfo(mirrored, [pair.publicKey]).ok).toBe(true)
    expect(verifyGuixNarInfo(text.replace('NarSize: 2600', 'NarSize: 2601'), [pair.publicKey]).status).toBe('hash-mismatch')
  })

  it('signGuixNarInfo signs exactly the given body', () => {
    const body = guixNarInfoSignedBody(info)
    const value = signGuixNarInfo(body, pair.secretKey)
    expect(value.startsWith('1;localhost;')).toBe(true)
    const sig = parseGuixSignatureField(value).signature
    expect(verifyGuixSignature(sig, new Uint8Array(Buffer.from(sig.digest)), [pair.publicKey]).ok).toBe(true)
    expect(verifyGuixNarInfo(renderGuixNarInfo(createGuixNarInfo({ ...info, nars: info.nars, signature: value })), [pair.publicKey]).ok).toBe(true)
    expect(() => signGuixNarInfo(body, pair.secretKey, { hostname: 'a;b' })).toThrow(GuixSignatureError)
  })

  it('an EdDSA-flagged subject is refused even when trusted', () => {
    const q = hex(pair.publicKey.q)
    const flagged: GuixPublicKey = parseGuixPublicKey(`(public-key (ecc (curve Ed25519) (flags eddsa) (q #${q}#)))`)
    const digest = new Uint8Array(32).fill(7)
    const sig = createGuixSignatureSexp(digest, pair.secretKey)
    const withFlagged = sexpList(...sig.items.slice(0, 3), flagged.sexp)
    const text = formatAdvancedSexpString(withFlagged)
    const parsed = parseGuixSignatureField(`1;h;${Buffer.from(text).toString('base64')}`).signature
    expect(verifyGuixSignature(parsed, digest, [flagged])).toMatchObject({ ok: false, status: 'invalid-signature' })
    expect(verifyGuixSignature(parseGuixSignatureField(`1;h;${Buffer.from(formatAdvancedSexp(sig)).toString('base64')}`).signature, digest, [pair.publicKey]).ok).toBe(true)
  })
})
