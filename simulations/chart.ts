/** A small SVG chart writer (no library): line panels and a bar panel side by side. */

export interface Series {
  label: string
  points: Array<[number, number]>
  color: string
  /** draw as a step function (CDFs) */
  step?: boolean
}

export interface LinePanel {
  kind: 'line'
  title: string
  xLabel: string
  yLabel: string
  series: Series[]
  /** vertical markers */
  marks?: Array<{ x: number, label: string, color: string }>
  yMax?: number
}

export interface BarPanel {
  kind: 'bar'
  title: string
  yLabel: string
  bars: Array<{ label: string, value: number, color: string }>
  /** horizontal reference lines */
  marks?: Array<{ y: number, label: string }>
}

export type Panel = LinePanel | BarPanel

const W = 420
const H = 300
const M = { l: 58, r: 14, t: 30, b: 64 }

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function nice (max: number): number {
  if (!(max > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(max))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p
  return 10 * p
}

function fmt (v: number): string {
  if (v === 0) return '0'
  if (Math.abs(v) >= 100) return v.toFixed(0)
  if (Math.abs(v) >= 10) return v.toFixed(1).replace(/\.0$/, '')
  return v.toFixed(2).replace(/0+$/, '').replace(/\.$/, '')
}

function axes (out: string[], x0: number, xMax: number, yMax: number, xLabel: string, yLabel: string, title: string): void {
  const pw = W - M.l - M.r
  const ph = H - M.t - M.b
  out.push(`<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`)
  out.push(`<line x1="${x0 + M.l}" y1="${M.t + ph}" x2="${x0 + M.l + pw}" y2="${M.t + ph}" stroke="#333"/>`)
  out.push(`<line x1="${x0 + M.l}" y1="${M.t}" x2="${x0 + M.l}" y2="${M.t + ph}" stroke="#333"/>`)
  for (let i = 0; i <= 4; i++) {
    const y = M.t + ph - ph * i / 4
    out.push(`<line x1="${x0 + M.l}" y1="${y}" x2="${x0 + M.l + pw}" y2="${y}" stroke="#ddd"/>`)
    out.push(`<text x="${x0 + M.l - 4}" y="${y + 4}" text-anchor="end" font-size="10">${fmt(yMax * i / 4)}</text>`)
    if (xMax > 0) {
      const x = x0 + M.l + pw * i / 4
      out.push(`<text x="${x}" y="${M.t + ph + 14}" text-anchor="middle" font-size="10">${fmt(xMax * i / 4)}</text>`)
    }
  }
  if (xLabel !== '') out.push(`<text x="${x0 + M.l + pw / 2}" y="${M.t + ph + 30}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>`)
  out.push(`<text transform="translate(${x0 + 14},${M.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(yLabel)}</text>`)
}

function linePanel (out: string[], x0: number, p: LinePanel): void {
  const pw = W - M.l - M.r
  const ph = H - M.t - M.b
  const xs = p.series.flatMap(s => s.points.map(([x]) => x)).concat((p.marks ?? []).map(m => m.x))
  const ys = p.series.flatMap(s => s.points.map(([, y]) => y))
  const xMax = nice(Math.max(1e-9, ...xs))
  const yMax = p.yMax ?? nice(Math.max(1e-9, ...ys))
  axes(out, x0, xMax, yMax, p.xLabel, p.yLabel, p.title)
  const X = (x: number): number => x0 + M.l + pw * x / xMax
  const Y = (y: number): number => M.t + ph - ph * Math.min(y, yMax) / yMax
  p.series.forEach((s, i) => {
    if (s.points.length === 0) return
    let d = `M${X(s.step === true ? 0 : s.points[0][0]).toFixed(1)},${Y(s.step === true ? 0 : s.points[0][1]).toFixed(1)}`
    let prevY = s.step === true ? 0 : s.points[0][1]
    for (const [x, y] of s.points) {
      if (s.step === true) d += `L${X(x).toFixed(1)},${Y(prevY).toFixed(1)}`
      d += `L${X(x).toFixed(1)},${Y(y).toFixed(1)}`
      prevY = y
    }
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`)
    out.push(`<line x1="${x0 + M.l + i * 130}" y1="${H - 12}" x2="${x0 + M.l + i * 130 + 16}" y2="${H - 12}" stroke="${s.color}" stroke-width="3"/>`)
    out.push(`<text x="${x0 + M.l + i * 130 + 20}" y="${H - 8}" font-size="10">${esc(s.label)}</text>`)
  })
  for (const m of p.marks ?? []) {
    out.push(`<line x1="${X(m.x)}" y1="${M.t}" x2="${X(m.x)}" y2="${M.t + ph}" stroke="${m.color}" stroke-dasharray="4 3"/>`)
    out.push(`<text x="${X(m.x) + 3}" y="${M.t + 12}" font-size="10" fill="${m.color}">${esc(m.label)}</text>`)
  }
}

function barPanel (out: string[], x0: number, p: BarPanel): void {
  const pw = W - M.l - M.r
  const ph = H - M.t - M.b
  const yMax = nice(Math.max(1e-9, ...p.bars.map(b => b.value), ...(p.marks ?? []).map(m => m.y)))
  axes(out, x0, 0, yMax, '', p.yLabel, p.title)
  const bw = pw / Math.max(1, p.bars.length)
  p.bars.forEach((b, i) => {
    const h = ph * b.value / yMax
    const x = x0 + M.l + i * bw + bw * 0.15
    out.push(`<rect x="${x.toFixed(1)}" y="${(M.t + ph - h).toFixed(1)}" width="${(bw * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="${b.color}"/>`)
    out.push(`<text x="${(x + bw * 0.35).toFixed(1)}" y="${(M.t + ph - h - 3).toFixed(1)}" text-anchor="middle" font-size="10">${fmt(b.value)}</text>`)
    out.push(`<text transform="translate(${(x + bw * 0.35).toFixed(1)},${M.t + ph + 12}) rotate(20)" font-size="9">${esc(b.label)}</text>`)
  })
  for (const m of p.marks ?? []) {
    const y = M.t + ph - ph * m.y / yMax
    out.push(`<line x1="${x0 + M.l}" y1="${y}" x2="${x0 + M.l + pw}" y2="${y}" stroke="#c00" stroke-dasharray="4 3"/>`)
    out.push(`<text x="${x0 + M.l + pw - 2}" y="${y - 3}" text-anchor="end" font-size="10" fill="#c00">${esc(m.label)}</text>`)
  }
}

/** Panels side by side, with a caption line. */
export function svgChart (panels: Panel[], caption: string): string {
  const out: string[] = []
  const width = W * panels.length
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 20}" viewBox="0 0 ${width} ${H + 20}" font-family="sans-serif">`)
  out.push(`<rect width="100%" height="100%" fill="white"/>`)
  panels.forEach((p, i) => {
    if (p.kind === 'line') linePanel(out, i * W, p)
    else barPanel(out, i * W, p)
  })
  out.push(`<text x="8" y="${H + 14}" font-size="10" fill="#555">${esc(caption)}</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
