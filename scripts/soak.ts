/**
 * Soak test: `npm run soak -- --minutes 30 [--seed 1] [--no-nix] [--no-p2p] [--pause-ms 50]`.
 *
 * Runs `storeswarm serve` (child process, temp data dir, loopback only) under a bounded mixed
 * load and watches its resources:
 * - HTTP clients: narinfo GETs (held paths and misses), whole and ranged NAR GETs checked
 *   against NarHash;
 * - uploads: PUT NAR + narinfo (new paths up to a cap, then re-uploads of held ones), and
 *   AddToStoreNar over the daemon socket;
 * - the daemon socket: QueryPathInfo and NarFromPath with the project's client, NAR checked;
 * - real Nix when installed: `nix-store -r` and `nix copy --from` substituting from the node over
 *   HTTP into throwaway chroot stores, `nix path-info --store unix://…` over the daemon socket;
 * - a peer node fetching new paths from the node over P2P (the peer is restarted with an empty
 *   store every few minutes, so P2P load and connection churn continue);
 * - `storeswarm gc --max-size` when that command is available.
 * Every 5 s it samples the node's RSS (/proc/<pid>/status) and open fds (/proc/<pid>/fd).
 * Reports errors, RSS growth after warm-up (median of the last 10 % of samples against the
 * median of the 10 % after warm-up; target < 10 %), and fds at rest before and after the load
 * (target: back to baseline). Exits 1 if a target is missed.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, readlink, rm, mkdir } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import { accessSync, constants as fsConstants } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { generateSigningKey, formatPublicKey, toPublicKey } from '../src/nix/signing.ts'
import { DaemonClient } from '../src/daemon/client.ts'
import { PathFactory, seeded, startServe, httpUpload, daemonUpload, getNarInfo, gcAvailable, runCli } from './crash-trials.ts'
import type { GeneratedPath, NodeProc, Rand } from './crash-trials.ts'

export interface SoakOptions {
  seconds: number
  seed?: number
  nix?: boolean
  p2p?: boolean
  /** concurrent HTTP clients (default 3) */
  clients?: number
  /** pause of each HTTP client between requests (default 50 ms): a steady load, not a flood */
  pauseMs?: number
  /** new paths uploaded at most; later uploads repeat held ones (default 300) */
  maxPaths?: number
  sampleMs?: number
  log?: (line: string) => void
}

export interface Sample { t: number, rssKiB: number, anonKiB: number, fds: number }

export interface SoakResult {
  seconds: number
  operations: Record<string, number>
  errors: Record<string, number>
  errorExamples: string[]
  samples: number
  rssWarmKiB: number
  rssEndKiB: number
  rssGrowthPercent: number
  fdsAtRestBefore: number
  fdsAtRestAfter: number
  fdsMax: number
  /** what the fds at rest after the load point at, against before (by target) */
  fdChange: string[]
  /** anonymous (heap) part of RSS, same windows */
  anonWarmKiB: number
  anonEndKiB: number
  nix: boolean
  p2p: boolean
  gc: boolean
  ok: boolean
}

/** What the open fds point at, by kind (files by path inside the data dir). */
async function fdTargets (pid: number, root: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    let t: string
    try { t = await readlink(`/proc/${pid}/fd/${fd}`) } catch { continue }
    t = t.startsWith(root) ? '<tmp>' + t.slice(root.length).replace(/[0-9]{6}\.(ldb|log)$/, 'NNNNNN.$1') : t.replace(/\[\d+\]$/, '')
    out.set(t, (out.get(t) ?? 0) + 1)
  }
  return out
}

function fdDiff (before: Map<string, number>, after: Map<string, number>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()])
  const diff: string[] = []
  for (const k of [...keys].sort()) {
    const d = (after.get(k) ?? 0) - (before.get(k) ?? 0)
    if (d !== 0) diff.push(`${d > 0 ? '+' : ''}${d} ${k}`)
  }
  return diff
}

async function sampleProc (pid: number): Promise<Sample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  const anon = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  const fds = (await readdir(`/proc/${pid}/fd`)).length
  return { t: Date.now(), rssKiB: rss, anonKiB: anon, fds }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]
}

async function run (cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4000) stderr += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stderr }) })
  })
}

function hasCommand (name: string): boolean {
  return (process.env.PATH ?? '').split(':').some(dir => {
    try { accessSync(join(dir, name), fsConstants.X_OK); return true } catch { return false }
  })
}

export async function runSoak (options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? ((line: string) => { process.stderr.write(line + '\n') })
  const rand: Rand = seeded(options.seed ?? 1)
  const root = await mkdtemp(join(tmpdir(), 'storeswarm-soak-'))
  const key = generateSigningKey('soak-1')
  const pub = formatPublicKey(toPublicKey(key))
  const factory = new PathFactory(rand, key, 'soak')
  const useNix = options.nix !== false && hasCommand('nix-store') && hasCommand('nix')
  const useP2P = options.p2p !== false
  const ops: Record<string, number> = {}
  const errors: Record<string, number> = {}
  const examples: string[] = []
  const count = (name: string): void => { ops[name] = (ops[name] ?? 0) + 1 }
  const fail = (name: string, err: unknown): void => {
    errors[name] = (errors[name] ?? 0) + 1
    if (examples.length < 20) examples.push(`${name}: ${(err as Error)?.message ?? String(err)}`)
  }
  let node: NodeProc | undefined
  let peer: NodeProc | undefined
  const samples: Sample[] = []
  try {
    const dataDir = join(root, 'node')
    const useGc = await gcAvailable(join(root, 'probe'))
    const args = ['--allow-uploads', '--daemon-socket', join(root, 'daemon.sock'), '--trusted-public-keys', pub, '--trusted-public-key', pub]
    if (useP2P) args.push('--listen', '/ip4/127.0.0.1/tcp/0')
    else args.push('--no-p2p')
    node = await startServe({ dataDir, args })
    const n = node
    const pid = n.proc.pid!
    const nodeKey = /trusted-public-keys = (\S+)/.exec(n.log())![1]
    log(`soak: node pid ${pid} on ${n.http}, ${options.seconds} s, nix ${useNix ? 'on' : 'off'}, P2P ${useP2P ? 'on' : 'off'}, gc ${useGc ? 'on' : 'off'}`)
    const held: GeneratedPath[] = []
    // seed the store so readers have something from the start
    for (let i = 0; i < 20; i++) { const p = await factory.next(); await httpUpload(n.http, p); held.push(p) }
    const atRest = async (): Promise<number> => {
      // fds at rest: the smallest of samples over 35 s — longer than the node's HTTP keep-alive
      // timeout (30 s), so idle keep-alive connections of this script's own clients have closed
      let best = Infinity
      for (let i = 0; i < 7; i++) { await new Promise(resolve => setTimeout(resolve, 5000)); best = Math.min(best, (await sampleProc(pid)).fds) }
      return best
    }
    const fdsAtRestBefore = await atRest()
    const targetsBefore = await fdTargets(pid, root)

    const deadline = Date.now() + options.seconds * 1000
    const warmUntil = Date.now() + options.seconds * 1000 * 0.2
    let stop = false
    const pick = (): GeneratedPath => held[Math.floor(rand() * held.length)]
    const maxPaths = options.maxPaths ?? 300
    const newPath = async (): Promise<GeneratedPath> => held.length < maxPaths ? await factory.next() : pick()

    const loop = async (name: string, body: () => Promise<void>, pauseMs = 0): Promise<void> => {
      for (let i = 0; !stop && i < 10_000_000; i++) {
        try { await body() } catch (err) { if (!stop) fail(name, err) }
        for (let waited = 0; waited < pauseMs && !stop; waited += 200) await new Promise(resolve => setTimeout(resolve, Math.min(200, pauseMs - waited)))
      }
    }
    const httpClient = async (): Promise<void> => {
      const r = rand()
      if (r < 0.4) {
        const p = pick()
        const narHash = await getNarInfo(n.http, p.hashPart)
        if (narHash !== p.narHashNix32) throw new Error(`narinfo of ${p.storePath}: ${narHash}`)
        count('narinfo')
      } else if (r < 0.5) {
        let miss = ''
        for (let k = 0; k < 32; k++) miss += '0123456789abcdfghijklmnpqrsvwxyz'[Math.floor(rand() * 32)]
        if (await getNarInfo(n.http, miss) !== undefined) throw new Error('a random hash part was found')
        count('narinfo-miss')
      } else {
        const p = pick()
        const ni = await fetch(`${n.http}/${p.hashPart}.narinfo`, { signal: AbortSignal.timeout(30_000) })
        const url = /^URL: (\S+)$/m.exec(await ni.text())?.[1]
        if (!ni.ok || url === undefined) throw new Error(`narinfo ${ni.status}`)
        if (r < 0.8) {
          const res = await fetch(`${n.http}/${url}`, { signal: AbortSignal.timeout(60_000) })
          const body = new Uint8Array(await res.arrayBuffer())
          if (res.status !== 200) throw new Error(`NAR ${res.status}`)
          // uncompressed NARs here: the body is the NAR
          if (createHash('sha256').update(body).digest('hex') !== p.narHashHex) throw new Error(`NAR of ${p.storePath} does not match its NarHash`)
          count('nar')
        } else {
          const start = Math.floor(rand() * p.nar.length)
          const end = Math.min(p.nar.length - 1, start + Math.floor(rand() * 200_000))
          const res = await fetch(`${n.http}/${url}`, { headers: { range: `bytes=${start}-${end}` }, signal: AbortSignal.timeout(60_000) })
          const body = Buffer.from(await res.arrayBuffer())
          if (res.status !== 206 || !body.equals(p.nar.subarray(start, end + 1))) throw new Error(`range ${start}-${end} of ${p.storePath}: ${res.status}, ${body.length} bytes`)
          count('nar-range')
        }
      }
    }
    const uploader = async (): Promise<void> => {
      const p = await newPath()
      if (rand() < 0.6) { await httpUpload(n.http, p); count('upload-http') } else { await daemonUpload(n.daemonSocket!, p); count('upload-daemon') }
      if (!held.includes(p)) held.push(p)
    }
    const daemonReader = async (): Promise<void> => {
      const p = pick()
      const client = await DaemonClient.connect({ socketPath: n.daemonSocket!, connectTimeoutMs: 30_000, ioTimeoutMs: 60_000 })
      try {
        const info = await client.queryPathInfo(p.storePath)
        if (info === null || info.narHash !== p.narHashHex) throw new Error(`QueryPathInfo ${p.storePath}: ${info?.narHash}`)
        const h = createHash('sha256')
        for await (const piece of client.narFromPath(p.storePath, { narSize: p.nar.length })) h.update(piece)
        if (h.digest('hex') !== p.narHashHex) throw new Error(`NarFromPath ${p.storePath} does not match`)
        count('daemon-nar')
      } finally {
        await client.close().catch(() => {})
      }
    }
    let nixN = 0
    const nixEnv = (home: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_CACHE_HOME: join(home, 'cache'), NIX_CONFIG: '' })
    const nixClient = async (): Promise<void> => {
      const p = pick()
      const work = join(root, `nix-${nixN++}`)
      await mkdir(join(work, 'home', 'cache'), { recursive: true })
      try {
        const env = nixEnv(join(work, 'home'))
        const chroot = ['--option', 'build-users-group', '']
        const r = rand()
        let res
        if (r < 0.4) {
          res = await run('nix-store', ['--store', join(work, 'store'), ...chroot, '-r', p.storePath, '--option', 'substituters', n.http, '--option', 'trusted-public-keys', nodeKey], env, 120_000)
          if (res.code === 0) count('nix-store-r')
        } else if (r < 0.8) {
          res = await run('nix', ['--extra-experimental-features', 'nix-command', '--store', join(work, 'store'), ...chroot, 'copy', '--from', n.http, '--to', join(work, 'store'), p.storePath, '--option', 'trusted-public-keys', nodeKey], env, 120_000)
          if (res.code === 0) count('nix-copy-from')
        } else {
          res = await run('nix', ['--extra-experimental-features', 'nix-command', 'path-info', '--store', `unix://${n.daemonSocket!}`, p.storePath], env, 60_000)
          if (res.code === 0) count('nix-path-info-daemon')
        }
        if (res.code !== 0) throw new Error(`nix exited ${res.code}: ${res.stderr.slice(-500)}`)
      } finally {
        await rm(work, { recursive: true, force: true })
      }
    }
    let peerGen = 0
    let peerFetched = new Set<string>()
    const peerArgs = (): string[] => ['--no-daemon', '--no-eris', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(n.log())![1], '--trusted-public-key', pub]
    let peerStarted = 0
    const p2pClient = async (): Promise<void> => {
      if (peer === undefined || Date.now() - peerStarted > 180_000) {
        const old = peer
        peer = undefined
        await old?.stop()
        const dir = join(root, `peer-${peerGen++}`)
        await rm(join(root, `peer-${peerGen - 2}`), { recursive: true, force: true })
        peer = await startServe({ dataDir: dir, args: peerArgs() })
        peerStarted = Date.now()
        peerFetched = new Set()
        count('peer-restart')
      }
      const candidates = held.filter(p => !peerFetched.has(p.storePath))
      if (candidates.length === 0) { await new Promise(resolve => setTimeout(resolve, 1000)); return }
      const p = candidates[Math.floor(rand() * candidates.length)]
      // the peer lacks it: it asks the swarm (our node) and fetches it over P2P
      const narHash = await getNarInfo(peer.http, p.hashPart, 60_000)
      if (narHash === undefined) { count('p2p-miss'); return } // not found within the lookup budget (retried later)
      if (narHash !== p.narHashNix32) throw new Error(`peer got ${p.storePath} with NarHash ${narHash}`)
      peerFetched.add(p.storePath)
      count('p2p-fetch')
    }
    const gcClient = async (): Promise<void> => {
      const r = await runCli(['gc', '--data-dir', dataDir, '--max-size', '1G'], 300_000)
      if (r.code !== 0) throw new Error(`gc exited ${r.code}: ${r.stderr.slice(-300)}`)
      count('gc')
    }

    const sampler = (async () => {
      while (!stop) {
        try { samples.push(await sampleProc(pid)) } catch (err) { fail('sample', err) }
        await new Promise(resolve => setTimeout(resolve, options.sampleMs ?? 5000))
      }
    })()
    const workers: Array<Promise<void>> = []
    const pause = options.pauseMs ?? 50
    for (let i = 0; i < (options.clients ?? 3); i++) workers.push(loop('http', httpClient, pause))
    workers.push(loop('upload', uploader, 10 * pause))
    workers.push(loop('daemon', daemonReader, 4 * pause))
    if (useNix) workers.push(loop('nix', nixClient, 40 * pause))
    if (useP2P) workers.push(loop('p2p', p2pClient, 10 * pause))
    if (useGc) workers.push(loop('gc', gcClient, 60_000))
    let lastReport = Date.now()
    while (Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, Math.min(1000, Math.max(0, deadline - Date.now()))))
      if (node.proc.exitCode !== null || node.proc.signalCode !== null) { fail('node', new Error(`node exited: ${node.log().slice(-2000)}`)); break }
      if (Date.now() - lastReport >= 60_000) {
        lastReport = Date.now()
        const s = samples[samples.length - 1]
        log(`soak: ${Math.round((Date.now() - (deadline - options.seconds * 1000)) / 1000)} s, ${Object.entries(ops).map(([k, v]) => `${k} ${v}`).join(', ')}; errors ${Object.values(errors).reduce((a, b) => a + b, 0)}; RSS ${Math.round((s?.rssKiB ?? 0) / 1024)} MiB, fds ${s?.fds}`)
      }
    }
    stop = true
    await Promise.allSettled(workers)
    await sampler
    await peer?.stop()
    peer = undefined
    const fdsAtRestAfter = await atRest()
    const fdChange = fdDiff(targetsBefore, await fdTargets(pid, root))
    const warm = samples.filter(s => s.t >= warmUntil)
    const tenth = Math.max(1, Math.floor(warm.length / 10))
    const rssWarmKiB = median(warm.slice(0, tenth).map(s => s.rssKiB))
    const rssEndKiB = median(warm.slice(-tenth).map(s => s.rssKiB))
    const rssGrowthPercent = Math.round((rssEndKiB - rssWarmKiB) / rssWarmKiB * 1000) / 10
    const errorCount = Object.values(errors).reduce((a, b) => a + b, 0)
    const result: SoakResult = {
      seconds: options.seconds,
      operations: ops,
      errors,
      errorExamples: examples,
      samples: samples.length,
      rssWarmKiB,
      rssEndKiB,
      rssGrowthPercent,
      fdsAtRestBefore,
      fdsAtRestAfter,
      fdsMax: Math.max(...samples.map(s => s.fds)),
      fdChange,
      anonWarmKiB: median(warm.slice(0, tenth).map(s => s.anonKiB)),
      anonEndKiB: median(warm.slice(-tenth).map(s => s.anonKiB)),
      nix: useNix,
      p2p: useP2P,
      gc: useGc,
      ok: false
    }
    result.ok = errorCount === 0 && fdsAtRestAfter <= fdsAtRestBefore + 2 && (warm.length < 20 || rssGrowthPercent < 10)
    return result
  } finally {
    await peer?.stop().catch(() => {})
    await node?.stop().catch(() => {})
    await rm(root, { recursive: true, force: true })
  }
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '30' },
      seed: { type: 'string', default: '1' },
      'no-nix': { type: 'boolean' },
      'no-p2p': { type: 'boolean' },
      'pause-ms': { type: 'string', default: '50' }
    },
    strict: true
  })
  const r = await runSoak({ seconds: Math.round(Number(values.minutes) * 60), seed: Number(values.seed), nix: values['no-nix'] !== true, p2p: values['no-p2p'] !== true, pauseMs: Number(values['pause-ms']) })
  const errorCount = Object.values(r.errors).reduce((a, b) => a + b, 0)
  process.stdout.write(`soak: ${r.seconds} s; ${Object.entries(r.operations).map(([k, v]) => `${k} ${v}`).join(', ')}\n`)
  process.stdout.write(`soak: errors ${errorCount}${errorCount > 0 ? ` (${JSON.stringify(r.errors)})` : ''}; RSS after warm-up ${Math.round(r.rssWarmKiB / 1024)} MiB → ${Math.round(r.rssEndKiB / 1024)} MiB (${r.rssGrowthPercent} %, target < 10 %); anonymous ${Math.round(r.anonWarmKiB / 1024)} → ${Math.round(r.anonEndKiB / 1024)} MiB; fds at rest ${r.fdsAtRestBefore} → ${r.fdsAtRestAfter} (max ${r.fdsMax} under load${r.fdChange.length > 0 ? `; changed: ${r.fdChange.join(', ')}` : ''}); ${r.ok ? 'PASS' : 'FAIL'}\n`)
  for (const e of r.errorExamples) process.stdout.write(`  ${e}\n`)
  process.stdout.write(JSON.stringify(r) + '\n')
  return r.ok ? 0 : 1
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main()
}
