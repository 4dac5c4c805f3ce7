/**
 * 16 KiB-group outboards from the fast path (kernel from loadKernel(), TreeHasher batching)
 * against a straightforward recursive oracle built from compress.ts chunkCV/parentCV; tree
 * geometry; PreOrderOutboard validation.
 */
import { describe, it, expect } from 'vitest'
import { hex, randomBytes, pieces, oracleOutboard, flip } from './blake3-helpers.ts'
import { TreeHasher, hashWithOutboard, Blake3Hasher } from '../src/blake3/hasher.ts'
import { loadKernel, pureTsKernel, defaultKernel } from '../src/blake3/kernel.ts'
import { subtreeCV } from '../src/blake3/subtree.ts'
import { PreOrderOutboard, bytesReader } from '../src/blake3/outboard.ts'
import {
  TreeGeometry, outboardSize, groupCount, chunkCount, parentsPreOrder, parentNode, nodeDepth, preOrderIndex, popcount
} from '../src/blake3/tree.ts'
import { Blake3OutboardError, Blake3SizeError, Blake3VerifyError, Blake3ArgumentError } from '../src/blake3/errors.ts'

const MiB = 1 << 20
const SMALL_SIZES = [0, 1, 1023, 1024, 1025, 16383, 16384, 16385, 32768, 49153]
const LARGE_SIZES = [MiB, 3 * MiB + 12345, 4 * MiB + 16384, 5 * MiB - 1, 17 * MiB + 1]

describe('outboards: fast path vs recursive oracle', async () => {
  const kernel = await loadKernel()

  it(`loadKernel() returns a working kernel (${kernel.name}) and caches it`, async () => {
    expect(await loadKernel()).toBe(kernel)
    expect(defaultKernel()).toBe(kernel)
    const data = randomBytes(5 * 16384, 9)
    const a = new Uint8Array(5 * 32)
    const b = new Uint8Array(5 * 32)
    kernel.groupCVs(data, 16 * 7, a)
    pureTsKernel.groupCVs(data, 16 * 7, b)
    expect(hex(a)).toBe(hex(b))
  })

  for (const size of [...SMALL_SIZES, ...LARGE_SIZES]) {
    it(`size ${size}: root and 16 KiB-group outboard equal the oracle`, () => {
      const data = randomBytes(size, size + 1)
      const oracle = oracleOutboard(data, 4)
      const { digest, outboard } = hashWithOutboard(data, { kernel })
      expect(outboard.length).toBe(outboardSize(size))
      expect(outboard.length).toBe((groupCount(size) - 1) * 64)
      expect(hex(digest)).toBe(hex(oracle.digest))
      expect(hex(outboard)).toBe(hex(oracle.outboard))
      // streaming with odd piece sizes and the unknown-length hasher agree
      const t = new TreeHasher({ size, kernel })
      const u = new Blake3Hasher({ kernel })
      for (const p of pieces(data, size, 70000)) { t.update(p); u.update(p) }
      expect(hex(t.finalize())).toBe(hex(oracle.digest))
      expect(hex(u.digest())).toBe(hex(oracle.digest))
    })
  }

  it('other group logs (0, 1, 3, 5, 6) against the oracle, pure-TS and fast kernels', () => {
    for (const size of [0, 1024, 5000, 16384 * 3 + 1, 200_000, 300_000]) {
      const data = randomBytes(size, 77 + size)
      for (const k of [0, 1, 3, 5, 6]) {
        const oracle = oracleOutboard(data, k)
        for (const kern of [pureTsKernel, kernel]) {
          const r = hashWithOutboard(data, { kernel: kern, groupLog: k })
          expect(hex(r.digest), `size ${size} k ${k}`).toBe(hex(oracle.digest))
          expect(hex(r.outboard), `size ${size} k ${k}`).toBe(hex(oracle.outboard))
        }
      }
    }
  })

  it('onParent is called exactly once per pair, at pre-order offsets covering the outboard', () => {
    const size = 37 * 16384 + 5
    const data = randomBytes(size, 3)
    const seen = new Map<number, string>()
    const t = new TreeHasher({
      size,
      kernel,
      onParent: (offset, pair) => {
        expect(seen.has(offset)).toBe(false)
        expect(pair.length).toBe(64)
        seen.set(offset, hex(pair))
      }
    })
    for (const p of pieces(data, 1, 40000)) t.update(p)
    t.finalize()
    const oracle = oracleOutboard(data, 4).outboard
    expect(seen.size).toBe(oracle.length / 64)
    for (const [offset, pair] of seen) expect(pair).toBe(hex(oracle.subarray(offset, offset + 64)))
  })

  it('unaligned input views and SharedArrayBuffer-backed input give the same result', () => {
    const size = 9 * 16384 + 100
    const data = randomBytes(size, 5)
    const expected = hex(hashWithOutboard(data, { kernel: pureTsKernel }).outboard)
    const shifted = new Uint8Array(size + 3)
    shifted.set(data, 3)
    for (const kern of [pureTsKernel, kernel]) {
      expect(hex(hashWithOutboard(shifted.subarray(3), { kernel: kern }).outboard)).toBe(expected)
      const shared = new Uint8Array(new SharedArrayBuffer(size))
      shared.set(data)
      expect(hex(hashWithOutboard(shared, { kernel: kern }).outboard)).toBe(expected)
    }
  })

  it('subtreeCV with kernel equals the oracle for group-aligned multi-group subtrees (batch > 64 groups)', () => {
    const data = randomBytes(128 * 16384, 11)
    const expected = oracleOutboard(data, 4).outboard.subarray(0, 64) // root pair = CVs of the two 64-group halves
    expect(hex(subtreeCV(data.subarray(0, 64 * 16384), 0, false, kernel))).toBe(hex(expected.subarray(0, 32)))
    expect(hex(subtreeCV(data.subarray(64 * 16384), 64 * 16, false, kernel))).toBe(hex(expected.subarray(32)))
    // 128 groups in one call (split into two kernel batches internally)
    const big = randomBytes(256 * 16384, 12)
    const pair = oracleOutboard(big, 4).outboard.subarray(0, 64)
    expect(hex(subtreeCV(big.subarray(0, 128 * 16384), 0, false, kernel))).toBe(hex(pair.subarray(0, 32)))
  })
})

describe('TreeHasher errors', () => {
  it('rejects more or fewer bytes than the declared size', () => {
    const t = new TreeHasher({ size: 10 })
    t.update(new Uint8Array(6))
    expect(() => t.update(new Uint8Array(5))).toThrow(Blake3SizeError)
    expect(() => t.finalize()).toThrow(Blake3SizeError)
    t.update(new Uint8Array(4))
    const d = t.finalize()
    expect(hex(t.finalize())).toBe(hex(d))
    expect(() => t.update(new Uint8Array(0))).toThrow(Blake3SizeError)
  })

  it('rejects invalid sizes and group logs', () => {
    for (const size of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => new TreeHasher({ size })).toThrow(Blake3SizeError)
    }
    for (const groupLog of [-1, 17, 2.5]) {
      expect(() => new TreeHasher({ size: 1, groupLog })).toThrow(Blake3ArgumentError)
    }
  })
})

describe('tree geometry', () => {
  it('counts, outboard sizes (1 MiB → 4032 bytes, ≤ 16 KiB → 0)', () => {
    expect(outboardSize(MiB)).toBe(4032)
    expect(outboardSize(16384)).toBe(0)
    expect(outboardSize(0)).toBe(0)
    expect(outboardSize(16385)).toBe(64)
    expect(outboardSize(2049, 0)).toBe(128)
    expect(chunkCount(0)).toBe(1)
    expect(chunkCount(1025)).toBe(2)
    expect(groupCount(2 ** 53 - 1)).toBe(2 ** 39)
    const g = new TreeGeometry(2 ** 50 + 1)
    expect(g.groups).toBe(2 ** 36 + 1)
    expect(g.groupLength(g.groups - 1)).toBe(1)
  })

  it('pre-order traversal indices equal preOrderIndex(start, depth) and nodeDepth', () => {
    for (let leaves = 1; leaves <= 70; leaves++) {
      let n = 0
      for (const p of parentsPreOrder(leaves)) {
        expect(p.index).toBe(n++)
        expect(preOrderIndex(p.start, p.depth)).toBe(p.index)
        expect(nodeDepth(p.start, p.end, leaves)).toBe(p.depth)
        expect(parentNode(p.start, p.end, leaves)).toEqual(p)
      }
      expect(n).toBe(Math.max(0, leaves - 1))
    }
    expect(nodeDepth(1, 3, 4)).toBe(-1)
    expect(() => parentNode(0, 1, 4)).toThrow(Blake3ArgumentError)
    expect(popcount(2 ** 52 + 2 ** 33 + 5)).toBe(4)
  })
})

describe('PreOrderOutboard', () => {
  const size = 20 * 16384 + 3
  const data = randomBytes(size, 21)
  const { digest, outboard } = hashWithOutboard(data)

  it('validates the outboard size and root length', async () => {
    expect(() => new PreOrderOutboard({ root: digest, size, outboard: outboard.subarray(64) })).toThrow(Blake3OutboardError)
    expect(() => new PreOrderOutboard({ root: digest, size: size + 16384, outboard })).toThrow(Blake3OutboardError)
    expect(() => new PreOrderOutboard({ root: digest, size, outboard: bytesReader(outboard), outboardLength: 64 })).toThrow(Blake3OutboardError)
    expect(() => new PreOrderOutboard({ root: digest.subarray(1), size, outboard })).toThrow(Blake3ArgumentError)
    const ob = new PreOrderOutboard({ root: digest, size, outboard: bytesReader(outboard), outboardLength: outboard.length })
    await ob.verify()
    expect(hex(await ob.loadPair(3))).toBe(hex(outboard.subarray(192, 256)))
    await expect(ob.loadPair(outboard.length / 64)).rejects.toThrow(Blake3ArgumentError)
  })

  it('verify() finds a corrupt pair and names it', async () => {
    for (let at = 0; at < outboard.length; at += 61) {
      const ob = new PreOrderOutboard({ root: digest, size, outboard: flip(outboard, at) })
      const err = await ob.verify().then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(Blake3VerifyError)
      expect((err as Blake3VerifyError).kind).toBe('parent')
    }
  })
})
