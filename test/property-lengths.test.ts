/**
 * Declared lengths and counts from outside (2^31−1 … 2^64−1) are refused by the decoder's length
 * check, not by an allocation failure: every case ends in the typed rejection naming the limit
 * (or the missing bytes), reads at most a bounded prefix of the stream, and leaves ArrayBuffer
 * memory where it was.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseNar, NarParseError } from '../src/nar/index.ts'
import { FramedSource, ProtocolError as DaemonProtocolError, WireReader, walkNar } from '../src/daemon/index.ts'
import { ByteReader, readFrame } from '../src/p2p/stream-io.ts'
import { decodeRequest, receiveBlob, receiveDirectories } from '../src/p2p/fetch-protocol.ts'
import { PeerMisbehavedError, ProtocolError as P2pProtocolError } from '../src/p2p/errors.ts'
import { decodeDirectory } from '../src/castore/directory.ts'
import { CastoreDecodeError } from '../src/castore/errors.ts'
import { leb128, u64le } from './fuzz/mutators.ts'

const HUGE: bigint[] = [(1n << 31n) - 1n, 1n << 32n, 1n << 40n, (1n << 53n) - 1n, 1n << 53n, (1n << 63n) - 1n, (1n << 64n) - 1n]
const run = { seed: 0x1e9, numRuns: 60 }
const utf8 = new TextEncoder()

function str (s: string): Uint8Array {
  const b = utf8.encode(s)
  return new Uint8Array(Buffer.concat([u64le(BigInt(b.length)), b, new Uint8Array((8 - b.length % 8) % 8)]))
}
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts))

/** A source yielding `prefix` then up to 64 MiB of zeros, counting what was pulled. */
function metered (prefix: Uint8Array): { source: AsyncIterable<Uint8Array>, pulled: () => number } {
  let pulled = 0
  const source = (async function * () {
    pulled += prefix.length
    yield prefix
    const zeros = new Uint8Array(65536)
    for (let i = 0; i < 1024; i++) { pulled += zeros.length; yield zeros }
  })()
  return { source, pulled: () => pulled }
}


/** Runs `f`, returns what it threw, and checks ArrayBuffer memory did not jump. */
async function rejection (f: () => Promise<unknown> | unknown): Promise<unknown> {
  const before = process.memoryUsage().arrayBuffers
  let thrown: unknown = null
  try { await f() } catch (err) { thrown = err }
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(96 * 1024 * 1024)
  return thrown
}

const NAR_PREFIXES: Record<string, Uint8Array> = {
  magic: new Uint8Array(0),
  tag: str('nix-archive-1'),
  'file contents': cat(str('nix-archive-1'), str('('), str('type'), str('regular'), str('contents')),
  'entry name': cat(str('nix-archive-1'), str('('), str('type'), str('directory'), str('entry'), str('('), str('name')),
  'symlink target': cat(str('nix-archive-1'), str('('), str('type'), str('symlink'), str('target'))
}

describe('huge declared lengths are refused by the length check', () => {
  it('NAR reader: magic, tag, contents, name and target lengths', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...Object.keys(NAR_PREFIXES)), fc.constantFrom(...HUGE), async (where, len) => {
      const m = metered(cat(NAR_PREFIXES[where], u64le(len)))
      const err = await rejection(async () => {
        for await (const ev of parseNar(m.source, { maxSize: 1 << 30 })) {
          if (ev.type === 'regular') for await (const _ of ev.contents) { /* drain */ }
        }
      })
      expect(err).toBeInstanceOf(NarParseError)
      expect((err as Error).message).toMatch(/exceeds|limit|expected|doesn't look like|too long|longer/)
      expect(m.pulled()).toBeLessThan(1 << 20)
    }), run)
  })

  it('worker protocol: string, byte string and collection lengths', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('string', 'bytes', 'strings', 'count'), fc.constantFrom(...HUGE), async (what, len) => {
      const m = metered(u64le(len))
      const r = new WireReader(m.source)
      const err = await rejection(async () => {
        if (what === 'string') await r.readString()
        else if (what === 'bytes') await r.readBytes()
        else if (what === 'strings') await r.readStrings()
        else await r.readCount()
      })
      expect(err).toBeInstanceOf(DaemonProtocolError)
      expect((err as DaemonProtocolError).code).toBe('ERR_TOO_LARGE')
      expect(m.pulled()).toBeLessThan(1 << 20)
    }), run)
  })

  it('worker protocol: framed streams and NARs stream a huge frame or file without buffering it', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...HUGE), fc.boolean(), async (len, nar) => {
      // the bytes end early: the reader must notice the truncation, having held no more than it got
      const prefix = nar
        ? cat(str('nix-archive-1'), str('('), str('type'), str('regular'), str('contents'), u64le(len), new Uint8Array(4096))
        : cat(u64le(len), new Uint8Array(4096))
      const err = await rejection(async () => {
        const r = new WireReader([prefix])
        if (nar) await walkNar(r)
        else await new FramedSource(r).drain()
      })
      expect(err).toBeInstanceOf(DaemonProtocolError)
      expect((err as DaemonProtocolError).code).toMatch(/ERR_TRUNCATED|ERR_TOO_LARGE/)
    }), run)
  })

  it('p2p frames: a huge varint length is refused before reading, a large allowed one is not pre-allocated', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...HUGE.filter(h => h < 1n << 53n)), async (len) => {
      const err = await rejection(async () => await readFrame(new ByteReader([leb128(len)]), 16 * 1024 * 1024))
      expect(err).toBeInstanceOf(P2pProtocolError)
      expect((err as Error).message).toMatch(/exceeds/)
    }), run)
    // 16 MiB announced, 10 bytes sent: a protocol error, and no 16 MiB buffer behind it
    const before = process.memoryUsage().arrayBuffers
    const err = await rejection(async () => await receiveDirectories([cat(leb128(16n * 1024n * 1024n), new Uint8Array(10))], new Uint8Array(32)))
    expect(err).toBeInstanceOf(P2pProtocolError)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024)
  })

  it('p2p blob response: a huge size prefix is refused or verified against the root, never allocated', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...HUGE), fc.boolean(), async (size, known) => {
      let delivered = 0
      const err = await rejection(async () => await receiveBlob([cat(u64le(size), new Uint8Array(4096).fill(7))], {
        digest: new Uint8Array(32).fill(3),
        ...(known ? { size: 1000 } : {}),
        onData: (item) => { delivered += item.data.length }
      }))
      expect(err).toBeInstanceOf(PeerMisbehavedError)
      expect(delivered).toBe(0)
    }), run)
  })

  it('p2p fetch request: a huge range-boundary count or boundary', async () => {
    const digest = new Uint8Array(32)
    await fc.assert(fc.property(fc.constantFrom(...HUGE.filter(h => h < 1n << 56n)), fc.boolean(), (n, asCount) => {
      const body = asCount ? leb128(n) : cat(leb128(2n), leb128(n), leb128(n))
      let err: unknown = null
      try { decodeRequest(cat(new Uint8Array([0]), digest, body)) } catch (e) { err = e }
      if (!asCount && n < 1n << 52n) {
        // two boundaries n, 2n (delta encoded) that fit in 2^53 are a valid request
        if (err !== null) expect(err).toBeInstanceOf(P2pProtocolError)
      } else {
        expect(err).toBeInstanceOf(P2pProtocolError)
      }
    }), run)
  })

  it('castore Directory: a huge field length is refused against the message size', () => {
    fc.assert(fc.property(fc.constantFrom(...HUGE.filter(h => h < 1n << 53n)), fc.constantFrom(0x0a, 0x12, 0x1a), (len, key) => {
      let err: unknown = null
      try { decodeDirectory(cat(new Uint8Array([key]), leb128(len), new Uint8Array(8))) } catch (e) { err = e }
      expect(err).toBeInstanceOf(CastoreDecodeError)
      expect((err as Error).message).toMatch(/runs past the end/)
    }), run)
  })
})
