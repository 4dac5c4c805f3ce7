/**
 * The status snapshot of a real node: `/status.json`, the status page route, `storeswarm status`
 * through the control socket (and without a node), and the peer side of it with two nodes
 * (a path substituted from a peer shows up with its source, bytes and the peer's counters).
 */
import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { splitStorePath } from '../src/castore/index.ts'
import { generateSigningKey, formatPublicKey, toPublicKey } from '../src/nix/signing.ts'
import type { StatusSnapshot } from '../src/metrics/index.ts'
import { importSigned, sampleTree } from './helpers/p2p.ts'
import { fixtureStore, testKey, HELLO } from './helpers/http.ts'
import { createBinaryCache, createStatusRoutes } from '../src/http/index.ts'
import type { CacheResponse } from '../src/http/index.ts'
import { startTestNode, get, narUrl, sample, TREE, TREE_HASH, TREE_NAR_SIZE, MISSING_HASH } from './status-node.ts'

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))

async function run (args: string[]): Promise<{ status: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 50_000, env: { ...process.env, STORESWARM_DATA_DIR: '' } })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => { stdout += String(d) })
    p.stderr.on('data', (d) => { stderr += String(d) })
    p.on('error', reject)
    p.on('close', (status) => { resolve({ status, stdout, stderr }) })
  })
}

async function snapshot (url: string): Promise<StatusSnapshot> {
  const res = await fetch(`${url}/status.json`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('application/json')
  expect(res.headers.get('cache-control')).toBe('no-store')
  return await res.json() as StatusSnapshot
}

describe('/status.json and the status page', () => {
  it('reports identity, keys, store size, hit ratio and substitutions of a real node, and they move', async () => {
    const t = await startTestNode()
    try {
      const s0 = await snapshot(t.url)
      expect(s0.version).toMatch(/^\d+\.\d+\.\d+/)
      expect(s0.identity.http.nix).toBe(t.url)
      expect(s0.identity.dataDir).toBe(t.dataDir)
      expect(s0.identity.peerId).toBeUndefined()
      expect(s0.keys.nix).toBe(`trusted-public-keys = ${t.node.nix.publicKey!}`)
      expect(s0.keys.guix).toMatch(/^\(public-key/)
      // bytes on disk once the GC measured the store, the NAR size before
      expect(s0.store.paths).toBe(1)
      expect(s0.store.basis === 'gc' ? s0.store.bytes! > 0 : s0.store.bytes === TREE_NAR_SIZE).toBe(true)
      expect(s0.ratios).toEqual({})
      expect(s0.substitutions).toEqual([])
      expect(s0.peers).toEqual([])
      expect(s0.transfers).toEqual([])
      expect(s0.upstreams).toEqual([])
      expect(s0.uptimeMs).toBeGreaterThanOrEqual(0)

      const hit = await get(t.url, `/${TREE_HASH}.narinfo`)
      expect((await get(t.url, `/${MISSING_HASH}.narinfo`)).status).toBe(404)
      expect((await get(t.url, `/${narUrl(hit.text)}`)).status).toBe(200)
      let s1 = await snapshot(t.url)
      // the store path of a NAR served over HTTP is looked up in the background: poll (bounded)
      for (let i = 0; i < 50 && s1.substitutions[0]?.storePath !== TREE; i++) {
        await new Promise(resolve => setTimeout(resolve, 20))
        s1 = await snapshot(t.url)
      }
      expect(s1.ratios.narinfoHit).toBe(0.5)
      expect(s1.counts.narinfoHits).toBe(1)
      expect(s1.counts.narinfoMisses).toBe(1)
      expect(s1.counts.substitutions).toEqual({ local: 1, peer: 0, upstream: 0 })
      expect(s1.ratios.bytesBySource).toEqual({ local: 1, peer: 0, upstream: 0 })
      expect(s1.substitutions).toHaveLength(1)
      expect(s1.substitutions[0]).toMatchObject({ storePath: TREE, source: 'local', bytes: TREE_NAR_SIZE })
      expect(s1.counts.httpRequests).toBeGreaterThanOrEqual(4) // includes the first /status.json
    } finally {
      await t.close()
    }
  })

  it('serves the page at / (self-contained HTML) while the cache routes stay as they are', async () => {
    const t = await startTestNode()
    try {
      const res = await fetch(`${t.url}/`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'")
      const html = await res.text()
      expect(html).toMatch(/^<!doctype html>/)
      expect(html).toContain('status.json')
      // nothing loaded from elsewhere
      expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//)
      const head = await fetch(`${t.url}/metrics`, { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0)
      // uploads are off: a PUT elsewhere is refused as before, not routed to the status routes
      expect((await fetch(`${t.url}/status.json`, { method: 'PUT', body: 'x' })).status).toBe(405)
      expect((await get(t.url, '/nix-cache-info')).text).toContain('Priority: 30\n')
      expect((await get(t.url, '/status.json/x')).status).toBe(404)
    } finally {
      await t.close()
    }
  })
})

describe('status routes', () => {
  it('show the page and the snapshot to loopback clients only (unless asked), the metrics to all', async () => {
    const routes = (remoteStatus?: boolean) => createStatusRoutes({ metrics: () => 'm 1\n', snapshot: async () => ({ ok: true }), remoteStatus })
    const req = (url: string, remoteAddress: string, method = 'GET') => ({ method, url, headers: {}, remoteAddress, signal: new AbortController().signal })
    const text = (r: CacheResponse | undefined): string => Buffer.from(r!.body as Uint8Array).toString()
    const local = routes()
    expect(text(await local(req('/status.json', '::ffff:127.0.0.1')))).toBe('{"ok":true}')
    expect((await local(req('/', '::1')))?.headers['content-type']).toBe('text/html; charset=utf-8')
    expect((await local(req('/status.json', '192.0.2.7')))?.status).toBe(403)
    expect(await local(req('/', '192.0.2.7'))).toBeUndefined() // the cache's own home page
    expect(text(await local(req('/metrics?x=1', '192.0.2.7')))).toBe('m 1\n')
    expect(await local(req('/metrics', '127.0.0.1', 'POST'))).toBeUndefined()
    expect(await local(req('/other', '127.0.0.1'))).toBeUndefined()
    expect(text(await routes(true)(req('/status.json', '192.0.2.7')))).toBe('{"ok":true}')
  })
})

describe('storeswarm status', () => {
  it('prints the running node\'s snapshot (--json) and a summary through the control socket', async () => {
    const t = await startTestNode()
    try {
      await get(t.url, `/${TREE_HASH}.narinfo`)
      const json = await run(['status', '--json', '--data-dir', t.dataDir])
      expect(json.stderr).toBe('')
      expect(json.status).toBe(0)
      const s = JSON.parse(json.stdout) as StatusSnapshot
      expect(s.identity.http.nix).toBe(t.url)
      expect(s.keys.nixPublicKey).toBe(t.node.nix.publicKey)
      expect(s.store.paths).toBe(1)
      expect(s.counts.narinfoHits).toBe(1)
      const human = await run(['status', '--data-dir', t.dataDir])
      expect(human.status).toBe(0)
      expect(human.stdout).toContain(`Nix cache      ${t.url}`)
      expect(human.stdout).toContain(`trusted-public-keys = ${t.node.nix.publicKey!}`)
      expect(human.stdout).toContain('narinfo hit ratio 100.0 % (1 hits, 0 misses)')
      expect(human.stdout).toMatch(/\nstore: \d+(\.\d+)? (B|KiB) in 1 paths/)
    } finally {
      await t.close()
    }
  })

  it('says so and exits 1 when no node runs on the data directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-status-none-'))
    try {
      const r = await run(['status', '--data-dir', dir])
      expect(r.status).toBe(1)
      expect(r.stderr).toBe(`storeswarm: no node running on ${dir}\n`)
      expect(r.stdout).toBe('')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('status with an upstream cache', () => {
  it('shows a path pulled through from an upstream as an upstream substitution, with the upstream\'s counters', async () => {
    const store = await fixtureStore()
    const upstream = createBinaryCache({ castore: store.castore, signing: { mode: 'none' }, listen: { host: '127.0.0.1', port: 0 } })
    await upstream.start()
    let d: Awaited<ReturnType<typeof startTestNode>> | undefined
    try {
      d = await startTestNode({ upstreams: [{ url: upstream.url!, publicKeys: [formatPublicKey(await testKey())] }] })
      const hashPart = splitStorePath(HELLO).hashPart
      const narinfo = await get(d.url, `/${hashPart}.narinfo`)
      expect(narinfo.status).toBe(200)
      const nar = await fetch(`${d.url}/${narUrl(narinfo.text)}`)
      expect(nar.status).toBe(200)
      await nar.arrayBuffer()
      let s = await snapshot(d.url)
      for (let i = 0; i < 100 && s.substitutions.length === 0; i++) {
        await new Promise(resolve => setTimeout(resolve, 20))
        s = await snapshot(d.url)
      }
      expect(s.substitutions).toHaveLength(1)
      expect(s.substitutions[0]).toMatchObject({ storePath: HELLO, source: 'upstream' })
      expect(s.counts.substitutions).toEqual({ local: 0, peer: 0, upstream: 1 })
      expect(s.counts.bytesBySource.upstream).toBeGreaterThan(0)
      expect(s.upstreams).toHaveLength(1)
      expect(s.upstreams[0]).toMatchObject({ url: upstream.url, hits: 1 })
      const m = (await get(d.url, '/metrics')).text
      expect(sample(m, 'storeswarm_upstream_hits_total', { upstream: upstream.url! })).toBe(1)
      expect(sample(m, 'storeswarm_substitutions_total', { source: 'upstream' })).toBe(1)
    } finally {
      await d?.close()
      await upstream.stop()
      await store.close()
    }
  }, 30_000)
})

describe('status with peers', () => {
  it('shows a path substituted from a peer, with bytes from / to each peer on both nodes', async () => {
    const key = generateSigningKey('status.test-1')
    const a = await startTestNode({ p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], nat: false, control: false } })
    let c: Awaited<ReturnType<typeof startTestNode>> | undefined
    try {
      // a signed path on A, imported through A's own store (the data directory is locked)
      const info = await importSigned(a.node.p2p!.swarm.castore, sampleTree(71, 300_000), 'peer-path-1.0', 71, key)
      c = await startTestNode({
        p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: a.node.p2p!.addrs.filter(x => x.includes('/127.0.0.1/')), nat: false, control: false, trustedPublicKeys: [formatPublicKey(toPublicKey(key))], substituteBudgetMs: 5000 }
      })
      const res = await get(c.url, `/${splitStorePath(info.storePath).hashPart}.narinfo`)
      expect(res.status).toBe(200)
      const sc = await snapshot(c.url)
      expect(sc.identity.peerId).toBe(c.node.p2p!.peerId)
      expect(sc.identity.listenAddrs.length).toBeGreaterThan(0)
      expect(sc.substitutions[0]).toMatchObject({ storePath: info.storePath, source: 'peer', bytes: info.narSize })
      expect(sc.substitutions[0].ms).toBeGreaterThanOrEqual(0)
      expect(sc.counts.substitutions.peer).toBe(1)
      expect(sc.counts.bytesBySource.peer).toBeGreaterThan(300_000)
      expect(sc.store.paths).toBe(2)
      const fromA = sc.peers.find(p => p.id === a.node.p2p!.peerId)
      expect(fromA?.bytesFrom).toBeGreaterThan(300_000)
      expect(fromA?.speed).toBeGreaterThan(0)
      expect(sc.transfers).toEqual([])
      const sa = await snapshot(a.url)
      const toC = sa.peers.find(p => p.id === c!.node.p2p!.peerId)
      expect(toC?.bytesTo).toBeGreaterThan(300_000)
      expect(sa.counts.peerBytesServed).toBe(toC?.bytesTo)
      const m = (await get(c.url, '/metrics')).text
      expect(sample(m, 'storeswarm_dht_lookups_total')).toBe(1)
      expect(sample(m, 'storeswarm_dht_lookup_failures_total')).toBe(0)
      expect(sample(m, 'storeswarm_peers_connected')).toBe(1)
      expect(sample(m, 'storeswarm_substitution_duration_seconds_count', { source: 'peer' })).toBe(1)
      // NAR of the peer path: served from the store, but its bytes were already counted as peer bytes
      expect((await get(c.url, `/${narUrl(res.text)}`)).status).toBe(200)
      const m2 = (await get(c.url, '/metrics')).text
      expect(sample(m2, 'storeswarm_substitutions_total', { source: 'local' })).toBeUndefined()
    } finally {
      await c?.close()
      await a.close()
    }
  }, 60_000)
})
