/**
 * Reading another binary cache: a `file://` directory (what `nix copy --to file://…` writes)
 * or an `http(s)://` cache (cache.nixos.org, harmonia, another storeswarm node). 404, 410, 401
 * and 403 mean "absent", as Nix treats them (binary-cache.md §3.3); other failures are errors.
 * Every wait has a timeout: response headers within `headersTimeoutMs`, and a body that stays
 * silent for `idleTimeoutMs` is abandoned.
 */
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { AbortOptions } from '../abort.ts'
import { CacheImportError } from './errors.ts'

export interface BinaryCacheSource {
  /** the cache URL without a trailing slash */
  readonly url: string
  /** a small file (`nix-cache-info`, `<hash>.narinfo`), or undefined when absent */
  get: (path: string, options?: AbortOptions) => Promise<Uint8Array | undefined>
  /** a NAR file by its narinfo `URL` (relative to the cache, or absolute) */
  stream: (url: string, options?: AbortOptions) => Promise<AsyncIterable<Uint8Array>>
}

export interface BinaryCacheSourceInit {
  headersTimeoutMs?: number
  idleTimeoutMs?: number
  /** largest small file read (default 16 MiB) */
  maxSmallFile?: number
  fetch?: typeof globalThis.fetch
}

const ABSENT = new Set([401, 403, 404, 410])

function resolve (base: string, url: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url
  return `${base}/${url.replace(/^\/+/, '')}`
}

async function * idleGuard (source: AsyncIterable<Uint8Array>, idleMs: number, what: string, controller: AbortController): AsyncGenerator<Uint8Array> {
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => controller.abort(new CacheImportError(`${what}: no data for ${idleMs} ms`)), idleMs)
  }
  arm()
  try {
    for await (const piece of source) {
      arm()
      yield piece
    }
  } finally {
    clearTimeout(timer)
  }
}

export function openBinaryCacheSource (url: string, init: BinaryCacheSourceInit = {}): BinaryCacheSource {
  const base = url.replace(/\/+$/, '')
  const maxSmall = init.maxSmallFile ?? 16 * 1024 * 1024
  if (base.startsWith('file://')) {
    const root = fileURLToPath(base)
    const pathOf = (rel: string): string => {
      const target = resolve(pathToFileURL(root).href, rel)
      if (!target.startsWith('file://')) throw new CacheImportError(`${rel}: a file:// cache cannot point elsewhere`)
      return fileURLToPath(target)
    }
    return {
      url: base,
      async get (path, options) {
        try {
          const data = await readFile(pathOf(path), { signal: options?.signal })
          if (data.byteLength > maxSmall) throw new CacheImportError(`${path} is larger than ${maxSmall} bytes`)
          return data
        } catch (err: any) {
          if (err.code === 'ENOENT') return undefined
          throw err
        }
      },
      async stream (nar, options) {
        const file = pathOf(nar)
        const s = createReadStream(file, { highWaterMark: 1024 * 1024, signal: options?.signal })
        await new Promise<void>((resolve, reject) => {
          s.once('open', () => resolve())
          s.once('error', (err: any) => reject(err.code === 'ENOENT' ? new CacheImportError(`${nar} does not exist in ${base}`) : err))
        })
        return s as AsyncIterable<Uint8Array>
      }
    }
  }
  if (!/^https?:\/\//.test(base)) throw new CacheImportError(`unsupported cache URL ${JSON.stringify(url)} (use file:// or http(s)://)`)
  const doFetch = init.fetch ?? globalThis.fetch
  const headersTimeout = init.headersTimeoutMs ?? 30_000
  const idle = init.idleTimeoutMs ?? 60_000
  const request = async (target: string, options?: AbortOptions): Promise<{ response: Response, controller: AbortController } | undefined> => {
    const controller = new AbortController()
    // the headers timeout ends when the headers arrive (the body has its idle timeout)
    const timer = setTimeout(() => controller.abort(new CacheImportError(`GET ${target}: no response within ${headersTimeout} ms`)), headersTimeout)
    const signal = options?.signal === undefined ? controller.signal : AbortSignal.any([controller.signal, options.signal])
    let response: Response
    try {
      response = await doFetch(target, { signal, headers: { 'user-agent': 'storeswarm' } })
    } catch (err: any) {
      throw new CacheImportError(`GET ${target}: ${err?.cause?.message ?? err.message}`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
    if (ABSENT.has(response.status)) {
      await response.body?.cancel().catch(() => {})
      return undefined
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {})
      throw new CacheImportError(`GET ${target}: HTTP ${response.status}`)
    }
    return { response, controller }
  }
  return {
    url: base,
    async get (path, options) {
      const target = resolve(base, path)
      const r = await request(target, options)
      if (r === undefined) return undefined
      const parts: Uint8Array[] = []
      let total = 0
      for await (const piece of idleGuard(r.response.body as unknown as AsyncIterable<Uint8Array>, idle, target, r.controller)) {
        total += piece.byteLength
        if (total > maxSmall) {
          r.controller.abort()
          throw new CacheImportError(`${target} is larger than ${maxSmall} bytes`)
        }
        parts.push(piece)
      }
      return Buffer.concat(parts)
    },
    async stream (nar, options) {
      const target = resolve(base, nar)
      const r = await request(target, options)
      if (r === undefined) throw new CacheImportError(`${target} does not exist in the cache`)
      return idleGuard(r.response.body as unknown as AsyncIterable<Uint8Array>, idle, target, r.controller)
    }
  }
}
