/**
 * Hostile and heavy clients against the node:http listener: slow-loris heads, stalled bodies,
 * oversized heads, garbage, clients vanishing mid-NAR, hundreds of concurrent connections,
 * and more connections than allowed. Each gets a clear HTTP answer (or its connection closed),
 * nothing partial is stored, and well-behaved clients keep being served meanwhile.
 * Limits are set small here so that the tests wait for events, never for wall-clock budgets.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { Agent, request } from 'node:http'
import { randomBytes } from 'node:crypto'
import { fixtureStore, startCache, rawRequest, rawExchange, openSocket, HELLO, DEP, TREE } from './helpers/http.ts'
import type { TestStore, Started } from './helpers/http.ts'
import { parseNarInfo } from '../src/nix/narinfo.ts'
import { writeNar } from '../src/nar/index.ts'
import { collect } from './nar-helpers.ts'

let store: TestStore
let srv: Started
let bigPath: string
let bigNar: Buffer

beforeAll(async () => {
  store = await fixtureStore()
  const blob = randomBytes(8 * 1024 * 1024)
  bigNar = Buffer.from(await collect(writeNar({ type: 'regular', executable: false, size: blob.length, contents: async function * () { yield blob } })))
  bigPath = `/nix/store/${'b'.repeat(32)}-big`
  await store.castore.importNar([bigNar], { storePath: bigPath })
  srv = await startCache({
    castore: store.castore,
    upload: { enabled: true },
    limits: { headersTimeoutMs: 300, connectionsCheckIntervalMs: 50, idleTimeoutMs: 1000, maxConnections: 600 }
  })
})
afterAll(async () => {
  await srv?.cache.stop()
  await store?.close()
})

const hashOf = (p: string): string => p.slice(11, 43)

describe('hostile clients', () => {
  it('cuts a slow-loris head off with 408 while others are served', async () => {
    const socket = await openSocket(srv.port)
    const got: Buffer[] = []
    socket.on('data', d => got.push(d))
    socket.on('error', () => {})
    const closed = new Promise(resolve => socket.once('close', resolve))
    socket.write('GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n')
    // keep dribbling header bytes until the server gives up (bounded)
    for (let i = 0; i < 200 && !socket.destroyed && got.length === 0; i++) {
      socket.write('X')
      const r = await rawRequest(srv.port, 'GET', `/${hashOf(HELLO)}.narinfo`)
      expect(r.status).toBe(200)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    await closed
    expect(Buffer.concat(got).toString('latin1')).toMatch(/^HTTP\/1\.1 408/)
  })

  it('closes a connection whose upload body stalls; nothing is stored', async () => {
    const socket = await openSocket(srv.port)
    socket.on('error', () => {})
    socket.resume()
    const closed = new Promise(resolve => socket.once('close', resolve))
    // a valid NAR start, then silence: the ingest waits for bytes until the idle timeout
    socket.write(`PUT /nar/stall.nar HTTP/1.1\r\nHost: x\r\nContent-Length: ${bigNar.length}\r\n\r\n`)
    socket.write(bigNar.subarray(0, 200_000))
    await closed
    expect(srv.events.find(e => e.url === '/nar/stall.nar')?.status).not.toBe(200)
    expect((await rawRequest(srv.port, 'GET', '/nix-cache-info')).status).toBe(200)
  })

  it('answers 431 to an oversized head and 400 to garbage', async () => {
    const huge = await rawRequest(srv.port, 'GET', '/nix-cache-info', { 'X-Big': 'a'.repeat(64 * 1024) })
    expect(huge.status).toBe(431)
    const garbage = (await rawExchange(srv.port, 'NOT HTTP AT ALL\r\n\r\n')).toString('latin1')
    expect(garbage).toMatch(/^HTTP\/1\.1 400/)
    const binary = (await rawExchange(srv.port, randomBytes(256))).toString('latin1')
    expect(binary === '' || binary.startsWith('HTTP/1.1 400')).toBe(true)
  })

  it('survives clients that vanish in the middle of a NAR', async () => {
    const ni = parseNarInfo(await (await fetch(`${srv.url}/${hashOf(bigPath)}.narinfo`)).text())
    for (let i = 0; i < 10; i++) {
      const socket = await openSocket(srv.port)
      socket.on('error', () => {})
      await new Promise<void>(resolve => {
        let got = 0
        socket.on('data', (d) => { got += d.length; if (got > 100_000) { socket.destroy(); resolve() } })
        socket.write(`GET /${ni.url} HTTP/1.1\r\nHost: x\r\n\r\n`)
      })
    }
    const full = Buffer.from(await (await fetch(`${srv.url}/${ni.url}`)).arrayBuffer())
    expect(full.equals(bigNar)).toBe(true)
    expect(srv.errors).toEqual([])
  })

  it('serves hundreds of concurrent keep-alive connections without an error', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 400 })
    const paths = [HELLO, DEP, TREE]
    const one = async (i: number): Promise<number> => await new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: srv.port, path: `/${hashOf(paths[i % 3])}.narinfo`, agent }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      })
      req.on('error', reject)
      req.end()
    })
    const statuses = await Promise.all(Array.from({ length: 1200 }, (_, i) => one(i)))
    expect(statuses.every(s => s === 200)).toBe(true)
    agent.destroy()
  })

  it('answers connections beyond the limit with 503 Retry-After and keeps serving the others', async () => {
    const small = await startCache({ castore: store.castore, limits: { maxConnections: 20 } })
    try {
      const held = await Promise.all(Array.from({ length: 20 }, async () => await openSocket(small.port)))
      for (const s of held) s.on('error', () => {})
      // every held socket is counted once the server accepted it; a request on a fresh one is refused
      let r = await rawRequest(small.port, 'GET', '/nix-cache-info')
      for (let i = 0; i < 50 && r.status !== 503; i++) r = await rawRequest(small.port, 'GET', '/nix-cache-info')
      expect(r.status).toBe(503)
      expect(r.headers['retry-after']).toBe('1')
      // the held connections still work
      const answer = await new Promise<string>((resolve) => {
        const s = held[0]
        let text = ''
        s.on('data', d => { text += d.toString('latin1'); if (text.includes('Priority')) resolve(text) })
        s.write('GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n\r\n')
      })
      expect(answer).toMatch(/^HTTP\/1\.1 200/)
      for (const s of held) s.destroy()
      // and once they are gone, new ones are served again (bounded wait for the closes to land)
      let ok = 0
      for (let i = 0; i < 100 && ok !== 200; i++) {
        ok = (await rawRequest(small.port, 'GET', '/nix-cache-info')).status
        if (ok !== 200) await new Promise(resolve => setTimeout(resolve, 20))
      }
      expect(ok).toBe(200)
    } finally {
      await small.cache.stop()
    }
  })

  it('stops promptly even with idle and busy connections open', async () => {
    const s = await startCache({ castore: store.castore })
    const idle = await openSocket(s.port)
    idle.on('error', () => {})
    const closed = new Promise(resolve => idle.once('close', resolve))
    await s.cache.stop()
    await closed
    await expect(rawRequest(s.port, 'GET', '/nix-cache-info')).rejects.toThrow()
  })
})
