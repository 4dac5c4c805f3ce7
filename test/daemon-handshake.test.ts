/**
 * Client and server handshakes (§1.2, §1.3) against each other and against
 * hand-built byte streams.
 */
import { createServer, connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import {
  DaemonError,
  GUIX_PROTOCOL_VERSION,
  MAX_WORKER_VERSION,
  Op,
  ProtocolError,
  STDERR_LAST,
  WORKER_MAGIC_1,
  WORKER_MAGIC_2,
  WireReader,
  WireWriter,
  clientHandshake,
  concatBytes,
  protocolVersion,
  readRequest,
  serverHandshake,
  writeStderrMessage
} from '../src/daemon/index.ts'
import type { ByteSink } from '../src/daemon/index.ts'

/** One direction of an in-memory connection: a sink on one end, a source on the other. */
class Pipe implements ByteSink, AsyncIterable<Uint8Array> {
  private readonly queue: Uint8Array[] = []
  private waiter: (() => void) | null = null
  private closed = false
  written: Uint8Array[] = []

  write (chunk: Uint8Array): void {
    const copy = chunk.slice()
    this.written.push(copy)
    this.queue.push(copy)
    this.waiter?.()
  }

  end (): void {
    this.closed = true
    this.waiter?.()
  }

  bytes (): Uint8Array { return concatBytes(this.written) }

  async * [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    for (;;) {
      const next = this.queue.shift()
      if (next != null) {
        yield next
        continue
      }
      if (this.closed) return
      await new Promise<void>((resolve) => { this.waiter = resolve })
      this.waiter = null
    }
  }
}

function connection (): { c2s: Pipe, s2c: Pipe } {
  return { c2s: new Pipe(), s2c: new Pipe() }
}

const W = (minor: number): number => protocolVersion(1, minor)

async function expectProtocolError (p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(ProtocolError)
  expect((err as ProtocolError).code).toBe(code)
}

describe('handshake: client ↔ server', () => {
  it('negotiates min(client, server) at every minor 1.10 … 1.38 and both sides agree', async () => {
    for (let minor = 10; minor <= 38; minor++) {
      const { c2s, s2c } = connection()
      const [client, server] = await Promise.all([
        clientHandshake(new WireReader(s2c), c2s, { version: W(minor) }),
        serverHandshake(new WireReader(c2s), s2c, { daemonNixVersion: '2.99.0', trusted: true })
      ])
      expect(client.version).toBe(W(minor))
      expect(server.version).toBe(W(minor))
      expect(server.clientVersion).toBe(W(minor))
      expect(client.daemonVersion).toBe(MAX_WORKER_VERSION)
      expect(client.daemonNixVersion).toBe(minor >= 33 ? '2.99.0' : null)
      expect(client.trusted).toBe(minor >= 35 ? true : null)
      expect(server.cpuAffinity).toBe(null)
      expect(server.reserveSpace).toBe(false)
      // client bytes: magic, version, [features], [affinity], [reserve]
      const words = 2 + (minor >= 38 ? 1 : 0) + (minor >= 14 ? 1 : 0) + (minor >= 11 ? 1 : 0)
      expect(c2s.bytes().length).toBe(words * 8)
    }
  })

  it('exchanges features at ≥ 1.38 and keeps the intersection', async () => {
    const { c2s, s2c } = connection()
    const [client, server] = await Promise.all([
      clientHandshake(new WireReader(s2c), c2s, { features: ['xyzzy', 'bar', 'aap', 'mies'], cpuAffinity: 3, reserveSpace: true }),
      serverHandshake(new WireReader(c2s), s2c, { features: ['foo', 'bar', 'xyzzy'] })
    ])
    expect([...client.features].sort()).toEqual(['bar', 'xyzzy'])
    expect([...server.features].sort()).toEqual(['bar', 'xyzzy'])
    expect(server.clientFeatures).toEqual(['aap', 'bar', 'mies', 'xyzzy'])
    expect(client.daemonFeatures).toEqual(['bar', 'foo', 'xyzzy'])
    expect(server.cpuAffinity).toBe(3)
    expect(server.reserveSpace).toBe(true)
  })

  it('a default server advertises 1.38 with no features (a 1.38 client negotiates none)', async () => {
    const { c2s, s2c } = connection()
    const [client] = await Promise.all([
      clientHandshake(new WireReader(s2c), c2s, { features: ['realisation-with-path-not-hash'] }),
      serverHandshake(new WireReader(c2s), s2c)
    ])
    expect(client.version).toBe(W(38))
    expect(client.daemonFeatures).toEqual([])
    expect(client.features.size).toBe(0)
    const s = new WireReader(s2c.bytes())
    expect(await s.readNumber()).toBe(WORKER_MAGIC_2)
    expect(await s.readNumber()).toBe(W(38))
    expect(await s.readStrings()).toEqual([])
    expect(await s.readString()).toBe('storeswarm')
    expect(await s.readNumber()).toBe(0) // trust unknown
    expect(await s.readNumber()).toBe(STDERR_LAST)
    expect(await s.atEnd()).toBe(true)
  })

  it('the server announces its version before the client sends its own (Nix 2.8 clients wait for it)', async () => {
    const { c2s, s2c } = connection()
    const server = serverHandshake(new WireReader(c2s), s2c)
    c2s.write(new WireWriter().writeU64(WORKER_MAGIC_1).take())
    const r = new WireReader(s2c)
    expect(await r.readNumber()).toBe(WORKER_MAGIC_2)
    expect(await r.readNumber()).toBe(W(38))
    c2s.write(new WireWriter().writeU64(W(34)).writeU64(0).writeU64(0).take())
    expect((await server).version).toBe(W(34))
  })

  it('works over a real unix-domain/TCP socket (net.Socket as source and sink)', async () => {
    const srv = createServer()
    const done = new Promise<number>((resolve, reject) => {
      srv.on('connection', (sock) => {
        const reader = new WireReader(sock)
        serverHandshake(reader, sock, { daemonNixVersion: '2.8.0' })
          .then(async (h) => {
            const req = await readRequest(reader, h.version)
            sock.end()
            resolve(req == null ? -1 : Op[req.op])
          }, reject)
      })
    })
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
    const sock = connect((srv.address() as AddressInfo).port, '127.0.0.1')
    await new Promise<void>((resolve) => sock.once('connect', resolve))
    const h = await clientHandshake(new WireReader(sock), sock, { version: W(34) })
    expect(h.daemonNixVersion).toBe('2.8.0')
    sock.write(new WireWriter().writeU64(Op.SyncWithGC).take())
    expect(await done).toBe(Op.SyncWithGC)
    sock.destroy()
    srv.close()
  })
})

describe('handshake: hand-built and hostile streams', () => {
  it('reads a Nix 2.8 client byte-exactly (magic, 0x122, affinity 0, reserve 0) and writes the 2.8 reply', async () => {
    const client = new WireWriter().writeU64(WORKER_MAGIC_1).writeU64(0x122).writeU64(0).writeU64(0).take()
    const out = new Pipe()
    const h = await serverHandshake(new WireReader(client), out, { version: 0x122, daemonNixVersion: '2.8.0' })
    expect(h.version).toBe(0x122)
    expect(Buffer.from(out.bytes()).toString('hex')).toBe(
      '6f69786400000000' + '2201000000000000' + '0500000000000000' + '322e382e30000000' + '73746c6100000000'
    )
  })

  it('survives Nix 2.23 sending its version twice (read as a non-zero cpu-affinity flag)', async () => {
    const v = W(37)
    const bytes = new WireWriter()
      .writeU64(WORKER_MAGIC_1).writeU64(v)
      .writeU64(v).writeU64(0).writeU64(0) // duplicated version, affinity 0, reserve 0
      .writeU64(Op.SyncWithGC)
      .take()
    const r = new WireReader(bytes)
    const h = await serverHandshake(r, new Pipe())
    expect(h.version).toBe(v)
    expect(h.cpuAffinity).toBe(0)
    const req = await readRequest(r, h.version)
    expect(req?.op).toBe('SyncWithGC')
  })

  it('rejects bad magic, a foreign major, too-old clients and the wrong dialect', async () => {
    await expectProtocolError(serverHandshake(new WireReader(new WireWriter().writeU64(0x12345678).take()), new Pipe()), 'ERR_BAD_MAGIC')
    await expectProtocolError(serverHandshake(new WireReader(new WireWriter().writeU64(1n << 40n).take()), new Pipe()), 'ERR_TOO_LARGE')
    const hello = (v: number): Uint8Array => new WireWriter().writeU64(WORKER_MAGIC_1).writeU64(v).writeU64(0).writeU64(0).take()
    await expectProtocolError(serverHandshake(new WireReader(hello(protocolVersion(2, 5))), new Pipe()), 'ERR_UNSUPPORTED_VERSION')
    await expectProtocolError(serverHandshake(new WireReader(hello(W(9))), new Pipe()), 'ERR_UNSUPPORTED_VERSION')
    await expectProtocolError(serverHandshake(new WireReader(hello(W(30))), new Pipe(), { minimumClientVersion: W(35) }), 'ERR_UNSUPPORTED_VERSION')
    await expectProtocolError(serverHandshake(new WireReader(hello(GUIX_PROTOCOL_VERSION)), new Pipe()), 'ERR_UNSUPPORTED_VERSION')
    await expectProtocolError(serverHandshake(new WireReader(hello(W(34))), new Pipe(), { dialect: 'guix' }), 'ERR_UNSUPPORTED_VERSION')

    await expectProtocolError(clientHandshake(new WireReader(new WireWriter().writeU64(0x6478696e).writeU64(W(38)).take()), new Pipe()), 'ERR_BAD_MAGIC')
    await expectProtocolError(clientHandshake(new WireReader(new WireWriter().writeU64(WORKER_MAGIC_2).writeU64(W(9)).take()), new Pipe()), 'ERR_UNSUPPORTED_VERSION')
    await expectProtocolError(clientHandshake(new WireReader(new WireWriter().writeU64(WORKER_MAGIC_2).writeU64(GUIX_PROTOCOL_VERSION).take()), new Pipe()), 'ERR_UNSUPPORTED_VERSION')
  })

  it('serves the Guix dialect: no features, no version string, no trust flag', async () => {
    const client = new WireWriter().writeU64(WORKER_MAGIC_1).writeU64(GUIX_PROTOCOL_VERSION).writeU64(1).writeU64(2).writeU64(1).take()
    const out = new Pipe()
    const h = await serverHandshake(new WireReader(client), out, { dialect: 'guix' })
    expect(h).toMatchObject({ dialect: 'guix', version: GUIX_PROTOCOL_VERSION, cpuAffinity: 2, reserveSpace: true })
    const expected = new WireWriter().writeU64(WORKER_MAGIC_2).writeU64(GUIX_PROTOCOL_VERSION).writeU64(STDERR_LAST).take()
    expect(out.bytes()).toEqual(expected)
  })

  it('a Guix client handshake against a Guix-dialect server', async () => {
    const { c2s, s2c } = connection()
    const [client, server] = await Promise.all([
      clientHandshake(new WireReader(s2c), c2s, { version: GUIX_PROTOCOL_VERSION, reserveSpace: true }),
      serverHandshake(new WireReader(c2s), s2c, { dialect: 'guix' })
    ])
    expect(client.version).toBe(GUIX_PROTOCOL_VERSION)
    expect(server.version).toBe(GUIX_PROTOCOL_VERSION)
    expect(client.daemonNixVersion).toBe(null)
    expect(server.reserveSpace).toBe(true)
  })

  it('an STDERR_ERROR during the initial stderr loop is a DaemonError; log lines are passed on', async () => {
    const w = new WireWriter().writeU64(WORKER_MAGIC_2).writeU64(W(34)).writeString('2.8.0')
    writeStderrMessage(w, { type: 'next', message: 'hello\n' }, W(34))
    writeStderrMessage(w, { type: 'error', error: { message: 'you are not allowed', status: 1, level: 0, traces: ['t'] } }, W(34))
    const seen: unknown[] = []
    const err = await clientHandshake(new WireReader(w.take()), new Pipe(), { version: W(34), onMessage: (m) => { seen.push(m) } })
      .then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(DaemonError)
    expect((err as DaemonError).message).toBe('you are not allowed')
    expect((err as DaemonError).traces).toEqual([{ hint: 't' }])
    expect(seen).toEqual([{ type: 'next', message: 'hello\n' }])
  })

  it('the server can send startup messages before STDERR_LAST, downgraded for old clients', async () => {
    const client = new WireWriter().writeU64(WORKER_MAGIC_1).writeU64(W(19)).writeU64(0).writeU64(0).take()
    const out = new Pipe()
    await serverHandshake(new WireReader(client), out, {
      startupMessages: [
        { type: 'start-activity', id: 1n, level: 3, activityType: 0, text: 'warming up', fields: [], parent: 0n },
        { type: 'stop-activity', id: 1n }
      ]
    })
    const r = new WireReader(out.bytes())
    await r.readU64()
    await r.readU64()
    expect(await r.readNumber()).toBe(0x6f6c6d67) // STDERR_NEXT
    expect(await r.readString()).toBe('warming up...\n')
    expect(await r.readNumber()).toBe(STDERR_LAST)
    expect(await r.atEnd()).toBe(true)
  })

  it('truncated handshakes fail with ERR_TRUNCATED at every cut', async () => {
    const client = new WireWriter().writeU64(WORKER_MAGIC_1).writeU64(W(38)).writeStrings(['a', 'b']).writeU64(1).writeU64(4).writeU64(0).take()
    for (let cut = 0; cut < client.length; cut++) {
      await expectProtocolError(serverHandshake(new WireReader(client.subarray(0, cut)), new Pipe()), 'ERR_TRUNCATED')
    }
    const server = new WireWriter().writeU64(WORKER_MAGIC_2).writeU64(W(38)).writeStrings(['x']).writeString('2.30').writeU64(1).writeU64(STDERR_LAST).take()
    for (let cut = 0; cut < server.length; cut++) {
      await expectProtocolError(clientHandshake(new WireReader(server.subarray(0, cut)), new Pipe()), 'ERR_TRUNCATED')
    }
    const ok = await clientHandshake(new WireReader(server), new Pipe())
    expect(ok.daemonFeatures).toEqual(['x'])
    expect(ok.trusted).toBe(true)
  })
})
