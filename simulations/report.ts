/**
 * Figures of a scenario run against the issue's targets, the per-scenario JSON / SVG / markdown,
 * and the summary table over every result in a directory.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { svgChart } from './chart.ts'
import type { Panel } from './chart.ts'
import type { RunResult, Scenario } from './harness.ts'

export interface Figure {
  name: string
  value: number | string
  target: string
  /** undefined: reported only */
  pass?: boolean
}

export interface ScenarioReport {
  scenario: string
  description: string
  command: string
  params: { nodes: number, paths: number, closureMiB: number, scaleDown: number, seed: number }
  figures: Figure[]
  main: Omit<RunResult, 'nodesDetail'> & { nodesDetail?: RunResult['nodesDetail'] }
  solo?: { lastS: number | null, virtualSeconds: number, wallSeconds: number }
  baseline?: Omit<RunResult, 'nodesDetail'>
  generatedAt: string
}

const GiB = 2 ** 30
const r2 = (x: number | null | undefined): number => x === null || x === undefined ? NaN : Math.round(x * 100) / 100

export function figuresOf (sc: Scenario, main: RunResult, solo?: RunResult, baseline?: RunResult): Figure[] {
  const f: Figure[] = []
  const c = main.completion
  f.push({ name: 'integrity: corrupt bytes accepted by honest nodes (re-hashed after the run)', value: main.integrity.corruptBytesAccepted, target: '0', pass: main.integrity.corruptBytesAccepted === 0 })
  if (main.churn !== undefined) {
    f.push({ name: 'churn: nodes that stayed and completed', value: `${main.churn.stayersCompleted}/${main.churn.stayers}`, target: 'all', pass: main.churn.stayersCompleted === main.churn.stayers })
    f.push({ name: 'churn: nodes that left, came back and completed', value: `${main.churn.returnersCompleted}/${main.churn.returners}`, target: 'all (reported)', pass: main.churn.returnersCompleted === main.churn.returners })
    f.push({ name: 'churn: nodes that left for good', value: main.churn.left, target: '(reported)' })
  } else {
    f.push({ name: 'nodes completed', value: `${c.completed}/${c.expected}`, target: 'all', pass: c.completed === c.expected })
  }
  const plainCrowd = sc.update === undefined && sc.sites === undefined && main.churn === undefined && main.liars === undefined
  f.push({ name: 'seeder upload ÷ closure NAR size', value: r2(main.seeder.uploadPerClosure), target: plainCrowd ? '≤ 3' : '(reported)', pass: plainCrowd ? main.seeder.uploadPerClosure <= 3 : undefined })
  f.push({ name: 'last node complete (s)', value: r2(c.lastS), target: '(reported)' })
  f.push({ name: 'median node complete (s)', value: r2(c.medianS), target: '(reported)' })
  if (solo !== undefined) {
    const ratio = (c.lastS ?? Infinity) / (solo.completion.lastS ?? NaN)
    f.push({ name: 'one node alone, same bandwidth (s)', value: r2(solo.completion.lastS), target: '(reference)' })
    f.push({ name: 'last node ÷ one node alone', value: r2(ratio), target: plainCrowd ? '≤ 3' : '(reported)', pass: plainCrowd ? ratio <= 3 : undefined })
  }
  if (main.liars !== undefined) {
    f.push({ name: 'liars', value: `${main.liars.count} (${Object.entries(main.liars.kinds).map(([k, v]) => `${v} ${k}`).join(', ')})`, target: '10 % of nodes' })
    f.push({ name: 'liars: untrusted path infos rejected', value: main.liars.pathInfosRejected, target: '(reported)' })
    f.push({ name: 'liars: bans of lying peers (summed over honest nodes)', value: main.liars.peersBanned, target: '(reported)' })
    f.push({ name: 'liars: verified bytes honest nodes took from liars (GiB)', value: r2(main.liars.bytesFromLiars / GiB), target: '(reported: honest content a forged-info liar serves)' })
  }
  if (baseline !== undefined) {
    const ratio = (c.lastS ?? Infinity) / (baseline.completion.lastS ?? NaN)
    f.push({ name: 'same run without liars: last node (s)', value: r2(baseline.completion.lastS), target: '(reference)' })
    f.push({ name: 'honest completion with liars ÷ without', value: r2(ratio), target: '≤ 1.5', pass: ratio <= 1.5 })
  }
  if (main.update !== undefined) {
    f.push({ name: 'update: files shared with the first closure', value: `${(main.update.sharedFiles * 100).toFixed(1)} % of files, ${(main.update.sharedBytes * 100).toFixed(1)} % of bytes`, target: '80 % of files' })
    f.push({ name: 'update: bytes received per node ÷ NAR size of the second closure (mean)', value: r2(main.update.ratioMean), target: '≤ 0.30', pass: main.update.ratioMean <= 0.3 })
    f.push({ name: 'update: same, worst node', value: r2(main.update.ratioMax), target: '(reported)' })
  }
  if (main.wan !== undefined) {
    f.push({ name: 'WAN bytes ÷ (closure bytes × sites that need it)', value: r2(main.wan.factor), target: '≈ 1 (each file crosses once per site)', pass: main.wan.factor <= 1.5 })
    f.push({ name: 'WAN crossings per file (files ≥ 16 KiB simulated), mean / max', value: `${r2(main.wan.perFileMean)} / ${r2(main.wan.perFileMax)}`, target: '(reported)' })
  }
  if ((sc.natFraction ?? 0) > 0) {
    f.push({ name: 'NAT: connections hole-punched / relayed; bytes through the relay (GiB)', value: `${main.network.holePunched} / ${main.network.relayedConnections}; ${r2(main.network.relayedBytes / GiB)}`, target: '(reported)' })
  }
  f.push({ name: 'simulation: wall seconds / peak RSS MiB', value: `${r2(main.wallSeconds)} / ${main.peakRssMiB}`, target: '(reported)' })
  return f
}

function strip (r: RunResult): Omit<RunResult, 'nodesDetail'> {
  const { nodesDetail, ...rest } = r
  void nodesDetail
  return rest
}

export function chartOf (sc: Scenario, main: RunResult, solo?: RunResult, baseline?: RunResult): string {
  const cdf: Panel = {
    kind: 'line',
    title: 'Completion time (CDF of nodes)',
    xLabel: 'seconds after the start',
    yLabel: 'fraction of nodes complete',
    yMax: 1,
    series: [{ label: main.liars !== undefined ? 'with liars' : 'nodes', points: main.completion.cdf, color: '#1f77b4', step: true }],
    marks: solo?.completion.lastS != null ? [{ x: solo.completion.lastS, label: 'one node alone', color: '#2ca02c' }] : []
  }
  if (baseline !== undefined && cdf.kind === 'line') cdf.series.push({ label: 'without liars', points: baseline.completion.cdf, color: '#ff7f0e', step: true })
  const up: Panel = {
    kind: 'line',
    title: 'Seeder upload',
    xLabel: 'seconds after the start',
    yLabel: 'MB/s (real bytes)',
    series: [{ label: 'seeder upload', points: main.seeder.series.map(([t, b]) => [t, b / 1e6]), color: '#d62728' }]
  }
  const colors = ['#d62728', '#1f77b4', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22']
  const bars: Panel = {
    kind: 'bar',
    title: 'Bytes per link (GiB, real)',
    yLabel: 'GiB',
    bars: Object.entries(main.links).map(([label, v], i) => ({ label, value: v / GiB, color: colors[i % colors.length] })),
    marks: [{ y: main.closure.narBytes / GiB, label: 'one closure' }]
  }
  return svgChart([cdf, up, bars], `${sc.name}: ${main.nodes} nodes, ${main.closure.paths} paths, ${(main.closure.narBytes / GiB).toFixed(2)} GiB NAR (simulated at 1/${sc.scaleDown} size), seed ${sc.seed}`)
}

export function markdownOf (rep: ScenarioReport): string {
  const lines = [
    `# ${rep.scenario}`,
    '',
    rep.description,
    '',
    `\`${rep.command}\` — ${rep.params.nodes} nodes, ${rep.params.paths} paths, ${rep.params.closureMiB} MiB closure, simulated at 1/${rep.params.scaleDown} size, seed ${rep.params.seed}.`,
    '',
    `![${rep.scenario}](${rep.scenario}.svg)`,
    '',
    '| figure | value | target | |',
    '|---|---|---|---|',
    ...rep.figures.map(f => `| ${f.name} | ${f.value} | ${f.target} | ${f.pass === undefined ? '' : f.pass ? 'met' : '**not met**'} |`),
    ''
  ]
  return lines.join('\n')
}

export function writeReport (dir: string, rep: ScenarioReport, svg: string): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${rep.scenario}.json`), JSON.stringify(rep, null, 1) + '\n')
  writeFileSync(join(dir, `${rep.scenario}.svg`), svg)
  writeFileSync(join(dir, `${rep.scenario}.md`), markdownOf(rep))
  writeSummary(dir)
}

/** `SUMMARY.md`: every scenario's figures in one page (from the JSON files in `dir`). */
export function writeSummary (dir: string): void {
  const reps: ScenarioReport[] = []
  for (const f of readdirSync(dir).filter(f => f.endsWith('.json') && !f.startsWith('scale')).sort()) {
    try { reps.push(JSON.parse(readFileSync(join(dir, f), 'utf8'))) } catch {}
  }
  const out = ['# Simulation results', '', 'Generated by `npm run sim`; one section per scenario (latest run). Bytes and times are real-scale figures (see simulations/README.md for what is simulated).', '']
  for (const rep of reps) {
    out.push(`## ${rep.scenario}`, '', `${rep.params.nodes} nodes, ${rep.params.paths} paths, ${rep.params.closureMiB} MiB, 1/${rep.params.scaleDown} size, seed ${rep.params.seed} — ${rep.generatedAt}`, '', `![${rep.scenario}](${rep.scenario}.svg)`, '')
    out.push('| figure | value | target | |', '|---|---|---|---|')
    for (const f of rep.figures) out.push(`| ${f.name} | ${f.value} | ${f.target} | ${f.pass === undefined ? '' : f.pass ? 'met' : '**not met**'} |`)
    out.push('')
  }
  writeFileSync(join(dir, 'SUMMARY.md'), out.join('\n'))
}

export function makeReport (sc: Scenario, command: string, main: RunResult, solo?: RunResult, baseline?: RunResult, keepNodes = true): ScenarioReport {
  return {
    scenario: sc.name,
    description: sc.description ?? '',
    command,
    params: { nodes: sc.nodes, paths: sc.closure.paths, closureMiB: sc.closure.totalMiB, scaleDown: sc.scaleDown, seed: sc.seed },
    figures: figuresOf(sc, main, solo, baseline),
    main: keepNodes ? main : strip(main),
    ...(solo !== undefined ? { solo: { lastS: solo.completion.lastS, virtualSeconds: solo.virtualSeconds, wallSeconds: solo.wallSeconds } } : {}),
    ...(baseline !== undefined ? { baseline: strip(baseline) } : {}),
    generatedAt: new Date().toISOString()
  }
}
