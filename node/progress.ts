/**
 * A one-line progress display on stderr: redrawn in place on a TTY; elsewhere (logs, CI, pipes)
 * a plain line now and then — the first after `plainAfterMs`, then at most one per
 * `plainEveryMs` — so short commands stay quiet and long ones show they are alive.
 */
export interface ProgressLine {
  update: (text: string) => void
  done: (text?: string) => void
}

export interface ProgressOptions {
  /** no plain line before this much time has passed (default 5 s) */
  plainAfterMs?: number
  /** at most one plain line per this interval (default 10 s) */
  plainEveryMs?: number
  now?: () => number
}

export function progressLine (stream: NodeJS.WriteStream = process.stderr, options: ProgressOptions = {}): ProgressLine {
  const tty = stream.isTTY === true
  const now = options.now ?? Date.now
  const started = now()
  const plainAfter = options.plainAfterMs ?? 5000
  const plainEvery = options.plainEveryMs ?? 10_000
  let last = 0
  let lastPlain: number | undefined
  let shown = false
  return {
    update (text) {
      const t = now()
      if (!tty) {
        if (t - started < plainAfter) return
        if (lastPlain !== undefined && t - lastPlain < plainEvery) return
        lastPlain = t
        stream.write(text + '\n')
        return
      }
      if (t - last < 100) return
      last = t
      const width = Math.max(20, (stream.columns ?? 80) - 1)
      stream.write(`\r\x1b[K${text.length > width ? text.slice(0, width - 1) + '…' : text}`)
      shown = true
    },
    done (text) {
      if (tty && shown) stream.write('\r\x1b[K')
      shown = false
      if (text !== undefined) stream.write(text + '\n')
    }
  }
}

export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}
