/**
 * ChunkRanges against a naive model (a boolean per chunk over a bounded universe, plus "open
 * tail" semantics), and the bao-tree truncation rule for ranges beyond the end of a blob.
 */
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { ChunkRanges, chunkRangesToByteRanges } from '../src/blake3/ranges.ts'
import type { Range } from '../src/blake3/ranges.ts'
import { Blake3ArgumentError } from '../src/blake3/errors.ts'

const U = 80 // model universe [0, U); open ranges extend beyond it

function model (ranges: Range[]): boolean[] {
  const m = new Array<boolean>(U + 1).fill(false)
  for (const [s, e] of ranges) for (let i = s; i < Math.min(e, U + 1); i++) m[i] = true
  return m
}

function asModel (r: ChunkRanges): boolean[] {
  const m = new Array<boolean>(U + 1).fill(false)
  for (let i = 0; i <= U; i++) m[i] = r.has(i)
  return m
}

const rangeArb = fc.tuple(fc.nat(U - 5), fc.oneof(fc.nat(20), fc.constant(Infinity))).map(([s, l]): Range => [s, s + l])
const rangesArb = fc.array(rangeArb, { maxLength: 6 })

describe('ChunkRanges', () => {
  it('normalises arbitrary ranges to sorted, disjoint, non-adjacent ones', () => {
    fc.assert(fc.property(rangesArb, (list) => {
      const r = ChunkRanges.fromRanges(list)
      const b = r.boundaries
      for (let i = 1; i < b.length; i++) expect(b[i]).toBeGreaterThan(b[i - 1])
      expect(asModel(r)).toEqual(model(list))
      expect(ChunkRanges.fromBoundaries(b).equals(r)).toBe(true)
      expect(ChunkRanges.fromRanges(r.toArray()).equals(r)).toBe(true)
    }), { numRuns: 300 })
  })

  it('union, intersection, difference, intersects, covers, superset agree with the model', () => {
    fc.assert(fc.property(rangesArb, rangesArb, fc.nat(U), fc.nat(12), (la, lb, s, len) => {
      const a = ChunkRanges.fromRanges(la)
      const b = ChunkRanges.fromRanges(lb)
      const ma = model(la)
      const mb = model(lb)
      expect(asModel(a.union(b))).toEqual(ma.map((x, i) => x || mb[i]))
      expect(asModel(a.intersection(b))).toEqual(ma.map((x, i) => x && mb[i]))
      expect(asModel(a.difference(b))).toEqual(ma.map((x, i) => x && !mb[i]))
      const e = Math.min(s + len, U)
      const slice = ma.slice(s, e)
      expect(a.intersects(s, e)).toBe(slice.some(Boolean))
      expect(a.covers(s, e)).toBe(slice.every(Boolean))
      expect(a.union(b).isSuperset(a)).toBe(true)
      expect(a.isSuperset(a.union(b))).toBe(a.union(b).equals(a))
    }), { numRuns: 300 })
  })

  it('truncate(size): the part before the last chunk, plus the last chunk if anything at or beyond it is requested', () => {
    fc.assert(fc.property(rangesArb, fc.nat(U * 1024), (list, size) => {
      const r = ChunkRanges.fromRanges(list)
      const chunks = Math.max(1, Math.ceil(size / 1024))
      const t = r.truncate(size)
      expect(t.isOpen()).toBe(false)
      for (let i = 0; i < chunks - 1; i++) expect(t.has(i)).toBe(r.has(i))
      const tail = r.intersects(chunks - 1, Infinity)
      expect(t.has(chunks - 1)).toBe(tail)
      expect(t.intersects(chunks, Infinity)).toBe(false)
    }), { numRuns: 300 })
  })

  it('bao-tree truncate_ranges examples (7 chunks)', () => {
    const size = 7 * 1024
    const t = (list: Range[]): string => ChunkRanges.fromRanges(list).truncate(size).toString()
    expect(t([[0, 6]])).toBe('[0..6]')
    expect(t([[0, 7]])).toBe('[0..7]')
    expect(t([[0, 10], [11, 12]])).toBe('[0..7]')
    expect(t([[0, 6], [7, 10]])).toBe('[0..7]')
    expect(t([[3, 6], [7, 10]])).toBe('[3..7]')
    expect(t([[0, 5], [7, 10]])).toBe('[0..5, 6..7]')
    expect(ChunkRanges.lastChunk().truncate(size).toString()).toBe('[6..7]')
    expect(ChunkRanges.all().truncate(0).toString()).toBe('[0..1]')
    expect(ChunkRanges.empty().truncate(size).isEmpty()).toBe(true)
  })

  it('byte ranges round up to chunks; groups round outward', () => {
    expect(ChunkRanges.fromByteRanges([[0, 1000], [5000, 6000]]).toArray()).toEqual([[0, 1], [4, 6]])
    expect(ChunkRanges.fromByteRanges([[1023, 1025]]).toArray()).toEqual([[0, 2]])
    expect(ChunkRanges.fromByteRanges([[2048, Infinity]]).toArray()).toEqual([[2, Infinity]])
    expect(ChunkRanges.fromByteRanges([[5, 5]]).isEmpty()).toBe(true)
    expect(ChunkRanges.fromRanges([[17, 18], [40, Infinity]]).roundUpToGroups(4).toArray()).toEqual([[16, Infinity]])
    expect(ChunkRanges.fromRanges([[17, 18], [70, 71]]).roundUpToGroups(4).toArray()).toEqual([[16, 32], [64, 80]])
    expect(chunkRangesToByteRanges(ChunkRanges.fromRanges([[1, 3], [9, Infinity]]), 9500)).toEqual([[1024, 3072], [9216, 9500]])
  })

  it('basic sets, counts, strings, and invalid input', () => {
    expect(ChunkRanges.all().isAll()).toBe(true)
    expect(ChunkRanges.from(3).isOpen()).toBe(true)
    expect(ChunkRanges.from(3, 3).isEmpty()).toBe(true)
    expect(ChunkRanges.fromRanges([[1, 3], [5, 6]]).count()).toBe(3)
    expect(ChunkRanges.from(2).count()).toBe(Infinity)
    expect(ChunkRanges.fromRanges([[1, 3], [5, Infinity]]).toString()).toBe('[1..3, 5..]')
    expect([...ChunkRanges.fromRanges([[1, 3]])]).toEqual([[1, 3]])
    expect(() => ChunkRanges.fromBoundaries([3, 3])).toThrow(Blake3ArgumentError)
    expect(() => ChunkRanges.fromBoundaries([-1])).toThrow(Blake3ArgumentError)
    expect(() => ChunkRanges.fromBoundaries([1.5])).toThrow(Blake3ArgumentError)
    expect(() => ChunkRanges.from(2 ** 53)).toThrow(Blake3ArgumentError)
  })
})
