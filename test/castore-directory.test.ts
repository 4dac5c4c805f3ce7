import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  encodeDirectory, decodeDirectory, directoryDigest, directorySize, directoryMinimumSize, validateDirectory,
  emptyDirectory, toHex, fromHex, toSnixString, fromSnixString, encodeEntry, decodeEntry, directoryEntries,
  CastoreValidationError, CastoreDecodeError, EMPTY_DIRECTORY_DIGEST_HEX
} from '../src/castore/index.ts'
import type { Directory } from '../src/castore/index.ts'
import { blake3 } from '../src/blake3/index.ts'

const te = new TextEncoder()
const EMPTY = fromHex(EMPTY_DIRECTORY_DIGEST_HEX)

// snix fixture DIRECTORY_WITH_KEEP: one empty regular file `.keep` (content-addressing.md §1.3)
const WITH_KEEP: Directory = { directories: [], files: [{ name: te.encode('.keep'), digest: EMPTY, size: 0, executable: false }], symlinks: [] }

describe('castore Directory encoding (snix-compatible)', () => {
  it('empty directory encodes to nothing and hashes to BLAKE3("")', () => {
    expect(encodeDirectory(emptyDirectory()).length).toBe(0)
    expect(toHex(directoryDigest(emptyDirectory()))).toBe(EMPTY_DIRECTORY_DIGEST_HEX)
    expect(toHex(blake3(new Uint8Array(0)))).toBe(EMPTY_DIRECTORY_DIGEST_HEX)
  })

  it('DIRECTORY_WITH_KEEP has the documented bytes and digest', () => {
    const bytes = encodeDirectory(WITH_KEEP)
    expect(bytes.length).toBe(43)
    expect(Buffer.from(bytes.subarray(0, 9)).toString('hex')).toBe('1229' + '0a052e6b656570')
    expect(Buffer.from(bytes.subarray(9, 11)).toString('hex')).toBe('1220')
    expect(toHex(directoryDigest(WITH_KEEP))).toBe('8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e')
  })

  it('DIRECTORY_COMPLICATED digest depends on the size formula as the spec says', () => {
    const withKeepDigest = directoryDigest(WITH_KEEP)
    const complicated = (size: number): Directory => ({
      directories: [{ name: te.encode('keep'), digest: withKeepDigest, size }],
      files: [{ name: te.encode('.keep'), digest: EMPTY, size: 0, executable: false }],
      symlinks: [{ name: te.encode('aa'), target: te.encode('/nix/store/somewhereelse') }]
    })
    // snix-2024 formula: 2 per entry → WITH_KEEP has size 2
    expect(directorySize(WITH_KEEP)).toBe(2)
    expect(directoryMinimumSize(WITH_KEEP)).toBe(1)
    const twoPer = toHex(directoryDigest(complicated(directorySize(WITH_KEEP))))
    expect(twoPer.startsWith('424a7f6c')).toBe(true)
    expect(twoPer.endsWith('04feb')).toBe(true)
    expect(directorySize(complicated(2))).toBe(8)
    const onePer = toHex(directoryDigest(complicated(1)))
    expect(onePer.startsWith('3f951a15')).toBe(true)
    expect(onePer.endsWith('2355a')).toBe(true)
  })

  it('decodes what it encodes and rejects non-canonical bytes', () => {
    const bytes = encodeDirectory(WITH_KEEP)
    expect(encodeDirectory(decodeDirectory(bytes))).toEqual(bytes)
    // an explicit `executable: false` (field 4 = 0) is a non-canonical encoding of the same message
    const inner = Buffer.concat([Buffer.from(bytes.subarray(2)), Buffer.from([0x20, 0x00])])
    const nonCanonical = Buffer.concat([Buffer.from([0x12, inner.length]), inner])
    expect(() => decodeDirectory(nonCanonical)).toThrow(CastoreDecodeError)
    expect(() => decodeDirectory(Buffer.from([0x12, 0x50, 0x0a]))).toThrow(CastoreDecodeError)
    expect(() => decodeDirectory(Buffer.from([0x22, 0x00]))).toThrow(CastoreDecodeError)
  })

  it('rejects bad names, unsorted lists, duplicates across lists and bad targets', () => {
    const f = (name: string) => ({ name: te.encode(name), digest: EMPTY, size: 0, executable: false })
    const bad: Array<[Directory, RegExp]> = [
      [{ directories: [], files: [f('b'), f('a')], symlinks: [] }, /not sorted/],
      [{ directories: [], files: [f('a'), f('a')], symlinks: [] }, /duplicate/],
      [{ directories: [{ name: te.encode('a'), digest: EMPTY, size: 0 }], files: [f('a')], symlinks: [] }, /duplicate/],
      [{ directories: [], files: [f('.')], symlinks: [] }, /"\."/],
      [{ directories: [], files: [f('..')], symlinks: [] }, /"\.\."/],
      [{ directories: [], files: [f('a/b')], symlinks: [] }, /"\/"/],
      [{ directories: [], files: [f('a\0b')], symlinks: [] }, /NUL/],
      [{ directories: [], files: [f('')], symlinks: [] }, /empty name/],
      [{ directories: [], files: [f('x'.repeat(256))], symlinks: [] }, /longer than 255/],
      [{ directories: [], files: [], symlinks: [{ name: te.encode('l'), target: new Uint8Array(0) }] }, /empty symlink target/],
      [{ directories: [], files: [], symlinks: [{ name: te.encode('l'), target: new Uint8Array(4096).fill(97) }] }, /longer than 4095/],
      [{ directories: [], files: [{ name: te.encode('a'), digest: new Uint8Array(31), size: 0, executable: false }], symlinks: [] }, /32 bytes/]
    ]
    for (const [dir, msg] of bad) {
      expect(() => validateDirectory(dir)).toThrow(CastoreValidationError)
      expect(() => validateDirectory(dir)).toThrow(msg)
    }
  })

  it('merges entries into NAR order', () => {
    const dir: Directory = {
      directories: [{ name: te.encode('b'), digest: EMPTY, size: 0 }],
      files: [{ name: te.encode('a'), digest: EMPTY, size: 0, executable: false }, { name: te.encode('c'), digest: EMPTY, size: 0, executable: true }],
      symlinks: [{ name: te.encode('B'), target: te.encode('x') }]
    }
    expect([...directoryEntries(dir)].map(e => Buffer.from(e.name).toString())).toEqual(['B', 'a', 'b', 'c'])
  })

  it('round-trips root entries and digest text forms', () => {
    const node = { type: 'file' as const, digest: blake3(te.encode('Hello World!')), size: 12, executable: true }
    expect(toHex(node.digest)).toBe('5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c')
    const { name, node: back } = decodeEntry(encodeEntry(te.encode('x'), node))
    expect(Buffer.from(name).toString()).toBe('x')
    expect(back).toEqual(node)
    expect(fromSnixString(toSnixString(node.digest))).toEqual(node.digest)
    expect(toHex(blake3(te.encode('Hello World')))).toBe('41f8394111eb713a22165c46c90ab8f0fd9399c92028fd6d288944b23ff5bf76')
  })

  it('property: random valid directories round-trip through the codec', () => {
    const name = fc.uint8Array({ minLength: 1, maxLength: 20 }).filter(n => !n.includes(0) && !n.includes(0x2f) && !(n.length === 1 && n[0] === 0x2e) && !(n.length === 2 && n[0] === 0x2e && n[1] === 0x2e))
    fc.assert(fc.property(fc.uniqueArray(name, { selector: n => Buffer.from(n).toString('hex'), maxLength: 12 }), fc.array(fc.nat(3), { maxLength: 12 }), (names, kinds) => {
      const sorted = [...names].sort((a, b) => Buffer.compare(a, b))
      const dir = emptyDirectory()
      sorted.forEach((n, i) => {
        const k = kinds[i] ?? 0
        if (k === 0) dir.files.push({ name: n, digest: blake3(n), size: i * 1000, executable: i % 2 === 0 })
        else if (k === 1) dir.directories.push({ name: n, digest: blake3(n), size: i * 3 })
        else dir.symlinks.push({ name: n, target: n })
      })
      const bytes = encodeDirectory(dir)
      expect(decodeDirectory(bytes)).toEqual(dir)
    }), { seed: 42, numRuns: 300 })
  })

  it('property: garbage never decodes to anything but a typed error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try { decodeDirectory(bytes) } catch (err) {
        expect(err instanceof CastoreDecodeError || err instanceof CastoreValidationError).toBe(true)
      }
    }), { seed: 7, numRuns: 2000 })
  })
})
