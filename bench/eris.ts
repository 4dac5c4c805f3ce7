/**
 * ERIS encoder throughput versus its primitives.
 *
 *   node bench/eris.ts [--size 1G] [--rounds 3] [--piece 1M]
 *
 * Content: the ERIS "large content" stream — ChaCha20 keystream keyed by BLAKE2b-256(name), zero
 * nonce — produced piece by piece (never one buffer). Its production time is measured and excluded
 * from both figures. For exactly 1 GiB the name is "1GiB (block size 32KiB)" and the resulting URN
 * is checked against the one published by eris-rs and eris-nim.
 *
 * Alternating, per round, over the same bytes:
 *   (a) primitives back to back per 32 KiB block: keyed BLAKE2b-256 (hash-wasm), ChaCha20 with
 *       that key (OpenSSL via node:crypto, new context per block as ERIS needs), keyed BLAKE2b-256
 *       of the ciphertext;
 *   (b) the full streaming `encodeEris` with 32 KiB blocks (blocks discarded).
 * Also shown, for reference only: (a0) the same with a single ChaCha20 context for the whole
 * stream (not possible in ERIS, every block has its own key).
 */
import { createCipheriv } from 'node:crypto'
import { parseArgs } from 'node:util'
import { encodeEris } from '../src/eris/index.ts'
import { keyedBlake2b256, unkeyedBlake2b256 } from '../src/eris/crypto.ts'

const LARGE_1GIB_URN = 'urn:eris:B4BL4DKSEOPGMYS2CU2OFNYCH4BGQT774GXKGURLFO5FDXAQQPJGJ35AZR3PEK6CVCV74FVTAXHRSWLUUNYYA46ZPOPDOV2M5NVLBETWVI'
const BLOCK = 32768

function parseSize (text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(text.trim())
  if (m == null) throw new Error(`bad size ${text}`)
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't']
  return Math.round(Number(m[1]) * unit)
}

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1G' },
    rounds: { type: 'string', default: '3' },
    piece: { type: 'string', default: '1M' }
  }
})
const size = parseSize(values.size)
const rounds = Number(values.rounds)
const pieceSize = parseSize(values.piece)
if (pieceSize % BLOCK !== 0) throw new Error('--piece must be a multiple of 32 KiB')

const name = size === 2 ** 30 ? '1GiB (block size 32KiB)' : `bench ${size}`
const streamKey = (await unkeyedBlake2b256()).digest(new TextEncoder().encode(name))

interface Clock { ms: number, cpu: number }

/** Wall-clock ms and process CPU ms (user + system) since start. */
function clock (): Clock {
  const cpu = process.cpuUsage()
  return { ms: performance.now(), cpu: (cpu.user + cpu.system) / 1000 }
}

function since (start: Clock, minus: Clock): Clock {
  const now = clock()
  return { ms: now.ms - start.ms - minus.ms, cpu: now.cpu - start.cpu - minus.cpu }
}

/** Content source; accumulates its own production time (wall and CPU) in `gen`. */
function source (gen: Clock): AsyncGenerator<Uint8Array> {
  return (async function * () {
    const cipher = createCipheriv('chacha20', streamKey, new Uint8Array(16))
    const zeros = new Uint8Array(pieceSize)
    for (let offset = 0; offset < size; offset += pieceSize) {
      const t = clock()
      const piece = cipher.update(zeros.subarray(0, Math.min(pieceSize, size - offset)))
      const d = since(t, { ms: 0, cpu: 0 })
      gen.ms += d.ms
      gen.cpu += d.cpu
      yield piece
    }
  })()
}

let peakRss = 0
const sampleRss = (): void => { peakRss = Math.max(peakRss, process.memoryUsage.rss()) }

const keyed = await keyedBlake2b256(new Uint8Array(32))
const iv = new Uint8Array(16)
let sink = 0

/** (a): per 32 KiB block, keyed BLAKE2b-256 → ChaCha20 (new context) → keyed BLAKE2b-256. */
async function primitives (singleContext: boolean): Promise<Clock> {
  const gen = { ms: 0, cpu: 0 }
  const start = clock()
  const shared = singleContext ? createCipheriv('chacha20', streamKey, iv) : undefined
  let tail = new Uint8Array(0)
  for await (const piece of source(gen)) {
    let data: Uint8Array = piece
    if (tail.length > 0) { data = Buffer.concat([tail, piece]); tail = new Uint8Array(0) }
    let offset = 0
    for (; offset + BLOCK <= data.length; offset += BLOCK) {
      const plain = data.subarray(offset, offset + BLOCK)
      const key = keyed.digest(plain)
      const cipher = (shared ?? createCipheriv('chacha20', key, iv)).update(plain)
      sink ^= keyed.digest(cipher)[0]
    }
    if (offset < data.length) tail = data.slice(offset)
    sampleRss()
  }
  if (tail.length > 0) {
    const plain = new Uint8Array(BLOCK)
    plain.set(tail)
    const key = keyed.digest(plain)
    sink ^= keyed.digest((shared ?? createCipheriv('chacha20', key, iv)).update(plain))[0]
  }
  return since(start, gen)
}

/** (b): the streaming encoder, blocks discarded. */
async function encoder (): Promise<{ time: Clock, urn: string, blockCount: number }> {
  const gen = { ms: 0, cpu: 0 }
  const start = clock()
  let blocks = 0
  const result = await encodeEris(source(gen), {
    blockSize: BLOCK,
    onBlock: () => { if ((++blocks & 31) === 0) sampleRss() }
  })
  return { time: since(start, gen), urn: result.urn, blockCount: result.blockCount }
}

/** Total (non-distinct) block count of an ERIS tree (§4.2). */
function treeBlocks (contentLength: number, blockSize: number): number {
  let count = Math.floor(contentLength / blockSize) + 1
  let total = count
  while (count > 1) {
    count = Math.ceil(count / (blockSize / 64))
    total += count
  }
  return total
}

const mbps = (ms: number): number => size / 1e6 / (ms / 1e3)
const fmt = (x: number): string => x.toFixed(1)

console.log(`ERIS bench: ${size} bytes (${fmt(size / 2 ** 20)} MiB) in ${pieceSize}-byte pieces, ${rounds} rounds, node ${process.version}`)
console.log('MB/s by wall clock; [cpu: by process CPU time, robust when other processes compete for the CPU]')
const a: number[] = []
const a0: number[] = []
const b: number[] = []
const aCpu: number[] = []
const bCpu: number[] = []
let urn = ''
let blockCount = 0
for (let round = 1; round <= rounds; round++) {
  const ta = await primitives(false)
  const tb = await encoder()
  const ta0 = await primitives(true)
  a.push(mbps(ta.ms))
  b.push(mbps(tb.time.ms))
  a0.push(mbps(ta0.ms))
  aCpu.push(mbps(ta.cpu))
  bCpu.push(mbps(tb.time.cpu))
  urn = tb.urn
  blockCount = tb.blockCount
  console.log(`round ${round}: (a) primitives ${fmt(mbps(ta.ms))} MB/s [cpu ${fmt(mbps(ta.cpu))}]  (b) encodeEris ${fmt(mbps(tb.time.ms))} MB/s [cpu ${fmt(mbps(tb.time.cpu))}]  ratio ${(mbps(tb.time.ms) / mbps(ta.ms)).toFixed(3)} [cpu ${(mbps(tb.time.cpu) / mbps(ta.cpu)).toFixed(3)}]  (a0) single ChaCha20 context ${fmt(mbps(ta0.ms))} MB/s`)
}

const best = (xs: number[]): number => Math.max(...xs)
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
const ratios = a.map((x, i) => b[i] / x)
const ratio = median(ratios)
const ratiosCpu = aCpu.map((x, i) => bCpu[i] / x)
const ratioCpu = median(ratiosCpu)
const overhead32 = blockCount * BLOCK / size
const overhead1 = treeBlocks(size, 1024) * 1024 / size
const urnCheck = size === 2 ** 30 ? urn === LARGE_1GIB_URN : null
if (blockCount !== treeBlocks(size, BLOCK)) throw new Error(`block count ${blockCount} != ${treeBlocks(size, BLOCK)}`)

console.log(`ratio (b)/(a), target ≥ 0.7: median of rounds ${ratio.toFixed(3)} [cpu ${ratioCpu.toFixed(3)}]; best (b) / best (a) = ${fmt(best(b))} / ${fmt(best(a))} MB/s = ${(best(b) / best(a)).toFixed(3)} [cpu ${fmt(best(bCpu))} / ${fmt(best(aCpu))} = ${(best(bCpu) / best(aCpu)).toFixed(3)}]`)
console.log(`storage overhead (all blocks incl. internal nodes / content): 32 KiB blocks ${overhead32.toFixed(5)} (${blockCount} blocks), 1 KiB blocks ${overhead1.toFixed(5)} (${treeBlocks(size, 1024)} blocks)`)
console.log(`peak RSS ${fmt(peakRss / 2 ** 20)} MiB; urn ${urn}${urnCheck == null ? '' : urnCheck ? ' (matches eris-rs/eris-nim 1 GiB vector)' : ' (MISMATCH with eris-rs/eris-nim 1 GiB vector!)'}`)
console.log(JSON.stringify({
  bench: 'eris',
  bytes: size,
  rounds,
  primitivesMBps: a.map(x => Math.round(x * 10) / 10),
  encodeMBps: b.map(x => Math.round(x * 10) / 10),
  primitivesSingleContextMBps: a0.map(x => Math.round(x * 10) / 10),
  primitivesCpuMBps: aCpu.map(x => Math.round(x * 10) / 10),
  encodeCpuMBps: bCpu.map(x => Math.round(x * 10) / 10),
  ratios: ratios.map(x => Math.round(x * 1000) / 1000),
  ratio: Math.round(ratio * 1000) / 1000,
  ratioBest: Math.round(best(b) / best(a) * 1000) / 1000,
  ratioCpu: Math.round(ratioCpu * 1000) / 1000,
  storageOverhead32KiB: Math.round(overhead32 * 1e5) / 1e5,
  storageOverhead1KiB: Math.round(overhead1 * 1e5) / 1e5,
  blockCount,
  peakRssMiB: Math.round(peakRss / 2 ** 20),
  urn,
  urnMatchesPublishedVector: urnCheck,
  sink
}))
if (urnCheck === false) process.exitCode = 1
