/**
 * A small metrics registry: counters, gauges and histograms with labels, rendered in the
 * Prometheus text exposition format 0.0.4 (exposition.ts). Values can also be computed at
 * scrape time (`collect`), for numbers that already live elsewhere (connected peers, store
 * size, an upstream's request count): the registry then holds no copy that could drift.
 *
 * Label sets are keyed by their values in `labelNames` order; a metric refuses labels it was
 * not declared with, so a typo cannot create a new series silently.
 */
import { formatSample, escapeHelp } from './exposition.ts'

export type Labels = Record<string, string>

export interface Sample {
  labels?: Labels
  value: number
}

export type MetricType = 'counter' | 'gauge' | 'histogram'

export interface MetricInit {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters should end in `_total` */
  name: string
  help: string
  labelNames?: readonly string[]
}

export interface CollectedMetricInit extends MetricInit {
  /** computed at scrape time (synchronously); replaces the stored values */
  collect?: () => number | Sample[]
}

export interface HistogramInit extends MetricInit {
  /** upper bounds, ascending (`+Inf` is added) */
  buckets: readonly number[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

export class MetricError extends Error {
  static override name = 'MetricError'
  override name = 'MetricError'
}

abstract class Metric {
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  abstract readonly type: MetricType

  constructor (init: MetricInit) {
    if (!METRIC_NAME.test(init.name)) throw new MetricError(`bad metric name ${JSON.stringify(init.name)}`)
    for (const l of init.labelNames ?? []) {
      if (!LABEL_NAME.test(l) || l.startsWith('__') || l === 'le') throw new MetricError(`bad label name ${JSON.stringify(l)} on ${init.name}`)
    }
    this.name = init.name
    this.help = init.help
    this.labelNames = init.labelNames ?? []
  }

  protected key (labels: Labels | undefined): string {
    const given = labels === undefined ? [] : Object.keys(labels)
    for (const k of given) {
      if (!this.labelNames.includes(k)) throw new MetricError(`${this.name} has no label ${JSON.stringify(k)}`)
    }
    if (this.labelNames.length === 0) return ''
    return JSON.stringify(this.labelNames.map(n => labels?.[n] ?? ''))
  }

  protected labelsOf (key: string): Labels {
    if (key === '') return {}
    const values = JSON.parse(key) as string[]
    const out: Labels = {}
    this.labelNames.forEach((n, i) => { out[n] = values[i] })
    return out
  }

  header (): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`
  }

  abstract render (): string
}

abstract class ValueMetric extends Metric {
  protected readonly values = new Map<string, number>()
  private readonly collect?: () => number | Sample[]

  constructor (init: CollectedMetricInit) {
    super(init)
    this.collect = init.collect
    // a series without labels exists from the start (at 0), as Prometheus clients expect
    if (this.labelNames.length === 0) this.values.set('', 0)
  }

  /** The current value of one series (0 when never set). */
  get (labels?: Labels): number {
    return this.values.get(this.key(labels)) ?? 0
  }

  /** Every series and its value (after `collect`, when there is one). */
  samples (): Sample[] {
    if (this.collect !== undefined) {
      const c = this.collect()
      return typeof c === 'number' ? [{ value: c }] : c
    }
    return [...this.values].map(([k, value]) => ({ labels: this.labelsOf(k), value }))
  }

  render (): string {
    let out = this.header()
    let samples: Sample[]
    try {
      samples = this.samples()
    } catch {
      samples = [] // a failing collector hides its metric's values, never the whole scrape
    }
    for (const s of samples) out += formatSample(this.name, s.labels, s.value)
    return out
  }
}

export class Counter extends ValueMetric {
  readonly type = 'counter'

  inc (labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new MetricError(`${this.name}: a counter only goes up (got ${by})`)
    const k = this.key(labels)
    this.values.set(k, (this.values.get(k) ?? 0) + by)
  }
}

export class Gauge extends ValueMetric {
  readonly type = 'gauge'

  set (labels: Labels | undefined, value: number): void {
    this.values.set(this.key(labels), value)
  }

  inc (labels?: Labels, by = 1): void {
    const k = this.key(labels)
    this.values.set(k, (this.values.get(k) ?? 0) + by)
  }

  dec (labels?: Labels, by = 1): void {
    this.inc(labels, -by)
  }
}

interface HistogramSeries {
  counts: number[]
  sum: number
  count: number
}

export class Histogram extends Metric {
  readonly type = 'histogram'
  readonly buckets: readonly number[]
  private readonly series = new Map<string, HistogramSeries>()

  constructor (init: HistogramInit) {
    super(init)
    const b = [...init.buckets].filter(x => x !== Infinity)
    for (let i = 1; i < b.length; i++) if (!(b[i] > b[i - 1])) throw new MetricError(`${init.name}: buckets must be ascending`)
    this.buckets = b
  }

  observe (labels: Labels | undefined, value: number): void {
    const k = this.key(labels)
    let s = this.series.get(k)
    if (s === undefined) {
      s = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }
      this.series.set(k, s)
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++
    s.sum += value
    s.count++
  }

  /** count and sum of one series */
  get (labels?: Labels): { count: number, sum: number } {
    const s = this.series.get(this.key(labels))
    return { count: s?.count ?? 0, sum: s?.sum ?? 0 }
  }

  render (): string {
    let out = this.header()
    for (const [k, s] of this.series) {
      const labels = this.labelsOf(k)
      for (let i = 0; i < this.buckets.length; i++) {
        out += formatSample(`${this.name}_bucket`, { ...labels, le: formatLe(this.buckets[i]) }, s.counts[i])
      }
      out += formatSample(`${this.name}_bucket`, { ...labels, le: '+Inf' }, s.count)
      out += formatSample(`${this.name}_sum`, labels, s.sum)
      out += formatSample(`${this.name}_count`, labels, s.count)
    }
    return out
  }
}

function formatLe (n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n)
}

export class Registry {
  private readonly metrics = new Map<string, Metric>()

  private add<M extends Metric> (m: M): M {
    if (this.metrics.has(m.name)) throw new MetricError(`metric ${m.name} is registered already`)
    this.metrics.set(m.name, m)
    return m
  }

  counter (init: CollectedMetricInit): Counter { return this.add(new Counter(init)) }
  gauge (init: CollectedMetricInit): Gauge { return this.add(new Gauge(init)) }
  histogram (init: HistogramInit): Histogram { return this.add(new Histogram(init)) }

  get (name: string): Metric | undefined {
    return this.metrics.get(name)
  }

  /** The text exposition (format 0.0.4) of every metric, in registration order. */
  expose (): string {
    let out = ''
    for (const m of this.metrics.values()) out += m.render()
    return out
  }
}

export function createRegistry (): Registry {
  return new Registry()
}
