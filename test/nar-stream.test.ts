/**
 * Streaming behaviour of the reader and writer: skipping, views, usage errors,
 * cleanup, abort, writer validation, coalescing and pass-through, size formula.
 */
import { describe, expect, it } from 'vitest'
import { bytes, chunked, collect, concat, drain, rejection, sourceNode, str, tokens } from './nar-helpers.ts'
import type { MemNode } from './nar-helpers.ts'
import {
  NarParseError,
  NarUsageError,
  NarWriteError,
  narSize,
  narSizeOfArchive,
  narSizeOfDirectory,
  narSizeOfEntry,
  narSizeOfRegular,
  narSizeOfSymlink,
  parseNar,
  writeNar
} from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'

const file = (s: string | Uint8Array, executable = false): MemNode =>
  ({ type: 'regular', executable, contents: typeof s === 'string' ? bytes(s) : s })
const dirOf = (...entries: Array<[string, MemNode]>): MemNode =>
  ({ type: 'directory', entries: entries.map(([n, c]) => [bytes(n), c]) })

async function nar (tree: MemNode): Promise<Uint8Array> {
  return await collect(writeNar(sourceNode(tree)))
}

describe('NAR reader streaming', () => {
  const tree = dirOf(['a', file('A'.repeat(10_000))], ['b', file('bbb', true)], ['c', { type: 'symlink', target: bytes('a') }])

  it('skips contents the consumer does not read, in part or at all', async () => {
    const data = await nar(tree)
    for (const size of [1, 100, 3000, data.length]) {
      const seen: string[] = []
      for await (const ev of parseNar(chunked(data, size))) {
        if (ev.type === 'regular' && ev.path[0][0] === 0x61) {
          // read a bit of a's contents, then move on
          for await (const piece of ev.contents) {
            seen.push(`a:${piece[0]}`)
            break
          }
        } else if (ev.type === 'regular') {
          seen.push(`b:${Buffer.from(await collect(ev.contents)).toString()}:${ev.executable}`)
        } else if (ev.type === 'symlink') {
          seen.push(`c->${Buffer.from(ev.target).toString()}`)
        }
      }
      expect(seen).toEqual(['a:65', 'b:bbb:true', 'c->a'])
    }
  })

  it('hands out views of the incoming pieces, not copies', async () => {
    const data = await nar(file('x'.repeat(5000)))
    for await (const ev of parseNar(chunked(data))) {
      if (ev.type !== 'regular') continue
      for await (const piece of ev.contents) {
        expect(piece.buffer).toBe(data.buffer)
        expect(piece.byteOffset).toBe(ev.offset)
        expect(piece.length).toBe(5000)
      }
    }
  })

  it('contents read after moving on, or twice, is a NarUsageError', async () => {
    const data = await nar(dirOf(['a', file('1')], ['b', file('2')]))
    const it = parseNar(chunked(data))
    await it.next() // directory
    const first = (await it.next()).value
    if (first?.type !== 'regular') throw new Error('expected a file')
    const iter = first.contents[Symbol.asyncIterator]()
    expect(() => first.contents[Symbol.asyncIterator]()).toThrow(NarUsageError)
    await it.next() // b: a's contents are skipped now
    await expect(iter.next()).rejects.toThrow(NarUsageError)
    await it.return(undefined)
  })

  it('stopping early closes the source', async () => {
    let closed = false
    const data = await nar(tree)
    const source = (async function * () {
      try {
        yield * chunked(data, 16)
      } finally {
        closed = true
      }
    })()
    for await (const ev of parseNar(source)) {
      if (ev.type === 'regular') break
    }
    expect(closed).toBe(true)
  })

  it('source errors, aborts and non-bytes propagate as themselves', async () => {
    const data = await nar(tree)
    const boom = new Error('network down')
    const failing = (async function * () {
      yield data.subarray(0, 100)
      throw boom
    })()
    expect(await rejection(async () => await drain(failing))).toBe(boom)

    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(drain(chunked(data, 10), { signal: controller.signal })).rejects.toThrow('stop')

    const notBytes = (async function * () { yield 'nix-archive-1' as unknown as Uint8Array })()
    await expect(drain(notBytes)).rejects.toThrow(TypeError)
  })

  it('a truncated file is reported by the contents iterator too', async () => {
    const data = await nar(file('0123456789'))
    const cut = data.subarray(0, 100)
    for await (const ev of parseNar(chunked(cut, 97))) {
      if (ev.type !== 'regular') continue
      const err = await rejection(async () => await collect(ev.contents))
      expect(err).toBeInstanceOf(NarParseError)
      expect(err.message).toMatch(/truncated/)
      break
    }
  })

  it('empty pieces in the source are fine', async () => {
    const data = await nar(tree)
    const withEmpties = (async function * () {
      for (let i = 0; i < data.length; i += 9) {
        yield new Uint8Array(0)
        yield data.subarray(i, i + 9)
      }
      yield new Uint8Array(0)
    })()
    expect(await drain(withEmpties)).toBe(5)
  })
})

describe('NAR writer', () => {
  async function writeError (root: NarSourceNode): Promise<NarWriteError> {
    const err = await rejection(async () => await collect(writeNar(root)))
    expect(err).toBeInstanceOf(NarWriteError)
    return err as NarWriteError
  }

  it('checks that contents have exactly `size` bytes', async () => {
    const short: NarSourceNode = { type: 'regular', executable: false, size: 4, contents: () => chunked(bytes('abc')) }
    expect((await writeError(short)).message).toMatch(/file '<root>' has 3 bytes but its declared size is 4/)
    const long: NarSourceNode = { type: 'regular', executable: false, size: 2, contents: () => chunked(bytes('abc')) }
    expect((await writeError(long)).message).toMatch(/more than its declared size of 2/)
    const bad: NarSourceNode = { type: 'regular', executable: false, size: -1, contents: () => chunked(bytes('')) }
    expect((await writeError(bad)).message).toMatch(/invalid size -1/)
  })

  it.each([
    ['unsorted', ['b', 'a'], /not in strictly ascending byte order: 'a' after 'b'/],
    ['duplicate', ['a', 'a'], /'a' after 'a'/],
    ['JS string order is not byte order', ['\uffff', '\u{10000}'].reverse(), /after/],
    ['empty name', [''], /invalid entry name '' \(empty\)/],
    ['dot', ['.'], /invalid entry name '\.'/],
    ['dotdot', ['..'], /invalid entry name '\.\.'/],
    ['slash', ['a/b'], /contains '\/'/],
    ['NUL', ['a\0'], /contains NUL/],
    ['256-byte name', ['n'.repeat(256)], /longer than 255 bytes/]
  ])('rejects directory entries: %s', async (_label, names, reason) => {
    const root: NarSourceNode = {
      type: 'directory',
      entries: async function * () {
        for (const n of names) yield { name: bytes(n), node: sourceNode(file('')) }
      }
    }
    expect((await writeError(root)).message).toMatch(reason)
  })

  it.each([
    ['empty', '', /invalid target \(empty\)/],
    ['NUL', 'a\0b', /contains NUL/],
    ['4096 bytes', 't'.repeat(4096), /longer than 4095 bytes/]
  ])('rejects symlink targets: %s', async (_label, target, reason) => {
    expect((await writeError({ type: 'symlink', target: bytes(target) })).message).toMatch(reason)
  })

  it('rejects unknown node types and trees deeper than the reader accepts', async () => {
    expect((await writeError({ type: 'fifo' } as unknown as NarSourceNode)).message).toMatch(/unknown type 'fifo'/)
    let deep: MemNode = file('x')
    for (let i = 0; i < 1025; i++) deep = dirOf(['d', deep])
    expect((await writeError(sourceNode(deep))).message).toMatch(/deeper than 1024/)
    let ok: MemNode = file('x')
    for (let i = 0; i < 1024; i++) ok = dirOf(['d', ok])
    const data = await nar(ok)
    expect(data.length).toBe(await narSize(sourceNode(ok)))
    expect(await drain(chunked(data, 4096))).toBe(2049)
  })

  it('coalesces small tokens and contents into 64 KiB pieces', async () => {
    const entries: Array<[string, MemNode]> = []
    for (let i = 0; i < 5000; i++) entries.push([`f${String(i).padStart(5, '0')}`, file(`file number ${i}`, i % 3 === 0)])
    const pieces: Uint8Array[] = []
    for await (const piece of writeNar(sourceNode(dirOf(...entries), 3))) pieces.push(piece)
    const total = pieces.reduce((n, p) => n + p.length, 0)
    expect(total).toBe(await narSize(sourceNode(dirOf(...entries))))
    expect(pieces.length).toBe(Math.ceil(total / 65536))
    for (const p of pieces.slice(0, -1)) expect(p.length).toBe(65536)
  })

  it('passes large contents through without copying', async () => {
    const big = new Uint8Array(1 << 20).fill(7)
    const halves = [big.subarray(0, 1 << 19), big.subarray(1 << 19)]
    const root: NarSourceNode = {
      type: 'directory',
      entries: async function * () {
        yield { name: bytes('big'), node: { type: 'regular', executable: false, size: big.length, contents: async function * () { yield * halves } } }
        yield { name: bytes('small'), node: sourceNode(file('s')) }
      }
    }
    const pieces: Uint8Array[] = []
    for await (const piece of writeNar(root)) pieces.push(piece)
    expect(pieces).toContain(halves[0])
    expect(pieces).toContain(halves[1])
    expect(pieces.length).toBe(4) // framing before, two halves, framing after
    expect(Buffer.compare(concat(pieces), await nar(dirOf(['big', file(big)], ['small', file('s')])))).toBe(0)
  })

  it('closes directory iterators when the consumer stops early', async () => {
    let closed = 0
    const dir = (depth: number): NarSourceNode => ({
      type: 'directory',
      entries: async function * () {
        try {
          yield { name: bytes('x'), node: depth === 0 ? { type: 'regular', executable: false, size: 1 << 20, contents: async function * () { yield new Uint8Array(1 << 20) } } : dir(depth - 1) }
        } finally {
          closed++
        }
      }
    })
    for await (const piece of writeNar(dir(3))) {
      if (piece.length === 1 << 20) break
    }
    expect(closed).toBe(4)
  })

  it('honours abort signals', async () => {
    const controller = new AbortController()
    const pieces = writeNar(sourceNode(dirOf(['a', file('a')])), { signal: controller.signal })
    controller.abort(new Error('cancelled'))
    await expect(collect(pieces)).rejects.toThrow('cancelled')
  })

  it('writes the grammar exactly (executable before contents, empty marker, zero padding)', async () => {
    expect(Buffer.compare(await nar(file('hi', true)), concat([
      tokens('nix-archive-1', '(', 'type', 'regular', 'executable', '', 'contents', 'hi', ')')
    ]))).toBe(0)
    expect(Buffer.compare(await nar(dirOf(['B', { type: 'symlink', target: bytes('../x') }], ['a', dirOf()])), concat([
      tokens('nix-archive-1', '(', 'type', 'directory'),
      tokens('entry', '(', 'name', 'B', 'node', '(', 'type', 'symlink', 'target', '../x', ')', ')'),
      tokens('entry', '(', 'name', 'a', 'node', '(', 'type', 'directory', ')', ')'),
      str(')')
    ]))).toBe(0)
  })
})

describe('NAR size formula', () => {
  it('matches the spec examples', () => {
    expect(narSizeOfArchive(narSizeOfRegular(12, false))).toBe(128) // tvix helloworld.nar
    expect(narSizeOfArchive(narSizeOfSymlink(bytes('/nix/store/somewhereelse')))).toBe(136)
    expect(narSizeOfArchive(narSizeOfDirectory())).toBe(96) // empty-dir.nar
    expect(narSizeOfRegular(0, true)).toBe(88 + 32)
    expect(narSizeOfEntry(3, narSizeOfRegular(1, false))).toBe(88 + 8 + 96)
    expect(() => narSizeOfRegular(Number.MAX_SAFE_INTEGER, false)).toThrow(NarWriteError)
  })

  it('never reads file contents', async () => {
    const root: NarSourceNode = {
      type: 'directory',
      entries: async function * () {
        yield {
          name: bytes('huge'),
          node: { type: 'regular', executable: true, size: 2 ** 40, contents: () => { throw new Error('read') } }
        }
      }
    }
    expect(await narSize(root)).toBe(24 + 72 + 88 + 8 + 88 + 32 + 2 ** 40)
  })
})
