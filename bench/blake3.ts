/**
 * Ingest hashing benchmark: BLAKE3 digest + 16 KiB-group pre-order outboard of a file,
 * against `b3sum --num-threads 1` on the same file (anchor: shared/specs/anchor-figures.md).
 *
 *   node bench/blake3.ts [--size 1G] [--ts-size 64M] [--rounds 3] [--kernels wasm,pure-ts,native]
 *                        [--native-max avx512|avx2|sse2|portable]
 *
 * Creates a random file in os.tmpdir(), warms the page cache, then alternately times b3sum
 * and our path (1 MiB reads → TreeHasher with the WASM-SIMD kernel, outboard collected in
 * memory), checks the digests agree, and prints MB/s (10^6 bytes/s), best and median, and the
 * ratio ours / b3sum. Then the same for the pure-TS kernel on a smaller file, and for the
 * optional native addon kernel (scripts/build-native.mjs) on a file of `--size` when it is
 * built (otherwise one line says it was skipped; `--native-max` caps its instruction set, e.g.
 * to measure the AVX2 path on an AVX-512 machine). A summary of all kernels follows. The last
 * line is JSON (`results` in the order wasm, pure-ts, native). Temp files are deleted at the
 * end. Needs `b3sum` on PATH.
 */
import { spawnSync } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Blake3Kernel } from '../src/blake3/kernel-types.ts'
import { TreeHasher } from '../src/blake3/hasher.ts'
import { pureTsKernel } from '../src/blake3/kernel.ts'
import { createWasmKernel } from '../src/blake3/wasm/index.ts'
import { createNativeKernel, NATIVE_LEVELS } from '../src/blake3/native/index.ts'
import type { NativeLevel } from '../src/blake3/native/index.ts'

/** Read size of the ingest path. */
const PIECE = 1 << 20

function parseSize (text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text.trim())
  if (m === null) throw new Error(`bad size: ${text}`)
  const unit = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G']
  return Math.round(Number(m[1]) * unit)
}

function formatSize (bytes: number): string {
  if (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30} GiB`
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`
  return `${bytes} bytes`
}

function writeRandomFile (path: string, size: number): void {
  const fd = openSync(path, 'w')
  try {
    const buf = new Uint8Array(PIECE)
    for (let off = 0; off < size; off += PIECE) {
      const n = Math.min(PIECE, size - off)
      randomFillSync(buf, 0, n)
      writeSync(fd, buf, 0, n, off)
    }
  } finally {
    closeSync(fd)
  }
}

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function b3sumVersion (): string {
  const r = spawnSync('b3sum', ['--version'], { encoding: 'utf8' })
  if (r.error !== undefined || r.status !== 0) {
    throw new Error('b3sum not found on PATH (Debian/Ubuntu: apt-get install b3sum)')
  }
  return r.stdout.trim()
}

interface Timed { digest: string, seconds: number }

function timeB3sum (path: string): Timed {
  const t0 = performance.now()
  const r = spawnSync('b3sum', ['--num-threads', '1', path], { encoding: 'utf8' })
  const seconds = (performance.now() - t0) / 1000
  if (r.status !== 0) throw new Error(`b3sum failed: ${r.stderr}`)
  return { digest: r.stdout.split(/\s+/)[0], seconds }
}

/** Our ingest path: positional 1 MiB reads → TreeHasher; outboard kept in memory. */
function timeIngest (path: string, size: number, kernel: Blake3Kernel): Timed & { outboardBytes: number } {
  const t0 = performance.now()
  let outboard: Uint8Array | undefined
  let written = 0
  const hasher = new TreeHasher({
    size,
    kernel,
    onParent: (offset, pair) => {
      (outboard as Uint8Array).set(pair, offset)
      written += pair.length
    }
  })
  outboard = new Uint8Array(hasher.geometry.outboardSize)
  const buf = new Uint8Array(PIECE)
  const fd = openSync(path, 'r')
  try {
    let pos = 0
    while (pos < size) {
      const n = readSync(fd, buf, 0, Math.min(PIECE, size - pos), pos)
      if (n === 0) throw new Error(`unexpected EOF at ${pos}`)
      hasher.update(buf.subarray(0, n))
      pos += n
    }
  } finally {
    closeSync(fd)
  }
  const digest = hex(hasher.finalize())
  const seconds = (performance.now() - t0) / 1000
  if (written !== outboard.length) throw new Error(`outboard incomplete: ${written} of ${outboard.length} bytes`)
  return { digest, seconds, outboardBytes: outboard.length }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

interface Series { best: number, median: number, runs: number[] }
interface Comparison {
  kernel: string
  size: number
  b3sumMBps: Series
  oursMBps: Series
  ratioBest: number
  ratioMedian: number
  outboardBytes: number
}

function series (runs: number[]): Series {
  return { best: Math.max(...runs), median: median(runs), runs: runs.map((x) => Math.round(x)) }
}

function compare (dir: string, size: number, kernel: Blake3Kernel, rounds: number): Comparison {
  const path = join(dir, `input-${size}.bin`)
  writeRandomFile(path, size)
  // warm the page cache (and the JIT/wasm tier-up) with one untimed pass of each
  const warm = timeIngest(path, size, kernel)
  const anchor = timeB3sum(path)
  if (warm.digest !== anchor.digest) throw new Error(`digest mismatch: ours ${warm.digest}, b3sum ${anchor.digest}`)

  const ours: number[] = []
  const b3: number[] = []
  for (let r = 0; r < rounds; r++) {
    const a = timeB3sum(path)
    const o = timeIngest(path, size, kernel)
    if (a.digest !== o.digest) throw new Error(`digest mismatch: ours ${o.digest}, b3sum ${a.digest}`)
    const aMBps = size / a.seconds / 1e6
    const oMBps = size / o.seconds / 1e6
    b3.push(aMBps)
    ours.push(oMBps)
    console.log(`  round ${r + 1}: b3sum ${aMBps.toFixed(0)} MB/s, ${kernel.name} ${oMBps.toFixed(0)} MB/s, ratio ${(oMBps / aMBps).toFixed(3)}`)
  }
  rmSync(path, { force: true })
  const b = series(b3)
  const o = series(ours)
  const result: Comparison = {
    kernel: kernel.name,
    size,
    b3sumMBps: b,
    oursMBps: o,
    ratioBest: o.best / b.best,
    ratioMedian: o.median / b.median,
    outboardBytes: warm.outboardBytes
  }
  console.log(`${kernel.name}, ${formatSize(size)}: b3sum best ${b.best.toFixed(0)} / median ${b.median.toFixed(0)} MB/s; ` +
    `ours best ${o.best.toFixed(0)} / median ${o.median.toFixed(0)} MB/s; ` +
    `ratio best ${result.ratioBest.toFixed(3)}, median ${result.ratioMedian.toFixed(3)}`)
  return result
}

const KERNEL_CHOICES = ['wasm', 'pure-ts', 'native'] as const
type KernelChoice = typeof KERNEL_CHOICES[number]

function parseKernels (text: string): Set<KernelChoice> {
  const chosen = new Set<KernelChoice>()
  for (const name of text.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    if (!(KERNEL_CHOICES as readonly string[]).includes(name)) throw new Error(`bad --kernels entry: ${name} (one of ${KERNEL_CHOICES.join(', ')})`)
    chosen.add(name as KernelChoice)
  }
  if (chosen.size === 0) throw new Error('--kernels: nothing selected')
  return chosen
}

function main (): void {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1G' },
      'ts-size': { type: 'string', default: '64M' },
      rounds: { type: 'string', default: '3' },
      kernels: { type: 'string', default: KERNEL_CHOICES.join(',') },
      'native-max': { type: 'string' }
    }
  })
  const size = parseSize(values.size)
  const tsSize = parseSize(values['ts-size'])
  const rounds = Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bad --rounds: ${values.rounds}`)
  const kernels = parseKernels(values.kernels)
  const nativeMax = values['native-max']
  if (nativeMax !== undefined && !(nativeMax in NATIVE_LEVELS)) {
    throw new Error(`bad --native-max: ${nativeMax} (one of ${Object.keys(NATIVE_LEVELS).join(', ')})`)
  }
  const version = b3sumVersion()

  const dir = mkdtempSync(join(tmpdir(), 'storeswarm-bench-blake3-'))
  const cleanup = (): void => { rmSync(dir, { recursive: true, force: true }) }
  process.once('SIGINT', () => { cleanup(); process.exit(130) })
  try {
    console.log(`BLAKE3 ingest (digest + 16 KiB-group outboard), ${PIECE >> 10} KiB reads; node ${process.version}, ${version}`)
    const results: Comparison[] = []
    if (kernels.has('wasm')) {
      console.log(`wasm-simd kernel vs b3sum --num-threads 1, ${formatSize(size)}, ${rounds} alternating rounds:`)
      results.push(compare(dir, size, createWasmKernel(), rounds))
    }
    if (kernels.has('pure-ts')) {
      console.log(`pure-ts kernel vs b3sum --num-threads 1, ${formatSize(tsSize)}, ${rounds} alternating rounds:`)
      results.push(compare(dir, tsSize, pureTsKernel, rounds))
    }
    if (kernels.has('native')) {
      let native: Blake3Kernel | undefined
      try {
        native = createNativeKernel({ maxLevel: nativeMax as NativeLevel | undefined })
      } catch (err) {
        console.log(`native kernel skipped: ${err instanceof Error ? err.message : String(err)}`)
      }
      if (native !== undefined) {
        console.log(`${native.name} kernel vs b3sum --num-threads 1, ${formatSize(size)}, ${rounds} alternating rounds:`)
        results.push(compare(dir, size, native, rounds))
      }
    }
    console.log('summary (same-run ratios to b3sum --num-threads 1):')
    for (const r of results) {
      console.log(`  ${r.kernel.padEnd(16)} ${formatSize(r.size).padStart(8)}: median ${r.oursMBps.median.toFixed(0).padStart(5)} MB/s ` +
        `(b3sum ${r.b3sumMBps.median.toFixed(0)}), ratio median ${r.ratioMedian.toFixed(3)}, best ${r.ratioBest.toFixed(3)}`)
    }
    console.log(JSON.stringify({ bench: 'blake3-ingest', node: process.version, b3sum: version, pieceBytes: PIECE, results }))
  } finally {
    cleanup()
  }
}

main()
