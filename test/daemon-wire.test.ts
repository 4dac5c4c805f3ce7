/**
 * Wire primitives, framed streams and the NAR walker of the daemon codec.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import {
  FramedSink,
  FramedSource,
  ProtocolError,
  WireReader,
  WireWriter,
  compareBytewise,
  concatBytes,
  walkNar,
  writeFramed
} from '../src/daemon/index.ts'
import type { ByteSink } from '../src/daemon/index.ts'

const SEED = 0x5eed

/** Splits into chunks of the given sizes (cycled). */
function split (bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let i = 0
  let k = 0
  while (i < bytes.length) {
    const n = Math.max(1, sizes[k++ % sizes.length])
    out.push(bytes.subarray(i, i + n))
    i += n
  }
  return out
}

function asyncSource (chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  return (async function * () { yield * chunks })()
}

async function expectProtocolError (p: Promise<unknown>, code?: string): Promise<ProtocolError> {
  const err = await p.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(ProtocolError)
  if (code != null) expect((err as ProtocolError).code).toBe(code)
  return err as ProtocolError
}

class CollectSink implements ByteSink {
  chunks: Uint8Array[] = []
  write (chunk: Uint8Array): void { this.chunks.push(chunk.slice()) }
  bytes (): Uint8Array { return concatBytes(this.chunks) }
}

describe('WireWriter / WireReader primitives', () => {
  it('encodes u64 little-endian and reads it back as BigInt across chunk boundaries', async () => {
    const w = new WireWriter()
    w.writeU64(0x0102030405060708n).writeU64(2 ** 53 - 1).writeU64((1n << 64n) - 1n)
    const bytes = w.take()
    expect(Buffer.from(bytes.subarray(0, 8)).toString('hex')).toBe('0807060504030201')
    const r = new WireReader(asyncSource(split(bytes, [3, 5, 1])))
    expect(await r.readU64()).toBe(0x0102030405060708n)
    expect(await r.readNumber()).toBe(2 ** 53 - 1)
    expect(await r.readU64()).toBe((1n << 64n) - 1n)
    expect(await r.atEnd()).toBe(true)
  })

  it('u64 round-trips every value (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }), async (v, sizes) => {
      const bytes = new WireWriter().writeU64(v).take()
      const r = new WireReader(asyncSource(split(bytes, sizes)))
      expect(await r.readU64()).toBe(v)
    }), { seed: SEED, numRuns: 200 })
  })

  it('readNumber rejects values above 2^53 − 1 and above an explicit max', async () => {
    await expectProtocolError(new WireReader(new WireWriter().writeU64(2n ** 53n).take()).readNumber(), 'ERR_TOO_LARGE')
    await expectProtocolError(new WireReader(new WireWriter().writeU64(2n ** 63n).take()).readNumber(), 'ERR_TOO_LARGE')
    await expectProtocolError(new WireReader(new WireWriter().writeU64(256).take()).readNumber('tag', 255), 'ERR_TOO_LARGE')
    expect(await new WireReader(new WireWriter().writeU64(255).take()).readNumber('tag', 255)).toBe(255)
  })

  it('writeU64 refuses values that are not u64', () => {
    expect(() => new WireWriter().writeU64(-1)).toThrow(ProtocolError)
    expect(() => new WireWriter().writeU64(1.5)).toThrow(ProtocolError)
    expect(() => new WireWriter().writeU64(2 ** 53)).toThrow(ProtocolError)
    expect(() => new WireWriter().writeU64(1n << 64n)).toThrow(ProtocolError)
  })

  it('bools: non-zero reads as true, written as 0/1', async () => {
    const r = new WireReader(new WireWriter().writeU64(0).writeU64(7).writeU64(1n << 63n).take())
    expect([await r.readBool(), await r.readBool(), await r.readBool()]).toEqual([false, true, true])
    expect(Buffer.from(new WireWriter().writeBool(true).take()).toString('hex')).toBe('0100000000000000')
  })

  it('strings: length, bytes, zero padding to 8 (fast-check round trip)', async () => {
    const w = new WireWriter().writeString('hi')
    expect(Buffer.from(w.take()).toString('hex')).toBe('0200000000000000' + '6869000000000000')
    await fc.assert(fc.asyncProperty(fc.array(fc.string({ unit: 'grapheme', maxLength: 40 }), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1 }), async (list, sizes) => {
      const bytes = new WireWriter().writeStrings(list).take()
      expect(bytes.length % 8).toBe(0)
      const r = new WireReader(asyncSource(split(bytes, sizes)))
      expect(await r.readStrings()).toEqual(list)
      expect(await r.atEnd()).toBe(true)
    }), { seed: SEED, numRuns: 200 })
  })

  it('bytes are exact (non-UTF-8 preserved by readBytes)', async () => {
    const raw = new Uint8Array([0xff, 0xfe, 0, 1, 2, 0x80, 0xc0, 0xe2, 0x82])
    const r = new WireReader(new WireWriter().writeBytes(raw).take())
    expect(await r.readBytes()).toEqual(raw)
  })

  it('non-zero padding is rejected', async () => {
    const bytes = new WireWriter().writeString('abc').take()
    for (let i = 8 + 3; i < 16; i++) {
      const bad = bytes.slice()
      bad[i] = 1
      await expectProtocolError(new WireReader(bad).readString(), 'ERR_BAD_PADDING')
      await expectProtocolError(new WireReader(bad).readBytes(), 'ERR_BAD_PADDING')
    }
  })

  it('sets are written sorted bytewise without duplicates', async () => {
    const items = ['b', 'a', 'é', 'z', 'a', '\u{1F600}', '\uFFFD', '']
    const r = new WireReader(new WireWriter().writeStringSet(items).take())
    const got = await r.readStrings()
    expect(got).toEqual(['', 'a', 'b', 'z', 'é', '\uFFFD', '\u{1F600}'])
    const sortedByBytes = [...new Set(items)].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    expect(got).toEqual(sortedByBytes)
    await fc.assert(fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      expect(Math.sign(compareBytewise(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))))
    }), { seed: SEED, numRuns: 300 })
  })

  it('lengths and counts are checked before any allocation or read', async () => {
    let pulled = 0
    const source = (async function * () {
      const head = new WireWriter().writeU64(1 << 30).take()
      pulled += head.length
      yield head
      for (;;) {
        pulled += 65536
        yield new Uint8Array(65536)
      }
    })()
    const r = new WireReader(source, { maxStringLength: 1024 })
    await expectProtocolError(r.readString(), 'ERR_TOO_LARGE')
    expect(pulled).toBe(8)

    const r2 = new WireReader(new WireWriter().writeU64(1n << 62n).take())
    await expectProtocolError(r2.readStrings(), 'ERR_TOO_LARGE')
    const r3 = new WireReader(new WireWriter().writeU64(5000).take(), { maxCollectionSize: 4096 })
    await expectProtocolError(r3.readStrings(), 'ERR_TOO_LARGE')
  })

  it('truncation anywhere is ERR_TRUNCATED', async () => {
    const bytes = new WireWriter().writeU64(7).writeString('hello world').writeStrings(['a', 'bb']).take()
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = new WireReader(asyncSource(split(bytes.subarray(0, cut), [5])))
      await expectProtocolError((async () => {
        await r.readU64()
        await r.readString()
        await r.readStrings()
      })(), 'ERR_TRUNCATED')
    }
  })

  it('streams large payloads in bounded pieces (readStream)', async () => {
    const data = new Uint8Array(300_000).map((_, i) => i & 0xff)
    const r = new WireReader(asyncSource(split(data, [100_000, 7, 200_000])))
    let total = 0
    let max = 0
    for await (const piece of r.readStream(data.length, 4096)) {
      expect(Buffer.from(piece).equals(data.subarray(total, total + piece.length))).toBe(true)
      total += piece.length
      max = Math.max(max, piece.length)
    }
    expect(total).toBe(data.length)
    expect(max).toBeLessThanOrEqual(4096)
  })

  it('reads honour AbortSignal and resume cleanly afterwards', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const source = (async function * () {
      yield new Uint8Array([1, 0, 0])
      await gate
      yield new Uint8Array([0, 0, 0, 0, 0])
    })()
    const r = new WireReader(source)
    const ac = new AbortController()
    const p = r.readU64('word', { signal: ac.signal })
    setTimeout(() => { ac.abort(new Error('stop')) }, 5)
    await expect(p).rejects.toThrow('stop')
    release()
    expect(await r.readU64()).toBe(1n)
    await expect(r.readU64('x', { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already')
  })

  it('a writer flushes to a sink, waiting for drain on Writable-like sinks', async () => {
    const sink = new CollectSink()
    const w = new WireWriter().writeString('x'.repeat(20_000)).writeU64(3)
    expect(w.length).toBe(8 + 20_000 + 8)
    await w.flush(sink)
    expect(w.length).toBe(0)
    const r = new WireReader(sink.bytes())
    expect((await r.readString()).length).toBe(20_000)
    expect(await r.readU64()).toBe(3n)

    const { PassThrough } = await import('node:stream')
    const pt = new PassThrough({ highWaterMark: 16 })
    const collected: Buffer[] = []
    pt.on('data', (c: Buffer) => { collected.push(c) })
    await new WireWriter().writeRaw(new Uint8Array(100_000).fill(9)).flush(pt)
    expect(Buffer.concat(collected).length).toBe(100_000)
  })
})

describe('framed streams', () => {
  it('FramedSink and writeFramed produce the same frames; FramedSource reads them back', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 700 }), fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1 }),
      async (data, frameSize, writeSizes) => {
        const sink = new CollectSink()
        const fs = new FramedSink(sink, { frameSize })
        for (const piece of split(data, writeSizes)) await fs.write(piece)
        await fs.end()
        const w = new WireWriter()
        writeFramed(w, data, frameSize)
        const bytes = sink.bytes()
        expect(Buffer.from(bytes).equals(Buffer.from(w.take()))).toBe(true)

        const r = new WireReader(asyncSource(split(concatBytes([bytes, new Uint8Array([42])]), [13])))
        const src = new FramedSource(r, { chunkSize: 100 })
        const got: Uint8Array[] = []
        for await (const c of src) {
          expect(c.length).toBeLessThanOrEqual(100)
          got.push(c.slice())
        }
        expect(concatBytes(got)).toEqual(data)
        expect(src.done).toBe(true)
        expect(src.totalLength).toBe(data.length)
        expect(src.frameCount).toBe(Math.ceil(data.length / frameSize))
        expect((await r.readExact(1))[0]).toBe(42)
      }), { seed: SEED, numRuns: 60 })
  })

  it('framed payload can be parsed by a nested reader, then drained to the terminator', async () => {
    const inner = new WireWriter().writeU64(2).writeString('first').writeString('second').writeString('ignored tail').take()
    const w = new WireWriter()
    writeFramed(w, inner, 7)
    w.writeU64(99) // next op
    const r = new WireReader(w.take())
    const framed = new FramedSource(r)
    const nested = new WireReader(framed)
    expect(await nested.readU64()).toBe(2n)
    expect(await nested.readString()).toBe('first')
    await framed.drain()
    expect(framed.done).toBe(true)
    expect(await r.readU64()).toBe(99n)
  })

  it('frame lengths are never allocated: a 2^40 frame streams; 2^63 is rejected; limits apply', async () => {
    let pulled = 0
    const source = (async function * () {
      yield new WireWriter().writeU64(2 ** 40).take()
      for (;;) {
        pulled += 65536
        yield new Uint8Array(65536)
      }
    })()
    const framed = new FramedSource(new WireReader(source), { chunkSize: 8192 })
    let got = 0
    for await (const c of framed) {
      expect(c.length).toBeLessThanOrEqual(8192)
      got += c.length
      if (got >= 1 << 20) break
    }
    expect(pulled).toBeLessThanOrEqual((1 << 20) + 65536)

    await expectProtocolError(new FramedSource(new WireReader(new WireWriter().writeU64(1n << 63n).take())).next(), 'ERR_TOO_LARGE')
    const big = new WireWriter()
    writeFramed(big, new Uint8Array(100), 10)
    await expectProtocolError(new FramedSource(new WireReader(big.take()), { maxTotalLength: 50 }).readAll(1000), 'ERR_TOO_LARGE')
    const one = new WireWriter()
    writeFramed(one, new Uint8Array(100), 100)
    await expectProtocolError(new FramedSource(new WireReader(one.take()), { maxFrameLength: 64 }).drain(), 'ERR_TOO_LARGE')
  })

  it('a truncated framed stream is ERR_TRUNCATED at every cut', async () => {
    const w = new WireWriter()
    writeFramed(w, new Uint8Array(50).fill(1), 16)
    const bytes = w.take()
    for (let cut = 0; cut < bytes.length; cut++) {
      await expectProtocolError(new FramedSource(new WireReader(bytes.subarray(0, cut))).drain(), 'ERR_TRUNCATED')
    }
  })
})

describe('NAR walker', () => {
  const manifest = JSON.parse(readFileSync(fixture('nar', 'manifest.json'), 'utf8')) as Array<{
    file: string
    size: number
    nix_2_8_restore_ok: boolean
    roundtrip_identical_nix_2_8: boolean | null
  }>

  it('accepts exactly the canonical NAR fixtures and passes their bytes through', async () => {
    expect(manifest.length).toBeGreaterThan(30)
    for (const entry of manifest) {
      const bytes = new Uint8Array(readFileSync(fixture('nar', entry.file)))
      const valid = entry.nix_2_8_restore_ok && entry.roundtrip_identical_nix_2_8 === true
      const r = new WireReader(asyncSource(split(bytes, [4096, 13])))
      const out = new CollectSink()
      const result = await walkNar(r, { onData: (c) => { out.write(c) } })
        .then(async (size) => ({ size, rest: await r.atEnd() }), (e: unknown) => e)
      if (valid) {
        expect(result, entry.file).toEqual({ size: bytes.length, rest: true })
        expect(Buffer.from(out.bytes()).equals(Buffer.from(bytes)), entry.file).toBe(true)
      } else if (result instanceof Error) {
        expect(result, entry.file).toBeInstanceOf(ProtocolError)
      } else {
        // structurally fine but not canonical: trailing data after the NAR
        expect((result as { rest: boolean }).rest, entry.file).toBe(false)
      }
    }
  })

  it('truncated NARs are ERR_TRUNCATED at every cut; limits on size and depth', async () => {
    const bytes = new Uint8Array(readFileSync(fixture('nar', 'tvix', 'complicated.nar')))
    for (let cut = 0; cut < bytes.length; cut++) {
      await expectProtocolError(walkNar(new WireReader(bytes.subarray(0, cut))), 'ERR_TRUNCATED')
    }
    await expectProtocolError(walkNar(new WireReader(bytes), { maxSize: 100 }), 'ERR_TOO_LARGE')
    await expectProtocolError(walkNar(new WireReader(new WireWriter().writeString('nix-archive-2').take())), 'ERR_BAD_MAGIC')

    const d = new WireWriter().writeString('nix-archive-1')
    for (let i = 0; i < 300; i++) for (const t of ['(', 'type', 'directory', 'entry', '(', 'name', 'd', 'node']) d.writeString(t)
    await expectProtocolError(walkNar(new WireReader(d.take())), 'ERR_TOO_LARGE')

    const huge = new WireWriter()
    for (const t of ['nix-archive-1', '(', 'type', 'regular', 'contents']) huge.writeString(t)
    huge.writeU64(1n << 63n)
    await expectProtocolError(walkNar(new WireReader(huge.take())), 'ERR_TOO_LARGE')
  })
})
