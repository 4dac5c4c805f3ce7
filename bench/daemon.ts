/**
 * The daemon-protocol facade against the real `nix-daemon` 2.8 serving the same paths, in
 * the same run, with the same client (storeswarm's DaemonClient) — anchors in
 * shared/specs/anchor-figures.md:
 *
 *   QueryPathInfo round trips per second over one connection, one request at a time, for
 *   N known paths (default 10 000)                       target ≥ 1.0× nix-daemon
 *   NarFromPath throughput of one large path (default 1 GiB, 16 files)
 *                                                        target ≥ 0.5× nix-daemon
 *
 * Both daemons run as separate processes on Unix sockets in a temp dir; nix-daemon on a
 * chroot store (`NIX_DAEMON_SOCKET_PATH=… nix-daemon --store DIR`). Both are seeded through
 * the protocol (AddMultipleToStore, trusted client, dontCheckSigs). Rounds alternate the
 * anchor and storeswarm; the median of the rounds is compared. On 2 cores the client and the
 * daemon compete for CPU (both sides equally).
 *
 * By default the node serves NARs without re-hashing them (like nix-daemon; Nix checks the
 * NarHash on receipt); `--verify` measures with the castore's re-hash on the way out.
 *
 * Usage: node bench/daemon.ts [--paths 10000] [--size 1G] [--rounds 5] [--verify]
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DaemonClient } from '../src/daemon/index.ts'
import type { ValidPathInfo } from '../src/daemon/index.ts'
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { encodeNixBase32, xorFold } from '../src/nix/index.ts'
import { fmtRate, median, parseSize, requireCommand } from './helpers/common.ts'

const args = process.argv.slice(2)
const opt = (name: string): string | undefined => args.includes(name) ? args[args.indexOf(name) + 1] : undefined
const nPaths = Number(opt('--paths') ?? 10_000)
const bigSize = parseSize(opt('--size') ?? '', 1024 ** 3)
const rounds = Number(opt('--rounds') ?? 5)
const verifyOnServe = args.includes('--verify')
requireCommand('nix-daemon', 'nix-bin')

const work = await mkdtemp(join(tmpdir(), 'storeswarm-bench-daemon-'))
const children: ChildProcess[] = []
const env = { ...process.env, HOME: join(work, 'home'), XDG_CACHE_HOME: join(work, 'cache'), NIX_CONF_DIR: join(work, 'etc') }
await mkdir(join(work, 'etc'), { recursive: true })

function storePath (seed: string, name: string): string {
  return `/nix/store/${encodeNixBase32(xorFold(createHash('sha256').update(seed).digest(), 20))}-${name}`
}

async function waitFor (path: string): Promise<void> {
  for (let i = 0; i < 400 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50))
  if (!existsSync(path)) throw new Error(`${path} did not appear`)
}

/* ---- the two daemons ---- */
const nixSock = join(work, 'nix-daemon.sock')
const nixStore = join(work, 'nix-store')
const nixd = spawn('nix-daemon', ['--store', nixStore], { env: { ...env, NIX_DAEMON_SOCKET_PATH: nixSock }, stdio: 'ignore' })
children.push(nixd)
const ourSock = join(work, 'storeswarm.sock')
const ours = spawn(process.execPath, [fileURLToPath(new URL('./helpers/daemon-node.ts', import.meta.url)), join(work, 'node-data'), ourSock, verifyOnServe ? 'verify' : 'no-verify'], { stdio: ['ignore', 'pipe', 'inherit'] })
children.push(ours)
const cleanup = async (): Promise<void> => {
  for (const c of children) c.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 300))
  await rm(work, { recursive: true, force: true })
}
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)) })

try {
  await waitFor(nixSock)
  await waitFor(ourSock)

  /* ---- test data ---- */
  const enc = new TextEncoder()
  const small: Array<{ info: ValidPathInfo, nar: Uint8Array }> = []
  for (let i = 0; i < nPaths; i++) {
    const data = enc.encode(`bench path ${i}\n`)
    const chunks: Uint8Array[] = []
    for await (const c of writeNar({ type: 'regular', executable: false, size: data.byteLength, contents: async function * () { yield data } })) chunks.push(c)
    const nar = Buffer.concat(chunks)
    small.push({
      nar,
      info: { path: storePath(`small-${i}`, `bench-${i}`), deriver: null, narHash: createHash('sha256').update(nar).digest('hex'), references: [], registrationTime: 0, narSize: nar.byteLength, ultimate: false, signatures: [], ca: null }
    })
  }
  const FILES = 16
  const fileSize = Math.floor(bigSize / FILES)
  const bigNar = (): AsyncGenerator<Uint8Array> => {
    const file = (k: number): NarSourceNode => ({
      type: 'regular',
      executable: false,
      size: fileSize,
      contents: async function * () {
        const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, k + 1), Buffer.alloc(16))
        const zeros = Buffer.alloc(1024 * 1024)
        for (let left = fileSize; left > 0; left -= zeros.length) yield cipher.update(zeros.subarray(0, Math.min(left, zeros.length)))
      }
    })
    return writeNar({ type: 'directory', entries: async function * () { for (let k = 0; k < FILES; k++) yield { name: enc.encode(`f${String(k).padStart(2, '0')}`), node: file(k) } } })
  }
  const h = createHash('sha256')
  let bigNarSize = 0
  for await (const c of bigNar()) { h.update(c); bigNarSize += c.byteLength }
  const big: ValidPathInfo = { path: storePath('big', 'bench-big'), deriver: null, narHash: h.digest('hex'), references: [], registrationTime: 0, narSize: bigNarSize, ultimate: false, signatures: [], ca: null }

  for (const [name, sock] of [['nix-daemon', nixSock], ['storeswarm', ourSock]] as const) {
    const t0 = performance.now()
    const c = await DaemonClient.connect({ socketPath: sock })
    await c.addMultipleToStore(small.map((p) => ({ info: p.info, nar: () => [p.nar] })), { dontCheckSigs: true })
    await c.addMultipleToStore([{ info: big, nar: bigNar }], { dontCheckSigs: true })
    await c.close()
    process.stderr.write(`seeded ${name} with ${nPaths} paths + ${(bigNarSize / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  }

  /* ---- measurements ---- */
  async function qpi (sock: string): Promise<number> {
    const c = await DaemonClient.connect({ socketPath: sock })
    try {
      const t0 = performance.now()
      for (const p of small) {
        const info = await c.queryPathInfo(p.info.path)
        if (info?.narHash !== p.info.narHash) throw new Error(`wrong answer for ${p.info.path}`)
      }
      return small.length / ((performance.now() - t0) / 1000)
    } finally {
      await c.close()
    }
  }

  async function nar (sock: string): Promise<number> {
    const c = await DaemonClient.connect({ socketPath: sock })
    try {
      const t0 = performance.now()
      let n = 0
      for await (const piece of c.narFromPath(big.path, { narSize: big.narSize })) n += piece.byteLength
      if (n !== big.narSize) throw new Error('short NAR')
      return n / ((performance.now() - t0) / 1000)
    } finally {
      await c.close()
    }
  }

  // warm up (page cache, JIT) once each, untimed
  for (const sock of [nixSock, ourSock]) { await qpi(sock); await nar(sock) }
  const results = { qpi: { nix: [] as number[], ours: [] as number[] }, nar: { nix: [] as number[], ours: [] as number[] } }
  for (let r = 0; r < rounds; r++) {
    results.qpi.nix.push(await qpi(nixSock))
    results.qpi.ours.push(await qpi(ourSock))
    results.nar.nix.push(await nar(nixSock))
    results.nar.ours.push(await nar(ourSock))
    process.stderr.write(`round ${r + 1}: QueryPathInfo ${results.qpi.nix[r].toFixed(0)}/s vs ${results.qpi.ours[r].toFixed(0)}/s; ` +
      `NarFromPath ${fmtRate(results.nar.nix[r])} vs ${fmtRate(results.nar.ours[r])} (nix-daemon vs storeswarm)\n`)
  }
  const q = { nix: median(results.qpi.nix), ours: median(results.qpi.ours) }
  const n = { nix: median(results.nar.nix), ours: median(results.nar.ours) }
  console.log(`QueryPathInfo, one connection, ${nPaths} paths: nix-daemon ${q.nix.toFixed(0)}/s, storeswarm ${q.ours.toFixed(0)}/s → ${(q.ours / q.nix).toFixed(2)}× (target ≥ 1.0×)`)
  console.log(`NarFromPath, ${(big.narSize / 2 ** 30).toFixed(2)} GiB: nix-daemon ${fmtRate(n.nix)}, storeswarm ${fmtRate(n.ours)} → ${(n.ours / n.nix).toFixed(2)}× (target ≥ 0.5×)`)
  console.log(`(client and daemons share ${availableParallelism()} cores; medians of ${rounds} alternating rounds)`)
  console.log(JSON.stringify({
    bench: 'daemon',
    cores: availableParallelism(),
    rounds,
    verifyOnServe,
    queryPathInfo: { paths: nPaths, nixDaemonPerSec: Math.round(q.nix), storeswarmPerSec: Math.round(q.ours), ratio: Number((q.ours / q.nix).toFixed(3)), target: 1.0 },
    narFromPath: { bytes: big.narSize, nixDaemonBytesPerSec: Math.round(n.nix), storeswarmBytesPerSec: Math.round(n.ours), ratio: Number((n.ours / n.nix).toFixed(3)), target: 0.5 }
  }))
} finally {
  await cleanup()
}
