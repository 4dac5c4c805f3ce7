/** A one-line progress display for a terminal (stderr); silent when stderr is not a TTY. */
export interface ProgressLine {
  update: (text: string) => void
  done: (text?: string) => void
}

export function progressLine (stream: NodeJS.WriteStream = process.stderr): ProgressLine {
  const tty = stream.isTTY === true
  let last = 0
  let shown = false
  return {
    update (text) {
      if (!tty) return
      const now = Date.now()
      if (now - last < 100) return
      last = now
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
