/**
 * The raw-socket fast path for GET/HEAD (src/http/fast-path.ts) and its hand-over to node:http:
 * same answers as node:http alone, pipelining in order, keep-alive and `Connection: close`,
 * and connections that switch to node:http mid-stream (uploads, other methods, HTTP/1.0,
 * bodies, folded headers) keep working, bytes in order.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { fixtureStore, startCache, rawExchange, parseResponses, rawRequest, HELLO, TREE } from './helpers/http.ts'
import type { TestStore, Started } from './helpers/http.ts'
import { parseNarInfo } from '../src/nix/narinfo.ts'
import { generateSigningKey } from '../src/nix/signing.ts'

const key = generateSigningKey('fast-1')
let store: TestStore
let fast: Started
let slow: Started
const hash = (p: string): string => p.slice(11, 43)

beforeAll(async () => {
  store = await fixtureStore()
  fast = await startCache({ castore: store.castore, signing: { nixKey: key }, upload: { enabled: true } })
  slow = await startCache({ castore: store.castore, signing: { nixKey: key }, upload: { enabled: true }, fastPath: false })
})
afterAll(async () => {
  await fast?.cache.stop()
  await slow?.cache.stop()
  await store?.close()
})

describe('fast path', () => {
  it('answers like node:http alone (status, headers, bodies), GET and HEAD, with ranges', async () => {
    const ni = parseNarInfo((await rawRequest(fast.port, 'GET', `/${hash(TREE)}.narinfo`)).body)
    const requests: Array<[string, string, Record<string, string>]> = [
      ['GET', '/nix-cache-info', {}],
      ['GET', `/${hash(HELLO)}.narinfo`, {}],
      ['HEAD', `/${hash(HELLO)}.narinfo`, {}],
      ['GET', `/${'0'.repeat(32)}.narinfo`, {}],
      ['GET', `/${ni.url}`, {}],
      ['GET', `/${ni.url}`, { Range: 'bytes=10-99' }],
      ['GET', `/${ni.url}`, { Range: 'bytes=99999-' }],
      ['HEAD', `/${ni.url}`, {}],
      ['GET', `/${hash(TREE)}.ls`, {}],
      ['GET', '/../x', {}]
    ]
    for (const [method, target, headers] of requests) {
      const a = await rawRequest(fast.port, method, target, headers)
      const b = await rawRequest(slow.port, method, target, headers)
      expect(a.status, `${method} ${target}`).toBe(b.status)
      expect(a.body.equals(b.body), `${method} ${target}`).toBe(true)
      for (const h of ['content-type', 'content-length', 'content-range', 'accept-ranges', 'etag', 'cache-control', 'connection']) {
        expect(a.headers[h], `${method} ${target} ${h}`).toBe(b.headers[h])
      }
      expect(a.headers.date).toBeDefined()
    }
  })

  it('answers pipelined requests in order and keeps the connection open between them', async () => {
    const targets = ['/nix-cache-info', `/${hash(HELLO)}.narinfo`, `/${'1'.repeat(32)}.narinfo`, `/${hash(TREE)}.narinfo`]
    const payload = targets.map(t => `GET ${t} HTTP/1.1\r\nHost: x\r\n\r\n`).join('') + 'HEAD /nix-cache-info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    const data = await rawExchange(fast.port, payload)
    const responses = parseResponses(data.subarray(0, data.lastIndexOf('HTTP/1.1 ')))
    expect(responses.map(r => r.status)).toEqual([200, 200, 404, 200])
    expect(responses.every(r => r.headers.connection === 'keep-alive')).toBe(true)
    const last = data.subarray(data.lastIndexOf('HTTP/1.1 ')).toString('latin1')
    expect(last).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(last).toMatch(/connection: close/)
  })

  it('hands a connection to node:http mid-stream: PUT, other methods, HTTP/1.0, bodies, folded headers', async () => {
    const payload = [
      `GET /${hash(HELLO)}.narinfo HTTP/1.1\r\nHost: x\r\n\r\n`,
      'PUT /00000000000000000000000000000000.narinfo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\ngarbage',
      `GET /${hash(TREE)}.narinfo HTTP/1.1\r\nHost: x\r\n\r\n`,
      'DELETE /nix-cache-info HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    ].join('')
    const responses = parseResponses(await rawExchange(fast.port, payload))
    expect(responses.map(r => r.status)).toEqual([200, 400, 200, 405, 200])
    expect(parseNarInfo(responses[2].body).storePath.toString()).toBe(TREE)

    const withBody = await rawExchange(fast.port, `GET /${hash(HELLO)}.narinfo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`)
    expect(parseResponses(withBody)[0].status).toBe(200)
    const http10 = await rawExchange(fast.port, 'GET /nix-cache-info HTTP/1.0\r\n\r\n')
    expect(parseResponses(http10)[0].status).toBe(200)
    const folded = await rawExchange(fast.port, 'GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n')
    expect(parseResponses(folded)[0].status).toBe(400)
    // whatever node:http decides for a duplicate Host, the fast path defers to it
    const twoHosts = 'GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n'
    expect(parseResponses(await rawExchange(fast.port, twoHosts))[0].status).toBe(parseResponses(await rawExchange(slow.port, twoHosts))[0].status)
    expect(fast.errors).toEqual([])
  })
})
