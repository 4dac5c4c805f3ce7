/**
 * Upstream fallback (pull-through, src/upstream): mock upstreams on loopback — correct, slow,
 * dead, blackholed, flaky, lying — behind a binary cache whose castore view falls back to them.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { createUpstreamSubstituter } from '../src/upstream/index.ts'
import type { UpstreamSubstituter, UpstreamSubstituterInit, UpstreamConfig, FetchedDetail } from '../src/upstream/index.ts'
import { generateSigningKey, formatPublicKey, toPublicKey, parsePublicKey } from '../src/nix/signing.ts'
import { parseNarInfo } from '../src/nix/narinfo.ts'
import { verifyNarInfo } from '../src/nix/signing.ts'
import { systemDecompressors } from '../node/decompress.ts'
import { startCache } from './helpers/http.ts'
import type { Started } from './helpers/http.ts'
import { requireTool } from './helpers/tools.ts'
import { makeNar, mockPath, startMockUpstream, deadPort, startSilentListener, startFullBacklog } from './helpers/mock-upstream.ts'
import type { MockUpstream, MockPath, Blackhole } from './helpers/mock-upstream.ts'

requireTool('xz', 'xz-utils')
requireTool('bzip2', 'bzip2')
const hasPython = requireTool('python3', 'python3')

const upstreamKey = generateSigningKey('upstream-test-1')
const upstreamPublic = formatPublicKey(toPublicKey(upstreamKey))
const otherKey = { ...generateSigningKey('upstream-test-1') } // same name, other key: a forger
const nodeKey = generateSigningKey('node-test-1')

let work: string
beforeAll(async () => {
  await loadKernel()
  work = await mkdtemp(join(tmpdir(), 'storeswarm-upstream-'))
})
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

interface Node {
  castore: Castore
  sub: UpstreamSubstituter
  http: Started
  announced: string[]
  fetched: FetchedDetail[]
  spoolDir: string
  stop: () => Promise<void>
}
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

let nodes = 0
/**
 * `settle`: wait until every upstream's health is known (the probe answered), so that a loaded
 * machine does not turn a first request into a "health unknown, gave up" 404
 */
async function startNode (upstreams: UpstreamConfig[], init: Partial<UpstreamSubstituterInit> = {}, settle = true): Promise<Node> {
  const dir = join(work, `node-${nodes++}`)
  const castore = await openCastore({ dataDir: dir, fsync: false })
  const announced: string[] = []
  const fetched: FetchedDetail[] = []
  const spoolDir = join(dir, 'spool')
  const sub = createUpstreamSubstituter({ upstreams, castore, spoolDir, decompressors: systemDecompressors(), announce: (p) => { announced.push(...p) }, ...init })
  sub.addEventListener('fetched', (e) => { fetched.push((e as CustomEvent<FetchedDetail>).detail) })
  await sub.start()
  for (let i = 0; settle && i < 500 && sub.stats().upstreams.some(u => u.state === 'unknown'); i++) await new Promise(resolve => setTimeout(resolve, 20))
  const http = await startCache({ castore: sub.view(castore), pendingNar: sub.pendingNar, signing: { nixKey: nodeKey } })
  const stop = async (): Promise<void> => { await http.cache.stop(); await sub.stop(); await castore.close() }
  cleanups.push(stop)
  return { castore, sub, http, announced, fetched, spoolDir, stop }
}

async function mock (paths: MockPath[], behaviour: Parameters<typeof startMockUpstream>[1] = {}): Promise<MockUpstream> {
  const m = await startMockUpstream(paths, behaviour)
  cleanups.push(m.close)
  return m
}

const hashPart = (p: string): string => p.slice('/nix/store/'.length, '/nix/store/'.length + 32)

async function narinfoOf (node: Node, path: string): Promise<{ status: number, text: string }> {
  const r = await fetch(`${node.http.url}/${hashPart(path)}.narinfo`)
  return { status: r.status, text: await r.text() }
}

/** GET the NAR the node's narinfo points to; `ok: false` when the body ended in an error */
async function narOf (node: Node, narinfo: string): Promise<{ status: number, ok: boolean, body?: Buffer }> {
  const url = /^URL: (.*)$/m.exec(narinfo)![1]
  const r = await fetch(`${node.http.url}/${url}`)
  try {
    return { status: r.status, ok: true, body: Buffer.from(await r.arrayBuffer()) }
  } catch {
    return { status: r.status, ok: false }
  }
}

function upstream (url: string, extra: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return { url, publicKeys: [upstreamPublic], timeoutMs: 2_000, ...extra }
}

describe('pull-through from a correct upstream', () => {
  it('serves none/xz/zstd/bzip2 NARs, stores and announces them, and serves them locally the second time', async () => {
    const paths = await Promise.all((['none', 'xz', 'zstd', 'bzip2'] as const).map(async (compression, i) =>
      mockPath({ name: `p-${compression}`, nar: await makeNar({ a: randomBytes(50_000 + i), b: Buffer.from(`file ${compression}\n`) }), compression }, upstreamKey)))
    const up = await mock(paths)
    const node = await startNode([upstream(up.url)])
    for (const p of paths) {
      const ni = await narinfoOf(node, p.storePath)
      expect(ni.status).toBe(200)
      // the node's narinfo verifies against the node's key and still carries the upstream's signature
      const parsed = parseNarInfo(ni.text)
      expect(parsed.storePath.toString()).toBe(p.storePath)
      expect(verifyNarInfo(parsed, [toPublicKey(nodeKey)])).toBe(true)
      expect(verifyNarInfo(parsed, [parsePublicKey(upstreamPublic)])).toBe(true)
      const nar = await narOf(node, ni.text)
      expect(nar.status).toBe(200)
      expect(nar.ok).toBe(true)
      expect(nar.body!.equals(p.nar)).toBe(true)
      const stored = await node.castore.getPathInfo(p.storePath)
      expect(stored?.narSize).toBe(p.nar.byteLength)
    }
    expect(node.announced.sort()).toEqual(paths.map(p => p.storePath).sort())
    expect(node.fetched.map(f => f.storePath).sort()).toEqual(paths.map(p => p.storePath).sort())
    const s = node.sub.stats().upstreams[0]
    expect(s.hits).toBe(4)
    expect(s.failures).toBe(0)
    expect(s.bytesFetched).toBe(paths.reduce((n, p) => n + p.file.byteLength, 0))
    // second time: from the castore, the upstream is not asked again
    const before = up.count(r => r !== '/nix-cache-info')
    for (const p of paths) {
      node.http.cache.invalidate()
      const ni = await narinfoOf(node, p.storePath)
      expect(ni.status).toBe(200)
      const nar = await narOf(node, ni.text)
      expect(nar.body!.equals(p.nar)).toBe(true)
    }
    expect(up.count(r => r !== '/nix-cache-info')).toBe(before)
    expect(await readdir(node.spoolDir)).toEqual([])
  })

  it('streams the NAR to the client while it arrives, and holds the last byte until it is verified', async () => {
    const p = mockPath({ name: 'gated', nar: await makeNar(randomBytes(3 << 20)) }, upstreamKey)
    const up = await mock([p], { gateAt: 1 << 20 })
    const node = await startNode([upstream(up.url)])
    const ni = await narinfoOf(node, p.storePath)
    expect(ni.status).toBe(200)
    const url = /^URL: (.*)$/m.exec(ni.text)![1]
    const r = await fetch(`${node.http.url}/${url}`)
    expect(r.status).toBe(200)
    expect(Number(r.headers.get('content-length'))).toBe(p.nar.byteLength)
    const reader = r.body!.getReader()
    let got = 0
    const parts: Uint8Array[] = []
    // bytes arrive while the upstream still holds back the rest (bounded: the gate is closed)
    for (let i = 0; i < 1000 && got < 512 * 1024; i++) {
      const { value, done } = await reader.read()
      if (done === true) break
      parts.push(value)
      got += value.byteLength
    }
    expect(got).toBeGreaterThanOrEqual(512 * 1024)
    expect(await node.castore.getPathInfo(p.storePath)).toBeUndefined()
    up.release()
    for (let i = 0; i < 100_000; i++) {
      const { value, done } = await reader.read()
      if (done === true) break
      parts.push(value)
    }
    expect(Buffer.concat(parts).equals(p.nar)).toBe(true)
    expect(await node.castore.getPathInfo(p.storePath)).toBeDefined()
  })

  it('answers a Range request and a zstd NAR of a path being pulled once it is stored', async () => {
    const { CompressedNarCache } = await import('../src/http/index.ts')
    const zlib = await import('node:zlib')
    const p = mockPath({ name: 'ranged', nar: await makeNar(randomBytes(700_000)), compression: 'xz' }, upstreamKey)
    const q = mockPath({ name: 'zstd-facade', nar: await makeNar(randomBytes(300_000)), compression: 'bzip2' }, upstreamKey)
    const up = await mock([p, q])
    const node = await startNode([upstream(up.url)])
    const ni = await narinfoOf(node, p.storePath)
    const url = /^URL: (.*)$/m.exec(ni.text)![1]
    const r = await fetch(`${node.http.url}/${url}`, { headers: { range: 'bytes=1000-' } })
    expect(r.status).toBe(206)
    expect(Buffer.from(await r.arrayBuffer()).equals(p.nar.subarray(1000))).toBe(true)
    // a node serving zstd NARs: the compressed file is made once the path is stored
    const compressed = await CompressedNarCache.open({ dir: join(work, `zcache-${nodes}`) })
    cleanups.push(async () => compressed.close())
    const zhttp = await startCache({ castore: node.sub.view(node.castore), pendingNar: node.sub.pendingNar, compression: 'zstd', compressed, signing: { nixKey: nodeKey } })
    cleanups.push(async () => await zhttp.cache.stop())
    const zni = await (await fetch(`${zhttp.url}/${hashPart(q.storePath)}.narinfo`)).text()
    const zurl = /^URL: (.*)$/m.exec(zni)![1]
    expect(zurl).toMatch(/\.nar\.zst$/)
    const z = Buffer.from(await (await fetch(`${zhttp.url}/${zurl}`)).arrayBuffer())
    expect(zlib.zstdDecompressSync(z).equals(q.nar)).toBe(true)
    expect(await node.castore.getPathInfo(q.storePath)).toBeDefined()
  })

  it('stops cleanly in the middle of a pull: nothing stored, no spool file left, the client gets an error', async () => {
    const p = mockPath({ name: 'interrupted', nar: await makeNar(randomBytes(2 << 20)) }, upstreamKey)
    const up = await mock([p], { gateAt: 1 << 20 })
    const node = await startNode([upstream(up.url)])
    const ni = await narinfoOf(node, p.storePath)
    const url = /^URL: (.*)$/m.exec(ni.text)![1]
    const r = await fetch(`${node.http.url}/${url}`)
    const reader = r.body!.getReader()
    expect((await reader.read()).done).toBe(false)
    await node.sub.stop()
    let failed = false
    try {
      for (let i = 0; i < 100_000; i++) if ((await reader.read()).done === true) break
    } catch {
      failed = true
    }
    expect(failed).toBe(true)
    expect(await node.castore.getPathInfo(p.storePath)).toBeUndefined()
    expect(await readdir(node.spoolDir)).toEqual([])
  })

  it('shares one upstream fetch between concurrent requests, and remembers misses', async () => {
    const p = mockPath({ name: 'shared', nar: await makeNar(randomBytes(400_000)), compression: 'zstd' }, upstreamKey)
    const up = await mock([p])
    const node = await startNode([upstream(up.url)])
    const infos = await Promise.all(Array.from({ length: 10 }, async () => await narinfoOf(node, p.storePath)))
    expect(infos.every(i => i.status === 200)).toBe(true)
    expect(up.count(r => r.endsWith('.narinfo'))).toBe(1)
    const nars = await Promise.all(Array.from({ length: 4 }, async () => await narOf(node, infos[0].text)))
    for (const n of nars) expect(n.body!.equals(p.nar)).toBe(true)
    expect(up.count(r => r.startsWith('/nar/'))).toBe(1)
    const last = hashPart(p.storePath)[31]
    const missing = `/nix/store/${hashPart(p.storePath).slice(0, 31)}${last === 'a' ? 'b' : 'a'}-x`
    expect((await narinfoOf(node, missing)).status).toBe(404)
    expect((await narinfoOf(node, missing)).status).toBe(404)
    expect(up.count(r => r === `/${hashPart(missing)}.narinfo`)).toBe(1)
    expect(node.sub.stats().upstreams[0].misses).toBe(1)
  })
})

describe('misbehaving upstreams', () => {
  it('refuses a narinfo with a bad signature and a NAR not matching its NarHash, storing nothing', async () => {
    const forged = mockPath({ name: 'forged', nar: await makeNar(randomBytes(10_000)) }, otherKey)
    const corrupt = mockPath({ name: 'corrupt', nar: await makeNar(randomBytes(300_000)), corruptNar: true }, upstreamKey)
    const corruptXz = mockPath({ name: 'corrupt-xz', nar: await makeNar(randomBytes(300_000)), compression: 'xz', corruptNar: true }, upstreamKey)
    const up = await mock([forged, corrupt, corruptXz])
    const node = await startNode([upstream(up.url)], { failureThreshold: 100 })
    expect((await narinfoOf(node, forged.storePath)).status).toBe(404)
    for (const p of [corrupt, corruptXz]) {
      const ni = await narinfoOf(node, p.storePath)
      expect(ni.status).toBe(200)
      const nar = await narOf(node, ni.text)
      // the response never completes cleanly
      expect(nar.ok && nar.body?.byteLength === p.nar.byteLength).toBe(false)
      expect(await node.castore.getPathInfo(p.storePath)).toBeUndefined()
    }
    expect(await node.castore.getPathInfo(forged.storePath)).toBeUndefined()
    const s = node.sub.stats().upstreams[0]
    expect(s.failures).toBe(3)
    expect(s.lastError).toBeDefined()
    expect(node.announced).toEqual([])
    expect(node.fetched).toEqual([])
    for (let i = 0; i < 50 && (await readdir(node.spoolDir)).length > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
    expect(await readdir(node.spoolDir)).toEqual([])
  })

  it('recovers from a flaky upstream: a failed narinfo is a 404, a NAR cut mid-body an error, the retry works', async () => {
    const p = mockPath({ name: 'flaky', nar: await makeNar(randomBytes(500_000)), compression: 'bzip2' }, upstreamKey)
    const up = await mock([p], { flaky: true, cutFirstNar: true })
    const node = await startNode([upstream(up.url)], { failureThreshold: 100 })
    expect((await narinfoOf(node, p.storePath)).status).toBe(404) // 500 upstream
    const ni = await narinfoOf(node, p.storePath) // not remembered as a miss: asked again
    expect(ni.status).toBe(200)
    let stored = false
    for (let attempt = 0; attempt < 6 && !stored; attempt++) {
      const nar = await narOf(node, ni.text)
      if (nar.ok && nar.body?.equals(p.nar) === true) stored = true
      else expect(await node.castore.getPathInfo(p.storePath)).toBeUndefined()
    }
    expect(stored).toBe(true)
    expect(await node.castore.getPathInfo(p.storePath)).toBeDefined()
    expect(node.sub.stats().upstreams[0].failures).toBeGreaterThanOrEqual(2)
  })

  it('skips dead, slow and blackholed upstreams without waiting on them, and opens their breakers', async () => {
    const good = mockPath({ name: 'behind-dead-ones', nar: await makeNar(randomBytes(20_000)) }, upstreamKey)
    const up = await mock([good])
    const slow = await mock([good], { delayMs: 4_000, probeOk: false })
    const dead = `http://127.0.0.1:${await deadPort()}`
    const silent: Blackhole = await startSilentListener()
    cleanups.push(silent.close)
    const holes: UpstreamConfig[] = [upstream(dead, { timeoutMs: 10_000 }), upstream(silent.url, { timeoutMs: 10_000 }), upstream(slow.url, { timeoutMs: 1_000 })]
    if (hasPython) {
      const full = await startFullBacklog()
      cleanups.push(full.close)
      holes.push(upstream(full.url, { timeoutMs: 10_000 }))
    }
    const node = await startNode([...holes, upstream(up.url)], { probeTimeoutMs: 1_500, coolDownMs: 60_000 }, false)
    // misses: at most the first one waits (the small budget) on an upstream of unknown health;
    // after it gave up, no request is sent to the bad ones (waiting 10 s each would also time
    // this test out)
    for (let i = 0; i < 20; i++) {
      const r = await narinfoOf(node, `/nix/store/${'0'.repeat(31)}${'abcdfghijklmnpqrsvwxyz'[i]}-missing`)
      expect(r.status).toBe(404)
    }
    for (const u of node.sub.stats().upstreams.slice(0, holes.length)) expect(u.requests).toBeLessThanOrEqual(1)
    // the good upstream (last in order) still serves, once known healthy
    for (let i = 0; i < 200 && node.sub.stats().upstreams[holes.length].state !== 'closed'; i++) await new Promise(resolve => setTimeout(resolve, 20))
    const ni = await narinfoOf(node, good.storePath)
    expect(ni.status).toBe(200)
    const nar = await narOf(node, ni.text)
    expect(nar.body!.equals(good.nar)).toBe(true)
    // once the probes have decided, every bad upstream is open and the good one closed
    for (let i = 0; i < 100 && node.sub.stats().upstreams.slice(0, holes.length).some(u => u.state !== 'open'); i++) await new Promise(resolve => setTimeout(resolve, 50))
    const stats = node.sub.stats().upstreams
    expect(stats.slice(0, holes.length).map(u => u.state)).toEqual(holes.map(() => 'open'))
    expect(stats[holes.length].state).toBe('closed')
    // no request reaches a dead or silent upstream any more
    const silentBefore = silent.connections()
    const slowBefore = slow.count(r => r.endsWith('.narinfo'))
    const requestsBefore = stats.map(u => u.requests)
    for (let i = 0; i < 20; i++) {
      expect((await narinfoOf(node, `/nix/store/${'1'.repeat(31)}${'abcdfghijklmnpqrsvwxyz'[i]}-missing`)).status).toBe(404)
    }
    // (one late arrival of an earlier, abandoned connection is tolerated on a loaded machine)
    expect(silent.connections()).toBeLessThanOrEqual(silentBefore + 1)
    expect(slow.count(r => r.endsWith('.narinfo'))).toBeLessThanOrEqual(slowBefore + 1)
    expect(node.sub.stats().upstreams.slice(0, holes.length).map(u => u.requests)).toEqual(requestsBefore.slice(0, holes.length))
    // and the good one answers
    node.http.cache.invalidate()
    const again = await narinfoOf(node, good.storePath)
    expect(again.status).toBe(200)
  }, 30_000)
})

describe('an upstream that goes silent while healthy', () => {
  it('waits its timeout once, then skips it while the probe decides; the breaker opens', async () => {
    const behaviour: { delayMs?: number } = {}
    const up = await mock([], behaviour)
    const node = await startNode([upstream(up.url, { timeoutMs: 1_500 })], { probeTimeoutMs: 500, coolDownMs: 60_000 })
    const miss = (c: string): string => `/nix/store/${'2'.repeat(31)}${c}-gone`
    expect((await narinfoOf(node, miss('a'))).status).toBe(404)
    expect(node.sub.stats().upstreams[0].state).toBe('closed')
    behaviour.delayMs = 20_000
    const before = up.count(r => r.endsWith('.narinfo'))
    for (const c of 'bcdfghijklmn') expect((await narinfoOf(node, miss(c))).status).toBe(404)
    // the first one waited the timeout; after it, at most one more request reached the upstream
    expect(up.count(r => r.endsWith('.narinfo')) - before).toBeLessThanOrEqual(2)
    for (let i = 0; i < 100 && node.sub.stats().upstreams[0].state !== 'open'; i++) await new Promise(resolve => setTimeout(resolve, 50))
    const s = node.sub.stats().upstreams[0]
    expect(s.state).toBe('open')
    expect(s.timeouts).toBeGreaterThanOrEqual(1)
  }, 20_000)
})

describe('an upstream that is down, then back', () => {
  it('opens the breaker, probes it with a growing cool-down, and closes it when it answers again', async () => {
    const p = mockPath({ name: 'after-outage', nar: await makeNar(randomBytes(30_000)) }, upstreamKey)
    const behaviour: { down?: boolean } = { down: true }
    const up = await mock([p], behaviour)
    const node = await startNode([upstream(up.url)], { coolDownMs: 100, maxCoolDownMs: 10_000 }, false)
    for (let i = 0; i < 100 && node.sub.stats().upstreams[0].state !== 'open'; i++) await new Promise(resolve => setTimeout(resolve, 20))
    expect(node.sub.stats().upstreams[0].state).toBe('open')
    expect((await narinfoOf(node, p.storePath)).status).toBe(404)
    const probesAt = up.count(r => r === '/nix-cache-info')
    await new Promise(resolve => setTimeout(resolve, 1_600))
    // cool-downs 100, 200, 400, 800 ms…: a handful of probes, not one per 100 ms
    const probes = up.count(r => r === '/nix-cache-info') - probesAt
    expect(probes).toBeGreaterThanOrEqual(1)
    expect(probes).toBeLessThanOrEqual(6)
    expect(up.count(r => r.endsWith('.narinfo'))).toBe(0)
    behaviour.down = false
    for (let i = 0; i < 300 && node.sub.stats().upstreams[0].state !== 'closed'; i++) await new Promise(resolve => setTimeout(resolve, 20))
    expect(node.sub.stats().upstreams[0].state).toBe('closed')
    node.http.cache.invalidate()
    const ni = await narinfoOf(node, p.storePath)
    expect(ni.status).toBe(200)
    expect((await narOf(node, ni.text)).body!.equals(p.nar)).toBe(true)
  }, 20_000)
})

describe('a Guix upstream (/gnu/store)', () => {
  it('verifies the Guix signature, serves and stores the path; a narinfo signed by another key is refused', async () => {
    const { createGuixNarInfo, renderGuixNarInfo } = await import('../src/nix/guix-narinfo.ts')
    const { generateGuixKeyPair, formatGuixPublicKey, addGuixSignature } = await import('../src/nix/guix-signature.ts')
    const { encodeNixBase32 } = await import('../src/nix/base32.ts')
    const { createHash } = await import('node:crypto')
    const { compress, randomStorePath } = await import('./helpers/mock-upstream.ts')
    const trusted = generateGuixKeyPair()
    const stranger = generateGuixKeyPair()
    const make = async (name: string, secret: typeof trusted.secretKey): Promise<MockPath> => {
      const storePath = randomStorePath(name, '/gnu/store')
      const nar = await makeNar(randomBytes(200_000))
      const file = compress(nar, 'zstd')
      const base = storePath.slice('/gnu/store/'.length)
      const info = createGuixNarInfo({
        storePath,
        narHash: `sha256:${encodeNixBase32(createHash('sha256').update(nar).digest())}`,
        narSize: nar.byteLength,
        references: [],
        nars: [{ url: `nar/zstd/${base}`, compression: 'zstd', fileSize: file.byteLength }]
      })
      return { storePath, nar, compression: 'zstd', file, references: [], narinfo: renderGuixNarInfo(addGuixSignature(info, secret)) }
    }
    const good = await make('guix-good', trusted.secretKey)
    const bad = await make('guix-bad', stranger.secretKey)
    const up = await startMockUpstream([good, bad], {}, '/gnu/store')
    cleanups.push(up.close)
    const dir = join(work, `node-${nodes++}`)
    const castore = await openCastore({ dataDir: dir, fsync: false })
    const sub = createUpstreamSubstituter({ upstreams: [{ url: up.url, publicKeys: [formatGuixPublicKey(trusted.publicKey)], storeDir: '/gnu/store' }], castore, spoolDir: join(dir, 'spool') })
    await sub.start()
    for (let i = 0; i < 500 && sub.stats().upstreams[0].state === 'unknown'; i++) await new Promise(resolve => setTimeout(resolve, 20))
    const nodeGuix = generateGuixKeyPair()
    const http = await startCache({ castore: sub.view(castore, '/gnu/store'), pendingNar: sub.pendingNar, dialect: 'guix', signing: { guixKey: nodeGuix.secretKey } })
    cleanups.push(async () => { await http.cache.stop(); await sub.stop(); await castore.close() })
    const hp = (p: string): string => p.slice('/gnu/store/'.length, '/gnu/store/'.length + 32)
    expect((await fetch(`${http.url}/${hp(bad.storePath)}.narinfo`)).status).toBe(404)
    const r = await fetch(`${http.url}/${hp(good.storePath)}.narinfo`)
    expect(r.status).toBe(200)
    const text = await r.text()
    const url = /^URL: (.*)$/m.exec(text)![1]
    const nar = Buffer.from(await (await fetch(`${http.url}/${url}`)).arrayBuffer())
    expect(nar.equals(good.nar)).toBe(true)
    expect((await castore.getPathInfo(good.storePath))?.narSize).toBe(good.nar.byteLength)
    expect(await castore.getPathInfo(bad.storePath)).toBeUndefined()
    expect(sub.stats().upstreams[0]).toMatchObject({ hits: 1, failures: 1, state: 'closed' })
  })
})

describe('readAhead', () => {
  it('keeps order, reads at most its bound ahead, and passes errors on', async () => {
    const { readAhead } = await import('../src/upstream/read-ahead.ts')
    let produced = 0
    let maxAhead = 0
    let consumed = 0
    const source = async function * (): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 50; i++) {
        produced += 1000
        maxAhead = Math.max(maxAhead, produced - consumed)
        yield new Uint8Array(1000).fill(i)
      }
      throw new Error('source broke')
    }
    const seen: number[] = []
    await expect((async () => {
      for await (const piece of readAhead(source(), 5000)) {
        seen.push(piece[0])
        consumed += piece.byteLength
        await new Promise(resolve => setImmediate(resolve))
      }
    })()).rejects.toThrow('source broke')
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(maxAhead).toBeGreaterThan(2000)
    expect(maxAhead).toBeLessThanOrEqual(6000)
  })
})
