/**
 * Test helpers for the HTTP binary cache: a castore in a temp dir with the real-nix fixture
 * cache imported, a started BinaryCache on an ephemeral loopback port, and a raw-socket HTTP
 * client (for requests fetch() would normalise: `..` paths, pipelining, slow-loris heads).
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openCastore } from '../../src/castore/index.ts'
import type { Castore } from '../../src/castore/index.ts'
import { loadKernel } from '../../src/blake3/index.ts'
import { createBinaryCache, openBinaryCacheSource, importFromCache, CompressedNarCache, FsLogStore } from '../../src/http/index.ts'
import type { BinaryCache, BinaryCacheInit, RequestEvent } from '../../src/http/index.ts'
import { parsePublicKey } from '../../src/nix/signing.ts'
import type { PublicKey } from '../../src/nix/signing.ts'
import { fixture } from '../fixtures.ts'

export const HELLO = '/nix/store/l3z61ajw87plwaj8680kwzg5kkw0dch6-hello-ia-1.0'
export const DEP = '/nix/store/mqnj02vvb8zdsnliwssxa74kkysaraal-dep-1.0'
export const TREE = '/nix/store/mbig2lb0l0g5haak3zgg7lkjsypn90pw-tree'

export async function testKey (): Promise<PublicKey> {
  return parsePublicKey(await readFile(fixture('real-nix', 'keys', 'test-cache-1.public'), 'utf8'))
}

export interface TestStore {
  dir: string
  castore: Castore
  compressed: CompressedNarCache
  logs: FsLogStore
  close: () => Promise<void>
}

/** A fresh castore (fsync off) holding the real-nix fixture paths (hello-ia, dep, tree). */
export async function fixtureStore (withPaths = true): Promise<TestStore> {
  await loadKernel()
  const dir = await mkdtemp(join(tmpdir(), 'storeswarm-http-'))
  const castore = await openCastore({ dataDir: join(dir, 'data'), fsync: false })
  if (withPaths) {
    await importFromCache({
      castore,
      source: openBinaryCacheSource(`file://${fixture('real-nix', 'cache-none')}`),
      paths: [HELLO, TREE],
      closure: true,
      trustedKeys: [await testKey()]
    })
  }
  const compressed = await CompressedNarCache.open({ dir: join(dir, 'nar-cache') })
  const logs = new FsLogStore(join(dir, 'logs'))
  return {
    dir,
    castore,
    compressed,
    logs,
    close: async () => {
      compressed.close()
      await castore.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export interface Started {
  cache: BinaryCache
  url: string
  port: number
  events: RequestEvent[]
  errors: unknown[]
}

/** Starts a cache on 127.0.0.1:<ephemeral>, recording requests and internal errors. */
export async function startCache (init: Omit<BinaryCacheInit, 'listen'>): Promise<Started> {
  const events: RequestEvent[] = []
  const errors: unknown[] = []
  const cache = createBinaryCache({
    ...init,
    listen: { host: '127.0.0.1', port: 0 },
    onRequest: (e) => { events.push(e); init.onRequest?.(e) },
    onError: (e) => { errors.push(e); init.onError?.(e) }
  })
  await cache.start()
  return { cache, url: cache.url!, port: cache.address!.port, events, errors }
}

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/** Parses consecutive HTTP/1.1 responses (Content-Length framed) from `data`. */
export function parseResponses (data: Buffer, headOnly = false): RawResponse[] {
  const out: RawResponse[] = []
  let at = 0
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at)
    if (end < 0) break
    const head = data.subarray(at, end).toString('latin1').split('\r\n')
    const status = Number(head[0].split(' ')[1])
    const headers: Record<string, string> = {}
    for (const line of head.slice(1)) {
      const c = line.indexOf(':')
      headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim()
    }
    const len = headOnly ? 0 : Number(headers['content-length'] ?? 0)
    out.push({ status, headers, body: data.subarray(end + 4, end + 4 + len) })
    at = end + 4 + len
  }
  return out
}

/** Sends raw bytes, collects everything until the server closes (or `maxMs`). */
export async function rawExchange (port: number, payload: string | Buffer, maxMs = 10_000): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const parts: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); resolve(Buffer.concat(parts)) }, maxMs)
    socket.on('data', (d) => parts.push(d))
    // a server may answer (413, 503…) and close before the whole payload is written: keep its answer
    socket.on('error', (err) => { clearTimeout(timer); if (parts.length > 0) resolve(Buffer.concat(parts)); else reject(err) })
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(parts)) })
    socket.write(payload)
  })
}

/** One request with `Connection: close`; the parsed response. */
export async function rawRequest (port: number, method: string, target: string, headers: Record<string, string> = {}, body?: Buffer): Promise<RawResponse> {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  if (body !== undefined) lines.push(`Content-Length: ${body.length}`)
  const data = await rawExchange(port, Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body ?? Buffer.alloc(0)]))
  const [r] = parseResponses(data, method === 'HEAD')
  if (r === undefined) throw new Error(`no response to ${method} ${target}`)
  return r
}

/** An open socket for hand-driven exchanges. */
export async function openSocket (port: number): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}
