import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import { NarInfoParseError } from '../src/nix/errors.ts'
import { parseNarInfo, renderNarInfo } from '../src/nix/narinfo.ts'

const valid = readFileSync(fixture('real-nix', 'cache-none', 'l3z61ajw87plwaj8680kwzg5kkw0dch6.narinfo'), 'utf8')
const lines = valid.slice(0, -1).split('\n')
const lineIndex = (key: string): number => lines.findIndex(l => l.startsWith(`${key}: `))
const withLine = (key: string, value: string): string =>
  lines.map(l => l.startsWith(`${key}: `) ? `${key}: ${value}` : l).join('\n') + '\n'
const without = (key: string): string => lines.filter(l => !l.startsWith(`${key}: `)).join('\n') + '\n'

/** Asserts a NarInfoParseError, optionally pointing at a 1-based line and a key. */
function expectRejected (input: string | Uint8Array, where: { line?: number, key?: string } = {}, options = {}): NarInfoParseError {
  let error: unknown
  try {
    parseNarInfo(input, options)
  } catch (err) {
    error = err
  }
  expect(error).toBeInstanceOf(NarInfoParseError)
  const e = error as NarInfoParseError
  if (where.line != null) {
    expect(e.line).toBe(where.line)
    expect(e.message).toContain(`line ${where.line}`)
  }
  if (where.key != null) expect(e.key).toBe(where.key)
  return e
}

describe('hostile narinfos give NarInfoParseError naming the line', () => {
  it('accepts the unmodified document', () => {
    expect(renderNarInfo(parseNarInfo(valid))).toBe(valid)
  })

  it('CRLF line endings', () => {
    expectRejected(valid.replaceAll('\n', '\r\n'), { line: 1 })
    expectRejected(valid.replace('NarSize: 1000\n', 'NarSize: 1000\r\n'), { line: lineIndex('NarSize') + 1 })
  })

  it('missing final newline', () => {
    expectRejected(valid.slice(0, -1), { line: lines.length })
  })

  it('"References:" without the space (swallows the next line in Nix 2.8)', () => {
    expectRejected(withLine('References', 'x').replace('References: x', 'References:'), { line: lineIndex('References') + 1, key: 'References' })
  })

  it('blank lines, lines without a colon, bad keys, control characters', () => {
    expectRejected(valid.replace('URL:', '\nURL:'), { line: 2 })
    expectRejected(`${valid}\n`, { line: lines.length + 1 })
    expectRejected(valid.replace('URL:', 'garbage\nURL:'), { line: 2 })
    expectRejected(valid.replace('URL:', 'Bad Key: 1\nURL:'), { line: 2 })
    expectRejected(valid.replace('URL:', ': 1\nURL:'), { line: 2 })
    expectRejected(`${valid}System: x86\u0000\n`, { line: lines.length + 1, key: 'System' })
    expectRejected(withLine('URL', 'nar/x\tnar'), { key: 'URL' })
  })

  it('repeated keys (only Sig may repeat)', () => {
    for (const key of ['StorePath', 'URL', 'Compression', 'FileHash', 'FileSize', 'NarHash', 'NarSize', 'References', 'Deriver']) {
      const i = lineIndex(key)
      const doubled = [...lines.slice(0, i + 1), lines[i], ...lines.slice(i + 1)].join('\n') + '\n'
      expectRejected(doubled, { line: i + 2, key })
    }
    expectRejected(`${valid}CA: \nCA: \n`, { line: lines.length + 2, key: 'CA' })
    expectRejected(`${valid}X-A: 1\nX-A: 1\n`, { line: lines.length + 2, key: 'X-A' })
    const sig = lines[lineIndex('Sig')]
    expect(parseNarInfo(`${valid}${sig}\n`).signatures).toHaveLength(2)
  })

  it.each(['StorePath', 'URL', 'NarHash', 'NarSize'])('missing required field %s', key => {
    expectRejected(without(key), { key })
  })

  it('optional fields may be missing', () => {
    let text = valid
    for (const key of ['Compression', 'FileHash', 'FileSize', 'References', 'Deriver', 'Sig']) {
      text = text.split('\n').filter(l => !l.startsWith(`${key}: `)).join('\n')
    }
    const info = parseNarInfo(text)
    expect(info.compression).toBe('bzip2')
    expect(info.references).toEqual([])
  })

  it.each([
    ['2^64', '18446744073709551616'],
    ['2^64 - 1', '18446744073709551615'],
    ['2^53', '9007199254740992'],
    ['zero', '0'],
    ['negative', '-1'],
    ['plus sign', '+1000'],
    ['leading zero', '01000'],
    ['exponent', '1e3'],
    ['hex', '0x10'],
    ['decimal point', '1000.0'],
    ['space', '1000 '],
    ['empty', ''],
    ['huge', '9'.repeat(10_000)]
  ])('NarSize %s', (_label, value) => {
    expectRejected(withLine('NarSize', value), { line: lineIndex('NarSize') + 1, key: 'NarSize' })
  })

  it('NarSize 2^53 − 1 is the largest accepted; FileSize 0 is accepted', () => {
    expect(parseNarInfo(withLine('NarSize', '9007199254740991')).narSize).toBe(2 ** 53 - 1)
    expect(parseNarInfo(withLine('FileSize', '0')).fileSize).toBe(0)
    expectRejected(withLine('FileSize', '18446744073709551616'), { key: 'FileSize' })
  })

  it.each([
    ['bad nix32 char', 'sha256:1alla391y2lbhzr8ak3xhc3gxvciyvscxzm1hwkwf21q6p1ns4qe'],
    ['nix32 overflow', 'sha256:zalla391y2lbhzr8ak3xhc3gxvciyvscxzm1hwkwf21q6p1ns4q8'],
    ['truncated', 'sha256:1alla391y2lbhzr8ak3xhc3gxvciyvscxzm1hwkwf21q6p1ns4q'],
    ['no type', '1alla391y2lbhzr8ak3xhc3gxvciyvscxzm1hwkwf21q6p1ns4q8'],
    ['unknown type', 'blake3:1alla391y2lbhzr8ak3xhc3gxvciyvscxzm1hwkwf21q6p1ns4q8'],
    ['not sha256', 'sha1:kpcd173cq987hw957sx6m0868wv3x6d9'],
    ['empty', '']
  ])('NarHash %s', (_label, value) => {
    expectRejected(withLine('NarHash', value), { line: lineIndex('NarHash') + 1, key: 'NarHash' })
  })

  it('bad FileHash, StorePath, References, Deriver, Compression, URL, Sig, CA', () => {
    expectRejected(withLine('FileHash', 'sha256:xyz'), { key: 'FileHash' })
    expectRejected(withLine('StorePath', '/gnu/store/l3z61ajw87plwaj8680kwzg5kkw0dch6-hello-ia-1.0'), { line: 1, key: 'StorePath' })
    expectRejected(withLine('StorePath', '/nix/store/l3z61ajw87plwaj8680kwzg5kkw0dch6-hello ia'), { line: 1, key: 'StorePath' })
    expectRejected(withLine('StorePath', '/nix/store/../etc/l3z61ajw87plwaj8680kwzg5kkw0dch6-x'), { line: 1, key: 'StorePath' })
    const refs = lines[lineIndex('References')].slice(12)
    expectRejected(withLine('References', `${refs} ../../etc/passwd`), { key: 'References' })
    expectRejected(withLine('References', `${refs}  `), { key: 'References' })
    expectRejected(withLine('References', ` ${refs}`), { key: 'References' })
    expectRejected(withLine('References', refs.replace(' ', '  ')), { key: 'References' })
    expectRejected(withLine('References', `${refs} ${refs.split(' ')[0]}`), { key: 'References' })
    expectRejected(withLine('References', '/nix/store/l3z61ajw87plwaj8680kwzg5kkw0dch6-hello-ia-1.0'), { key: 'References' })
    expectRejected(withLine('Deriver', ''), { key: 'Deriver' })
    expectRejected(withLine('Deriver', 'foo.drv'), { key: 'Deriver' })
    expectRejected(withLine('Compression', 'lzma2'), { key: 'Compression' })
    expectRejected(withLine('Compression', 'XZ'), { key: 'Compression' })
    expectRejected(withLine('URL', ''), { key: 'URL' })
    expectRejected(withLine('Sig', 'test-cache-1:AAAA'), { key: 'Sig' })
    expectRejected(withLine('Sig', 'no-colon'), { key: 'Sig' })
    expectRejected(`${valid}CA: fixed:r:sha256:nonsense\n`, { key: 'CA' })
    expectRejected(`${valid}CA: text:sha1:kpcd173cq987hw957sx6m0868wv3x6d9\n`, { key: 'CA' })
  })

  it('size limit, invalid UTF-8, empty input, wrong input type', () => {
    expectRejected(valid + `X-Pad: ${'a'.repeat(4 * 1024 * 1024)}\n`)
    expectRejected(valid, {}, { maxSize: valid.length - 1 })
    expect(parseNarInfo(valid, { maxSize: valid.length }).narSize).toBe(1000)
    expectRejected(new Uint8Array(4 * 1024 * 1024 + 1))
    expectRejected(Buffer.concat([Buffer.from(valid), Buffer.from('X-Bad: \xff\n', 'latin1')]))
    expectRejected('')
    expectRejected(42 as any)
  })

  it('a huge single line fails fast', () => {
    const start = performance.now()
    expectRejected(`References: ${'a'.repeat(3 * 1024 * 1024)}\n`, { line: 1 })
    expectRejected(`${'x'.repeat(3 * 1024 * 1024)}\n`, { line: 1 })
    expect(performance.now() - start).toBeLessThan(2000)
  })
})

describe('fuzzing: only NarInfoParseError, and what parses re-renders stably', () => {
  const check = (input: string | Uint8Array): void => {
    let info
    try {
      info = parseNarInfo(input)
    } catch (err) {
      expect(err).toBeInstanceOf(NarInfoParseError)
      return
    }
    const rendered = renderNarInfo(info)
    expect(renderNarInfo(parseNarInfo(rendered))).toBe(rendered)
  }

  it('arbitrary strings and bytes', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), check), { numRuns: 2000 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), check), { numRuns: 1000 })
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), check), { numRuns: 500 })
  })

  it('random line soups built from narinfo vocabulary', () => {
    const key = fc.constantFrom('StorePath', 'URL', 'Compression', 'FileHash', 'FileSize', 'NarHash', 'NarSize', 'References', 'Deriver', 'System', 'Sig', 'CA', 'X')
    const value = fc.oneof(
      fc.constantFrom(...lines.map(l => l.slice(l.indexOf(': ') + 2)), '', '0', '1', 'unknown-deriver', 'xz', 'none', '/nix/store/x',
        'fixed:r:sha256:1alla391y2lbhzr8ak3xhc3gxvciyvscxzm1hwkwf21q6p1ns4q8', 'text:sha256:1alla391y2lbhzr8ak3xhc3gxvciyvscxzm1hwkwf21q6p1ns4q8'),
      fc.string({ maxLength: 40 })
    )
    const sep = fc.constantFrom(': ', ':', ' : ', ':  ')
    const line = fc.tuple(key, sep, value).map(([k, s, v]) => `${k}${s}${v}`)
    fc.assert(fc.property(fc.array(line, { maxLength: 14 }), fc.constantFrom('\n', '\r\n', ''), (ls, end) => {
      check(ls.join('\n') + end)
    }), { numRuns: 3000 })
  })

  it('single-character mutations of a valid document', () => {
    fc.assert(fc.property(fc.nat(valid.length - 1), fc.string({ minLength: 0, maxLength: 3 }), fc.nat(3), (pos, insert, del) => {
      check(valid.slice(0, pos) + insert + valid.slice(pos + del))
    }), { numRuns: 3000 })
  })
})
