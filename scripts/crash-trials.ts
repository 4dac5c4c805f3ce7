/**
 * Crash-safety trials: `npm run crash-trials -- --kills 200 --seed 1 [--rotate 25] [--no-p2p]`.
 *
 * Starts `storeswarm serve` as a child process on a temporary data directory (loopback only),
 * with a second node as a P2P peer, drives a seeded random workload through it — HTTP uploads
 * (PUT NAR + PUT narinfo, as `nix copy --to http://…`), daemon-socket uploads (AddToStoreNar with
 * the project's daemon client), P2P fetches (a narinfo GET for a path only the peer holds makes
 * the node fetch it from the peer), and `storeswarm gc` when it is available — and SIGKILLs the
 * node at a random moment. Then, with the node dead:
 *   1. `storeswarm verify --json --check-nar-hash` must find no damage (leftovers of the
 *      interrupted writes are allowed; nothing may need repair);
 *   2. every path the node had reported valid before the kill (200 on the narinfo PUT, a
 *      successful AddToStoreNar, a 200 narinfo from the peer fetch) must still be valid with the
 *      NarHash it was given (verify has just re-rendered every NAR against its NarHash).
 * and the node is restarted for the next round. Every `--rotate` kills the data directory is
 * started afresh, so verification stays cheap. Prints a summary and one JSON line; exits 1 on any
 * corrupt store or lost path.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { openCastore, toHex } from '../src/castore/index.ts'
import { verifyCastore, verifyFoundDamage } from '../src/castore/verify.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { generateSigningKey, formatPublicKey, signFingerprint, toPublicKey } from '../src/nix/signing.ts'
import type { SecretKey } from '../src/nix/signing.ts'
import { fingerprintPath } from '../src/nix/fingerprint.ts'
import { formatNixHash } from '../src/nix/hash.ts'
import { parseStorePath } from '../src/nix/store-path.ts'
import { DaemonClient } from '../src/daemon/client.ts'

export const BIN = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'

// ---- seeded randomness ------------------------------------------------------------------------

export type Rand = () => number
export function seeded (seed: number): Rand {
  let s = (seed >>> 0) || 1
  return () => {
    s = (s + 0x6D2B79F5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

function randomBytesSeeded (rand: Rand, n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i += 4) {
    const v = (rand() * 2 ** 32) >>> 0
    b[i] = v; b[i + 1] = v >>> 8; b[i + 2] = v >>> 16; b[i + 3] = v >>> 24
  }
  return b
}

// ---- generated store paths --------------------------------------------------------------------

export interface GeneratedPath {
  storePath: string
  hashPart: string
  nar: Uint8Array
  narHashHex: string
  narinfo: string
  /** what the daemon protocol wants */
  narHashNix32: string
  signature: string
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p)
  return Buffer.concat(parts)
}

/** Files reused across paths, so uploads also hit deduplication. */
export class PathFactory {
  private readonly rand: Rand
  private readonly key: SecretKey
  private readonly pool: Uint8Array[] = []
  private n = 0
  readonly label: string

  constructor (rand: Rand, key: SecretKey, label: string) {
    this.rand = rand
    this.key = key
    this.label = label
  }

  private fileData (): Uint8Array {
    const r = this.rand()
    if (this.pool.length > 0 && r < 0.25) return this.pool[Math.floor(this.rand() * this.pool.length)]
    // mostly small files, some over 16 KiB (outboards), a few of 1–3 MiB (long writes)
    const size = r < 0.3 ? Math.floor(this.rand() * 16384) : r < 0.93 ? Math.floor(this.rand() * 200_000) : 1_000_000 + Math.floor(this.rand() * 2_000_000)
    const data = randomBytesSeeded(this.rand, size)
    if (this.pool.length < 64) this.pool.push(data)
    else this.pool[Math.floor(this.rand() * 64)] = data
    return data
  }

  private tree (depth: number): NarSourceNode {
    const n = 1 + Math.floor(this.rand() * 5)
    const kids: Array<{ name: Uint8Array, node: NarSourceNode }> = []
    for (let i = 0; i < n; i++) {
      const r = this.rand()
      const name = Buffer.from(`e${i}`)
      if (r < 0.2 && depth < 3) kids.push({ name, node: this.tree(depth + 1) })
      else if (r < 0.3) kids.push({ name, node: { type: 'symlink', target: Buffer.from(`../e${i}`) } })
      else {
        const data = this.fileData()
        kids.push({ name, node: { type: 'regular', executable: this.rand() < 0.3, size: data.length, contents: async function * () { yield data } } })
      }
    }
    return { type: 'directory', entries: async function * () { yield * kids } }
  }

  async next (): Promise<GeneratedPath> {
    let hashPart = ''
    for (let k = 0; k < 32; k++) hashPart += NIX32[Math.floor(this.rand() * 32)]
    const storePath = `/nix/store/${hashPart}-${this.label}-${this.n++}`
    const nar = await collect(writeNar(this.tree(0)))
    const digest = createHash('sha256').update(nar).digest()
    const narHash = { algorithm: 'sha256' as const, digest: new Uint8Array(digest) }
    const narHashNix32 = formatNixHash(narHash, 'nix32')
    const signature = signFingerprint(fingerprintPath(parseStorePath(storePath), narHash, nar.length, []), this.key)
    const narinfo = [
      `StorePath: ${storePath}`,
      `URL: nar/${narHashNix32.slice(7)}.nar`,
      'Compression: none',
      `FileHash: ${narHashNix32}`,
      `FileSize: ${nar.length}`,
      `NarHash: ${narHashNix32}`,
      `NarSize: ${nar.length}`,
      'References: ',
      `Sig: ${signature}`,
      ''
    ].join('\n')
    return { storePath, hashPart, nar, narHashHex: digest.toString('hex'), narinfo, narHashNix32, signature }
  }
}

// ---- HTTP and daemon clients ------------------------------------------------------------------

async function withTimeout<T> (ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(ms)
  return await fn(signal)
}

/** PUT NAR then narinfo; true when the node answered 2xx to the narinfo (the path is valid). */
export async function httpUpload (base: string, p: GeneratedPath, timeoutMs = 30_000): Promise<boolean> {
  return await withTimeout(timeoutMs, async (signal) => {
    const nar = await fetch(`${base}/nar/${p.narHashNix32.slice(7)}.nar`, { method: 'PUT', body: p.nar, signal })
    await nar.arrayBuffer()
    if (!nar.ok) throw new Error(`PUT nar: ${nar.status}`)
    const ni = await fetch(`${base}/${p.hashPart}.narinfo`, { method: 'PUT', body: p.narinfo, signal, headers: { 'content-type': 'text/x-nix-narinfo' } })
    await ni.arrayBuffer()
    if (!ni.ok) throw new Error(`PUT narinfo: ${ni.status}`)
    return true
  })
}

/** AddToStoreNar over the node's daemon socket (signed by the trusted key). */
export async function daemonUpload (socketPath: string, p: GeneratedPath, timeoutMs = 30_000): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs)
  const client = await DaemonClient.connect({ socketPath, connectTimeoutMs: timeoutMs, ioTimeoutMs: timeoutMs, signal })
  try {
    await client.addToStoreNar({
      path: p.storePath,
      deriver: null,
      narHash: p.narHashHex,
      references: [],
      registrationTime: 0,
      narSize: p.nar.length,
      ultimate: false,
      signatures: [p.signature],
      ca: null
    }, [p.nar], {}, { signal })
  } finally {
    await client.close().catch(() => {})
  }
}

/** GET narinfo; returns the NarHash line when 200, undefined on 404. */
export async function getNarInfo (base: string, hashPart: string, timeoutMs = 30_000): Promise<string | undefined> {
  return await withTimeout(timeoutMs, async (signal) => {
    const res = await fetch(`${base}/${hashPart}.narinfo`, { signal })
    const text = await res.text()
    if (res.status === 404) return undefined
    if (!res.ok) throw new Error(`GET narinfo: ${res.status}`)
    return /^NarHash: (\S+)$/m.exec(text)?.[1]
  })
}

// ---- node processes ---------------------------------------------------------------------------

export interface NodeProc {
  proc: ChildProcess
  http: string
  p2pAddr?: string
  daemonSocket?: string
  log: () => string
  /** SIGKILL, resolves once it is gone */
  kill: () => Promise<void>
  /** SIGTERM (SIGKILL after 20 s) */
  stop: () => Promise<void>
}

export interface StartNodeInit {
  dataDir: string
  args: string[]
  nice?: number
  timeoutMs?: number
}

/** Spawns `storeswarm serve …` and waits for its last start-up line. */
export async function startServe (init: StartNodeInit): Promise<NodeProc> {
  const argv = [process.execPath, BIN, 'serve', '--data-dir', init.dataDir, '--http', '127.0.0.1:0', ...init.args]
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const onData = (d: Buffer): void => { out += d.toString(); if (out.length > 1_000_000) out = out.slice(-200_000) }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<void>(resolve => { if (proc.exitCode !== null || proc.signalCode !== null) resolve(); else proc.once('exit', () => resolve()) })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`node did not start within ${init.timeoutMs ?? 60_000} ms:\n${out}`)) }, init.timeoutMs ?? 60_000)
    const check = (): void => {
      if (/trusted-public-keys = /.test(out)) { clearTimeout(timer); resolve() }
    }
    proc.stdout!.on('data', check)
    proc.stderr!.on('data', check)
    proc.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`node exited (${code ?? sig}) while starting:\n${out}`)) })
  })
  const http = /Nix binary cache on (http:\/\/\S+)/.exec(out)?.[1]
  if (http === undefined) throw new Error(`no HTTP address in:\n${out}`)
  const p2pAddr = /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(out)?.[1]
  const daemonSocket = /Nix daemon protocol on unix:\/\/(\S+)/.exec(out)?.[1]
  return {
    proc,
    http,
    p2pAddr,
    daemonSocket,
    log: () => out,
    kill: async () => { proc.kill('SIGKILL'); await exited },
    stop: async () => {
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(t)
    }
  }
}

export async function runCli (args: string[], timeoutMs = 600_000): Promise<{ code: number, stdout: string, stderr: string }> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number>(resolve => proc.on('close', (c) => resolve(c ?? -1)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Is `storeswarm gc` implemented (not the placeholder)? */
export async function gcAvailable (dataDir: string): Promise<boolean> {
  const r = await runCli(['gc', '--data-dir', dataDir], 60_000)
  await rm(dataDir, { recursive: true, force: true })
  return r.code === 0 && !/not implemented/.test(r.stderr + r.stdout)
}

// ---- the trials -------------------------------------------------------------------------------

export interface CrashTrialsOptions {
  kills: number
  seed: number
  /** fresh data directory every this many kills */
  rotate?: number
  p2p?: boolean
  /** run the `storeswarm verify` command every this many kills (default 10; in-process otherwise) */
  cliVerifyEvery?: number
  /** run `storeswarm gc` in the workload when available (default true) */
  gc?: boolean
  /** kill after a random delay in [minMs, maxMs) once the workload is under way */
  minMs?: number
  maxMs?: number
  log?: (line: string) => void
}

export interface CrashTrialsResult {
  kills: number
  seed: number
  corruptStores: number
  lostPaths: number
  reportedValid: number
  httpUploads: number
  daemonUploads: number
  p2pFetches: number
  gcRuns: number
  /** paths GC runs reported evicting */
  gcEvicted: number
  /** reported paths gone after a kill that interrupted a GC run (may have been evicted) */
  gcInterruptedGone: number
  failures: string[]
  leftovers: number
  /** kills checked with the `storeswarm verify` command (the others in-process, same code) */
  cliVerifies: number
  /** time spent starting nodes and verifying (ms, summed) */
  ms: { start: number, verify: number }
  seconds: number
}

export async function runCrashTrials (options: CrashTrialsOptions): Promise<CrashTrialsResult> {
  const log = options.log ?? ((line: string) => { process.stderr.write(line + '\n') })
  await loadKernel()
  const rand = seeded(options.seed)
  const started = performance.now()
  const key = generateSigningKey('crash-trials-1')
  const pub = formatPublicKey(toPublicKey(key))
  const mine = new PathFactory(rand, key, 'up')
  const theirs = new PathFactory(rand, key, 'peer')
  const root = await mkdtemp(join(tmpdir(), 'storeswarm-crash-trials-'))
  const result: CrashTrialsResult = { kills: 0, seed: options.seed, corruptStores: 0, lostPaths: 0, reportedValid: 0, httpUploads: 0, daemonUploads: 0, p2pFetches: 0, gcRuns: 0, gcEvicted: 0, gcInterruptedGone: 0, failures: [], leftovers: 0, cliVerifies: 0, ms: { start: 0, verify: 0 }, seconds: 0 }
  const p2p = options.p2p !== false
  let peer: NodeProc | undefined
  let node: NodeProc | undefined
  const peerPaths: GeneratedPath[] = []
  try {
    if (p2p) {
      peer = await startServe({ dataDir: join(root, 'peer'), args: ['--no-daemon', '--allow-uploads', '--no-eris', '--listen', '/ip4/127.0.0.1/tcp/0', '--trusted-public-key', pub] })
      if (peer.p2pAddr === undefined) throw new Error(`peer has no loopback P2P address:\n${peer.log()}`)
      for (let i = 0; i < 40; i++) {
        const p = await theirs.next()
        await httpUpload(peer.http, p)
        peerPaths.push(p)
      }
    }
    const useGc = options.gc !== false && await gcAvailable(join(root, 'probe'))
    log(`crash-trials: seed ${options.seed}, ${options.kills} kills, P2P ${p2p ? 'on' : 'off'}, gc ${useGc ? 'on' : 'not available'}`)
    let generation = 0
    let dataDir = ''
    /** store path → NarHash hex, reported valid by the node */
    let reported = new Map<string, string>()
    let fetched = new Set<string>()
    const rotate = options.rotate ?? 25
    for (let k = 0; k < options.kills; k++) {
      if (k % rotate === 0) {
        if (dataDir !== '') await rm(dataDir, { recursive: true, force: true })
        dataDir = join(root, `node-${generation++}`)
        reported = new Map()
        fetched = new Set()
      }
      const args = ['--allow-uploads', '--daemon-socket', join(dataDir, 'daemon.sock'), '--trusted-public-keys', pub, '--no-eris']
      if (p2p) args.push('--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', peer!.p2pAddr!, '--trusted-public-key', pub)
      else args.push('--no-p2p')
      let t0 = performance.now()
      node = await startServe({ dataDir, args })
      result.ms.start += performance.now() - t0
      const n = node
      // the workload: a few concurrent clients until the kill
      let dead = false
      let gcInFlight = 0
      const evictedByGc = new Set<string>()
      const workers: Array<Promise<void>> = []
      const worker = async (): Promise<void> => {
        for (let i = 0; i < 10_000 && !dead; i++) {
          const r = rand()
          try {
            if (r < 0.45) {
              const p = await mine.next()
              if (await httpUpload(n.http, p)) { if (!dead) { reported.set(p.storePath, p.narHashHex) }; result.httpUploads++ }
            } else if (r < 0.75 && n.daemonSocket !== undefined) {
              const p = await mine.next()
              await daemonUpload(n.daemonSocket, p)
              if (!dead) reported.set(p.storePath, p.narHashHex)
              result.daemonUploads++
            } else if (r < 0.95 && peerPaths.length > 0) {
              const candidates = peerPaths.filter(p => !fetched.has(p.storePath))
              if (candidates.length === 0) continue
              const p = candidates[Math.floor(rand() * candidates.length)]
              const narHash = await getNarInfo(n.http, p.hashPart)
              if (narHash !== undefined) {
                if (narHash !== p.narHashNix32) throw new Error(`peer path ${p.storePath} served with NarHash ${narHash}`)
                if (!dead) reported.set(p.storePath, p.narHashHex)
                fetched.add(p.storePath)
                result.p2pFetches++
              }
            } else if (useGc) {
              gcInFlight++
              try {
                const g = await runCli(['gc', '--data-dir', dataDir, '--json', '--max-size', `${5 + Math.floor(rand() * 40)}M`], 120_000)
                if (g.code !== 0) throw new Error(`gc exited ${g.code}: ${g.stderr.slice(-500)}`)
                const evicted = JSON.parse(g.stdout).evicted as string[]
                for (const path of evicted) { evictedByGc.add(path); reported.delete(path) }
                result.gcRuns++
                result.gcEvicted += evicted.length
              } finally {
                gcInFlight--
              }
            }
          } catch (err: any) {
            if (!dead) {
              // errors while alive are failures of the node, not of the kill
              result.failures.push(`kill ${k}: ${err.message}`)
              log(`crash-trials: kill ${k}: ${err.message}; node log tail:\n${n.log().split('\n').slice(-15).join('\n')}`)
              if (result.failures.length > 50) throw new Error(`too many failures:\n${result.failures.join('\n')}`)
            }
          }
        }
      }
      for (let w = 0; w < 3; w++) workers.push(worker())
      // kill once the workload is under way (first operation answered, at most 30 s), then after
      // a random delay, so most kills land in the middle of uploads, fetches and GC runs
      const opsBefore = result.httpUploads + result.daemonUploads + result.p2pFetches + result.gcRuns
      for (let waited = 0; waited < 30_000 && result.httpUploads + result.daemonUploads + result.p2pFetches + result.gcRuns === opsBefore && result.failures.length === 0; waited += 50) {
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      const minMs = options.minMs ?? 0
      const maxMs = options.maxMs ?? 3000
      await new Promise(resolve => setTimeout(resolve, minMs + Math.floor(rand() * (maxMs - minMs))))
      // anything reported from here on may have been answered after the kill was decided: the
      // node said 200, so it must hold anyway — but we only count what was answered before
      dead = true
      const gcInterrupted = gcInFlight > 0
      await n.kill()
      await Promise.allSettled(workers)
      result.kills++
      node = undefined

      // 1. verify the crashed store (the node is dead): the `storeswarm verify` command every
      // `cliVerifyEvery` kills and after the last, otherwise the same check in this process
      t0 = performance.now()
      const viaCli = (k + 1) % (options.cliVerifyEvery ?? 10) === 0 || k === options.kills - 1
      if (viaCli) {
        const v = await runCli(['verify', '--data-dir', dataDir, '--json', '--check-nar-hash'])
        let report: any
        try { report = JSON.parse(v.stdout) } catch { report = undefined }
        if (report === undefined || v.code !== 0 || report.damaged !== false) {
          result.corruptStores++
          log(`crash-trials: kill ${k}: verify exit ${v.code}: ${v.stdout.slice(0, 2000)} ${v.stderr.slice(0, 2000)}`)
        } else {
          result.leftovers += report.leftovers.length
        }
        result.cliVerifies++
      }
      const tmpLeft = viaCli ? [] : await readdir(join(dataDir, 'tmp')).catch(() => [] as string[])
      const store = await openCastore({ dataDir })
      try {
        if (!viaCli) {
          const report = await verifyCastore(store, { dataDir, narHashes: true })
          if (verifyFoundDamage(report)) {
            result.corruptStores++
            log(`crash-trials: kill ${k}: damage: ${JSON.stringify(report.problems).slice(0, 2000)}`)
          }
          result.leftovers += report.leftovers.length + tmpLeft.length
        }
        result.ms.verify += performance.now() - t0
        // 2. every reported path still valid, with its NarHash (verify re-rendered every NAR)
        for (const [storePath, narHashHex] of reported) {
          const info = await store.getPathInfo(storePath)
          if (info === undefined && (evictedByGc.has(storePath) || gcInterrupted)) {
            // evicted by a GC run (one that finished, or one the kill interrupted): not a loss
            if (!evictedByGc.has(storePath)) result.gcInterruptedGone++
            reported.delete(storePath)
            continue
          }
          if (info === undefined || toHex(info.narHash) !== narHashHex) {
            result.lostPaths++
            log(`crash-trials: kill ${k}: lost ${storePath}${info === undefined ? '' : ' (NarHash differs)'}`)
            reported.delete(storePath)
          }
        }
      } finally {
        await store.close()
      }
      if ((k + 1) % 10 === 0 || k === options.kills - 1) {
        log(`crash-trials: ${k + 1}/${options.kills} kills, ${reported.size} paths held in this store, corrupt ${result.corruptStores}, lost ${result.lostPaths}, uploads http ${result.httpUploads} daemon ${result.daemonUploads}, p2p ${result.p2pFetches}, gc ${result.gcRuns}, ${Math.round((performance.now() - started) / 1000)} s (starting nodes ${Math.round(result.ms.start / 1000)} s, verifying ${Math.round(result.ms.verify / 1000)} s)`)
      }
    }
  } finally {
    await node?.kill().catch(() => {})
    await peer?.stop().catch(() => {})
    await rm(root, { recursive: true, force: true })
  }
  result.reportedValid = result.httpUploads + result.daemonUploads + result.p2pFetches
  result.seconds = Math.round((performance.now() - started) / 1000)
  return result
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: '200' },
      seed: { type: 'string', default: '1' },
      rotate: { type: 'string', default: '25' },
      'no-p2p': { type: 'boolean' }
    },
    strict: true
  })
  const r = await runCrashTrials({ kills: Number(values.kills), seed: Number(values.seed), rotate: Number(values.rotate), p2p: values['no-p2p'] !== true })
  process.stdout.write(`crash-trials: ${r.kills} kills in ${r.seconds} s (seed ${r.seed}): ${r.corruptStores} corrupt stores, ${r.lostPaths} lost paths; ${r.reportedValid} paths reported valid (${r.httpUploads} HTTP uploads, ${r.daemonUploads} daemon uploads, ${r.p2pFetches} P2P fetches), ${r.gcRuns} gc runs (${r.gcEvicted} paths evicted, ${r.gcInterruptedGone} gone in interrupted runs), ${r.leftovers} leftovers cleaned, ${r.cliVerifies} checks by the verify command, ${r.failures.length} workload errors while alive\n`)
  for (const f of r.failures.slice(0, 20)) process.stdout.write(`  error: ${f}\n`)
  process.stdout.write(JSON.stringify(r) + '\n')
  return r.corruptStores === 0 && r.lostPaths === 0 && r.failures.length === 0 ? 0 : 1
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main()
}
