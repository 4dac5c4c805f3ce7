/** Small shared helpers for the benchmarks. */
import { spawnSync } from 'node:child_process'

/** Parses `1G`, `256M`, `64K` or a byte count; `fallback` when empty. */
export function parseSize (text: string, fallback?: number): number {
  if (text === '' && fallback !== undefined) return fallback
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text)
  if (m === null) throw new Error(`bad size ${JSON.stringify(text)} (use e.g. 1G, 256M)`)
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G']
  return Math.floor(Number(m[1]) * mult)
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export function fmtRate (bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`
}

export function requireCommand (name: string, apt: string): void {
  if (spawnSync('sh', ['-c', `command -v ${name}`]).status !== 0) {
    throw new Error(`${name} not found: the benchmark measures against it in the same run (apt-get install -y ${apt})`)
  }
}
