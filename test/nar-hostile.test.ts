/**
 * Hostile and malformed NARs: every one must end in a NarParseError quickly,
 * without reading (let alone allocating) more than a bounded amount.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import { bytes, chunked, concat, drain, rejection, str, tokens, u64 } from './nar-helpers.ts'
import { NarParseError } from '../src/nar/index.ts'
import type { NarReaderOptions } from '../src/nar/index.ts'

const HEADER = str('nix-archive-1')
const FILE_A = tokens('(', 'type', 'regular', 'contents', 'a', ')')

function entry (name: string | Uint8Array, node: Uint8Array): Uint8Array {
  return concat([tokens('entry', '(', 'name', name, 'node'), node, str(')')])
}

function dir (...entries: Uint8Array[]): Uint8Array {
  return concat([tokens('(', 'type', 'directory'), ...entries, str(')')])
}

/** A source that yields `prefix`, then up to `tail` zero bytes; records how much was pulled. */
function metered (prefix: Uint8Array, tail = 64 * 1024 * 1024) {
  const meter = { pulled: 0 }
  const source = (async function * () {
    for (let i = 0; i < prefix.length; i += 4096) {
      const piece = prefix.subarray(i, i + 4096)
      meter.pulled += piece.length
      yield piece
    }
    const zeros = new Uint8Array(65536)
    for (let sent = 0; sent < tail; sent += zeros.length) {
      meter.pulled += zeros.length
      yield zeros
    }
  })()
  return { meter, source }
}

async function parseError (data: Uint8Array | AsyncIterable<Uint8Array>, options?: NarReaderOptions): Promise<NarParseError> {
  const source = data instanceof Uint8Array ? chunked(data, 7) : data
  const err = await rejection(async () => await drain(source, options))
  expect(err).toBeInstanceOf(NarParseError)
  return err as NarParseError
}

const TWO_63_MINUS_1 = (1n << 63n) - 1n
const TWO_64_MINUS_1 = (1n << 64n) - 1n

describe('hostile NARs', () => {
  describe.each([
    ['2^63-1', TWO_63_MINUS_1],
    ['2^64-1', TWO_64_MINUS_1]
  ])('length field %s', (_label, huge) => {
    it('as the magic length', async () => {
      const { meter, source } = metered(u64(huge))
      expect((await parseError(source)).message).toMatch(/doesn't look like a Nix archive/)
      expect(meter.pulled).toBeLessThan(1 << 20)
    })

    it('as a tag', async () => {
      const { meter, source } = metered(concat([HEADER, u64(huge)]))
      const err = await parseError(source)
      expect(err.message).toMatch(new RegExp(`expected tag '\\(', got a ${huge}-byte string`))
      expect(err.offset).toBe(24)
      expect(meter.pulled).toBeLessThan(1 << 20)
    })

    it('as file contents', async () => {
      const { meter, source } = metered(concat([HEADER, tokens('(', 'type', 'regular', 'contents'), u64(huge)]))
      const err = await parseError(source)
      expect(err.message).toMatch(new RegExp(`file size ${huge} exceeds`))
      expect(err.offset).toBe(88)
      expect(meter.pulled).toBeLessThan(1 << 20)
    })

    it('as a file name', async () => {
      const { meter, source } = metered(concat([HEADER, tokens('(', 'type', 'directory', 'entry', '(', 'name'), u64(huge)]))
      expect((await parseError(source)).message).toMatch(new RegExp(`file name of ${huge} bytes exceeds the limit of 255`))
      expect(meter.pulled).toBeLessThan(1 << 20)
    })

    it('as a symlink target', async () => {
      const { meter, source } = metered(concat([HEADER, tokens('(', 'type', 'symlink', 'target'), u64(huge)]))
      expect((await parseError(source)).message).toMatch(new RegExp(`symlink target of ${huge} bytes exceeds the limit of 4095`))
      expect(meter.pulled).toBeLessThan(1 << 20)
    })

    it('as the executable marker', async () => {
      const { source } = metered(concat([HEADER, tokens('(', 'type', 'regular', 'executable'), u64(huge)]))
      expect((await parseError(source)).message).toMatch(/executable marker has non-empty value/)
    })
  })

  it('a file larger than maxSize is refused before its contents are read', async () => {
    const { meter, source } = metered(concat([HEADER, tokens('(', 'type', 'regular', 'contents'), u64(1n << 40n)]))
    const err = await parseError(source, { maxSize: 1 << 20 })
    expect(err.message).toMatch(/file size 1099511627776 exceeds the NAR size limit of 1048576 bytes/)
    expect(meter.pulled).toBeLessThan(1 << 20)
  })

  it('100 000-deep nesting stops at maxDepth without reading the rest', async () => {
    const level = concat([tokens('(', 'type', 'directory', 'entry', '(', 'name', 'd', 'node')])
    const meter = { pulled: 0 }
    const source = (async function * () {
      yield HEADER
      for (let i = 0; i < 100_000; i++) {
        meter.pulled += level.length
        yield level
      }
    })()
    const err = await parseError(source)
    expect(err.message).toMatch(/nesting exceeds the maximum depth of 1024/)
    expect(meter.pulled).toBeLessThanOrEqual(1025 * level.length)
  })

  it('maxDepth is configurable and exact', async () => {
    let nar = FILE_A
    for (let i = 0; i < 10; i++) nar = dir(entry('d', nar))
    nar = concat([HEADER, nar])
    expect(await drain(chunked(nar), { maxDepth: 10 })).toBe(21)
    expect((await parseError(nar, { maxDepth: 9 })).message).toMatch(/maximum depth of 9/)
  })

  it('a 1 MiB name is refused from its length field, before allocation', async () => {
    const { meter, source } = metered(concat([HEADER, tokens('(', 'type', 'directory', 'entry', '(', 'name'), u64(1 << 20)]), 1 << 20)
    expect((await parseError(source)).message).toMatch(/file name of 1048576 bytes exceeds the limit of 255 bytes/)
    expect(meter.pulled).toBeLessThan(65536 + 4096)
  })

  it('name and target limits follow the options', async () => {
    const long = 'x'.repeat(300)
    const nar = concat([HEADER, dir(entry(long, tokens('(', 'type', 'symlink', 'target', long, ')')))])
    expect((await parseError(nar)).message).toMatch(/file name of 300 bytes exceeds the limit of 255/)
    expect(await drain(chunked(nar), { maxNameLength: 300 })).toBe(3)
    expect((await parseError(nar, { maxNameLength: 300, maxTargetLength: 299 })).message).toMatch(/symlink target of 300 bytes/)
  })

  it.each([
    ['tag', concat([HEADER, u64(1), bytes('(\0\0\0\0\0\0\x01')])],
    ['magic', concat([u64(13), bytes('nix-archive-1\0\0\x01')])],
    ['name', concat([HEADER, tokens('(', 'type', 'directory', 'entry', '(', 'name'), u64(1), bytes('a\0\0\0\0\x01\0\0')])],
    ['target', concat([HEADER, tokens('(', 'type', 'symlink', 'target'), u64(3), bytes('abc\0\0\0\0\x80')])],
    ['file contents', concat([HEADER, tokens('(', 'type', 'regular', 'contents'), u64(9), bytes('123456789\0\0\0\0\0\0\xff')])]
  ])('non-zero padding after a %s', async (what, nar) => {
    const err = await parseError(nar)
    expect(err.message).toMatch(what === 'magic' ? /doesn't look like a Nix archive/ : /^non-zero padding/)
  })

  it.each([
    ['b before a', ['b', 'a'], /not sorted: entry 'a' after 'b'/],
    ['duplicate', ['a', 'a'], /not sorted: duplicate entry 'a'/],
    ['lower before upper', ['a-lower', 'B-upper'], /entry 'B-upper' after 'a-lower'/],
    ['prefix after longer', ['ab', 'a'], /entry 'a' after 'ab'/],
    // UTF-8 byte order: U+10000 (f0 90 80 80) sorts after U+FFFF (ef bf bf), unlike UTF-16.
    ['U+10000 before U+FFFF', ['\u{10000}', '\uffff'], /entry '\\xef\\xbf\\xbf' after '\\xf0\\x90\\x80\\x80'/]
  ])('rejects out-of-order entries: %s', async (_label, names, reason) => {
    const nar = concat([HEADER, dir(...names.map(n => entry(n, FILE_A)))])
    expect((await parseError(nar)).message).toMatch(reason)
    // ...while the sorted order is fine.
    const sorted = [...new Set(names)].map(n => bytes(n)).sort(Buffer.compare)
    expect(await drain(chunked(concat([HEADER, dir(...sorted.map(n => entry(n, FILE_A)))])))).toBe(2 + sorted.length)
  })

  it.each([
    ['unknown type', concat([HEADER, tokens('(', 'type', 'fifo', ')')]), /unknown file type 'fifo'/],
    ['bad magic', tokens('nix-archive-2', '(', 'type', 'regular', 'contents', '', ')'), /doesn't look like a Nix archive/],
    ['empty input', new Uint8Array(0), /doesn't look like a Nix archive/],
    ['entry without (', concat([HEADER, tokens('(', 'type', 'directory', 'entry', 'name')]), /expected tag '\(', got 'name'/],
    ['garbage in a directory', concat([HEADER, tokens('(', 'type', 'directory', 'xyz')]), /expected tag 'entry' or '\)', got 'xyz'/],
    ['symlink without target tag', concat([HEADER, tokens('(', 'type', 'symlink', 'dest', 'x', ')')]), /expected tag 'target', got 'dest'/],
    ['NUL in target', concat([HEADER, tokens('(', 'type', 'symlink', 'target', 'a\0b', ')')]), /invalid symlink target 'a\\x00b' \(contains NUL\)/],
    ['two contents', concat([HEADER, tokens('(', 'type', 'regular', 'contents', 'a', 'contents', 'b', ')')]), /expected tag '\)', got 'contents'/],
    ['missing root close', concat([HEADER, tokens('(', 'type', 'regular', 'contents', 'a')]), /truncated/],
    ['second root', concat([HEADER, FILE_A, FILE_A]), /trailing data after the end of the NAR/],
    ['one trailing zero byte', concat([HEADER, FILE_A, new Uint8Array(1)]), /trailing data/]
  ])('rejects %s', async (_label, nar, reason) => {
    expect((await parseError(nar)).message).toMatch(reason)
  })

  describe.each([
    'tvix/complicated.nar',
    'harmonia/test-dir.nar',
    'nixos-nix/regular-one-byte-zero-padding.nar'
  ])('%s', (file) => {
    const data = new Uint8Array(readFileSync(fixture('nar', file)))

    it('truncated at every byte offset is a NarParseError', async () => {
      for (let cut = 0; cut < data.length; cut++) {
        const err = await rejection(async () => await drain(chunked(data.subarray(0, cut), 5)))
        if (!(err instanceof NarParseError)) throw new Error(`cut at ${cut}: ${String(err)}`)
        expect(err.offset).toBeLessThanOrEqual(cut)
      }
    })

    it('with any number of extra bytes is a NarParseError', async () => {
      for (let extra = 1; extra <= 16; extra++) {
        const err = await parseError(concat([data, new Uint8Array(extra)]))
        expect(err.message).toMatch(/trailing data/)
        expect(err.offset).toBe(data.length)
      }
    })
  })

  it('rejects invalid options', async () => {
    await expect(drain(chunked(FILE_A), { maxDepth: -1 })).rejects.toThrow(RangeError)
    await expect(drain(chunked(FILE_A), { maxSize: Infinity })).rejects.toThrow(RangeError)
  })
})
