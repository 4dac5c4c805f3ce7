/**
 * Issue 4, real-client scenario 5: clients that send garbage, a truncated frame, an
 * oversized string length or an unknown op each get an error (or, before any
 * handshake, a closed connection as from nix-daemon), and the server keeps serving
 * other clients — including one whose connection stayed open the whole time.
 * Also: the argument-size budget, the connection limit and the inactivity timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DaemonClient,
  Op,
  WORKER_MAGIC_1,
  WireReader,
  WireWriter,
  protocolVersion,
  readServerHello,
  readStderrLoop,
  ClientHandshakeInfoCodec
} from '../src/daemon/index.ts'
import { RawSession, exchange, fakeStorePath, fileNarBytes, pathFor, seed, startTestDaemon } from './helpers/daemon-harness.ts'
import type { TestDaemon, TestPath } from './helpers/daemon-harness.ts'

const V = protocolVersion(1, 34)
let d: TestDaemon
let p: TestPath
let bystander: DaemonClient

/** Handshake bytes of a 2.8 client (magic, version, affinity 0, reserve 0). */
function hello (): WireWriter {
  return new WireWriter().writeU64(WORKER_MAGIC_1).writeU64(V).writeU64(0).writeU64(0)
}

/** Reads the server side of a connection whose client sent `bytes`: handshake, then the first op's stderr loop. */
async function firstOpError (out: Uint8Array): Promise<string | null> {
  const r = new WireReader(out)
  await readServerHello(r)
  await ClientHandshakeInfoCodec.read(r, V)
  expect(await readStderrLoop(r, V)).toBeNull() // handshake ends with STDERR_LAST
  const err = await readStderrLoop(r, V)
  expect(await r.atEnd()).toBe(true) // and the connection was closed right after
  return err?.message ?? null
}

async function stillServing (): Promise<void> {
  expect(await bystander.isValidPath(p.info.path)).toBe(true)
  const fresh = await DaemonClient.connect({ socketPath: d.socketPath })
  expect((await fresh.queryPathInfo(p.info.path))?.narSize).toBe(p.nar.byteLength)
  await fresh.close()
}

beforeAll(async () => {
  d = await startTestDaemon({ trustClients: true, limits: { maxRequestBytes: 1 << 20 } })
  p = pathFor(fakeStorePath('hostile', 'hostile'), await fileNarBytes('still here\n'))
  await seed(d.castore, p)
  bystander = await DaemonClient.connect({ socketPath: d.socketPath })
})

afterAll(async () => {
  await bystander?.close()
  await d?.stop()
})

describe('hostile clients (scenario 5)', () => {
  it('garbage instead of a handshake: the connection is closed without a reply, as by nix-daemon', async () => {
    const garbage = new Uint8Array(4096)
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff
    const out = await exchange(d.socketPath, garbage)
    expect(out.byteLength).toBe(0)
    await stillServing()
  })

  it('garbage after the handshake: STDERR_ERROR "invalid operation", then close', async () => {
    const w = hello()
    w.writeRaw(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0x56, 0x78, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    expect(await firstOpError(await exchange(d.socketPath, w.take()))).toMatch(/^invalid operation \d+$|^op code is too large/)
    await stillServing()
  })

  it('an unknown op: STDERR_ERROR "invalid operation 999", then close', async () => {
    const w = hello().writeU64(999).writeString('whatever')
    expect(await firstOpError(await exchange(d.socketPath, w.take()))).toBe('invalid operation 999')
    await stillServing()
  })

  it('an oversized string length: STDERR_ERROR, then close (nothing allocated)', async () => {
    const w = hello().writeU64(Op.QueryPathInfo).writeU64(2n ** 40n)
    expect(await firstOpError(await exchange(d.socketPath, w.take()))).toMatch(/too large|more than the limit/)
    const w2 = hello().writeU64(Op.QueryValidPaths).writeU64(2n ** 62n)
    expect(await firstOpError(await exchange(d.socketPath, w2.take()))).toMatch(/too large|more than the limit/)
    await stillServing()
  })

  it('a truncated frame: STDERR_ERROR about the end of the stream, then close', async () => {
    const w = hello().writeU64(Op.AddMultipleToStore).writeU64(0).writeU64(1)
    w.writeU64(1000).writeRaw(new Uint8Array(10)) // a frame of 1000 bytes, 10 sent, then EOF
    expect(await firstOpError(await exchange(d.socketPath, w.take()))).toMatch(/unexpected end of stream/)
    await stillServing()
  })

  it('a malformed store path argument: STDERR_ERROR, then close', async () => {
    const w = hello().writeU64(Op.IsValidPath).writeString('/nix/store/short')
    expect(await firstOpError(await exchange(d.socketPath, w.take()))).toMatch(/too short to be a valid store path/)
    await stillServing()
  })

  it('arguments beyond the request budget: STDERR_ERROR, then close', async () => {
    const w = hello().writeU64(Op.QueryValidPaths).writeU64(20_000)
    for (let i = 0; i < 20_000; i++) w.writeString(fakeStorePath(String(i), 'x'.repeat(40)))
    expect(await firstOpError(await exchange(d.socketPath, w.take()))).toMatch(/exceed the size limit/)
    await stillServing()
  })

  it('a corrupt NAR inside an upload is refused, the stream is drained and the connection kept', async () => {
    const s = await RawSession.open(d.socketPath, V)
    try {
      const bad = pathFor(fakeStorePath('corrupt', 'corrupt'), await fileNarBytes('payload'))
      const nar = bad.nar.slice()
      nar[20] = 0x41 // breaks the magic
      const body = new WireWriter().writeU64(1)
      const { writePathInfoForTransfer } = await import('../src/daemon/index.ts')
      writePathInfoForTransfer(body, bad.info)
      body.writeRaw(nar)
      const framed = new WireWriter()
      const payload = body.take()
      framed.writeU64(payload.byteLength).writeRaw(payload).writeU64(0)
      const r = await s.call('AddMultipleToStore', { repair: false, dontCheckSigs: true }, framed.take())
      expect(r.error).toMatch(/cannot add path/)
      expect((await s.call('IsValidPath', { path: bad.info.path })).reply).toBe(false)
      expect((await s.call('IsValidPath', { path: p.info.path })).reply).toBe(true)
    } finally {
      s.close()
    }
    await stillServing()
  })

  it('connections beyond the limit are refused with an error at the handshake', async () => {
    const small = await startTestDaemon({ limits: { maxConnections: 1 } })
    try {
      const first = await DaemonClient.connect({ socketPath: small.socketPath })
      await expect(DaemonClient.connect({ socketPath: small.socketPath })).rejects.toThrow(/too many connections/)
      expect(await first.isValidPath(p.info.path)).toBe(false)
      await first.close()
    } finally {
      await small.stop()
    }
  })

  it('a client that stalls in the middle of a request is disconnected by the inactivity timeout', async () => {
    const slow = await startTestDaemon({ limits: { ioTimeoutMs: 200 } })
    try {
      const s = await RawSession.open(slow.socketPath, V)
      s.write(new WireWriter().writeU64(Op.IsValidPath).writeU64(60).take()) // string never sent
      await s.closed()
      const c = await DaemonClient.connect({ socketPath: slow.socketPath })
      expect(await c.isValidPath(p.info.path)).toBe(false)
      await c.close()
    } finally {
      await slow.stop()
    }
  })
})
