/**
 * ERIS URNs as an alternate address between two nodes: node A holds a store path and serves
 * its ERIS blocks over HTTP (N2R); node B, a separate `storeswarm` process knowing only the
 * URN, fetches the NAR block by block, verifies it and imports it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash, randomBytes } from 'node:crypto'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { writeNar } from '../src/nar/index.ts'
import { ErisPathIndex, encodeErisBytes, formatBlockUrn } from '../src/eris/index.ts'
import { encodeNixBase32 } from '../src/nix/base32.ts'
import { startCache, rawRequest } from './helpers/http.ts'
import type { Started } from './helpers/http.ts'

await loadKernel()
const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
const PATH = '/nix/store/' + 'q'.repeat(32) + '-eris-demo'

let work: string
let a: Castore
let served: Started
let nar: Buffer
let urn: string

async function collect (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

/** Runs the CLI as a separate process, asynchronously (node A serves from this process). */
async function cli (dataDir: string, args: string[]): Promise<{ status: number, stdout: Buffer, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [bin, ...args, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    p.stdout.on('data', (d: Buffer) => out.push(d))
    p.stderr.on('data', (d: Buffer) => { err += d.toString() })
    p.on('error', reject)
    p.on('close', (code) => resolve({ status: code ?? -1, stdout: Buffer.concat(out), stderr: err }))
  })
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storeswarm-eris-nodes-'))
  a = await openCastore({ dataDir: join(work, 'a') })
  const big = randomBytes(2_500_000)
  nar = await collect(writeNar({
    type: 'directory',
    entries: async function * () {
      yield { name: Buffer.from('big'), node: { type: 'regular', executable: false, size: big.length, contents: async function * () { yield big } } }
      yield { name: Buffer.from('small'), node: { type: 'regular', executable: true, size: 5, contents: async function * () { yield Buffer.from('hello') } } }
    }
  }))
  const { info } = await a.importNar([nar], { storePath: PATH })
  urn = (await new ErisPathIndex(a).encodePath(info)).urn
  served = await startCache({ castore: a })
})
afterAll(async () => {
  await served.cache.stop()
  await a.close()
  await rm(work, { recursive: true, force: true })
})

describe('ERIS between two nodes', () => {
  it('A advertises the URN in its narinfo and serves every block on /uri-res/N2R', async () => {
    const narinfo = await rawRequest(served.port, 'GET', `/${'q'.repeat(32)}.narinfo`)
    expect(narinfo.status).toBe(200)
    expect(narinfo.body.toString()).toContain(`\nERIS: ${urn}\n`)
    const { blocks } = await encodeErisBytes(nar, { blockSize: 32768 })
    // ask for the first leaf and the last block (the root node) by reference
    const refs = [...blocks.keys()]
    for (const key of [refs[0], refs[refs.length - 1]]) {
      const res = await rawRequest(served.port, 'GET', `/uri-res/N2R?urn:blake2b:${key}`)
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toBe('application/octet-stream')
      expect(Buffer.compare(res.body, Buffer.from(blocks.get(key)!))).toBe(0)
    }
    expect((await rawRequest(served.port, 'GET', `/uri-res/N2R?${formatBlockUrn(new Uint8Array(32))}`)).status).toBe(404)
    expect((await rawRequest(served.port, 'GET', '/uri-res/N2R?urn:blake2b:not-base32')).status).toBe(400)
  })

  it('B fetches the path knowing only its URN; the NarHash matches and B can export it', async () => {
    const b = join(work, 'b')
    const narHash = 'sha256:' + encodeNixBase32(createHash('sha256').update(nar).digest())
    const fetched = await cli(b, ['fetch', urn, '--store-path', PATH, '--eris-store', served.url, '--nar-hash', narHash])
    expect(fetched.stderr).toBe('')
    expect(fetched.status).toBe(0)
    expect(fetched.stdout.toString()).toBe(PATH + '\n')
    const exported = await cli(b, ['export', PATH])
    expect(Buffer.compare(exported.stdout, nar)).toBe(0)
    expect((await cli(b, ['info', PATH])).stdout.toString()).toContain(`ERIS: ${urn}`)
  })

  it('decodes a URN to stdout, and encodes a file to the same URN as the library', async () => {
    const decoded = await cli(join(work, 'c'), ['eris', 'decode', urn, '--eris-store', served.url])
    expect(decoded.status).toBe(0)
    expect(Buffer.compare(decoded.stdout, nar)).toBe(0)
    const file = join(work, 'nar.bin')
    await writeFile(file, nar)
    expect((await cli(join(work, 'c'), ['eris', 'encode', file])).stdout.toString()).toBe(urn + '\n')
    expect((await cli(join(work, 'c'), ['eris', 'encode', '--block-size', '1K', file])).stdout.toString()).toBe((await encodeErisBytes(nar, { blockSize: 1024 })).urn + '\n')
  })

  it('a store that serves a wrong block is caught, naming the block, and nothing is imported', async () => {
    const liar = await startCache({ castore: a })
    const { createServer } = await import('node:http')
    const { blocks } = await encodeErisBytes(nar, { blockSize: 32768 })
    const leaf = [...blocks.keys()][0]
    const proxy = createServer((req, res) => {
      void (async () => {
        const upstream = await fetch(liar.url + req.url)
        const body = Buffer.from(await upstream.arrayBuffer())
        if (req.url?.endsWith(leaf) === true) body[100] ^= 1
        res.writeHead(upstream.status, { 'content-type': 'application/octet-stream', 'content-length': body.length })
        res.end(body)
      })()
    })
    await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', () => resolve()))
    try {
      const port = (proxy.address() as { port: number }).port
      const b = join(work, 'd')
      const r = await cli(b, ['fetch', urn, '--store-path', PATH, '--eris-store', `http://127.0.0.1:${port}`])
      expect(r.status).toBe(1)
      expect(r.stderr).toMatch(/ErisDecodeError/)
      expect(r.stderr).toContain(`urn:blake2b:${leaf}`)
      expect((await cli(b, ['info', PATH])).status).toBe(1)
    } finally {
      proxy.close()
      await liar.cache.stop()
    }
  })
})
