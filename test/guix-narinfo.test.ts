/**
 * Guix narinfo parsing/rendering (src/nix/guix-narinfo.ts): the real berlin
 * narinfo (old field order), the layout current `guix publish` writes, and
 * malformed input.
 */
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import {
  GuixNarInfoError,
  createGuixNarInfo,
  equivalentGuixNarInfo,
  guixNarInfoSignedBody,
  guixNarInfoSignedDigest,
  guixNarInfoSignedPart,
  parseGuixNarInfo,
  parseGuixNarInfoFields,
  renderGuixNarInfo,
  withGuixSignature
} from '../src/nix/guix-narinfo.ts'
import type { GuixNarInfoInit } from '../src/nix/guix-narinfo.ts'

const BERLIN = readFileSync(fixture('narinfo', 'guix', 'berlin_y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test.narinfo'))
const check = JSON.parse(readFileSync(fixture('narinfo', 'guix', 'berlin_signature_check.json'), 'utf8'))

const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'
const HASH = 'y857mykfnc9vd1sc2lqz5g35l111fp71'
const NARHASH = 'sha256:136lm3fxh4kbsgz32157cnmyypgynkkmrqqb03biym1nm6cdwyv7'

function expectNarInfoError (input: string | Uint8Array): GuixNarInfoError {
  let caught: unknown
  try {
    parseGuixNarInfo(input)
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(GuixNarInfoError)
  return caught as GuixNarInfoError
}

describe('the real berlin narinfo', () => {
  const info = parseGuixNarInfo(BERLIN)

  it('parses every field', () => {
    expect(info.storePath).toBe('/gnu/store/y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test')
    expect(info.narHash).toBe(NARHASH)
    expect(info.narSize).toBe(2600)
    expect(info.references).toEqual(['2sznibwwvp6x0ha2j6n8s1z1brf8ra4q-opensmtpd-test-builder'])
    expect(info.deriver).toBe('8aski1xwcn6lj112yc9ylgp2y3c7sj83-opensmtpd-test.drv')
    expect(info.system).toBe('x86_64-linux')
    expect(info.nars).toEqual([{ url: 'nar/gzip/y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test', compression: 'gzip', fileSize: 894 }])
    expect(info.signature?.startsWith('1;berlin.guixsd.org;KHNpZ25hdHVyZSAK')).toBe(true)
    expect(info.fields.map(f => f.key)).toEqual(['StorePath', 'URL', 'Compression', 'NarHash', 'NarSize', 'References', 'FileSize', 'System', 'Deriver', 'Signature'])
  })

  it('renders back byte-identically (from bytes and from a string)', () => {
    expect(renderGuixNarInfo(info)).toBe(BERLIN.toString('utf8'))
    expect(renderGuixNarInfo(parseGuixNarInfo(BERLIN.toString('utf8')))).toBe(BERLIN.toString('utf8'))
  })

  it('signed part is the 397 bytes before "Signature:" with the digest from the check file', () => {
    const part = guixNarInfoSignedPart(BERLIN)!
    expect(part.length).toBe(check.signed_bytes_length)
    expect(Buffer.from(guixNarInfoSignedDigest(BERLIN)!).toString('hex')).toBe(check.sha256_of_signed_bytes_hex)
    expect(createHash('sha256').update(part).digest('hex')).toBe(check.sha256_of_signed_bytes_hex)
    expect(guixNarInfoSignedBody(info)).toBe(Buffer.from(part).toString('utf8'))
  })

  it('re-signing keeps the Signature in place (old layout stays signed above it)', () => {
    const resigned = withGuixSignature(info, '1;h;AAAA')
    expect(resigned.fields.map(f => f.key)).toEqual(info.fields.map(f => f.key))
    expect(renderGuixNarInfo(resigned).startsWith(Buffer.from(guixNarInfoSignedPart(BERLIN)!).toString())).toBe(true)
  })
})

const INIT: GuixNarInfoInit = {
  storePath: `/gnu/store/${HASH}-opensmtpd-test`,
  narHash: NARHASH,
  narSize: 2600,
  references: ['2sznibwwvp6x0ha2j6n8s1z1brf8ra4q-opensmtpd-test-builder', `${HASH}-opensmtpd-test`],
  deriver: '8aski1xwcn6lj112yc9ylgp2y3c7sj83-opensmtpd-test.drv',
  nars: [
    { url: `nar/gzip/${HASH}-opensmtpd-test`, compression: 'gzip', fileSize: 894 },
    { url: `nar/zstd/${HASH}-opensmtpd-test`, compression: 'zstd', fileSize: 901 }
  ]
}

describe('current guix publish layout', () => {
  it('writes StorePath, NarHash, NarSize, References, Deriver, Signature, then URL groups', () => {
    const info = createGuixNarInfo({ ...INIT, signature: '1;example.org;AAAA' })
    expect(renderGuixNarInfo(info)).toBe([
      `StorePath: /gnu/store/${HASH}-opensmtpd-test`,
      `NarHash: ${NARHASH}`,
      'NarSize: 2600',
      `References: 2sznibwwvp6x0ha2j6n8s1z1brf8ra4q-opensmtpd-test-builder ${HASH}-opensmtpd-test`,
      'Deriver: 8aski1xwcn6lj112yc9ylgp2y3c7sj83-opensmtpd-test.drv',
      'Signature: 1;example.org;AAAA',
      `URL: nar/gzip/${HASH}-opensmtpd-test`,
      'Compression: gzip',
      'FileSize: 894',
      `URL: nar/zstd/${HASH}-opensmtpd-test`,
      'Compression: zstd',
      'FileSize: 901',
      ''
    ].join('\n'))
    const back = parseGuixNarInfo(renderGuixNarInfo(info))
    expect(back).toEqual(info)
    expect(back.nars).toEqual(INIT.nars)
  })

  it('writes "References: " with a trailing space when empty, and parses it back', () => {
    const info = createGuixNarInfo({ ...INIT, references: [], deriver: undefined })
    const text = renderGuixNarInfo(info)
    expect(text).toContain('\nReferences: \nURL:')
    expect(parseGuixNarInfo(text).references).toEqual([])
  })

  it('signature goes after the signed fields; the body is what precedes it', () => {
    const unsigned = createGuixNarInfo({ ...INIT, system: 'x86_64-linux', extra: [{ key: 'X-Note', value: 'hi' }] })
    const body = guixNarInfoSignedBody(unsigned)
    expect(body.endsWith('System: x86_64-linux\nX-Note: hi\n')).toBe(true)
    const signed = withGuixSignature(unsigned, '1;h;AAAA')
    const text = renderGuixNarInfo(signed)
    expect(text.startsWith(body + 'Signature: 1;h;AAAA\nURL: ')).toBe(true)
    expect(Buffer.from(guixNarInfoSignedPart(text)!).toString()).toBe(body)
  })

  it('rejects inconsistent or unwritable inits', () => {
    expect(() => createGuixNarInfo({ ...INIT, nars: [] })).toThrow(GuixNarInfoError)
    expect(() => createGuixNarInfo({ ...INIT, nars: [{ url: 'a', compression: 'none', fileSize: 1 }, { url: 'b', compression: 'gzip' }] })).toThrow(/FileSize/)
    expect(() => createGuixNarInfo({ ...INIT, nars: [{ url: 'a' }] })).toThrow(/Compression/)
    expect(() => createGuixNarInfo({ ...INIT, narSize: -1 })).toThrow(GuixNarInfoError)
    expect(() => createGuixNarInfo({ ...INIT, narSize: 1.5 })).toThrow(GuixNarInfoError)
    expect(() => createGuixNarInfo({ ...INIT, storePath: '/gnu/store/short-x' })).toThrow(/StorePath/)
    expect(() => createGuixNarInfo({ ...INIT, references: ['not a ref'] })).toThrow(/reference/)
    expect(() => createGuixNarInfo({ ...INIT, system: 'x\ny' })).toThrow(GuixNarInfoError)
    expect(() => createGuixNarInfo({ ...INIT, system: ' x' })).toThrow(/whitespace/)
    expect(() => createGuixNarInfo({ ...INIT, system: 'Signature: x' })).toThrow(/Signature:/)
    expect(() => createGuixNarInfo({ ...INIT, extra: [{ key: 'NarSize', value: '1' }] })).toThrow(/duplicates/)
    expect(() => createGuixNarInfo({ ...INIT, extra: [{ key: 'Bad:Key', value: '1' }] })).toThrow(/field name/)
  })

  it('equivalence is StorePath, NarHash, NarSize and References in order', () => {
    const a = createGuixNarInfo(INIT)
    const b = createGuixNarInfo({ ...INIT, nars: [{ url: 'elsewhere', compression: 'none' }], deriver: undefined })
    expect(equivalentGuixNarInfo(a, b)).toBe(true)
    expect(equivalentGuixNarInfo(a, createGuixNarInfo({ ...INIT, references: [...INIT.references].reverse() }))).toBe(false)
    expect(equivalentGuixNarInfo(a, createGuixNarInfo({ ...INIT, narSize: 2601 }))).toBe(false)
  })
})

describe('recutils syntax', () => {
  const base = `StorePath: /gnu/store/${HASH}-x\nNarHash: ${NARHASH}\nNarSize: 1\nReferences:\nURL: nar/x\nCompression: none\n`

  it('follows recutils->alist: comments, continuations, leading blank lines, end of record', () => {
    const text = `\n\n# comment\n${base}System: a\n+ b\n+c\nFoo:bar\n\nStorePath: /ignored\n`
    const info = parseGuixNarInfo(text)
    expect(info.system).toBe('a\nb\nc')
    expect(info.references).toEqual([])
    expect(info.fields.find(f => f.key === 'Foo')?.value).toBe('bar')
    expect(info.storePath).toBe(`/gnu/store/${HASH}-x`)
    // Multi-line values render as continuation lines and parse back.
    expect(parseGuixNarInfo(renderGuixNarInfo(info)).system).toBe('a\nb\nc')
  })

  it('first occurrence wins for single-valued fields; URL groups zip by position', () => {
    const info = parseGuixNarInfo(`${base}NarSize: 2\nURL: nar/y\nFileSize: 5\n`)
    expect(info.narSize).toBe(1)
    expect(info.nars).toEqual([{ url: 'nar/x', compression: 'none', fileSize: 5 }, { url: 'nar/y' }])
  })

  it('keeps the value after the colon with only leading whitespace removed', () => {
    const fields = parseGuixNarInfoFields('A:x \nB:\t y\nC: \n')
    expect(fields).toEqual([{ key: 'A', value: 'x ' }, { key: 'B', value: 'y' }, { key: 'C', value: '' }])
  })

  it.each([
    ['missing StorePath', base.replace(/^StorePath.*\n/, '')],
    ['missing NarHash', base.replace(/NarHash.*\n/, '')],
    ['missing NarSize', base.replace(/NarSize.*\n/, '')],
    ['missing References', base.replace(/References.*\n/, '')],
    ['missing URL', base.replace(/URL.*\n/, '')],
    ['empty URL', base.replace('URL: nar/x', 'URL:')],
    ['relative StorePath', base.replace('/gnu/store/', '')],
    ['NarHash not nix32', base.replace(NARHASH, 'sha256:' + 'e'.repeat(52))],
    ['NarHash hex', base.replace(NARHASH, 'sha256:' + 'a'.repeat(64))],
    ['NarSize not decimal', base.replace('NarSize: 1', 'NarSize: 1e3')],
    ['NarSize too large', base.replace('NarSize: 1', 'NarSize: 99999999999999999999')],
    ['FileSize not decimal', base + 'FileSize: -1\n'],
    ['bad reference', base.replace('References:', 'References: ../../etc')],
    ['bad deriver', base + 'Deriver: /gnu/store/x.drv\n'],
    ['CRLF', base.replace(/\n/g, '\r\n')],
    ['unmatched line', base + '  indented: x\n'],
    ['line without colon', base + 'NoColon\n'],
    ['continuation first', '+ x\n' + base]
  ])('rejects %s', (_name, text) => {
    expectNarInfoError(text)
  })

  it('rejects invalid UTF-8 and oversized input', () => {
    expect(expectNarInfoError(Uint8Array.of(...Buffer.from(base), 0xff, 0x0a)).message).toMatch(/UTF-8/)
    expect(() => parseGuixNarInfo(base, { maxSize: 10 })).toThrow(/larger than/)
    expect(() => parseGuixNarInfo('x'.repeat(5 * 1024 * 1024))).toThrow(GuixNarInfoError)
  })

  it('fast-check: random text parses or throws GuixNarInfoError only', () => {
    const line = fc.oneof(
      fc.constantFrom('StorePath: /gnu/store/' + HASH + '-x', 'NarHash: ' + NARHASH, 'NarSize: 12', 'References: ', 'URL: u', 'Compression: gzip', 'FileSize: 3', '+ more', '# c', '', 'Signature: 1;a;b'),
      fc.string({ maxLength: 30 })
    )
    fc.assert(fc.property(fc.array(line, { maxLength: 14 }), (lines) => {
      try {
        const info = parseGuixNarInfo(lines.join('\n') + '\n')
        expect(parseGuixNarInfo(renderGuixNarInfo(info))).toEqual(info)
      } catch (err) {
        if (!(err instanceof GuixNarInfoError)) throw err
      }
    }), { numRuns: 2000 })
  })

  it('fast-check: created narinfos survive render → parse unchanged', () => {
    const nix32 = (n: number): fc.Arbitrary<string> => fc.array(fc.constantFrom(...NIX32.split('')), { minLength: n, maxLength: n }).map(a => a.join(''))
    const name = fc.array(fc.constantFrom(...'abcXYZ019+-._?='.split('')), { minLength: 1, maxLength: 20 }).map(a => a.join(''))
    const basename = fc.tuple(nix32(32), name).map(([h, n]) => `${h}-${n}`)
    const nar = fc.record({
      url: fc.string({ minLength: 1, maxLength: 20 }).filter(s => !/[\r\n]/.test(s) && !/^\s/.test(s)),
      compression: fc.constantFrom('none', 'gzip', 'lzip', 'zstd'),
      fileSize: fc.nat()
    })
    fc.assert(fc.property(basename, nix32(52), fc.nat(), fc.array(basename, { maxLength: 5 }), fc.option(basename, { nil: undefined }), fc.array(nar, { minLength: 1, maxLength: 3 }),
      (base, h, narSize, references, deriver, nars) => {
        const init: GuixNarInfoInit = { storePath: `/gnu/store/${base}`, narHash: `sha256:${h}`, narSize, references, nars }
        if (deriver !== undefined) init.deriver = deriver
        const info = createGuixNarInfo(init)
        const text = renderGuixNarInfo(info)
        const back = parseGuixNarInfo(text)
        expect(back).toEqual(info)
        expect(renderGuixNarInfo(back)).toBe(text)
        expect(back.nars).toEqual(nars)
      }), { numRuns: 500 })
  })
})
