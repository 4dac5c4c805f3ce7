/**
 * HTTP binary cache: storeswarm against nginx serving the same closure as a `file://` cache
 * (the cache-shootout anchor, anchor-figures.md), alternating in the same run, same clients:
 *
 *   1. all narinfos of a ≥ 300-path closure, sequentially on one keep-alive connection
 *      (target: storeswarm ≤ 1.5 × nginx time);
 *   2. all NARs with 16 parallel connections, uncompressed (target: ≥ 0.5 × nginx throughput),
 *      with a raw-socket client and with curl (the faster one against nginx counts);
 *   3. the same with zstd: storeswarm `--compression zstd` (cold = compressing on first fetch,
 *      then warm from its NAR cache) against nginx serving `?compression=zstd` files;
 *   4. 200 concurrent narinfo clients + 16 concurrent NAR downloads for 30 s: errors, p50/p99.
 *
 * The closure is synthesised (bench/helpers/synth-cache.ts) in the layout `nix copy --to
 * file://…?compression=none` writes, imported into a storeswarm data dir with
 * `importFromCache`, and served by `storeswarm serve` in its own process. Client and servers
 * share the machine's cores (2 on the dev machines): say so next to the figures.
 *
 * Usage: node bench/http.ts [--paths 373] [--size 1G] [--rounds 3] [--load-seconds 30]
 *                            [--phases narinfo,nars,load,zstd]
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, mkdir, writeFile, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir, cpus, userInfo, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseSize, median, requireCommand } from './helpers/common.ts'
import { RawConnection, percentile } from './helpers/raw-http.ts'
import { synthesizeCache } from './helpers/synth-cache.ts'
import type { SynthPath } from './helpers/synth-cache.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import { importFromCache, openBinaryCacheSource } from '../src/http/index.ts'
import { generateSigningKey, toPublicKey } from '../src/nix/signing.ts'

const args = process.argv.slice(2)
const arg = (name: string, fallback: string): string => args.includes(name) ? args[args.indexOf(name) + 1] : fallback
const PATHS = Number(arg('--paths', '373'))
const TOTAL = parseSize(arg('--size', '1G'))
const ROUNDS = Number(arg('--rounds', '3'))
const LOAD_SECONDS = Number(arg('--load-seconds', '30'))
const PHASES = new Set(arg('--phases', 'narinfo,nars,load,zstd').split(','))
const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
requireCommand('nginx', 'nginx')
requireCommand('curl', 'curl')

const log = (line: string): void => { process.stderr.write(line + '\n') }
const gbps = (bytes: number, ms: number): number => bytes / ms / 1e6

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as any).port; s.close(() => resolve(p)) })
  })
}

const work = await mkdtemp(join(tmpdir(), 'storeswarm-bench-http-'))
const children: ChildProcess[] = []
const cleanup = async (): Promise<void> => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
  await new Promise(resolve => setTimeout(resolve, 500))
  await rm(work, { recursive: true, force: true })
}
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)) })

try {
  // ---- the closure, as a file:// cache (none + zstd), imported into storeswarm
  await loadKernel()
  const key = generateSigningKey('bench-cache-1')
  let t0 = performance.now()
  const paths = await synthesizeCache(join(work, 'cache'), join(work, 'cache-zstd'), { paths: PATHS, totalBytes: TOTAL, key })
  const narBytes = paths.reduce((n, p) => n + p.narSize, 0)
  const zstdBytes = Number(spawnSync('du', ['-sb', join(work, 'cache-zstd', 'nar')]).stdout.toString().split('\t')[0])
  log(`synthesised ${paths.length} paths, ${(narBytes / 2 ** 20).toFixed(0)} MiB of NAR (${(zstdBytes / 2 ** 20).toFixed(0)} MiB as zstd) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const dataDir = join(work, 'node')
  t0 = performance.now()
  const castore = await openCastore({ dataDir, fsync: false })
  await importFromCache({ castore, source: openBinaryCacheSource(`file://${join(work, 'cache')}`), paths: paths.map(p => p.storePath), trustedKeys: [toPublicKey(key)] })
  await castore.close()
  const importMs = performance.now() - t0
  log(`imported into storeswarm in ${(importMs / 1000).toFixed(1)} s (${(narBytes / importMs / 1e6).toFixed(2)} GB/s)`)

  // ---- nginx on loopback, config in a temp dir, not daemonised
  const nginxDir = join(work, 'nginx')
  await mkdir(join(nginxDir, 'tmp'), { recursive: true })
  const [portNone, portZstd] = [await freePort(), await freePort()]
  const workers = 'auto'
  await writeFile(join(nginxDir, 'nginx.conf'), `
${userInfo().uid === 0 ? 'user root;' : ''}
worker_processes ${workers};
daemon off;
pid ${nginxDir}/nginx.pid;
error_log ${nginxDir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 10000000; keepalive_timeout 120;
  types { text/x-nix-narinfo narinfo; application/x-nix-nar nar; application/zstd zst; }
  default_type application/octet-stream;
  client_body_temp_path ${nginxDir}/tmp/body; proxy_temp_path ${nginxDir}/tmp/proxy;
  fastcgi_temp_path ${nginxDir}/tmp/fcgi; uwsgi_temp_path ${nginxDir}/tmp/uwsgi; scgi_temp_path ${nginxDir}/tmp/scgi;
  server { listen 127.0.0.1:${portNone}; root ${join(work, 'cache')}; }
  server { listen 127.0.0.1:${portZstd}; root ${join(work, 'cache-zstd')}; }
}
`)
  const nginx = spawn('nginx', ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')], { stdio: ['ignore', 'inherit', 'inherit'] })
  children.push(nginx)

  // ---- storeswarm serve in its own process
  const startNode = async (extra: string[]): Promise<{ child: ChildProcess, port: number }> => {
    // the HTTP facade alone, like nginx: no background ERIS encoding, no swarm
    const child = spawn(process.execPath, [bin, 'serve', '--data-dir', dataDir, '--http', '127.0.0.1:0', '--no-eris', '--no-p2p', '--no-daemon', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] })
    children.push(child)
    let text = ''
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        text += d.toString()
        const m = /Nix binary cache on http:\/\/127\.0\.0\.1:(\d+)/.exec(text)
        if (m !== null) resolve(Number(m[1]))
      })
      child.once('exit', (code) => reject(new Error(`storeswarm serve exited ${String(code)}: ${text}`)))
    })
    return { child, port }
  }
  const stopNode = async (child: ChildProcess): Promise<void> => {
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
  let node = await startNode([])
  // wait until nginx answers
  for (let i = 0; i < 100; i++) {
    try { const c = new RawConnection(portNone); const r = await c.request('/nix-cache-info'); c.close(); if (r.status === 200) break } catch {}
    await new Promise(resolve => setTimeout(resolve, 50))
  }

  const nodeNarUrl = (p: SynthPath, zstd: boolean): string => `/nar/${p.hashPart}-${p.url.slice(4, 56)}.nar${zstd ? '.zst' : ''}`

  // ---- 1. narinfos, sequential, one keep-alive connection
  const narinfoRun = async (port: number): Promise<number> => {
    const c = new RawConnection(port)
    await c.connect()
    const start = performance.now()
    for (const p of paths) {
      const r = await c.request(`/${p.hashPart}.narinfo`)
      if (r.status !== 200) throw new Error(`narinfo ${p.hashPart}: HTTP ${r.status} on port ${port}`)
    }
    const ms = performance.now() - start
    c.close()
    return ms
  }
  // warm up both (page cache, JIT, storeswarm's PathInfo cache) before timing
  for (let w = 0; w < (PHASES.has('narinfo') ? 5 : 1); w++) {
    await narinfoRun(portNone)
    await narinfoRun(node.port)
  }
  const ni = { nginx: [] as number[], storeswarm: [] as number[] }
  for (let r = 0; r < (PHASES.has('narinfo') ? ROUNDS * 4 : 0); r++) {
    const order: Array<'nginx' | 'storeswarm'> = r % 2 === 0 ? ['nginx', 'storeswarm'] : ['storeswarm', 'nginx']
    for (const who of order) ni[who].push(await narinfoRun(who === 'nginx' ? portNone : node.port))
  }
  const niNginx = median(ni.nginx)
  const niOurs = median(ni.storeswarm)
  const niMin = { nginx: Math.min(...ni.nginx), storeswarm: Math.min(...ni.storeswarm) }
  if (PHASES.has('narinfo')) {
    log(`narinfos (${paths.length}, sequential, keep-alive; median of ${ni.nginx.length} alternating rounds): nginx ${niNginx.toFixed(1)} ms, storeswarm ${niOurs.toFixed(1)} ms → ratio ${(niOurs / niNginx).toFixed(2)} (target ≤ 1.5)`)
    log(`narinfos, best round: nginx ${niMin.nginx.toFixed(1)} ms, storeswarm ${niMin.storeswarm.toFixed(1)} ms → ratio ${(niMin.storeswarm / niMin.nginx).toFixed(2)}`)
  }

  // ---- 2. NARs, 16 connections
  const rawNars = async (port: number, urls: string[], conns = 16): Promise<{ ms: number, bytes: number }> => {
    let next = 0
    let bytes = 0
    const start = performance.now()
    await Promise.all(Array.from({ length: conns }, async () => {
      const c = new RawConnection(port)
      await c.connect()
      while (next < urls.length) {
        const url = urls[next++]
        const r = await c.request(url)
        if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}`)
        bytes += r.bytes
      }
      c.close()
    }))
    return { ms: performance.now() - start, bytes }
  }
  const curlNars = async (port: number, urls: string[]): Promise<{ ms: number, bytes: number }> => {
    const config = join(work, `curl-${port}.cfg`)
    await writeFile(config, urls.map(u => `url = "http://127.0.0.1:${port}${u}"\noutput = "/dev/null"\n`).join(''))
    const start = performance.now()
    const r = spawnSync('curl', ['-s', '-f', '-Z', '--parallel-max', '16', '-K', config, '-w', '%{size_download}\n'], { maxBuffer: 64 << 20 })
    const ms = performance.now() - start
    if (r.status !== 0) throw new Error(`curl exited ${String(r.status)}: ${r.stderr.toString()}`)
    const bytes = r.stdout.toString().trim().split('\n').reduce((n, l) => n + Number(l), 0)
    return { ms, bytes }
  }
  const nginxNone = paths.map(p => `/${p.url}`)
  const nodeNone = paths.map(p => nodeNarUrl(p, false))
  // shuffle the order once (same for both) so big NARs do not all come last
  const perm = paths.map((_, i) => i).sort((a, b) => ((a * 2654435761) % 1009) - ((b * 2654435761) % 1009))
  const ngU = perm.map(i => nginxNone[i])
  const ssU = perm.map(i => nodeNone[i])
  if (PHASES.has('nars')) {
    await rawNars(portNone, ngU)
    await rawNars(node.port, ssU)
  }
  const nar: Record<string, number[]> = { rawNginx: [], rawOurs: [], curlNginx: [], curlOurs: [] }
  for (let r = 0; r < (PHASES.has('nars') ? ROUNDS : 0); r++) {
    const a = await rawNars(portNone, ngU); nar.rawNginx.push(gbps(a.bytes, a.ms))
    const b = await rawNars(node.port, ssU); nar.rawOurs.push(gbps(b.bytes, b.ms))
    const c = await curlNars(node.port, ssU); nar.curlOurs.push(gbps(c.bytes, c.ms))
    const d = await curlNars(portNone, ngU); nar.curlNginx.push(gbps(d.bytes, d.ms))
    if (a.bytes !== narBytes || b.bytes !== narBytes || c.bytes !== narBytes || d.bytes !== narBytes) throw new Error('a NAR run transferred the wrong number of bytes')
  }
  const rawBest = median(nar.rawNginx) >= median(nar.curlNginx)
  const narNginx = rawBest ? median(nar.rawNginx) : median(nar.curlNginx)
  const narOurs = rawBest ? median(nar.rawOurs) : median(nar.curlOurs)
  if (PHASES.has('nars')) log(`NARs (${(narBytes / 2 ** 20).toFixed(0)} MiB, 16 connections): raw client nginx ${median(nar.rawNginx).toFixed(2)} GB/s, storeswarm ${median(nar.rawOurs).toFixed(2)} GB/s; curl nginx ${median(nar.curlNginx).toFixed(2)} GB/s, storeswarm ${median(nar.curlOurs).toFixed(2)} GB/s`)
  if (PHASES.has('nars')) log(`NARs: with the faster client against nginx (${rawBest ? 'raw' : 'curl'}): ratio ${(narOurs / narNginx).toFixed(2)} (target ≥ 0.5)`)

  // ---- 4. load: 200 narinfo clients + 16 NAR downloaders for LOAD_SECONDS
  const load = async (port: number, narUrls: string[]): Promise<Record<string, number>> => {
    const deadline = performance.now() + LOAD_SECONDS * 1000
    const lat: number[] = []
    let errors = 0
    let narCount = 0
    let narBytesDone = 0
    const start = performance.now()
    let seed = 12345
    const rand = (n: number): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed % n }
    const narinfoLoop = async (): Promise<void> => {
      const c = new RawConnection(port)
      try { await c.connect() } catch { errors++; return }
      while (performance.now() < deadline) {
        try {
          const r = await c.request(`/${paths[rand(paths.length)].hashPart}.narinfo`)
          if (r.status !== 200) errors++
          lat.push(r.ms)
        } catch { errors++; c.close(); try { await c.connect() } catch { return } }
      }
      c.close()
    }
    const narLoop = async (): Promise<void> => {
      const c = new RawConnection(port)
      try { await c.connect() } catch { errors++; return }
      while (performance.now() < deadline) {
        const i = rand(narUrls.length)
        try {
          const r = await c.request(narUrls[i])
          if (r.status !== 200 || r.bytes !== paths[i].narSize) errors++
          narCount++
          narBytesDone += r.bytes
        } catch { errors++; c.close(); try { await c.connect() } catch { return } }
      }
      c.close()
    }
    await Promise.all([...Array.from({ length: 200 }, narinfoLoop), ...Array.from({ length: 16 }, narLoop)])
    const ms = performance.now() - start
    lat.sort((a, b) => a - b)
    return { errors, narinfoRequests: lat.length, narinfoPerSecond: Math.round(lat.length / ms * 1000), p50ms: percentile(lat, 0.5), p99ms: percentile(lat, 0.99), nars: narCount, narGBps: gbps(narBytesDone, ms) }
  }
  const fmtLoad = (l: Record<string, number>): string => `${l.errors} errors, ${l.narinfoRequests} narinfos (${l.narinfoPerSecond}/s) p50 ${l.p50ms.toFixed(2)} ms p99 ${l.p99ms.toFixed(2)} ms, ${l.nars} NARs at ${l.narGBps.toFixed(2)} GB/s`
  const loadOurs = LOAD_SECONDS > 0 && PHASES.has('load') ? await load(node.port, nodeNone) : undefined
  if (loadOurs !== undefined) log(`load ${LOAD_SECONDS} s, storeswarm: ${fmtLoad(loadOurs)}`)
  const loadNginx = LOAD_SECONDS > 0 && PHASES.has('load') ? await load(portNone, nginxNone) : undefined
  if (loadNginx !== undefined) log(`load ${LOAD_SECONDS} s, nginx:      ${fmtLoad(loadNginx)}`)

  // ---- 3. zstd
  let zstdResult: Record<string, number> | undefined
  await stopNode(node.child)
  if (PHASES.has('zstd')) {
  node = await startNode(['--compression', 'zstd', '--nar-cache-size', '64G'])
  const ssZ = perm.map(i => nodeNarUrl(paths[i], true))
  const ngZ = perm.map(i => `/${paths[i].zstdUrl}`)
  const cold = await rawNars(node.port, ssZ)
  log(`zstd cold (storeswarm compresses each NAR on its first request): ${(cold.ms / 1000).toFixed(2)} s for ${(cold.bytes / 2 ** 20).toFixed(0)} MiB compressed = ${gbps(narBytes, cold.ms).toFixed(2)} GB/s of NAR`)
  await rawNars(portZstd, ngZ)
  const z: Record<string, number[]> = { nginx: [], ours: [] }
  let zBytesOurs = 0
  for (let r = 0; r < ROUNDS; r++) {
    const a = await rawNars(portZstd, ngZ); z.nginx.push(a.ms)
    const b = await rawNars(node.port, ssZ); z.ours.push(b.ms); zBytesOurs = b.bytes
  }
  const zNginxMs = median(z.nginx)
  const zOursMs = median(z.ours)
  log(`zstd warm (16 connections): nginx ${zNginxMs.toFixed(0)} ms, storeswarm ${zOursMs.toFixed(0)} ms (${(zBytesOurs / 2 ** 20).toFixed(0)} MiB) → throughput ratio ${(zNginxMs / zOursMs).toFixed(2)}; NAR-equivalent ${gbps(narBytes, zOursMs).toFixed(2)} GB/s`)
  await stopNode(node.child)
  zstdResult = { coldSeconds: +(cold.ms / 1000).toFixed(2), nginxMs: +zNginxMs.toFixed(1), storeswarmMs: +zOursMs.toFixed(1), ratio: +(zNginxMs / zOursMs).toFixed(3) }
  }

  log(`load average at the end: ${loadavg().map(x => x.toFixed(2)).join(' ')} (other processes on the machine skew every figure)`)
  const result = {
    bench: 'http',
    cpus: cpus().length,
    note: 'client, nginx and storeswarm share the machine; nginx worker_processes ' + workers,
    loadAverage: loadavg().map(x => +x.toFixed(2)),
    paths: paths.length,
    narBytes,
    zstdBytes,
    narinfoSequential: { nginxMs: +niNginx.toFixed(2), storeswarmMs: +niOurs.toFixed(2), ratio: +(niOurs / niNginx).toFixed(3), bestRatio: +(niMin.storeswarm / niMin.nginx).toFixed(3), target: '<= 1.5' },
    nars16: {
      client: rawBest ? 'raw' : 'curl',
      nginxGBps: +narNginx.toFixed(3),
      storeswarmGBps: +narOurs.toFixed(3),
      ratio: +(narOurs / narNginx).toFixed(3),
      target: '>= 0.5',
      raw: { nginx: +median(nar.rawNginx).toFixed(3), storeswarm: +median(nar.rawOurs).toFixed(3) },
      curl: { nginx: +median(nar.curlNginx).toFixed(3), storeswarm: +median(nar.curlOurs).toFixed(3) }
    },
    zstd16: zstdResult,
    load: { seconds: LOAD_SECONDS, storeswarm: loadOurs, nginx: loadNginx },
    importSeconds: +(importMs / 1000).toFixed(2)
  }
  process.stdout.write(JSON.stringify(result) + '\n')
  void readFile
} finally {
  await cleanup()
}
