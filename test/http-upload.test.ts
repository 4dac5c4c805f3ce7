/**
 * Uploads as `nix copy --to http://…` makes them (PUT NAR, then PUT narinfo): off by default,
 * loopback or token (Bearer / Basic) when on; a path becomes valid only once its NarHash,
 * NarSize, FileHash/FileSize, references and CA check out; every kind of bad upload gets a
 * clear 4xx, leaves nothing valid, and other clients keep being served.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import zlib from 'node:zlib'
import { fixtureStore, startCache, rawRequest, openSocket, HELLO } from './helpers/http.ts'
import type { TestStore, Started } from './helpers/http.ts'
import { requireTool } from './helpers/tools.ts'
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { collect } from './nar-helpers.ts'
import { renderNarInfo, parseNarInfo } from '../src/nix/narinfo.ts'
import type { NarInfo } from '../src/nix/narinfo.ts'
import { StorePath, makeFixedOutputPath } from '../src/nix/store-path.ts'
import { encodeNixBase32 } from '../src/nix/base32.ts'
import { generateSigningKey, toPublicKey, verifyNarInfo, signNarInfo } from '../src/nix/signing.ts'
import { verifyCastore } from '../src/castore/index.ts'
import { systemDecompressors } from '../node/decompress.ts'

const nodeKey = generateSigningKey('upload-node-1')
const TOKEN = 'secret-token-' + randomBytes(8).toString('hex')
let store: TestStore
let open: Started
let tokenOnly: Started
let closed: Started

beforeAll(async () => {
  store = await fixtureStore()
  const base = { castore: store.castore, signing: { nixKey: nodeKey }, decompressors: systemDecompressors(), logs: store.logs }
  open = await startCache({ ...base, upload: { enabled: true, maxNarBytes: 4 * 1024 * 1024, maxConcurrent: 4 } })
  tokenOnly = await startCache({ ...base, upload: { enabled: true, token: TOKEN, allowLoopback: false } })
  closed = await startCache(base)
})
afterAll(async () => {
  for (const s of [open, tokenOnly, closed]) await s?.cache.stop()
  await store?.close()
})

let counter = 0
function fakePath (name: string): StorePath {
  const h = createHash('sha256').update(`upload-${name}-${counter++}-${Math.random()}`).digest().subarray(0, 20)
  return StorePath.fromDigest(h, name)
}

function tree (seed: string, big = 0): NarSourceNode {
  const data = Buffer.from(`contents of ${seed}\n`)
  const blob = big > 0 ? randomBytes(big) : Buffer.alloc(0)
  const file = (d: Uint8Array, executable = false): NarSourceNode => ({ type: 'regular', executable, size: d.length, contents: async function * () { yield d } })
  return {
    type: 'directory',
    entries: async function * () {
      yield { name: Buffer.from('bin'), node: file(data, true) }
      yield { name: Buffer.from('blob'), node: file(blob) }
      yield { name: Buffer.from('link'), node: { type: 'symlink', target: Buffer.from('bin') } }
    }
  }
}

interface Upload { path: StorePath, nar: Buffer, file: Buffer, compression: NarInfo['compression'], url: string, info: NarInfo }

async function prepare (name: string, options: { compression?: NarInfo['compression'], references?: StorePath[], big?: number, self?: boolean } = {}): Promise<Upload> {
  const path = fakePath(name)
  const nar = Buffer.from(await collect(writeNar(tree(path.toString(), options.big))))
  const compression = options.compression ?? 'none'
  let file = nar
  if (compression === 'zstd') file = zlib.zstdCompressSync(nar)
  if (compression === 'xz') {
    requireTool('xz', 'xz-utils')
    file = spawnSync('xz', ['-c'], { input: nar, maxBuffer: 1 << 30 }).stdout
  }
  const fileHash = { algorithm: 'sha256' as const, digest: createHash('sha256').update(file).digest() }
  const url = `nar/${encodeNixBase32(fileHash.digest)}.nar${compression === 'none' ? '' : compression === 'zstd' ? '.zst' : '.xz'}`
  const refs = [...(options.references ?? []), ...(options.self === true ? [path] : [])]
  const info: NarInfo = {
    storePath: path,
    url,
    compression,
    fileHash,
    fileSize: file.length,
    narHash: { algorithm: 'sha256', digest: createHash('sha256').update(nar).digest() },
    narSize: nar.length,
    references: refs.map(r => r.baseName),
    deriver: `${'c'.repeat(32)}-${name}.drv`,
    signatures: []
  }
  return { path, nar, file, compression, url, info }
}

async function put (srv: Started, target: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number, text: string }> {
  const r = await rawRequest(srv.port, 'PUT', target, headers, Buffer.from(body))
  return { status: r.status, text: r.body.toString() }
}

async function upload (srv: Started, u: Upload, headers: Record<string, string> = {}, narinfoText?: string): Promise<[number, number]> {
  const a = await put(srv, `/${u.url}`, u.file, headers)
  const b = await put(srv, `/${u.path.hashPart}.narinfo`, narinfoText ?? renderNarInfo(u.info), headers)
  return [a.status, b.status]
}

async function isValid (path: StorePath): Promise<boolean> {
  return (await store.castore.getPathInfo(path.toString())) !== undefined
}

async function served (srv: Started, u: Upload): Promise<NarInfo | undefined> {
  const res = await fetch(`${srv.url}/${u.path.hashPart}.narinfo`)
  if (res.status === 404) return undefined
  expect(res.status).toBe(200)
  const ni = parseNarInfo(await res.text())
  const nar = Buffer.from(await (await fetch(`${srv.url}/${ni.url}`)).arrayBuffer())
  expect(nar.equals(u.nar)).toBe(true)
  return ni
}

describe('upload authorisation', () => {
  it('is off by default: 405, nothing stored', async () => {
    const u = await prepare('closed')
    expect(await upload(closed, u)).toEqual([405, 405])
    expect(await isValid(u.path)).toBe(false)
  })

  it('accepts loopback clients when enabled', async () => {
    const u = await prepare('loopback')
    expect(await upload(open, u)).toEqual([200, 200])
    const ni = await served(open, u)
    expect(verifyNarInfo(ni!, [toPublicKey(nodeKey)])).toBe(true)
    expect(ni!.deriver).toBe(u.info.deriver)
  })

  it('requires the token when loopback is not enough: Bearer or Basic (netrc) password', async () => {
    const u = await prepare('token')
    expect(await upload(tokenOnly, u)).toEqual([401, 401])
    const wrong = await put(tokenOnly, `/${u.url}`, u.file, { Authorization: 'Bearer nope' })
    expect(wrong.status).toBe(401)
    expect(await isValid(u.path)).toBe(false)
    expect(await upload(tokenOnly, u, { Authorization: `Bearer ${TOKEN}` })).toEqual([200, 200])
    expect(await served(tokenOnly, u)).toBeDefined()
    const v = await prepare('basic')
    expect(await upload(tokenOnly, v, { Authorization: `Basic ${Buffer.from(`nix:${TOKEN}`).toString('base64')}` })).toEqual([200, 200])
    expect(await isValid(v.path)).toBe(true)
    const r = await rawRequest(tokenOnly.port, 'PUT', `/${v.path.hashPart}.narinfo`, {}, Buffer.from('x'))
    expect(r.headers['www-authenticate']).toContain('Bearer')
  })
})

describe('upload formats', () => {
  it('ingests NARs uncompressed, zstd and xz (the nix copy default), and keeps upstream signatures', async () => {
    const upstream = generateSigningKey('upstream-1')
    for (const compression of ['none', 'zstd', 'xz'] as const) {
      const u = await prepare(`fmt-${compression}`, { compression, big: 200_000 })
      const signed = signNarInfo(u.info, upstream)
      expect(await upload(open, u, {}, renderNarInfo(signed))).toEqual([200, 200])
      const ni = await served(open, u)
      expect(verifyNarInfo(ni!, [toPublicKey(upstream)])).toBe(true)
      expect(verifyNarInfo(ni!, [toPublicKey(nodeKey)])).toBe(true)
    }
  })

  it('accepts a content-addressed path whose CA checks out, and a self-reference', async () => {
    const nar = Buffer.from(await collect(writeNar(tree('ca'))))
    const narHash = createHash('sha256').update(nar).digest()
    const path = makeFixedOutputPath({ method: 'recursive', hash: { algorithm: 'sha256', digest: narHash }, name: 'ca-upload' })
    const url = `nar/${encodeNixBase32(narHash)}.nar`
    const info: NarInfo = { storePath: path, url, compression: 'none', narHash: { algorithm: 'sha256', digest: narHash }, narSize: nar.length, references: [], signatures: [], ca: { method: 'recursive', hash: { algorithm: 'sha256', digest: narHash } } }
    expect((await put(open, `/${url}`, nar)).status).toBe(200)
    expect((await put(open, `/${path.hashPart}.narinfo`, renderNarInfo(info))).status).toBe(200)
    expect(await isValid(path)).toBe(true)
    const self = await prepare('selfref', { self: true })
    expect(await upload(open, self)).toEqual([200, 200])
  })

  it('discards .ls uploads and stores log uploads', async () => {
    expect((await put(open, '/00000000000000000000000000000000.ls', '{"version":1}')).status).toBe(200)
    const drv = `${'d'.repeat(32)}-x.drv`
    expect((await put(open, `/log/${drv}`, 'build log line\n')).status).toBe(200)
    expect(await (await fetch(`${open.url}/log/${drv}`)).text()).toBe('build log line\n')
  })
})

describe('bad uploads leave nothing valid', () => {
  it('narinfo before its NAR: 409', async () => {
    const u = await prepare('early')
    const r = await put(open, `/${u.path.hashPart}.narinfo`, renderNarInfo(u.info))
    expect(r.status).toBe(409)
    expect(r.text).toContain('has not been uploaded')
    expect(await isValid(u.path)).toBe(false)
  })

  it('NarHash, NarSize, FileHash or FileSize that do not match the uploaded NAR: 422, and the NAR is dropped', async () => {
    const mutations: Array<[string, (i: NarInfo) => NarInfo]> = [
      ['NarHash', i => ({ ...i, narHash: { algorithm: 'sha256', digest: createHash('sha256').update('other').digest() } })],
      ['NarSize', i => ({ ...i, narSize: i.narSize + 8 })],
      ['FileHash', i => ({ ...i, fileHash: { algorithm: 'sha256', digest: createHash('sha256').update('other').digest() } })],
      ['FileSize', i => ({ ...i, fileSize: (i.fileSize ?? 0) + 1 })]
    ]
    for (const [field, mutate] of mutations) {
      const u = await prepare(`bad-${field}`, { compression: 'zstd' })
      const [a, b] = await upload(open, u, {}, renderNarInfo(mutate(u.info)))
      expect(a).toBe(200)
      expect(b, field).toBe(422)
      expect(await isValid(u.path)).toBe(false)
      // the measured NAR is forgotten: the correct narinfo now needs a new NAR upload
      expect((await put(open, `/${u.path.hashPart}.narinfo`, renderNarInfo(u.info))).status).toBe(409)
      expect(await upload(open, u)).toEqual([200, 200])
    }
  })

  it('a CA that does not produce the store path: 422', async () => {
    const u = await prepare('wrong-ca')
    const info = { ...u.info, ca: { method: 'recursive' as const, hash: u.info.narHash } }
    expect(await upload(open, u, {}, renderNarInfo(info))).toEqual([200, 422])
    expect(await isValid(u.path)).toBe(false)
  })

  it('missing references: 409 until the dependency is uploaded', async () => {
    const dep = await prepare('dep')
    const app = await prepare('app', { references: [dep.path] })
    const [a, b] = await upload(open, app)
    expect(a).toBe(200)
    expect(b).toBe(409)
    expect(await isValid(app.path)).toBe(false)
    expect(await upload(open, dep)).toEqual([200, 200])
    expect((await put(open, `/${app.path.hashPart}.narinfo`, renderNarInfo(app.info))).status).toBe(200)
    expect(await isValid(app.path)).toBe(true)
  })

  it('malformed narinfos, wrong hash part, foreign store dir, absolute URL: 400', async () => {
    const u = await prepare('malformed')
    expect((await put(open, `/${u.url}`, u.file)).status).toBe(200)
    const good = renderNarInfo(u.info)
    const bad = [
      good.replace(/\n/g, '\r\n'),
      good.slice(0, -1),
      'garbage',
      '',
      good.replace('References: ', 'References:'),
      good.replace(`StorePath: /nix/store/`, 'StorePath: /gnu/store/'),
      good.replace(`URL: ${u.url}`, `URL: http://elsewhere.example/${u.url}`),
      good.replace(`URL: ${u.url}`, 'URL: nar/../../etc/passwd'),
      Buffer.from([0xff, 0xfe, 0x00]).toString('latin1')
    ]
    for (const text of bad) {
      const r = await put(open, `/${u.path.hashPart}.narinfo`, text)
      expect(r.status, JSON.stringify(text.slice(0, 60))).toBe(400)
    }
    const other = fakePath('other')
    expect((await put(open, `/${other.hashPart}.narinfo`, good)).status).toBe(400)
    expect(await isValid(u.path)).toBe(false)
    expect((await put(open, `/${u.path.hashPart}.narinfo`, good)).status).toBe(200)
  })

  it('invalid NARs: 400 (garbage, truncated, trailing bytes, bad padding, corrupt zstd)', async () => {
    const nar = Buffer.from(await collect(writeNar(tree('x'))))
    const padded = Buffer.from(nar)
    padded[nar.length - 9] = 1 // a padding byte of the last token... or its length: either way invalid
    const bodies: Array<[string, Buffer]> = [
      ['garbage', Buffer.from('this is not a nar at all')],
      ['truncated', nar.subarray(0, nar.length - 20)],
      ['trailing', Buffer.concat([nar, Buffer.alloc(8)])],
      ['bad padding', padded],
      ['corrupt zstd', Buffer.concat([zlib.zstdCompressSync(nar).subarray(0, 20), randomBytes(40)])],
      ...(requireTool('xz', 'xz-utils') ? [['corrupt xz', Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), randomBytes(100)])] as [string, Buffer]] : []),
      ...(requireTool('bzip2', 'bzip2') ? [['corrupt bzip2', Buffer.concat([Buffer.from('BZh9'), randomBytes(100)])] as [string, Buffer]] : []),
      ['gzip of garbage', zlib.gzipSync(Buffer.from('not a nar'))],
      ['empty', Buffer.alloc(0)]
    ]
    for (const [what, body] of bodies) {
      const r = await put(open, `/nar/${encodeNixBase32(createHash('sha256').update(body).digest())}.nar`, body)
      expect(r.status, `${what}: ${r.text}`).toBe(400)
    }
  })

  it('oversized uploads: 413, declared or streamed', async () => {
    const big = await prepare('oversized', { big: 5 * 1024 * 1024 })
    const r = await put(open, `/${big.url}`, big.file)
    expect(r.status).toBe(413)
    // chunked, no Content-Length: cut off while streaming
    const socket = await openSocket(open.port)
    const chunks: Buffer[] = []
    socket.on('data', d => chunks.push(d))
    socket.on('error', () => {}) // EPIPE once the server gave up on the body
    const closed = new Promise(resolve => socket.once('close', resolve))
    socket.write(`PUT /${big.url} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`)
    for (let off = 0; off < big.file.length && !socket.destroyed; off += 256 * 1024) {
      const piece = big.file.subarray(off, off + 256 * 1024)
      socket.write(`${piece.length.toString(16)}\r\n`)
      socket.write(piece)
      socket.write('\r\n')
    }
    if (!socket.destroyed) socket.end('0\r\n\r\n')
    await closed
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 413/)
    const info = await put(open, `/${big.path.hashPart}.narinfo`, 'x'.repeat(2 * 1024 * 1024))
    expect(info.status).toBe(413)
    expect(await isValid(big.path)).toBe(false)
  })

  it('keeps serving others while an upload stalls, and refuses uploads beyond the concurrency limit with 503', async () => {
    const one = await startCache({ castore: store.castore, upload: { enabled: true, maxConcurrent: 1 } })
    try {
      const socket = await openSocket(one.port)
      socket.write('PUT /nar/stalled.nar HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
      // the stalled upload holds the only slot once its head is parsed; poll (bounded) until a second one is refused
      let status = 0
      for (let i = 0; i < 100 && status !== 503; i++) {
        status = (await rawRequest(one.port, 'PUT', `/${'0'.repeat(32)}.narinfo`, {}, Buffer.from('x'))).status
        if (status !== 503) await new Promise(resolve => setTimeout(resolve, 20))
      }
      expect(status).toBe(503)
      const r = await rawRequest(one.port, 'GET', `/${HELLO.slice(11, 43)}.narinfo`)
      expect(r.status).toBe(200)
      socket.destroy()
    } finally {
      await one.cache.stop()
    }
  })

  it('leaves the castore consistent and reports no internal errors', async () => {
    const report = await verifyCastore(store.castore)
    expect(report.problems).toEqual([])
    expect(open.errors).toEqual([])
    expect(tokenOnly.errors).toEqual([])
  })
})
