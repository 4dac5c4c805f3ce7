/**
 * Mock upstream binary caches on 127.0.0.1 for the pull-through tests and bench: a correct
 * one (narinfos signed with a test key, NARs none/xz/zstd/bzip2 compressed with the system
 * tools), and misbehaving ones — slow, flaky, lying — plus dead (refused) and blackholed
 * listeners. Every request is counted.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import { createServer as createNetServer, connect } from 'node:net'
import type { Socket } from 'node:net'
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import zlib from 'node:zlib'
import { writeNar } from '../../src/nar/index.ts'
import type { NarSourceNode } from '../../src/nar/index.ts'
import { encodeNixBase32 } from '../../src/nix/base32.ts'
import { fingerprint } from '../../src/nix/fingerprint.ts'
import { renderNarInfo } from '../../src/nix/narinfo.ts'
import type { NarInfo } from '../../src/nix/narinfo.ts'
import { signFingerprint } from '../../src/nix/signing.ts'
import type { SecretKey } from '../../src/nix/signing.ts'
import { StorePath } from '../../src/nix/store-path.ts'

export type MockCompression = 'none' | 'xz' | 'zstd' | 'bzip2'

export interface MockPath {
  storePath: string
  /** the true NAR */
  nar: Buffer
  compression: MockCompression
  /** the file served at the narinfo URL */
  file: Buffer
  /** full store paths */
  references: string[]
  /** the narinfo as served */
  narinfo: string
}

/** A NAR of a single regular file (or of a directory holding `files`). */
export async function makeNar (files: Record<string, Buffer> | Buffer): Promise<Buffer> {
  const regular = (data: Buffer): NarSourceNode => ({
    type: 'regular',
    executable: false,
    size: data.byteLength,
    contents: async function * () { yield data }
  })
  const root: NarSourceNode = Buffer.isBuffer(files)
    ? regular(files)
    : {
        type: 'directory',
        entries: async function * () {
          for (const name of Object.keys(files).sort()) yield { name: Buffer.from(name), node: regular(files[name]) }
        }
      }
  const parts: Uint8Array[] = []
  for await (const piece of writeNar(root)) parts.push(piece)
  return Buffer.concat(parts)
}

export function compress (data: Buffer, compression: MockCompression): Buffer {
  if (compression === 'none') return data
  if (compression === 'zstd') return zlib.zstdCompressSync(data)
  const r = spawnSync(compression, ['-c', '-1'], { input: data, maxBuffer: 2 * data.byteLength + 1024 * 1024 })
  if (r.status !== 0) throw new Error(`${compression} failed: ${String(r.stderr)}`)
  return r.stdout
}

export function randomStorePath (name: string, storeDir = '/nix/store'): string {
  return `${storeDir}/${encodeNixBase32(randomBytes(20))}-${name}`
}

const EXT: Record<MockCompression, string> = { none: '', xz: '.xz', zstd: '.zst', bzip2: '.bz2' }

export interface MockPathInit {
  storePath?: string
  name?: string
  nar: Buffer
  compression?: MockCompression
  references?: string[]
  /** serve other bytes than the NAR the narinfo describes (same length): a liar */
  corruptNar?: boolean
  /** omit FileHash/FileSize */
  noFileHash?: boolean
}

/** Builds the narinfo and file of a path, signed with `key`. */
export function mockPath (init: MockPathInit, key: SecretKey): MockPath {
  const storePath = init.storePath ?? randomStorePath(init.name ?? 'mock')
  const compression = init.compression ?? 'none'
  let served = init.nar
  if (init.corruptNar === true) {
    served = Buffer.from(init.nar)
    // flip a byte near the end (inside file contents for any NAR above a few hundred bytes)
    served[served.length - 20] ^= 0x55
  }
  const file = compress(served, compression)
  const sp = StorePath.parse(storePath)
  const narHash = { algorithm: 'sha256' as const, digest: new Uint8Array(createHash('sha256').update(init.nar).digest()) }
  const info: NarInfo = {
    storePath: sp,
    url: `nar/${encodeNixBase32(createHash('sha256').update(file).digest())}.nar${EXT[compression]}`,
    compression,
    narHash,
    narSize: init.nar.byteLength,
    references: (init.references ?? []).map(r => r.slice(r.lastIndexOf('/') + 1)),
    signatures: []
  }
  if (init.noFileHash !== true && init.corruptNar !== true) {
    info.fileHash = { algorithm: 'sha256', digest: new Uint8Array(createHash('sha256').update(file).digest()) }
    info.fileSize = file.byteLength
  }
  info.signatures.push(signFingerprint(fingerprint(info), key))
  return { storePath, nar: init.nar, compression, file, references: init.references ?? [], narinfo: renderNarInfo(info) }
}

export interface MockBehaviour {
  /** answer every request (except /nix-cache-info when `probeOk`) after this many ms */
  delayMs?: number
  /** answer /nix-cache-info at once even when delayed */
  probeOk?: boolean
  /** every other narinfo/NAR request fails with 500 (the first one fails) */
  flaky?: boolean
  /** cut the first NAR response of each path after half its body */
  cutFirstNar?: boolean
  /** hold NAR bodies after this many bytes until `release()` */
  gateAt?: number
  /** every request, /nix-cache-info included, fails with 503 */
  down?: boolean
}

export interface MockUpstream {
  url: string
  port: number
  /** request paths in arrival order */
  requests: string[]
  count: (predicate?: (path: string) => boolean) => number
  add: (path: MockPath) => void
  release: () => void
  close: () => Promise<void>
}

export async function startMockUpstream (paths: MockPath[], behaviour: MockBehaviour = {}, storeDir = '/nix/store'): Promise<MockUpstream> {
  const narinfos = new Map<string, MockPath>()
  const files = new Map<string, MockPath>()
  const add = (p: MockPath): void => {
    narinfos.set(`/${p.storePath.slice(storeDir.length + 1, storeDir.length + 33)}.narinfo`, p)
    const url = /^URL: (.*)$/m.exec(p.narinfo)?.[1]
    if (url !== undefined) files.set(`/${url}`, p)
  }
  for (const p of paths) add(p)
  const requests: string[] = []
  const cut = new Set<string>()
  let flip = 0
  let releaseGate: () => void = () => {}
  let gate = new Promise<void>(resolve => { releaseGate = resolve })
  const sockets = new Set<Socket>()
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]
    requests.push(path)
    if (behaviour.down === true) {
      res.writeHead(503).end('down\n')
      return
    }
    if (path === '/nix-cache-info') {
      if (behaviour.delayMs !== undefined && behaviour.probeOk !== true) await new Promise(resolve => setTimeout(resolve, behaviour.delayMs))
      res.writeHead(200, { 'content-type': 'text/x-nix-cache-info' }).end(`StoreDir: ${storeDir}\nWantMassQuery: 1\nPriority: 40\n`)
      return
    }
    if (behaviour.delayMs !== undefined) await new Promise(resolve => setTimeout(resolve, behaviour.delayMs))
    if (behaviour.flaky === true && flip++ % 2 === 0) {
      res.writeHead(500).end('flaky\n')
      return
    }
    const ni = narinfos.get(path)
    if (ni !== undefined) {
      res.writeHead(200, { 'content-type': 'text/x-nix-narinfo', 'content-length': String(Buffer.byteLength(ni.narinfo)) }).end(ni.narinfo)
      return
    }
    const f = files.get(path)
    if (f === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    res.writeHead(200, { 'content-type': 'application/x-nix-nar', 'content-length': String(f.file.byteLength) })
    if (behaviour.cutFirstNar === true && !cut.has(path)) {
      cut.add(path)
      res.write(f.file.subarray(0, f.file.byteLength >> 1), () => res.destroy())
      return
    }
    if (behaviour.gateAt !== undefined && f.file.byteLength > behaviour.gateAt) {
      res.write(f.file.subarray(0, behaviour.gateAt))
      await gate
      res.end(f.file.subarray(behaviour.gateAt))
      return
    }
    // in pieces, so that a big NAR is not one write
    for (let off = 0; off < f.file.byteLength; off += 1 << 20) {
      if (!res.write(f.file.subarray(off, off + (1 << 20)))) await new Promise(resolve => res.once('drain', resolve))
    }
    res.end()
  }
  const server: Server = createServer((req, res) => { handler(req, res).catch(() => res.destroy()) })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    count: (predicate) => predicate === undefined ? requests.length : requests.filter(predicate).length,
    add,
    release: () => { releaseGate(); gate = Promise.resolve() },
    close: async () => {
      releaseGate()
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** A port where nothing listens (bound, then closed): connections are refused. */
export async function deadPort (): Promise<number> {
  const server = createNetServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

export interface Blackhole {
  url: string
  /** TCP connections accepted (the never-answering kind) */
  connections: () => number
  close: () => Promise<void>
}

/** Accepts TCP connections and never writes a byte. */
export async function startSilentListener (): Promise<Blackhole> {
  const sockets = new Set<Socket>()
  let connections = 0
  const server = createNetServer((s) => { connections++; sockets.add(s); s.on('error', () => {}); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/**
 * A listen socket that never accepts, with its backlog filled: new connections are never
 * established (SYNs dropped). Runs a tiny python3 listener (Node always accepts).
 */
export async function startFullBacklog (): Promise<Blackhole> {
  const child = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject)
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())))
  })
  // fill the accept queue (and the SYN queue's room for it) with idle connections
  const fillers: Socket[] = []
  for (let i = 0; i < 4; i++) {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    fillers.push(s)
  }
  await new Promise(resolve => setTimeout(resolve, 200))
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => 0,
    close: async () => {
      for (const s of fillers) s.destroy()
      child.stdin.end()
      child.kill()
      await new Promise(resolve => child.once('exit', resolve))
    }
  }
}
