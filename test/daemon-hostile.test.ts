/**
 * Hostile input against whole-conversation parsing (server side and client
 * side, built on the Nix 2.8 captures): truncation at every offset, oversized
 * lengths, non-zero padding, bad magic and random corruption must only ever
 * produce ProtocolError (or a peer-reported DaemonError), and a hostile peer
 * cannot make the codec pull more than its limits allow.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import {
  DaemonError,
  FramedSource,
  OPS,
  Op,
  ProtocolError,
  WORKER_MAGIC_1,
  WireReader,
  WireWriter,
  clientHandshake,
  protocolVersion,
  readPathsWithNars,
  readReply,
  readRequest,
  readStderrLoop,
  serverHandshake,
  walkNar
} from '../src/daemon/index.ts'
import type { ByteSource, OpName } from '../src/daemon/index.ts'

const DIR = fixture('nix-worker-protocol', 'captures-nix-2.8.0')
const SEED = 0x5eed
const LIMITS = { maxStringLength: 64 * 1024, maxCollectionSize: 4096 }
const PAYLOAD_LIMIT = 1 << 20
const nullSink = { write (): void {} }

/** Server side: handshake, then every request with its payload. Returns the ops read. */
async function parseClientStream (source: ByteSource): Promise<OpName[]> {
  const r = new WireReader(source, LIMITS)
  const h = await serverHandshake(r, nullSink, { version: protocolVersion(1, 34) })
  const ops: OpName[] = []
  for (;;) {
    const req = await readRequest(r, h.version)
    if (req == null) return ops
    ops.push(req.op)
    const payload = OPS[req.op].argsPayload(h.version)
    if (payload === 'framed') {
      const framed = new FramedSource(r, { maxTotalLength: PAYLOAD_LIMIT })
      if (req.op === 'AddMultipleToStore') {
        const inner = new WireReader(framed, LIMITS)
        for await (const item of readPathsWithNars(inner)) {
          await walkNar(new WireReader(item.nar, LIMITS), { maxSize: item.info.narSize })
        }
      }
      await framed.drain()
    } else if (payload === 'nar') {
      await walkNar(r, { maxSize: PAYLOAD_LIMIT })
    } else if (payload === 'stderr-read') {
      return ops // needs a live peer
    }
  }
}

/** Client side: handshake, then the stderr loop and reply of each op. */
async function parseServerStream (source: ByteSource, ops: OpName[]): Promise<void> {
  const r = new WireReader(source, LIMITS)
  const h = await clientHandshake(r, nullSink, { version: protocolVersion(1, 34) })
  for (const op of ops) {
    const error = await readStderrLoop(r, h.version, { onMessage: () => {} })
    if (error != null) continue
    if (OPS[op].replyPayload === 'nar') await walkNar(r, { maxSize: PAYLOAD_LIMIT })
    else await readReply(r, op, h.version)
  }
}

const captures = readdirSync(DIR).filter((f) => f.endsWith('.c2s')).map((f) => f.slice(0, -4)).sort()
const streams = await Promise.all(captures.map(async (name) => {
  const c2s = new Uint8Array(readFileSync(`${DIR}/${name}.c2s`))
  const s2c = new Uint8Array(readFileSync(`${DIR}/${name}.s2c`))
  return { name, c2s, s2c, ops: await parseClientStream(c2s) }
}))

async function outcome (p: Promise<unknown>): Promise<unknown> {
  return await p.then(() => null, (e: unknown) => e)
}

function expectOnlyProtocolErrors (err: unknown, what: string): void {
  if (err == null) return
  if (err instanceof DaemonError) return
  expect(err, what).toBeInstanceOf(ProtocolError)
}

describe('captures truncated at every offset', () => {
  it('client → server streams: ERR_TRUNCATED, or a clean stop exactly between two requests', async () => {
    for (const { name, c2s, ops } of streams) {
      expect(ops.length).toBeGreaterThan(0)
      for (let cut = 0; cut < c2s.length; cut++) {
        const result = await parseClientStream(c2s.subarray(0, cut)).then((o) => o, (e: unknown) => e)
        if (Array.isArray(result)) {
          // EOF between requests is a normal end of connection
          expect(result.length, `${name} cut ${cut}`).toBeLessThan(ops.length)
          expect(ops.slice(0, result.length)).toEqual(result)
        } else {
          expect(result, `${name} cut ${cut}`).toBeInstanceOf(ProtocolError)
          expect((result as ProtocolError).code, `${name} cut ${cut}`).toBe('ERR_TRUNCATED')
        }
      }
    }
  })

  it('server → client streams: always ERR_TRUNCATED', async () => {
    for (const { name, s2c, ops } of streams) {
      await parseServerStream(s2c, ops)
      for (let cut = 0; cut < s2c.length; cut++) {
        const err = await outcome(parseServerStream(s2c.subarray(0, cut), ops))
        expect(err, `${name} cut ${cut}`).toBeInstanceOf(ProtocolError)
        expect((err as ProtocolError).code, `${name} cut ${cut}`).toBe('ERR_TRUNCATED')
      }
    }
  })
})

describe('targeted hostile values', () => {
  const hello = new WireWriter().writeU64(WORKER_MAGIC_1).writeU64(protocolVersion(1, 34)).writeU64(0).writeU64(0).take()
  const withHello = (...parts: Uint8Array[]): Uint8Array => {
    const w = new WireWriter().writeRaw(hello)
    for (const p of parts) w.writeRaw(p)
    return w.take()
  }

  it('2^63 string lengths, counts and frame lengths in requests are ERR_TOO_LARGE', async () => {
    const huge = 1n << 63n
    const inputs = [
      new WireWriter().writeU64(Op.IsValidPath).writeU64(huge).take(),
      new WireWriter().writeU64(Op.QueryValidPaths).writeU64(huge).take(),
      new WireWriter().writeU64(Op.SetOptions).writeU64(0).writeU64(0).writeU64(0).writeU64(0).writeU64(0).writeU64(0)
        .writeU64(0).writeU64(0).writeU64(0).writeU64(0).writeU64(0).writeU64(0).writeU64(huge).take(),
      new WireWriter().writeU64(Op.AddMultipleToStore).writeU64(0).writeU64(0).writeU64(huge).take(),
      new WireWriter().writeU64(Op.AddMultipleToStore).writeU64(0).writeU64(0).writeU64(8).writeU64(huge).writeU64(0).take(),
      new WireWriter().writeU64(Op.IsValidPath).writeU64(LIMITS.maxStringLength + 1).take(),
      new WireWriter().writeU64(huge).take()
    ]
    for (const input of inputs) {
      const err = await outcome(parseClientStream(withHello(input)))
      expect(err).toBeInstanceOf(ProtocolError)
      expect(['ERR_TOO_LARGE']).toContain((err as ProtocolError).code)
    }
  })

  it('non-zero padding in a request is ERR_BAD_PADDING; unknown ops ERR_UNKNOWN_OP; bad magic ERR_BAD_MAGIC', async () => {
    const req = new WireWriter().writeU64(Op.IsValidPath).writeString('/nix/store/avvy63mk3y5bjx9mv34pna61c0rkd1ml-top').take()
    const bad = req.slice()
    bad[bad.length - 1] = 1
    const e1 = await outcome(parseClientStream(withHello(bad)))
    expect((e1 as ProtocolError).code).toBe('ERR_BAD_PADDING')
    const e2 = await outcome(parseClientStream(withHello(new WireWriter().writeU64(999).take())))
    expect((e2 as ProtocolError).code).toBe('ERR_UNKNOWN_OP')
    for (const { c2s, s2c, ops } of streams.slice(0, 2)) {
      for (let i = 0; i < 8; i++) {
        const b1 = c2s.slice()
        b1[i] ^= 0x40
        expect(((await outcome(parseClientStream(b1))) as ProtocolError).code).toMatch(/ERR_BAD_MAGIC|ERR_TOO_LARGE/)
        const b2 = s2c.slice()
        b2[i] ^= 0x40
        expect(((await outcome(parseServerStream(b2, ops))) as ProtocolError).code).toMatch(/ERR_BAD_MAGIC|ERR_TOO_LARGE/)
      }
    }
  })
})

describe('random corruption (fast-check, seeded)', () => {
  const mutation = fc.record({
    which: fc.nat(streams.length - 1),
    edits: fc.array(fc.record({
      kind: fc.constantFrom('set', 'insert', 'delete', 'huge'),
      pos: fc.nat(),
      value: fc.integer({ min: 0, max: 255 })
    }), { minLength: 1, maxLength: 6 })
  })

  function mutate (bytes: Uint8Array, edits: Array<{ kind: string, pos: number, value: number }>): Uint8Array {
    let out = Array.from(bytes)
    for (const e of edits) {
      const p = out.length === 0 ? 0 : e.pos % out.length
      if (e.kind === 'set') out[p] = e.value
      else if (e.kind === 'insert') out.splice(p, 0, e.value)
      else if (e.kind === 'delete') out.splice(p, 1)
      else if (out.length >= 8) { const w = p - (p % 8); out = [...out.slice(0, w + 7), 0x7f, ...out.slice(w + 8)] }
    }
    return new Uint8Array(out)
  }

  /**
   * The mutated bytes followed by an endless stream of zeros: whatever lengths
   * the corruption produced, the parser must stop (error) having pulled no more
   * than the input plus its limits.
   */
  function endless (bytes: Uint8Array, counter: { pulled: number }): AsyncIterable<Uint8Array> {
    return (async function * () {
      counter.pulled += bytes.length
      yield bytes
      const zeros = new Uint8Array(65536)
      for (;;) {
        counter.pulled += zeros.length
        yield zeros
      }
    })()
  }

  const BOUND = 4 * PAYLOAD_LIMIT

  it('client → server streams', async () => {
    await fc.assert(fc.asyncProperty(mutation, async ({ which, edits }) => {
      const input = mutate(streams[which].c2s, edits)
      expectOnlyProtocolErrors(await outcome(parseClientStream(input)), 'finite input')
      const counter = { pulled: 0 }
      const err = await outcome(parseClientStream(endless(input, counter)))
      expectOnlyProtocolErrors(err, 'endless input')
      expect(counter.pulled).toBeLessThanOrEqual(input.length + BOUND)
    }), { seed: SEED, numRuns: 400 })
  })

  it('server → client streams', async () => {
    await fc.assert(fc.asyncProperty(mutation, async ({ which, edits }) => {
      const input = mutate(streams[which].s2c, edits)
      expectOnlyProtocolErrors(await outcome(parseServerStream(input, streams[which].ops)), 'finite input')
      const counter = { pulled: 0 }
      const err = await outcome(parseServerStream(endless(input, counter), streams[which].ops))
      expectOnlyProtocolErrors(err, 'endless input')
      expect(counter.pulled).toBeLessThanOrEqual(input.length + BOUND)
    }), { seed: SEED, numRuns: 400 })
  })

  it('completely random bytes after a valid handshake', async () => {
    const hello = streams[0].c2s.subarray(0, 32)
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (tail) => {
      const input = new WireWriter().writeRaw(hello).writeRaw(tail).take()
      expectOnlyProtocolErrors(await outcome(parseClientStream(input)), 'random requests')
    }), { seed: SEED, numRuns: 500 })
  })
})
