/**
 * S-expression parser/printers (src/nix/sexp.ts) against the Guix fixtures
 * (libgcrypt-printed signature and key files) and hostile input.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import {
  SexpParseError,
  atomIs,
  atomText,
  encodeCanonicalSexp,
  encodeTransportSexp,
  findSexpToken,
  formatAdvancedSexp,
  parseCanonicalSexp,
  parseSexp,
  sexpAtom,
  sexpEquals,
  sexpList,
  sexpNthAtom
} from '../src/nix/sexp.ts'
import type { Sexp } from '../src/nix/sexp.ts'

const guix = (name: string): Buffer => readFileSync(fixture('narinfo', 'guix', name))
const SIGNATURE_SEXP = 'berlin_y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test.signature.sexp'

function expectParseError (input: string | Uint8Array, limits?: Parameters<typeof parseSexp>[1]): SexpParseError {
  let caught: unknown
  try {
    parseSexp(input, limits)
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(SexpParseError)
  return caught as SexpParseError
}

describe('fixtures', () => {
  it('parses the berlin signature and finds its parts', () => {
    const sig = parseSexp(guix(SIGNATURE_SEXP))
    const hash = findSexpToken(sig, 'hash')
    expect(atomText(sexpNthAtom(hash, 1)!)).toBe('sha256')
    expect(Buffer.from(sexpNthAtom(hash, 2)!.value).toString('hex')).toBe('a7bc20f54c454f2ea5b45555c117ec8f3205f9dbc87fc3783c560bdc9dfbab7c')
    expect(sexpNthAtom(findSexpToken(sig, 'r'), 1)!.value.length).toBe(31)
    expect(sexpNthAtom(findSexpToken(sig, 's'), 1)!.value.length).toBe(32)
    expect(atomIs(sexpNthAtom(findSexpToken(sig, 'curve'), 1), 'Ed25519')).toBe(true)
  })

  it('re-prints libgcrypt advanced format byte-for-byte', () => {
    for (const name of [SIGNATURE_SEXP, 'berlin.guix.gnu.org.pub']) {
      const text = guix(name)
      expect(Buffer.from(formatAdvancedSexp(parseSexp(text))).equals(text)).toBe(true)
    }
  })

  it('parses the hand-edited bordeaux key (different whitespace) to the same shape', () => {
    const b = parseSexp(guix('bordeaux.guix.gnu.org.pub'))
    const q = sexpNthAtom(findSexpToken(b, 'q'), 1)!
    expect(Buffer.from(q.value).toString('hex').toUpperCase()).toBe('7D602902D3A2DBB83F8A0FB98602A754C5493B0B778C8D1DD4E0F41DE14DE34F')
  })

  it('round-trips the fixtures through canonical and transport encodings', () => {
    const sig = parseSexp(guix(SIGNATURE_SEXP))
    const canon = encodeCanonicalSexp(sig)
    expect(Buffer.from(canon).toString('latin1').startsWith('(9:signature(4:data(5:flags7:rfc6979)(4:hash6:sha25632:')).toBe(true)
    expect(sexpEquals(parseCanonicalSexp(canon), sig)).toBe(true)
    expect(sexpEquals(parseSexp(canon), sig)).toBe(true)
    expect(sexpEquals(parseSexp(encodeTransportSexp(sig)), sig)).toBe(true)
  })
})

describe('syntax', () => {
  const abc = sexpList(sexpAtom('abc'))
  it.each([
    ['(3:abc)'],
    ['(abc)'],
    ['( abc )'],
    ['("abc")'],
    ['(3"abc")'],
    ['(#616263#)'],
    ['(# 61 62\n63 #)'],
    ['(3#616263#)'],
    ['(|YWJj|)'],
    ['(3|YWJj|)'],
    ['{KDM6YWJjKQ==}'],
    ['("a\\142c")'],
    ['("\\x61bc")'],
    ['("ab\\\nc")']
  ])('%j is (abc)', (text) => {
    expect(sexpEquals(parseSexp(text), abc)).toBe(true)
  })

  it('decodes quoted-string escapes', () => {
    const s = parseSexp('("\\b\\t\\v\\n\\f\\r\\"\\\'\\\\\\001\\xff")')
    expect(Array.from(sexpNthAtom(s, 0)!.value)).toEqual([8, 9, 11, 10, 12, 13, 34, 39, 92, 1, 255])
  })

  it('keeps display hints and prints them', () => {
    const s = parseSexp('([4:text]5:hello [#6869#]x)')
    expect(sexpEquals(s, sexpList(sexpAtom('hello', 'text'), sexpAtom('x', 'hi')))).toBe(true)
    expect(Buffer.from(encodeCanonicalSexp(s)).toString()).toBe('([4:text]5:hello[2:hi]1:x)')
    expect(Buffer.from(formatAdvancedSexp(s)).toString()).toBe('([text]hello [hi]x)\n')
  })

  it('allows empty lists, empty atoms and a top-level atom', () => {
    expect(sexpEquals(parseSexp('()'), sexpList())).toBe(true)
    expect(sexpEquals(parseSexp('(0: "")'), sexpList(sexpAtom(''), sexpAtom('')))).toBe(true)
    expect(sexpEquals(parseSexp('  token  '), sexpAtom('token'))).toBe(true)
  })

  it('prints atoms the way libgcrypt chooses: token, string or hex', () => {
    const s = sexpList(
      sexpAtom('tok-en.1'), sexpAtom('9lives'), sexpAtom('two words'), sexpAtom('tab\there'),
      sexpAtom(Uint8Array.of(0, 1)), sexpAtom(Uint8Array.of(0x80)), sexpAtom(Uint8Array.of(0x41, 0x01)), sexpAtom('')
    )
    expect(Buffer.from(formatAdvancedSexp(s)).toString('latin1'))
      .toBe('(tok-en.1 "9lives" "two words" "tab\\there" #0001# #80# #4101# "")\n')
  })

  it('prints nested lists with libgcrypt indentation', () => {
    const s = parseSexp('(a (b (c d)) (e) f)')
    expect(Buffer.from(formatAdvancedSexp(s)).toString()).toBe('(a \n (b \n  (c d)\n  )\n (e)\n f)\n')
  })
})

describe('errors and limits', () => {
  it.each([
    ['', 'empty'],
    ['(abc', 'unclosed'],
    ['abc)', 'unmatched'],
    [')', 'unmatched'],
    ['(a) (b)', 'trailing'],
    ['(5:abc)', 'truncated verbatim'],
    ['(01:a)', 'leading zero'],
    ['(3x)', 'bad length spec'],
    ['(4"abc")', 'length mismatch'],
    ['(#abc#)', 'odd hex'],
    ['(#zz#)', 'bad hex'],
    ['(#00', 'unterminated hex'],
    ['("abc', 'unterminated string'],
    ['("\\q")', 'bad escape'],
    ['("\\9")', 'bad escape'],
    ['("\\x4")', 'bad hex escape'],
    ['("\\400")', 'octal out of range'],
    ['(|YWJ|)', 'bad base64 length'],
    ['(|YW=j|)', 'bad base64 padding'],
    ['(|YWJk=|)', 'bad base64'],
    ['(|YWJ*|)', 'bad base64 char'],
    ['([hint])', 'hint before list close'],
    ['([hint](a))', 'hint before list'],
    ['([a][b]c)', 'nested hint'],
    ['(a])', 'unmatched ]'],
    ['({KGEp})', 'transport containing advanced syntax'],
    ['{KDE6YSk=', 'unterminated transport'],
    ['(a & b)', 'reserved punctuation'],
    ['(\u00e9)', 'non-ASCII outside strings'],
    ['(%s)', 'format specifier']
  ])('rejects %j (%s)', (text) => {
    expectParseError(text)
  })

  it('rejects huge length prefixes without allocating', () => {
    expectParseError('(99999999999999999999:a)')
    expectParseError('(999999999:a)')
    expect(expectParseError('(70000:a)').message).toMatch(/longer than/)
    expect(expectParseError('(100:abc)').message).toMatch(/runs past the end/)
  })

  it('rejects deep nesting quickly, iteratively', () => {
    const deep = '('.repeat(200_000) + ')'.repeat(200_000)
    const t = performance.now()
    expect(expectParseError(deep, { maxSize: 1_000_000 }).message).toMatch(/nesting deeper than 64/)
    expect(performance.now() - t).toBeLessThan(1000)
    // With a large depth limit the parser still does not recurse.
    expect(() => parseSexp('('.repeat(100_000) + ')'.repeat(100_000), { maxDepth: 200_000 })).not.toThrow()
    expect(sexpEquals(parseSexp('((((a))))', { maxDepth: 4 }), parseSexp('((((a))))'))).toBe(true)
    expectParseError('(((((a)))))', { maxDepth: 4 })
  })

  it('enforces size, atom-length and node limits', () => {
    expect(expectParseError('(abcdef)', { maxSize: 5 }).message).toMatch(/larger than/)
    expect(expectParseError(Buffer.from('(abcdef)'), { maxSize: 5 }).message).toMatch(/larger than/)
    expect(expectParseError('(abcdef)', { maxAtomLength: 5 }).message).toMatch(/longer than/)
    expect(expectParseError('("abcdef")', { maxAtomLength: 5 }).message).toMatch(/longer than/)
    expect(expectParseError('(#616263646566#)', { maxAtomLength: 5 }).message).toMatch(/longer than/)
    expect(expectParseError('(|YWJjZGVmZ2g=|)', { maxAtomLength: 5 }).message).toMatch(/longer than/)
    expect(expectParseError('(a b c d e)', { maxNodes: 5 }).message).toMatch(/too many/)
    expect(expectParseError('{KDE6YTE6YjE6YzE6ZDE6ZSk=}', { maxNodes: 5 }).message).toMatch(/too many/)
    expect(() => parseSexp('(a b c d)', { maxNodes: 5 })).not.toThrow()
    // Depth counts through transport blocks too.
    expectParseError('((({KCgxOmEpKQ==})))', { maxDepth: 4 })
  })

  it('rejects every truncation of the real signature', () => {
    const text = guix(SIGNATURE_SEXP)
    for (let i = 0; i < text.length - 2; i++) {
      expectParseError(text.subarray(0, i))
    }
  })

  it('fast-check: random bytes give a value or SexpParseError, nothing else', () => {
    const alphabet = fc.constantFrom(...'()[]{}#|"\\:0123456789abcXYZ-./_*+= \n\t%&'.split(''))
    fc.assert(fc.property(fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.array(alphabet, { maxLength: 200 }).map(a => a.join(''))
    ), (input) => {
      try {
        parseSexp(input)
      } catch (err) {
        if (!(err instanceof SexpParseError)) throw err
      }
    }), { numRuns: 3000 })
  })

  it('fast-check: mutated real signatures give a value or SexpParseError', () => {
    const text = guix(SIGNATURE_SEXP)
    fc.assert(fc.property(fc.nat(text.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
      const copy = Uint8Array.from(text)
      copy[at] = byte
      try {
        parseSexp(copy)
      } catch (err) {
        if (!(err instanceof SexpParseError)) throw err
      }
    }), { numRuns: 2000 })
  })
})

describe('round trips', () => {
  const sexpArb: fc.Arbitrary<Sexp> = fc.letrec<{ node: Sexp }>(tie => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({
        value: fc.uint8Array({ maxLength: 12 }),
        hint: fc.option(fc.uint8Array({ maxLength: 4 }), { nil: undefined })
      }).map(({ value, hint }) => sexpAtom(value, hint)),
      fc.array(tie('node'), { maxLength: 5 }).map(items => sexpList(...items))
    )
  })).node

  it('fast-check: canonical, advanced and transport forms parse back to the same tree', () => {
    fc.assert(fc.property(sexpArb, (s) => {
      expect(sexpEquals(parseCanonicalSexp(encodeCanonicalSexp(s)), s)).toBe(true)
      expect(sexpEquals(parseSexp(formatAdvancedSexp(s)), s)).toBe(true)
      if (s.type === 'list') expect(sexpEquals(parseSexp(encodeTransportSexp(s)), s)).toBe(true)
    }), { numRuns: 1000 })
  })
})
