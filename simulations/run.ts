/**
 * `npm run sim -- <scenario> [options]`: runs a scenario (a name from simulations/scenarios or a
 * JSON file) and writes `<name>.json`, `<name>.svg`, `<name>.md` and `SUMMARY.md` to the output
 * directory (default simulations/results).
 *
 *   npm run sim -- flash-crowd
 *   npm run sim -- all                       every scenario, one after the other
 *   npm run sim -- liars --nodes 20 --paths 40 --total-mib 160 --out /tmp/sim
 *   npm run sim -- scale --max-minutes 10    the scale check (largest N in the time, memory vs N;
 *                                            --sizes 10,25,50 to choose the N tried; --from
 *                                            a.json,b.json to tabulate flash-crowd runs made before)
 *
 * Options: --nodes N, --paths P, --total-mib M, --scale-down S, --seed S, --out DIR,
 * --no-solo (skip the one-node reference), --no-baseline (liars: skip the run without liars),
 * --baseline-from FILE (liars: take the run without liars from an earlier result, e.g. the
 * flash crowd's JSON at the same N and seed),
 * --json (print the report on stdout).
 */
import { readFileSync, readdirSync, existsSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { runScenario } from './harness.ts'
import type { RunResult, Scenario } from './harness.ts'
import { chartOf, makeReport, writeReport } from './report.ts'
import { svgChart } from './chart.ts'

// the swarm throws (and catches) an error per referral, timeout and abort: hundreds of thousands
// in a 200-node run. Stack traces are a large share of the simulator's time; SIM_STACK_LIMIT=10
// brings them back for debugging.
Error.stackTraceLimit = Number(process.env.SIM_STACK_LIMIT ?? 0)

const here = dirname(fileURLToPath(import.meta.url))
const scenarioDir = join(here, 'scenarios')

interface Options {
  nodes?: number
  paths?: number
  totalMiB?: number
  scaleDown?: number
  seed?: number
  out: string
  solo: boolean
  baseline: boolean
  /** a flash-crowd result JSON whose main run is the liars scenario's no-liar reference */
  baselineFrom?: string
  json: boolean
  maxMinutes: number
  sizes?: number[]
  /** scale check: tabulate these flash-crowd results instead of running */
  from?: string[]
}

function parseArgs (argv: string[]): { names: string[], opts: Options } {
  const opts: Options = { out: join(here, 'results'), solo: true, baseline: true, json: false, maxMinutes: 10 }
  const names: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const num = (): number => {
      const v = Number(argv[++i])
      if (!Number.isFinite(v)) throw new Error(`${a} needs a number`)
      return v
    }
    if (a === '--nodes') opts.nodes = num()
    else if (a === '--paths') opts.paths = num()
    else if (a === '--total-mib') opts.totalMiB = num()
    else if (a === '--scale-down') opts.scaleDown = num()
    else if (a === '--seed') opts.seed = num()
    else if (a === '--max-minutes') opts.maxMinutes = num()
    else if (a === '--sizes') opts.sizes = argv[++i].split(',').map(Number)
    else if (a === '--from') opts.from = argv[++i].split(',').map(f => resolve(f))
    else if (a === '--out') opts.out = resolve(argv[++i])
    else if (a === '--no-solo') opts.solo = false
    else if (a === '--no-baseline') opts.baseline = false
    else if (a === '--baseline-from') opts.baselineFrom = resolve(argv[++i])
    else if (a === '--json') opts.json = true
    else if (a === '--help' || a === '-h') { names.push('help') } else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
    else names.push(a)
  }
  return { names, opts }
}

function listScenarios (): string[] {
  return readdirSync(scenarioDir).filter(f => f.endsWith('.json')).map(f => f.slice(0, -5)).sort()
}

export function loadScenario (name: string, opts: Partial<Options> = {}): Scenario {
  const file = existsSync(name) ? name : join(scenarioDir, `${name}.json`)
  if (!existsSync(file)) throw new Error(`no scenario ${name} (have: ${listScenarios().join(', ')})`)
  const sc = JSON.parse(readFileSync(file, 'utf8')) as Scenario
  if (opts.nodes !== undefined) {
    // keep site proportions
    if (sc.sites !== undefined) {
      const total = sc.sites.reduce((s, x) => s + x.nodes, 0)
      let left = opts.nodes
      sc.sites = sc.sites.map((s, i) => {
        const n = i === (sc.sites as unknown[]).length - 1 ? left : Math.round(opts.nodes as number * s.nodes / total)
        left -= n
        return { ...s, nodes: n }
      })
    }
    sc.nodes = opts.nodes
  }
  if (opts.paths !== undefined) sc.closure = { ...sc.closure, paths: opts.paths }
  if (opts.totalMiB !== undefined) sc.closure = { ...sc.closure, totalMiB: opts.totalMiB }
  if (opts.scaleDown !== undefined) sc.scaleDown = opts.scaleDown
  if (opts.seed !== undefined) sc.seed = opts.seed
  return sc
}

const log = (line: string): void => { process.stderr.write(line + '\n') }

async function runOne (name: string, opts: Options): Promise<void> {
  const sc = loadScenario(name, opts)
  // the command as typed, without the output directory (no machine paths in results)
  const args = process.argv.slice(2)
  const shown = args.filter((a, i) => a !== '--out' && args[i - 1] !== '--out' && a !== '--json').map((a, i, all) => all[i - 1] === '--baseline-from' ? a.split('/').slice(-1)[0] : a)
  const command = `npm run sim -- ${shown.join(' ')}`.trim()
  let solo: RunResult | undefined
  if (opts.solo && (sc.solo ?? true)) {
    log(`${sc.name}: one node alone (reference)`)
    solo = await runScenario(sc, { solo: true })
    log(`${sc.name}: one node alone took ${solo.completion.lastS?.toFixed(1)} virtual s (${solo.wallSeconds.toFixed(1)} s wall)`)
  }
  let baseline: RunResult | undefined
  if (sc.liars !== undefined && opts.baselineFrom === undefined && (sc.liars.baseline ?? true) && opts.baseline) {
    log(`${sc.name}: baseline without liars`)
    baseline = await runScenario(sc, { noLiars: true, log })
  }
  const main = await runScenario(sc, { log })
  if (sc.liars !== undefined && opts.baselineFrom !== undefined) {
    // the same crowd without liars, run before or alongside (e.g. the flash crowd at the same N
    // and seed); read when this run is done
    try {
      const prev = JSON.parse(readFileSync(opts.baselineFrom, 'utf8'))
      if (prev.main?.completion === undefined) throw new Error('not a simulation result')
      baseline = prev.main as RunResult
      log(`${sc.name}: baseline without liars from ${opts.baselineFrom} (${prev.scenario ?? '?'}, ${prev.main.completion.expected} nodes, last node ${prev.main.completion.lastS} s)`)
    } catch (err: any) {
      log(`${sc.name}: no baseline from ${opts.baselineFrom}: ${err.message}`)
    }
  }
  if ((globalThis as any).__gw !== undefined) log(JSON.stringify((globalThis as any).__gw))
  const rep = makeReport(sc, command, main, solo, baseline)
  writeReport(opts.out, rep, chartOf(sc, main, solo, baseline))
  for (const f of rep.figures) log(`  ${f.pass === undefined ? ' ' : f.pass ? '✓' : '✗'} ${f.name}: ${f.value} (target ${f.target})`)
  log(`${sc.name}: wrote ${join(opts.out, `${sc.name}.{json,svg,md}`)}`)
  if (opts.json) process.stdout.write(JSON.stringify(rep) + '\n')
}

/**
 * The scale check: the flash crowd at growing N, each in its own process (fresh memory), until
 * one run takes longer than the limit; records wall time and peak RSS per N.
 */
async function scaleCheck (opts: Options): Promise<void> {
  const rows: Array<{ nodes: number, wallSeconds: number, peakRssMiB: number, virtualSeconds: number, completed: string }> = []
  const sizes = opts.from !== undefined ? [] : opts.sizes ?? [10, 25, 50, 100, 200, 300, 400]
  for (const f of opts.from ?? []) {
    // runs made earlier (e.g. alongside other runs, which inflates their wall time)
    const rep = JSON.parse(readFileSync(f, 'utf8'))
    const m = rep.main
    rows.push({ nodes: m.completion.expected, wallSeconds: m.wallSeconds, peakRssMiB: m.peakRssMiB, virtualSeconds: m.virtualSeconds, completed: `${m.completion.completed}/${m.completion.expected}` })
    log(`scale: ${m.completion.expected} nodes (${f.split('/').slice(-2).join('/')}): ${m.wallSeconds.toFixed(0)} s wall, ${m.peakRssMiB} MiB peak RSS`)
  }
  rows.sort((a, b) => a.nodes - b.nodes)
  for (const n of sizes) {
    if (opts.nodes !== undefined && n > opts.nodes) break
    log(`scale: ${n} nodes`)
    const t0 = Date.now()
    const args = [join(here, 'run.ts'), 'flash-crowd', '--nodes', String(n), '--no-solo', '--json', '--out', join(opts.out, 'scale-runs')]
    if (opts.paths !== undefined) args.push('--paths', String(opts.paths))
    if (opts.totalMiB !== undefined) args.push('--total-mib', String(opts.totalMiB))
    const r = spawnSync(process.execPath, [...process.execArgv, ...args], { encoding: 'utf8', timeout: opts.maxMinutes * 60_000 * 1.5, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] })
    const wall = (Date.now() - t0) / 1000
    if (r.status !== 0) { log(`scale: ${n} nodes did not finish (${r.signal ?? r.status}) after ${wall.toFixed(0)} s`); rows.push({ nodes: n, wallSeconds: wall, peakRssMiB: NaN, virtualSeconds: NaN, completed: 'did not finish' }); break }
    const rep = JSON.parse(r.stdout.trim().split('\n').pop() as string)
    rows.push({ nodes: n, wallSeconds: wall, peakRssMiB: rep.main.peakRssMiB, virtualSeconds: rep.main.virtualSeconds, completed: `${rep.main.completion.completed}/${rep.main.completion.expected}` })
    log(`scale: ${n} nodes: ${wall.toFixed(0)} s wall, ${rep.main.peakRssMiB} MiB peak RSS`)
    if (wall > opts.maxMinutes * 60) break
  }
  mkdirSync(opts.out, { recursive: true })
  const ok = rows.filter(r => r.wallSeconds <= opts.maxMinutes * 60 && r.completed !== 'did not finish')
  const result = { maxMinutes: opts.maxMinutes, largestN: ok.length > 0 ? ok[ok.length - 1].nodes : 0, rows, generatedAt: new Date().toISOString() }
  writeFileSync(join(opts.out, 'scale.json'), JSON.stringify(result, null, 1) + '\n')
  const pts = rows.filter(r => Number.isFinite(r.peakRssMiB))
  writeFileSync(join(opts.out, 'scale.svg'), svgChart([
    { kind: 'line', title: 'Wall time vs N', xLabel: 'nodes', yLabel: 'seconds', series: [{ label: 'wall s', points: pts.map(r => [r.nodes, r.wallSeconds]), color: '#1f77b4' }] },
    { kind: 'line', title: 'Peak memory vs N', xLabel: 'nodes', yLabel: 'MiB RSS', series: [{ label: 'peak RSS', points: pts.map(r => [r.nodes, r.peakRssMiB]), color: '#d62728' }] }
  ], `flash-crowd scale check on this machine; limit ${opts.maxMinutes} min per run`))
  const how = opts.from !== undefined
    ? `Tabulated from flash-crowd runs made before (\`--from\`); those runs shared this machine's 2 cores with 1–4 other runs, so their wall times are upper bounds. Largest N within ${opts.maxMinutes} minutes among them: **${result.largestN}**.`
    : `Flash crowd at growing N, one process per run; limit ${opts.maxMinutes} minutes. Largest N within the limit: **${result.largestN}**.`
  const md = ['# Scale check', '', how, '', '![scale](scale.svg)', '', '| nodes | wall s | peak RSS MiB | virtual s | completed |', '|---|---|---|---|---|',
    ...rows.map(r => `| ${r.nodes} | ${r.wallSeconds.toFixed(0)} | ${r.peakRssMiB} | ${Number.isFinite(r.virtualSeconds) ? r.virtualSeconds.toFixed(0) : '–'} | ${r.completed} |`), '']
  writeFileSync(join(opts.out, 'scale.md'), md.join('\n'))
  log(`scale: largest N within ${opts.maxMinutes} min: ${result.largestN}; wrote ${join(opts.out, 'scale.{json,svg,md}')}`)
}

async function main (): Promise<void> {
  const { names, opts } = parseArgs(process.argv.slice(2))
  if (names.length === 0 || names[0] === 'help') {
    process.stdout.write(`usage: npm run sim -- <scenario|all|scale> [--nodes N] [--paths P] [--total-mib M] [--scale-down S] [--seed S] [--out DIR] [--no-solo] [--no-baseline] [--json]\nscenarios: ${listScenarios().join(', ')}\n`)
    return
  }
  for (const name of names) {
    if (name === 'scale') await scaleCheck(opts)
    else if (name === 'all') for (const s of listScenarios()) await runOne(s, opts)
    else await runOne(name, opts)
  }
}

main().then(() => { process.exit(0) }, (err) => { process.stderr.write(`sim: ${err?.stack ?? err}\n`); process.exit(1) })
