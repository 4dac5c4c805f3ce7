/**
 * Read-only ERIS block store over HTTP, the RFC 2169 N2R binding the ERIS HTTP transport uses
 * (content-addressing.md §4.4): `GET <base>/uri-res/N2R?urn:blake2b:<52 base32 chars>` → the
 * raw block; 404 → absent. Blocks are not trusted here: the decoder checks every reference.
 */
import type { AbortOptions } from '../abort.ts'
import type { ErisBlockStore } from './block-store.ts'
import { formatBlockUrn } from './capability.ts'
import { ERIS_BLOCK_SIZE_32KIB } from './constants.ts'

export class ErisHttpError extends Error {
  static override name = 'ErisHttpError'
  override name = 'ErisHttpError'
}

export interface HttpBlockStoreInit {
  /** e.g. `http://127.0.0.1:37515` */
  baseUrl: string
  /** per-request timeout (default 10 s) */
  timeoutMs?: number
}

export function createHttpBlockStore (init: HttpBlockStoreInit): ErisBlockStore {
  const base = init.baseUrl.replace(/\/+$/, '')
  const timeoutMs = init.timeoutMs ?? 10_000
  const get = async (reference: Uint8Array, options?: AbortOptions): Promise<Uint8Array | undefined> => {
    const signal = options?.signal === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
    const res = await fetch(`${base}/uri-res/N2R?${formatBlockUrn(reference)}`, { signal })
    if (res.status === 404) { await res.body?.cancel(); return undefined }
    if (!res.ok) { await res.body?.cancel(); throw new ErisHttpError(`${base}: HTTP ${res.status} for ${formatBlockUrn(reference)}`) }
    const declared = Number(res.headers.get('content-length') ?? NaN)
    if (declared > ERIS_BLOCK_SIZE_32KIB) { await res.body?.cancel(); throw new ErisHttpError(`${base}: block of ${declared} bytes is larger than any ERIS block`) }
    // read at most one block's worth, whatever the server sends
    const body = new Uint8Array(ERIS_BLOCK_SIZE_32KIB)
    let fill = 0
    for await (const piece of res.body ?? []) {
      if (fill + piece.byteLength > body.length) {
        await res.body?.cancel().catch(() => {})
        throw new ErisHttpError(`${base}: response for ${formatBlockUrn(reference)} is larger than any ERIS block`)
      }
      body.set(piece, fill)
      fill += piece.byteLength
    }
    return body.slice(0, fill)
  }
  return {
    get,
    async has (reference, options) { return (await get(reference, options)) !== undefined },
    async put () { throw new ErisHttpError('this HTTP ERIS store is read-only') }
  }
}
