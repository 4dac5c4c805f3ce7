/**
 * Test harness for the daemon-protocol server: a castore in a temp dir, a server on a
 * Unix socket beside it, raw socket exchanges, and small store paths made up on the spot.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadKernel } from '../../src/blake3/index.ts'
import { openCastore } from '../../src/castore/index.ts'
import type { Castore } from '../../src/castore/index.ts'
import { concatBytes, createDaemonServer } from '../../src/daemon/index.ts'
import type { DaemonServer, DaemonServerInit, ValidPathInfo } from '../../src/daemon/index.ts'
import { writeNar } from '../../src/nar/index.ts'
import type { NarSourceNode } from '../../src/nar/index.ts'
import { encodeNixBase32, xorFold } from '../../src/nix/index.ts'

export interface TestDaemon {
  dir: string
  castore: Castore
  server: DaemonServer
  socketPath: string
  stop: () => Promise<void>
}

/** A fresh castore + server listening on `<tmp>/daemon.sock`. */
export async function startTestDaemon (init: Partial<DaemonServerInit> = {}, castore?: Castore): Promise<TestDaemon> {
  await loadKernel()
  const dir = mkdtempSync(join(tmpdir(), 'storeswarm-daemon-'))
  const store = castore ?? await openCastore({ dataDir: join(dir, 'data'), fsync: false })
  const server = createDaemonServer({ castore: store, ...init })
  const socketPath = join(dir, 'daemon.sock')
  await server.listen(socketPath)
  return {
    dir,
    castore: store,
    server,
    socketPath,
    stop: async () => {
      await server.stop()
      if (castore === undefined) await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Opens a raw connection. */
export async function rawConnect (socketPath: string): Promise<Socket> {
  const s = connect({ path: socketPath })
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve)
    s.once('error', reject)
  })
  return s
}

/**
 * Sends `bytes` (optionally ending our side), returns everything the server sends until
 * it closes the connection.
 */
export async function exchange (socketPath: string, bytes: Uint8Array, options: { end?: boolean } = {}): Promise<Uint8Array> {
  const s = await rawConnect(socketPath)
  const chunks: Uint8Array[] = []
  s.on('data', (c: Buffer) => { chunks.push(new Uint8Array(c)) })
  const closed = new Promise<void>((resolve) => {
    s.once('close', () => { resolve() })
    s.on('error', () => {})
  })
  s.write(bytes)
  if (options.end ?? true) s.end()
  await closed
  return concatBytes(chunks)
}

/** A store path made up from a seed (input-addressed style: any hash is fine). */
export function fakeStorePath (seed: string, name: string, storeDir = '/nix/store'): string {
  const digest = xorFold(createHash('sha256').update(seed).digest(), 20)
  return `${storeDir}/${encodeNixBase32(digest)}-${name}`
}

export async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p.slice())
  return concatBytes(parts)
}

/** NAR of a single regular file. */
export async function fileNarBytes (contents: Uint8Array | string, executable = false): Promise<Uint8Array> {
  const data = typeof contents === 'string' ? new TextEncoder().encode(contents) : contents
  return await collect(writeNar({ type: 'regular', executable, size: data.byteLength, contents: async function * () { yield data } }))
}

/** NAR of a directory with the given files (names sorted by the caller's keys). */
export async function dirNarBytes (files: Record<string, string>): Promise<Uint8Array> {
  const enc = new TextEncoder()
  const names = Object.keys(files).sort()
  const node: NarSourceNode = {
    type: 'directory',
    entries: async function * () {
      for (const n of names) {
        const data = enc.encode(files[n])
        yield { name: enc.encode(n), node: { type: 'regular', executable: false, size: data.byteLength, contents: async function * () { yield data } } }
      }
    }
  }
  return await collect(writeNar(node))
}

export interface TestPath {
  info: ValidPathInfo
  nar: Uint8Array
}

/** A wire path info for a NAR. */
export function pathFor (path: string, nar: Uint8Array, fields: Partial<ValidPathInfo> = {}): TestPath {
  return {
    nar,
    info: {
      path,
      deriver: null,
      narHash: createHash('sha256').update(nar).digest('hex'),
      references: [],
      registrationTime: 0,
      narSize: nar.byteLength,
      ultimate: false,
      signatures: [],
      ca: null,
      ...fields
    }
  }
}

/** Adds a path straight to the castore (no protocol). */
export async function seed (castore: Castore, p: TestPath): Promise<void> {
  await castore.importNar([p.nar], {
    storePath: p.info.path,
    references: p.info.references,
    deriver: p.info.deriver ?? undefined,
    signatures: p.info.signatures,
    ca: p.info.ca ?? undefined,
    narHash: new Uint8Array(Buffer.from(p.info.narHash, 'hex')),
    narSize: p.info.narSize
  })
}

/* ------------------------------------------------------------------------ */
/* A raw protocol session at any version (old Nix clients, Guix)             */
/* ------------------------------------------------------------------------ */

import { GUIX_CODEC_VERSION, WireReader, WireWriter, clientHandshake, isGuixVersion, readReply, readStderrLoop, writeRequest } from '../../src/daemon/index.ts'
import type { ClientHandshakeResult, OpArgs, OpName, OpReply, StderrMessage, WireVersion } from '../../src/daemon/index.ts'

export interface RawResult<K extends OpName> {
  error: string | null
  reply?: OpReply[K]
  messages: StderrMessage[]
}

/** A client connection speaking exactly the version it is opened with. */
export class RawSession {
  readonly socket: Socket
  readonly reader: WireReader
  readonly hs: ClientHandshakeResult
  /** Version op codecs run at (Guix: Nix 1.15 layouts). */
  readonly codec: WireVersion
  /** Version the stderr loop is read at. */
  readonly stderrVersion: number
  private readonly closedPromise: Promise<void>

  private constructor (socket: Socket, reader: WireReader, hs: ClientHandshakeResult, storeDir: string) {
    this.socket = socket
    this.reader = reader
    this.hs = hs
    const guix = isGuixVersion(hs.version)
    this.codec = guix ? { version: GUIX_CODEC_VERSION, storeDir } : { version: hs.version, storeDir }
    this.stderrVersion = hs.version
    this.closedPromise = new Promise((resolve) => { socket.once('close', () => { resolve() }) })
  }

  static async open (socketPath: string, version: number, storeDir = '/nix/store'): Promise<RawSession> {
    const socket = await rawConnect(socketPath)
    socket.on('error', () => {})
    const reader = new WireReader(socket)
    const hs = await clientHandshake(reader, socket, { version })
    return new RawSession(socket, reader, hs, storeDir)
  }

  /** Sends raw bytes. */
  write (bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  /** Sends an op with its arguments (and optional raw payload bytes), reads the stderr loop and reply. */
  async call<K extends OpName> (op: K, args: OpArgs[K], payload?: Uint8Array, onMessage?: (m: StderrMessage) => Promise<void> | void): Promise<RawResult<K>> {
    const w = new WireWriter()
    writeRequest(w, op, args, this.codec)
    if (payload != null) w.writeRaw(payload)
    this.socket.write(w.take())
    return await this.result(op, onMessage)
  }

  /** Reads the stderr loop and, unless it ends in an error, the reply of `op`. */
  async result<K extends OpName> (op: K, onMessage?: (m: StderrMessage) => Promise<void> | void): Promise<RawResult<K>> {
    const messages: StderrMessage[] = []
    const err = await readStderrLoop(this.reader, this.stderrVersion, {
      onMessage: async (m) => {
        messages.push(m)
        await onMessage?.(m)
      }
    })
    if (err != null) return { error: err.message, messages }
    return { error: null, reply: await readReply(this.reader, op, this.codec), messages }
  }

  /** Resolves when the server closed the connection (after reading what is left). */
  async closed (): Promise<void> {
    try {
      while (!(await this.reader.atEnd())) await this.reader.readAvailable(1 << 20)
    } catch {}
    await this.closedPromise
  }

  close (): void {
    this.socket.destroy()
  }
}
