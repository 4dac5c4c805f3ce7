/**
 * Decoders for the compressions Node's zlib lacks, run as the system commands (streaming,
 * native speed, no extra npm dependency): `xz -dc` (xz-utils), `bzip2 -dc`, `lzip -dc`,
 * `lz4 -dc`. A missing command is reported as such, with the Debian package to install.
 * zstd, gzip and brotli are decoded in-process (src/http/decompress.ts).
 */
import { spawn, spawnSync } from 'node:child_process'
import type { AbortOptions } from '../src/abort.ts'
import type { Decompressor, Decompressors } from '../src/http/index.ts'
import { DecompressionError, UnsupportedCompressionError } from '../src/http/index.ts'

const COMMANDS: Record<string, { command: string, args: string[], apt: string }> = {
  xz: { command: 'xz', args: ['-dc'], apt: 'xz-utils' },
  bzip2: { command: 'bzip2', args: ['-dc'], apt: 'bzip2' },
  lzip: { command: 'lzip', args: ['-dc'], apt: 'lzip' },
  lz4: { command: 'lz4', args: ['-dc'], apt: 'lz4' }
}

const present = new Map<string, boolean>()
function hasCommand (command: string): boolean {
  let p = present.get(command)
  if (p === undefined) {
    p = spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
    present.set(command, p)
  }
  return p
}

/** Streams `source` through `command args…` (stdin → stdout). */
export function commandDecompressor (name: string, command: string, args: string[], apt: string): Decompressor {
  return (source: AsyncIterable<Uint8Array>, options: AbortOptions = {}) => (async function * () {
    if (!hasCommand(command)) throw new UnsupportedCompressionError(`cannot decompress ${name}: the '${command}' command is not installed (apt-get install -y ${apt})`)
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString() })
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
    child.on('error', () => {})
    child.stdin.on('error', () => {}) // EPIPE when the decoder gives up early: its exit status tells
    let feedError: unknown
    const feed = (async () => {
      try {
        for await (const piece of source) {
          if (!child.stdin.write(piece)) await new Promise<void>(resolve => { child.stdin.once('drain', resolve); child.once('close', resolve) })
          if (child.exitCode !== null) break
        }
        child.stdin.end()
      } catch (err) {
        feedError = err
        child.kill()
      }
    })()
    try {
      for await (const piece of child.stdout) yield piece as Buffer
      await feed
      if (feedError !== undefined) throw feedError
      const code = await exited
      if (code !== 0) throw new DecompressionError(`${command} ${args.join(' ')} failed (exit ${String(code)}): ${stderr.trim()}`)
    } finally {
      if (child.exitCode === null) child.kill()
    }
  })()
}

/** Decoders for xz, bzip2, lzip and lz4 through the system commands. */
export function systemDecompressors (): Decompressors {
  const out: Decompressors = {}
  for (const [name, c] of Object.entries(COMMANDS)) out[name] = commandDecompressor(name, c.command, c.args, c.apt)
  return out
}
