/**
 * Mutation fuzzer for every decoder that sees outside bytes (targets: test/fuzz/targets.ts).
 *
 *   npm run fuzz -- --list
 *   npm run fuzz -- <target|all> [--seconds N] [--inputs N] [--seed S] [--timeout-ms 2000] [--json FILE] [--out DIR]
 *
 * Each target runs in a worker thread; the parent is a watchdog: an input that takes longer than
 * the time bound is a hang (the worker is killed and restarted, the input saved), a worker that
 * runs out of heap is a crash. An input whose decoder throws anything but the target's typed
 * rejections is a crash. Crashing and hanging inputs are minimised and saved under
 * `test/regressions/<target>/`, which `test/fuzz-regressions.test.ts` replays. Memory is sampled
 * (rss and ArrayBuffer bytes) and the peaks reported. Coverage-less: seeds from the shared fixtures,
 * stacked byte mutations, a dictionary per format; inputs the decoder accepts join the corpus.
 * With `all`, the time or input budget applies to each target in turn.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync, existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))
let REGRESSIONS = join(REPO, 'test', 'regressions')
/** Bytes of the shared buffer the worker copies each input into before running it. */
const CURRENT_CAP = 4 * 1024 * 1024

interface WorkerArgs {
  target: string
  seed: number
  inputs: number
  deadline: number
  progress: SharedArrayBuffer
  current: SharedArrayBuffer
  /** Seeds already run by earlier workers (seeds run first, in order). */
  seedStart: number
}

type WorkerMessage =
  | { type: 'ready', seeds: number }
  | { type: 'crash', input: Uint8Array, description: string, stack: string, kind: 'crash' | 'hang' }
  | { type: 'stats', count: number, peakRss: number, peakArrayBuffers: number, maxGrowth: number, accepted: number }
  | { type: 'done', count: number, peakRss: number, peakArrayBuffers: number, maxGrowth: number, accepted: number }

/* ------------------------------------------------------------------ worker */

async function workerMain (args: WorkerArgs): Promise<void> {
  const { loadTargets, classifyError, FuzzHangError } = await import('../test/fuzz/targets.ts')
  const { Mutator, Rng } = await import('../test/fuzz/mutators.ts')
  const targets = await loadTargets()
  const target = targets.find(t => t.name === args.target)
  if (target === undefined) throw new Error(`unknown target ${args.target}`)
  const post = (m: WorkerMessage): void => { parentPort?.postMessage(m) }
  const progress = new Int32Array(args.progress)
  const current = new Uint8Array(args.current)
  const currentView = new DataView(args.current)
  let inFlight: Uint8Array = new Uint8Array(0)

  const seeds = await target.seeds()
  post({ type: 'ready', seeds: seeds.length })
  const rng = new Rng(args.seed)
  const mutator = new Mutator(rng, seeds, { dictionary: target.dictionary, maxLength: target.maxLength, text: target.text, u64Fields: target.u64Fields })

  let count = 0
  let accepted = 0
  let peakRss = 0
  let peakArrayBuffers = 0
  let maxGrowth = 0
  let lastArrayBuffers = process.memoryUsage().arrayBuffers
  const seen = new Set<string>()

  process.on('unhandledRejection', (reason) => {
    const description = `unhandled rejection: ${reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)}`
    post({ type: 'crash', input: inFlight.slice(), description, stack: reason instanceof Error ? String(reason.stack) : '', kind: 'crash' })
  })

  const sample = (): void => {
    const m = process.memoryUsage()
    peakRss = Math.max(peakRss, m.rss)
    peakArrayBuffers = Math.max(peakArrayBuffers, m.arrayBuffers)
    maxGrowth = Math.max(maxGrowth, m.arrayBuffers - lastArrayBuffers)
    lastArrayBuffers = m.arrayBuffers
  }
  // keeps the event loop alive while an input awaits forever (the parent then sees a stall)
  const ticker = setInterval(() => {
    sample()
    post({ type: 'stats', count, peakRss, peakArrayBuffers, maxGrowth, accepted })
  }, 1000)

  /** Runs one input; returns the crash description (null = fine). */
  const runInput = async (input: Uint8Array): Promise<{ description: string, stack: string } | null> => {
    try {
      const r = target.run(input)
      if (r instanceof Promise) await r
      return null
    } catch (err) {
      const description = classifyError(target, err)
      if (description === null) return null
      return { description, stack: err instanceof Error ? String(err.stack) : '' }
    }
  }

  /** Publishes the input about to run (the parent saves it if it hangs); `heartbeat` = not a new input. */
  const publish = (input: Uint8Array, heartbeat: boolean): void => {
    const n = Math.min(input.length, CURRENT_CAP - 4)
    currentView.setUint32(0, n, true)
    current.set(input.subarray(0, n), 4)
    Atomics.add(progress, heartbeat ? 1 : 0, 1)
  }

  /** Shrinks a crashing input while it crashes with the same error name. */
  const minimise = async (input: Uint8Array, description: string): Promise<Uint8Array> => {
    const sig = description.split(':')[0]
    let best = input
    let budget = 1500
    for (let chunk = Math.max(1, best.length >>> 1); chunk >= 1 && budget > 0; chunk >>>= 1) {
      for (let at = 0; at < best.length && budget > 0;) {
        budget--
        const candidate = new Uint8Array(Buffer.concat([best.subarray(0, at), best.subarray(at + chunk)]))
        publish(candidate, true)
        const r = await runInput(candidate)
        if (r !== null && r.description.split(':')[0] === sig) best = candidate
        else at += chunk
      }
    }
    return best
  }

  const total = args.inputs
  const queue = seeds.slice(args.seedStart)
  while (count < total && Date.now() < args.deadline) {
    const fromSeeds = queue.length > 0
    const input = fromSeeds
      ? queue.shift() as Uint8Array
      : target.structured !== undefined && rng.chance(0.3) ? target.structured(rng, mutator.next()) : mutator.next()
    inFlight = input
    publish(input, false)
    const result = await runInput(input)
    count++
    if (result !== null) {
      const key = result.description.replace(/\d+/g, 'N').slice(0, 120)
      if (!seen.has(key)) {
        seen.add(key)
        const small = result.description.startsWith(FuzzHangError.name) ? input : await minimise(input, result.description)
        post({ type: 'crash', input: small, description: result.description, stack: result.stack, kind: 'crash' })
      }
    }
    // accepted inputs are the interesting ones for a coverage-less fuzzer: keep some
    if (result === null && !fromSeeds && mutator.corpus.length < 4000 && rng.chance(0.05)) {
      accepted++
      mutator.corpus.push(input)
    }
    if ((count & 63) === 0) sample()
  }
  clearInterval(ticker)
  sample()
  post({ type: 'done', count, peakRss, peakArrayBuffers, maxGrowth, accepted })
}

/* ------------------------------------------------------------------ parent */

interface Options {
  targets: string[]
  seconds: number | undefined
  inputs: number | undefined
  seed: number
  timeoutMs: number
  json: string | undefined
}

interface Figures {
  target: string
  inputs: number
  seconds: number
  perSecond: number
  crashes: number
  hangs: number
  peakRssMiB: number
  peakArrayBuffersMiB: number
  maxArrayBufferGrowthMiB: number
  corpusAdded: number
  saved: string[]
}

function usage (): never {
  console.error('usage: npm run fuzz -- <target|all> [--seconds N] [--inputs N] [--seed S] [--timeout-ms MS] [--json FILE] [--out DIR]\n       npm run fuzz -- --list')
  process.exit(2)
}

function saveInput (target: string, kind: 'crash' | 'hang' | 'oom', input: Uint8Array, description: string): string {
  const dir = join(REGRESSIONS, target)
  mkdirSync(dir, { recursive: true })
  const id = createHash('sha256').update(input).digest('hex').slice(0, 16)
  const file = join(dir, `${kind}-${id}.bin`)
  if (!existsSync(file)) {
    writeFileSync(file, input)
    writeFileSync(join(dir, `${kind}-${id}.txt`), `${description}\n`)
  }
  return file.startsWith(REPO) ? file.slice(REPO.length) : file
}

const MiB = 1024 * 1024

async function fuzzTarget (name: string, opts: Options): Promise<Figures> {
  const started = Date.now()
  const deadline = opts.seconds !== undefined ? started + opts.seconds * 1000 : Number.POSITIVE_INFINITY
  const budget = opts.inputs ?? (opts.seconds !== undefined ? Number.MAX_SAFE_INTEGER : 100_000)
  const figures: Figures = { target: name, inputs: 0, seconds: 0, perSecond: 0, crashes: 0, hangs: 0, peakRssMiB: 0, peakArrayBuffersMiB: 0, maxArrayBufferGrowthMiB: 0, corpusAdded: 0, saved: [] }
  let seed = opts.seed
  let seedStart = 0
  let doneCount = 0
  const crashKinds = new Set<string>()

  while (doneCount < budget && Date.now() < deadline) {
    const progress = new SharedArrayBuffer(8)
    const current = new SharedArrayBuffer(CURRENT_CAP)
    const counter = new Int32Array(progress)
    const args: WorkerArgs = { target: name, seed, inputs: budget - doneCount, deadline: Number.isFinite(deadline) ? deadline : 8.64e15, progress, current, seedStart }
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: args, resourceLimits: { maxOldGenerationSizeMb: 768 } })
    let lastCount = 0
    let lastSeen = -1
    let lastChange = Date.now()
    let ready = false
    let finished = false
    const readCurrent = (): Uint8Array => {
      const n = new DataView(current).getUint32(0, true)
      return new Uint8Array(current, 4, n).slice()
    }
    const outcome = await new Promise<'done' | 'hang' | 'oom' | 'exit'>((resolve) => {
      const watchdog = setInterval(() => {
        if (!ready) return
        const c = Atomics.load(counter, 0) + Atomics.load(counter, 1) // inputs started + minimisation steps
        if (c !== lastSeen) { lastSeen = c; lastChange = Date.now(); return }
        if (Date.now() - lastChange > opts.timeoutMs) {
          clearInterval(watchdog)
          void worker.terminate()
          resolve('hang')
        }
      }, Math.min(250, opts.timeoutMs / 4))
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') { ready = true; lastChange = Date.now(); if (seedStart === 0) console.error(`[${name}] ${m.seeds} seeds`); return }
        if (m.type === 'crash') {
          // each worker reports a kind of crash once; restarted workers may report it again
          const key = m.description.replace(/\d+/g, 'N').slice(0, 120)
          if (crashKinds.has(key)) return
          crashKinds.add(key)
          figures.crashes++
          const file = saveInput(name, 'crash', m.input, m.description)
          figures.saved.push(file)
          console.error(`[${name}] CRASH ${m.description}\n  saved ${file}\n  ${m.stack.split('\n').slice(1, 6).join('\n  ')}`)
          return
        }
        lastCount = m.count
        figures.peakRssMiB = Math.max(figures.peakRssMiB, m.peakRss / MiB)
        figures.peakArrayBuffersMiB = Math.max(figures.peakArrayBuffersMiB, m.peakArrayBuffers / MiB)
        figures.maxArrayBufferGrowthMiB = Math.max(figures.maxArrayBufferGrowthMiB, m.maxGrowth / MiB)
        if (m.type === 'done') {
          figures.corpusAdded += m.accepted
          finished = true
          clearInterval(watchdog)
          resolve('done')
        }
      })
      worker.on('error', (err: any) => {
        clearInterval(watchdog)
        resolve(err?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'oom' : 'exit')
        if (err?.code !== 'ERR_WORKER_OUT_OF_MEMORY') console.error(`[${name}] worker error: ${err?.stack ?? err}`)
      })
      worker.on('exit', () => {
        clearInterval(watchdog)
        if (!finished) resolve(ready ? 'hang' : 'exit')
      })
    })
    // the worker's own count is at most a second old; the shared counter is exact (inputs started)
    const ran = Math.max(lastCount, Atomics.load(counter, 0))
    seedStart += ran // the next worker goes on after the input that stopped this one
    doneCount += ran
    if (outcome === 'done') break
    if (outcome === 'exit' && !ready) throw new Error(`worker for ${name} failed to start`)
    const input = readCurrent()
    if (outcome === 'hang') {
      figures.hangs++
      if (figures.hangs <= 20) {
        const file = saveInput(name, 'hang', input, `no result within ${opts.timeoutMs} ms (or the event loop drained with the input pending)`)
        figures.saved.push(file)
        console.error(`[${name}] HANG after ${opts.timeoutMs} ms, saved ${file}`)
      }
    } else if (outcome === 'oom') {
      figures.crashes++
      const file = saveInput(name, 'oom', input, 'worker ran out of heap')
      figures.saved.push(file)
      console.error(`[${name}] OUT OF MEMORY, saved ${file}`)
    }
    await worker.terminate()
    seed = (seed + 0x9e3779b9) >>> 0
  }
  figures.inputs = doneCount
  figures.seconds = (Date.now() - started) / 1000
  figures.perSecond = Math.round(doneCount / Math.max(0.001, figures.seconds))
  return figures
}

function parseArgs (argv: string[]): Options & { list: boolean } {
  const opts: Options & { list: boolean } = { targets: [], seconds: undefined, inputs: undefined, seed: 1, timeoutMs: 2000, json: undefined, list: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = (): string => { const v = argv[++i]; if (v === undefined) usage(); return v }
    if (a === '--list') opts.list = true
    else if (a === '--seconds') opts.seconds = Number(value())
    else if (a === '--inputs') opts.inputs = Number(value())
    else if (a === '--seed') opts.seed = Number(value()) >>> 0
    else if (a === '--timeout-ms') opts.timeoutMs = Number(value())
    else if (a === '--json') opts.json = value()
    else if (a === '--out') REGRESSIONS = value()
    else if (a.startsWith('--')) usage()
    else opts.targets.push(a)
  }
  for (const n of [opts.seconds, opts.inputs, opts.timeoutMs]) if (n !== undefined && !(Number.isFinite(n) && n > 0)) usage()
  return opts
}

async function main (): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  const { loadTargets } = await import('../test/fuzz/targets.ts')
  const targets = await loadTargets()
  if (opts.list) {
    for (const t of targets) console.log(`${t.name.padEnd(20)} ${t.description}\n${''.padEnd(20)} rejects with: ${t.expected.map(e => e.name).join(', ')}`)
    return
  }
  if (opts.targets.length === 0) usage()
  const names = opts.targets.includes('all') ? targets.map(t => t.name) : opts.targets
  for (const n of names) if (!targets.some(t => t.name === n)) { console.error(`unknown target ${n} (see --list)`); process.exit(2) }
  const results: Figures[] = []
  for (const n of names) {
    const f = await fuzzTarget(n, opts)
    results.push(f)
    console.log(`${f.target.padEnd(20)} ${String(f.inputs).padStart(10)} inputs ${f.seconds.toFixed(1).padStart(7)} s ${String(f.perSecond).padStart(7)}/s  crashes ${f.crashes}  hangs ${f.hangs}  peak rss ${f.peakRssMiB.toFixed(0)} MiB  peak ArrayBuffers ${f.peakArrayBuffersMiB.toFixed(1)} MiB (largest jump between samples ${f.maxArrayBufferGrowthMiB.toFixed(1)} MiB)`)
  }
  if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify({ seed: opts.seed, timeoutMs: opts.timeoutMs, results }, null, 2) + '\n')
  const bad = results.some(r => r.crashes > 0 || r.hangs > 0)
  if (existsSync(REGRESSIONS) && bad) console.error(`inputs saved under ${REGRESSIONS}: ${readdirSync(REGRESSIONS).join(', ')}`)
  process.exitCode = bad ? 1 : 0
}

if (isMainThread) {
  await main()
} else {
  await workerMain(workerData as WorkerArgs)
}
