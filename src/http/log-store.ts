/**
 * Build logs by derivation base name (`GET /log/<drv>`, what `nix log` asks a substituter
 * for after reading `Deriver:`, binary-cache.md §3.1; `nix store copy-log --to` PUTs them).
 * The file store keeps one file per log under a directory; names are validated base names, so
 * they never leave it.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { AbortOptions } from '../abort.ts'
import { parseBaseName } from '../nix/store-path.ts'

export interface LogStore {
  get: (drvBaseName: string, options?: AbortOptions) => Promise<Uint8Array | undefined>
  put?: (drvBaseName: string, log: Uint8Array, options?: AbortOptions) => Promise<void>
}

function checkName (drvBaseName: string): void {
  parseBaseName(drvBaseName)
  if (!drvBaseName.endsWith('.drv')) throw new RangeError(`${drvBaseName} is not a derivation`)
}

export class FsLogStore implements LogStore {
  readonly dir: string
  constructor (dir: string) { this.dir = dir }

  async get (drvBaseName: string, options?: AbortOptions): Promise<Uint8Array | undefined> {
    checkName(drvBaseName)
    try {
      return await readFile(join(this.dir, drvBaseName), { signal: options?.signal })
    } catch (err: any) {
      if (err.code === 'ENOENT') return undefined
      throw err
    }
  }

  async put (drvBaseName: string, log: Uint8Array, options?: AbortOptions): Promise<void> {
    checkName(drvBaseName)
    await mkdir(join(this.dir, '.tmp'), { recursive: true })
    const tmp = join(this.dir, '.tmp', randomBytes(12).toString('hex'))
    await writeFile(tmp, log, { signal: options?.signal })
    await rename(tmp, join(this.dir, drvBaseName))
  }
}
