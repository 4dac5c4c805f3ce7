/**
 * Upstream fallback (pull-through, src/upstream), each figure against its anchor in the same run:
 *
 *   a. every upstream unreachable (one refusing connections, one accepting and never answering):
 *      narinfo-miss latency p50/p99 over ≥ 1000 sequential requests on one keep-alive
 *      connection, measured from right after the node started (so the "health unknown" phase
 *      is included), against the same node with no upstream (target p99 < 50 ms);
 *      and `nix-store -r` of a small closure from a `file://` cache with that node as first
 *      substituter against the `file://` cache alone (target ≈ 1.0×), and against the same node
 *      without upstreams first (what any extra substituter answering 404 costs Nix);
 *   b. pull-through of a closure (tens of paths, a few hundred MB, zstd) from a mock upstream on
 *      loopback: first fetch through the node (narinfo + NAR of every path, 4 connections)
 *      against the second fetch of the same paths, served locally (target ≥ 10×).
 *
 * Nodes and the upstream run in their own processes (this file re-executed in a child mode);
 * everything shares the machine's cores (2 on the dev machines).
 *
 * Usage: node bench/upstream.ts [--misses 1000] [--paths 40] [--size 300M] [--rounds 2]
 *                                [--phases miss,nix,pull]
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createServer as createHttpServer } from 'node:http'
import { createServer } from 'node:net'
import type { Socket } from 'node:net'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, readFile, stat } from 'node:fs/promises'
import { tmpdir, cpus, loadavg } from 'node:os'
import { join, normalize } from 'node:path'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { parseSize, median, requireCommand } from './helpers/common.ts'
import { RawConnection, percentile } from './helpers/raw-http.ts'
import { synthesizeCache } from './helpers/synth-cache.ts'
import { generateSigningKey, toPublicKey, formatPublicKey } from '../src/nix/signing.ts'
import { encodeNixBase32 } from '../src/nix/base32.ts'
import { parseNarInfo } from '../src/nix/narinfo.ts'
import type { UpstreamConfig } from '../src/upstream/types.ts'

const self = fileURLToPath(import.meta.url)
const args = process.argv.slice(2)
const arg = (name: string, fallback: string): string => args.includes(name) ? args[args.indexOf(name) + 1] : fallback

// ---- child modes -------------------------------------------------------------------------
if (args[0] === '--child-node') {
  const { startNode } = await import('../node/serve.ts')
  const config = JSON.parse(args[1]) as { dataDir: string, upstreams: UpstreamConfig[] }
  const node = await startNode({ dataDir: config.dataDir, http: '127.0.0.1:0', daemonSocket: false, eris: false, upstreams: config.upstreams, keyName: 'bench-node-1', log: (line) => { if (/upstream|error/i.test(line)) process.stderr.write(line + '\n') } })
  process.stdout.write(`READY ${node.nix.address!.port}\n`)
  process.stdin.resume()
  process.stdin.on('end', () => {
    const s = node.upstream?.stats()
    if (s !== undefined) process.stderr.write(`upstream stats: ${JSON.stringify(s)}\n`)
    void node.stop().then(() => process.exit(0))
  })
} else if (args[0] === '--child-static') {
  const root = args[1]
  const server = createHttpServer((req, res) => {
    const rel = normalize(decodeURIComponent((req.url ?? '/').split('?')[0])).replace(/^\/+/, '')
    if (rel.startsWith('..')) { res.writeHead(400).end(); return }
    const file = join(root, rel)
    stat(file).then(st => {
      if (!st.isFile()) throw new Error('not a file')
      res.writeHead(200, { 'content-length': String(st.size) })
      const stream = createReadStream(file, { highWaterMark: 1 << 20 })
      stream.on('error', (err) => { process.stderr.write(`static upstream: ${rel}: ${err.message}\n`); res.destroy() })
      res.on('close', () => { if (!res.writableFinished) process.stderr.write(`static upstream: ${rel}: closed after ${res.socket?.bytesWritten ?? '?'} bytes of ${st.size}\n`) })
      stream.pipe(res)
    }).catch(() => { res.writeHead(404).end('not found\n') })
  })
  server.requestTimeout = 0
  server.headersTimeout = 0
  server.listen(0, '127.0.0.1', () => { process.stdout.write(`READY ${(server.address() as { port: number }).port}\n`) })
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
} else {
  await main()
}

interface Child { child: ChildProcess, port: number }

async function startChild (childArgs: string[]): Promise<Child> {
  const child = spawn(process.execPath, [self, ...childArgs], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.once('exit', (code) => reject(new Error(`child exited with ${String(code)}`)))
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /READY (\d+)/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
  })
  return { child, port }
}

async function stopChild (c: Child): Promise<void> {
  const exited = new Promise(resolve => c.child.once('exit', resolve))
  c.child.stdin!.end()
  const timer = setTimeout(() => c.child.kill('SIGKILL'), 30_000)
  await exited
  clearTimeout(timer)
}

function log (line: string): void { process.stderr.write(line + '\n') }

async function main (): Promise<void> {
  requireCommand('nix-store', 'nix-bin')
  const MISSES = Number(arg('--misses', '1000'))
  const PATHS = Number(arg('--paths', '40'))
  const SIZE = parseSize(arg('--size', '300M'))
  const ROUNDS = Number(arg('--rounds', '2'))
  const PHASES = arg('--phases', 'miss,nix,pull').split(',')
  const work = await mkdtemp(join(tmpdir(), 'storeswarm-bench-upstream-'))
  const children: Child[] = []
  const sockets = new Set<Socket>()
  const silent = createServer((s) => { sockets.add(s); s.on('error', () => {}) })
  try {
    const key = generateSigningKey('bench-upstream-1')
    const publicKey = formatPublicKey(toPublicKey(key))
    // blackholes: a refused port and a listener that accepts and never answers
    const refused = createServer()
    await new Promise<void>(resolve => refused.listen(0, '127.0.0.1', resolve))
    const refusedPort = (refused.address() as { port: number }).port
    await new Promise<void>(resolve => refused.close(() => resolve()))
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    const silentPort = (silent.address() as { port: number }).port
    const deadUpstreams: UpstreamConfig[] = [
      { url: `http://127.0.0.1:${refusedPort}`, publicKeys: [publicKey] },
      { url: `http://127.0.0.1:${silentPort}`, publicKeys: [publicKey] }
    ]
    let nodes = 0
    const node = async (upstreams: UpstreamConfig[]): Promise<Child> => {
      const c = await startChild(['--child-node', JSON.stringify({ dataDir: join(work, `node-${nodes++}`), upstreams })])
      children.push(c)
      return c
    }
    const stop = async (c: Child): Promise<void> => { children.splice(children.indexOf(c), 1); await stopChild(c) }

    let missResult: Record<string, unknown> | undefined
    let nixResult: Record<string, unknown> | undefined
    let pullResult: Record<string, unknown> | undefined
    // ---- (a) narinfo misses ----
    if (PHASES.includes('miss')) {
    const missLatencies = async (port: number): Promise<number[]> => {
      const conn = new RawConnection(port)
      await conn.connect()
      const ms: number[] = []
      for (let i = 0; i < MISSES; i++) {
        const r = await conn.request(`/${encodeNixBase32(randomBytes(20))}.narinfo`)
        if (r.status !== 404) throw new Error(`expected 404, got ${r.status}`)
        ms.push(r.ms)
      }
      conn.close()
      return ms.sort((a, b) => a - b)
    }
    const plain: number[][] = []
    const dead: number[][] = []
    for (let round = 0; round < ROUNDS; round++) {
      for (const which of round % 2 === 0 ? ['plain', 'dead'] : ['dead', 'plain']) {
        const c = await node(which === 'plain' ? [] : deadUpstreams)
        const ms = await missLatencies(c.port)
        ;(which === 'plain' ? plain : dead).push(ms)
        await stop(c)
      }
    }
    const summary = (runs: number[][]): { p50: number, p99: number, max: number } => ({
      p50: +median(runs.map(r => percentile(r, 0.5))).toFixed(3),
      p99: +median(runs.map(r => percentile(r, 0.99))).toFixed(3),
      max: +Math.max(...runs.map(r => r[r.length - 1])).toFixed(1)
    })
    const missPlain = summary(plain)
    const missDead = summary(dead)
    log(`narinfo misses (${MISSES} sequential, from node start), no upstream: p50 ${missPlain.p50} ms, p99 ${missPlain.p99} ms, max ${missPlain.max} ms`)
    log(`narinfo misses, refused + blackholed upstreams: p50 ${missDead.p50} ms, p99 ${missDead.p99} ms, max ${missDead.max} ms (p99 ratio ${(missDead.p99 / missPlain.p99).toFixed(2)}, target p99 < 50 ms)`)
    log(`  slowest 5 per run: no upstream ${plain.map(r => r.slice(-5).map(x => x.toFixed(1)).join('/')).join(', ')}; dead upstreams ${dead.map(r => r.slice(-5).map(x => x.toFixed(1)).join('/')).join(', ')}`)

    missResult = { requests: MISSES, rounds: ROUNDS, noUpstream: missPlain, deadUpstreams: missDead, p99Ratio: +(missDead.p99 / missPlain.p99).toFixed(3), target: 'p99 < 50 ms' }
    }
    // ---- (a) nix-store -r from a file:// cache, with the dead-upstream node first or not ----
    if (PHASES.includes('nix')) {
    const small = join(work, 'small')
    const smallPaths = await synthesizeCache(small, join(work, 'small-zstd'), { paths: 20, totalBytes: 20 * 1024 * 1024, key, seed: 7 })
    const deadNode = await node(deadUpstreams)
    // the same node without upstreams: what a substituter answering 404 costs Nix anyway
    const plainNode = await node([])
    let runs = 0
    const nixRestore = (substituters: string): number => {
      const dir = join(work, `nix-${runs++}`)
      const t0 = performance.now()
      const r = spawnSync('nix-store', ['--store', join(dir, 'store'), '--option', 'build-users-group', '', '-r', ...smallPaths.map(p => p.storePath),
        '--option', 'substituters', substituters, '--option', 'trusted-public-keys', publicKey], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, XDG_CACHE_HOME: join(dir, 'cache'), NIX_CONFIG: '' }, encoding: 'utf8' })
      const ms = performance.now() - t0
      if (r.status !== 0) throw new Error(`nix-store -r failed: ${r.stderr}`)
      return ms
    }
    const withNode: number[] = []
    const without: number[] = []
    const withPlain: number[] = []
    for (let round = 0; round < ROUNDS + 1; round++) {
      const steps = [
        () => withNode.push(nixRestore(`http://127.0.0.1:${deadNode.port} file://${small}`)),
        () => without.push(nixRestore(`file://${small}`)),
        () => withPlain.push(nixRestore(`http://127.0.0.1:${plainNode.port} file://${small}`))
      ]
      for (let k = 0; k < steps.length; k++) steps[(k + round) % steps.length]()
    }
    await stop(deadNode)
    await stop(plainNode)
    const nixPlain = median(withPlain)
    const nixWith = median(withNode)
    const nixWithout = median(without)
    log(`nix-store -r of ${smallPaths.length} paths (20 MiB) from file://: with the dead-upstream node first ${nixWith.toFixed(0)} ms, without ${nixWithout.toFixed(0)} ms: ${(nixWith / nixWithout).toFixed(2)}× (target ≈ 1.0); with the node without upstreams first ${nixPlain.toFixed(0)} ms (dead upstreams vs none: ${(nixWith / nixPlain).toFixed(2)}×)`)

    nixResult = { paths: smallPaths.length, withDeadNodeMs: +nixWith.toFixed(0), withoutMs: +nixWithout.toFixed(0), ratio: +(nixWith / nixWithout).toFixed(3), target: '~1.0', withPlainNodeMs: +nixPlain.toFixed(0), deadVsPlainRatio: +(nixWith / nixPlain).toFixed(3) }
    }
    // ---- (b) pull-through vs local ----
    if (PHASES.includes('pull')) {
    const big = join(work, 'big')
    const bigZstd = join(work, 'big-zstd')
    const t0 = performance.now()
    const bigPaths = await synthesizeCache(big, bigZstd, { paths: PATHS, totalBytes: SIZE, key, seed: 11 })
    log(`synthesised ${bigPaths.length} paths, ${(bigPaths.reduce((n, p) => n + p.narSize, 0) / 1e6).toFixed(0)} MB of NAR, in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const narUrls = await Promise.all(bigPaths.map(async p => {
      const info = parseNarInfo(await readFile(join(big, `${p.hashPart}.narinfo`)))
      return { narinfo: `/${p.hashPart}.narinfo`, nar: `/nar/${p.hashPart}-${encodeNixBase32(info.narHash.digest)}.nar`, size: info.narSize }
    }))
    const narBytes = narUrls.reduce((n, u) => n + u.size, 0)
    const upstream = await startChild(['--child-static', bigZstd])
    children.push(upstream)
    const pullNode = await node([{ url: `http://127.0.0.1:${upstream.port}`, publicKeys: [publicKey], timeoutMs: 10_000 }])
    const fetchAll = async (): Promise<number> => {
      const started = performance.now()
      let next = 0
      await Promise.all(Array.from({ length: 4 }, async () => {
        const conn = new RawConnection(pullNode.port)
        await conn.connect()
        while (next < narUrls.length) {
          const u = narUrls[next++]
          const ni = await conn.request(u.narinfo)
          if (ni.status !== 200) throw new Error(`${u.narinfo}: ${ni.status}`)
          const nar = await conn.request(u.nar)
          if (nar.status !== 200 || nar.bytes !== u.size) throw new Error(`${u.nar}: ${nar.status}, ${nar.bytes} of ${u.size} bytes`)
        }
        conn.close()
      }))
      return performance.now() - started
    }
    const firstMs = await fetchAll()
    const secondMs = await fetchAll()
    await stop(pullNode)
    await stop(upstream)
    const ratio = firstMs / secondMs
    log(`pull-through of ${bigPaths.length} paths (${(narBytes / 1e6).toFixed(0)} MB NAR, zstd upstream on loopback): first ${(firstMs / 1000).toFixed(2)} s (${(narBytes / 1e6 / (firstMs / 1000)).toFixed(0)} MB/s), second (local) ${(secondMs / 1000).toFixed(2)} s (${(narBytes / 1e6 / (secondMs / 1000)).toFixed(0)} MB/s): ${ratio.toFixed(1)}× (target ≥ 10×)`)
    pullResult = { paths: bigPaths.length, narBytes, firstMs: +firstMs.toFixed(0), secondMs: +secondMs.toFixed(0), ratio: +ratio.toFixed(2), target: '>= 10' }
    }
    log(`load average at the end: ${loadavg().map(x => x.toFixed(2)).join(' ')}`)
    const result = {
      bench: 'upstream',
      cpus: cpus().length,
      note: 'client, node(s) and mock upstream share the machine',
      loadAverage: loadavg().map(x => +x.toFixed(2)),
      narinfoMiss: missResult,
      nixRestore: nixResult,
      pullThrough: pullResult
    }
    process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    for (const c of children.splice(0)) await stopChild(c).catch(() => {})
    for (const s of sockets) s.destroy()
    silent.close()
    await rm(work, { recursive: true, force: true })
  }
}
