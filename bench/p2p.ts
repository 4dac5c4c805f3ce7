/**
 * Peer-to-peer benchmark (issue 5), all on 127.0.0.1, ratios measured in the same run:
 *
 * 1. one blob (default 1 GiB) from a seeder process to this process over the fetch protocol
 *    (TCP + TLS + yamux), every parent and group verified, vs a plain `node:http` GET of the
 *    same bytes from the same process (target ≥ 0.4×); plus, for reference, the same over
 *    plaintext (isolates the cost of Noise) and the full download into a castore (partial file,
 *    finalised into the BlobStore);
 * 2. the same kind of blob (default 96 MiB) from 3 seeders, each rate-limited to the same
 *    upload rate (default 8 MiB/s, so that three of them stay well below what one receiving
 *    process verifies and writes on a busy 2-core machine), vs from 1 (target ≥ 2.2×);
 * 3. time from `fetch` to the first verified byte through the DHT with 20 nodes in one
 *    process (p50 / p95 over the rounds).
 * Helia is not installed in this project, so no Helia comparison is made.
 *
 * Usage: node bench/p2p.ts [--size 1G] [--multi-size 96M] [--rate 8M] [--runs 3] [--nodes 20] [--rounds 20] [--parts 1,2,3]
 * Prints progress on stderr and one JSON line on stdout.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore, fromHex } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { PartialBlobStore } from '../src/castore/partial-blob.ts'
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { StorePath } from '../src/nix/store-path.ts'
import { fingerprintPath } from '../src/nix/fingerprint.ts'
import { generateSigningKey, signFingerprint, toPublicKey } from '../src/nix/signing.ts'
import { createHost, createSwarm, fetchBlobOnStream, FETCH_PROTOCOL } from '../src/p2p/index.ts'
import type { Host, Swarm } from '../src/p2p/index.ts'
import { plaintext } from '@libp2p/plaintext'
import { median, parseSize } from './helpers/common.ts'

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1G' },
    'multi-size': { type: 'string', default: '96M' },
    rate: { type: 'string', default: '8M' },
    runs: { type: 'string', default: '3' },
    nodes: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '20' },
    parts: { type: 'string', default: '1,2,3' }
  }
})
const SIZE = parseSize(values.size as string)
const MULTI_SIZE = parseSize(values['multi-size'] as string)
const RATE = parseSize(values.rate as string)
const RUNS = Number(values.runs)
const NODES = Number(values.nodes)
const ROUNDS = Number(values.rounds)
const PARTS = new Set((values.parts as string).split(',').map(Number))
const SEEDER = fileURLToPath(new URL('./helpers/p2p-seeder.ts', import.meta.url))
const log = (s: string): void => { process.stderr.write(s + '\n') }
const mbps = (bytes: number, ms: number): number => Math.round(bytes / 1e6 / (ms / 1000))
const tmp: string[] = []
const children: ChildProcess[] = []

interface Seeder { addr: string, peerId: string, digest: string, size: number, httpPort: number, proc: ChildProcess }

async function seeder (size: number, seed: number, rate = 0): Promise<Seeder> {
  const dir = await mkdtemp(join(tmpdir(), 'ss-bench-seed-'))
  tmp.push(dir)
  const proc = spawn(process.execPath, [SEEDER, dir, String(size), String(seed), String(rate)], { stdio: ['pipe', 'pipe', 'inherit'] })
  children.push(proc)
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    proc.stdout?.on('data', (d) => { out += String(d); const nl = out.indexOf('\n'); if (nl >= 0) resolve(out.slice(0, nl)) })
    proc.once('exit', (code) => { reject(new Error(`seeder exited with ${code}`)) })
  })
  return { ...JSON.parse(line), proc }
}

async function clientHost (): Promise<Host> {
  return await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], nat: false, allow: ['/ip4/127.0.0.0/ipcidr/8'], dht: { initialQuerySelfInterval: 0 } })
}

async function httpGet (port: number): Promise<number> {
  const t0 = performance.now()
  let n = 0
  await new Promise<void>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.on('data', (d: Buffer) => { n += d.length })
      res.on('end', resolve)
      res.on('error', reject)
    }).on('error', reject).end()
  })
  if (n === 0) throw new Error('empty HTTP body')
  return performance.now() - t0
}

async function p2pVerified (host: Host, s: Seeder): Promise<number> {
  const t0 = performance.now()
  const stream = await host.dialProtocol(multiaddr(s.addr), FETCH_PROTOCOL)
  let n = 0
  await fetchBlobOnStream(stream, fromHex(s.digest), { size: s.size, onData: (item) => { n += item.data.byteLength } })
  if (n !== s.size) throw new Error(`verified ${n} of ${s.size} bytes`)
  return performance.now() - t0
}

async function swarmClient (): Promise<{ host: Host, castore: Castore, swarm: Swarm, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ss-bench-client-'))
  tmp.push(dir)
  const castore = await openCastore({ dataDir: dir, fsync: false })
  const host = await clientHost()
  const swarm = createSwarm({ host, castore, partials: new PartialBlobStore({ root: dir, fsync: false }) }, { downloader: { pieceGroups: 64 } })
  await swarm.start()
  return { host, castore, swarm, dir }
}

async function intoCastore (seeds: Seeder[]): Promise<number> {
  const c = await swarmClient()
  try {
    for (const s of seeds) await c.host.dial(multiaddr(s.addr))
    const perPeer = new Map<string, number>()
    const problems: string[] = []
    c.swarm.downloader.addEventListener('verified', (e) => { perPeer.set(e.detail.peer, (perPeer.get(e.detail.peer) ?? 0) + e.detail.bytes) })
    c.swarm.scores.addEventListener('peer:penalised', (e) => { problems.push(e.detail.reason) })
    const t0 = performance.now()
    await c.swarm.downloader.fetchBlob(fromHex(seeds[0].digest), seeds.map(s => s.peerId), { size: seeds[0].size })
    const ms = performance.now() - t0
    if (process.env.P2P_BENCH_DEBUG === '1') log(`    per peer MB: ${[...perPeer.values()].map(v => (v / 1e6).toFixed(0)).join(', ')}; penalties: ${problems.length} ${problems.slice(0, 3).join(' | ')}`)
    return ms
  } finally {
    await c.swarm.stop(); await c.host.stop(); await c.castore.close(); await rm(c.dir, { recursive: true, force: true })
  }
}

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]
}

async function dhtBench (): Promise<{ p50: number, p95: number, rounds: number, setupMs: number }> {
  const key = generateSigningKey('bench.swarm-1')
  const t0 = performance.now()
  const nodes: Array<{ host: Host, castore: Castore, swarm: Swarm, dir: string }> = []
  for (let i = 0; i < NODES; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'ss-bench-dht-'))
    tmp.push(dir)
    const castore = await openCastore({ dataDir: dir, fsync: false })
    const host = await clientHost()
    const swarm = createSwarm({ host, castore, partials: new PartialBlobStore({ root: dir, fsync: false }) }, { trustedKeys: [toPublicKey(key)], askConnected: false })
    await swarm.start()
    nodes.push({ host, castore, swarm, dir })
  }
  // bootstrap everyone off node 0, in batches of 4 (libp2p-notes.md §2 DHT scale test)
  for (let i = 1; i < NODES; i += 4) {
    await Promise.all(nodes.slice(i, i + 4).map(async n => await n.host.dial(nodes[0].host.getMultiaddrs()[0])))
  }
  const rt = (n: { host: Host }): number => ((n.host.services.dht as any).routingTable?.size ?? 0) as number
  for (let k = 0; k < 300 && nodes.some(n => rt(n) < 1); k++) await new Promise(resolve => setTimeout(resolve, 20))
  await new Promise(resolve => setTimeout(resolve, 2000)) // self-queries fill the tables
  const setupMs = performance.now() - t0
  const ttfb: number[] = []
  const enc = new TextEncoder()
  for (let r = 0; r < ROUNDS; r++) {
    const a = nodes[(r * 7 + 3) % NODES]
    let b = nodes[(r * 11 + 5) % NODES]
    if (b === a) b = nodes[(r * 11 + 6) % NODES]
    const data = new Uint8Array(256 * 1024).map((_, i) => (i * 31 + r) & 0xff)
    const tree: NarSourceNode = { type: 'directory', entries: async function * () { yield { name: enc.encode('data'), node: { type: 'regular', executable: false, size: data.length, contents: async function * () { yield data } } } } }
    const hash = Array.from({ length: 32 }, (_, i) => '0123456789abcdfghijklmnpqrsvwxyz'[(r * 13 + i * 7 + (i * i) % 5) % 32]).join('')
    const storePath = `/nix/store/${hash}-bench-${r}`
    const { info } = await a.castore.importNar(writeNar(tree), { storePath })
    const fp = fingerprintPath(StorePath.parse(storePath, '/nix/store'), { algorithm: 'sha256', digest: info.narHash }, info.narSize, [])
    await a.castore.pathInfos.put({ ...info, signatures: [signFingerprint(fp, key)] })
    await a.swarm.announce([storePath], { signal: AbortSignal.timeout(30_000) })
    let first = -1
    const onVerified = (): void => { if (first < 0) first = performance.now() }
    b.swarm.downloader.addEventListener('verified', onVerified)
    const t = performance.now()
    const got = await b.swarm.fetchStorePath(storePath, { budgetMs: 10_000 })
    b.swarm.downloader.removeEventListener('verified', onVerified)
    if (got === undefined || first < 0) throw new Error(`round ${r}: not fetched`)
    ttfb.push(first - t)
  }
  for (const n of nodes) { await n.swarm.stop(); await n.host.stop(); await n.castore.close() }
  void peerIdFromString
  return { p50: Math.round(pct(ttfb, 0.5) * 10) / 10, p95: Math.round(pct(ttfb, 0.95) * 10) / 10, rounds: ttfb.length, setupMs: Math.round(setupMs) }
}

async function main (): Promise<void> {
  await loadKernel()
  let http = 0
  let p2p = 0
  let storeMs = 0
  let plainMs = 0
  if (PARTS.has(1)) {
    // 1. one seeder, full speed
    log(`p2p bench: preparing a ${SIZE} byte blob in a seeder process…`)
    const big = await seeder(SIZE, 1)
    const host = await clientHost()
    const httpMs: number[] = []
    const p2pMs: number[] = []
    for (let i = 0; i < RUNS; i++) {
      httpMs.push(await httpGet(big.httpPort))
      p2pMs.push(await p2pVerified(host, big))
      log(`  run ${i + 1}: http ${mbps(SIZE, httpMs[i])} MB/s, p2p verified ${mbps(SIZE, p2pMs[i])} MB/s`)
    }
    await host.stop()
    // reference only: the same over plaintext (not a deployable setting) isolates what Noise costs
    const plainHost = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], nat: false, encrypters: [], extraEncrypters: [plaintext()] })
    plainMs = await p2pVerified(plainHost, big)
    await plainHost.stop()
    log(`  p2p verified over plaintext (reference): ${mbps(SIZE, plainMs)} MB/s`)
    storeMs = await intoCastore([big])
    log(`  into castore (partial file + finalise): ${mbps(SIZE, storeMs)} MB/s`)
    big.proc.stdin?.end()
    http = mbps(SIZE, median(httpMs))
    p2p = mbps(SIZE, median(p2pMs))
  }

  let oneMs = 0
  let threeMs = 0
  if (PARTS.has(2)) {
    // 2. three rate-limited seeders vs one
    log(`p2p bench: 3 seeders limited to ${RATE} B/s each, ${MULTI_SIZE} byte blob…`)
    const seeds = [await seeder(MULTI_SIZE, 2, RATE), await seeder(MULTI_SIZE, 2, RATE), await seeder(MULTI_SIZE, 2, RATE)]
    oneMs = await intoCastore([seeds[0]])
    threeMs = await intoCastore(seeds)
    log(`  1 seeder ${mbps(MULTI_SIZE, oneMs)} MB/s, 3 seeders ${mbps(MULTI_SIZE, threeMs)} MB/s`)
    for (const s of seeds) s.proc.stdin?.end()
  }

  let dht = { p50: 0, p95: 0, rounds: 0, setupMs: 0 }
  if (PARTS.has(3)) {
    // 3. DHT time to first verified byte
    log(`p2p bench: ${NODES} nodes, ${ROUNDS} fetches through the DHT…`)
    dht = await dhtBench()
    log(`  time to first verified byte p50 ${dht.p50} ms, p95 ${dht.p95} ms (setup ${dht.setupMs} ms)`)
  }

  const result = {
    bench: 'p2p',
    blobBytes: SIZE,
    httpGetMBps: http,
    p2pVerifiedMBps: p2p,
    p2pVsHttp: http > 0 ? Math.round(p2p / http * 100) / 100 : null,
    p2pIntoCastoreMBps: storeMs > 0 ? mbps(SIZE, storeMs) : null,
    p2pPlaintextVerifiedMBps: plainMs > 0 ? mbps(SIZE, plainMs) : null,
    encryption: 'noise (DEFAULT_ENCRYPTERS)',
    multi: { blobBytes: MULTI_SIZE, seederRateBps: RATE, oneSeederMBps: oneMs > 0 ? mbps(MULTI_SIZE, oneMs) : null, threeSeedersMBps: threeMs > 0 ? mbps(MULTI_SIZE, threeMs) : null, speedup: threeMs > 0 ? Math.round(oneMs / threeMs * 100) / 100 : null },
    dht: { nodes: NODES, rounds: dht.rounds, ttfbP50Ms: dht.p50, ttfbP95Ms: dht.p95, setupMs: dht.setupMs },
    helia: 'not measured: helia is not installed in this project'
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

try {
  await main()
} finally {
  for (const c of children) if (c.exitCode === null) c.stdin?.end()
  await new Promise(resolve => setTimeout(resolve, 500))
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  for (const d of tmp) await rm(d, { recursive: true, force: true })
}
