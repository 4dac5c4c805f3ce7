/**
 * Decompression of NARs coming in (uploads, imports from other caches): `none`, `zstd`,
 * `gzip`, `br` with Node's zlib; anything else (Nix also writes `xz`, `bzip2`, `lzip`, `lz4`,
 * binary-cache.md §3.4) through decoders the caller injects — `node/decompress.ts` runs the
 * system `xz`/`bzip2`/`lzip`/`lz4` commands, keeping processes out of `src/`.
 *
 * Uploads do not say how they are compressed until their narinfo arrives (Nix PUTs the NAR
 * first), so `sniffCompression` recognises the format from its magic bytes (brotli has none:
 * it is recognised by the `.br` URL extension Nix uses).
 */
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream'
import zlib from 'node:zlib'
import type { AbortOptions } from '../abort.ts'
import { DecompressionError, UnsupportedCompressionError } from './errors.ts'

/** Turns a compressed byte stream into the uncompressed one. */
export type Decompressor = (source: AsyncIterable<Uint8Array>, options: AbortOptions) => AsyncIterable<Uint8Array>

export type Decompressors = Record<string, Decompressor>

/**
 * Runs `source` through a Node transform stream (a zlib decoder); the decoder's own failures
 * become `DecompressionError`s, errors of the source pass through unchanged.
 */
export async function * throughTransform (source: AsyncIterable<Uint8Array>, transform: Transform, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
  let sourceError: unknown
  const input = Readable.from((async function * () {
    try {
      yield * source
    } catch (err) {
      sourceError = err
      throw err
    }
  })(), { objectMode: false })
  const out = pipeline(input, transform, () => {})
  const signal = options.signal
  const onAbort = (): void => { out.destroy(signal?.reason) }
  if (signal !== undefined) {
    if (signal.aborted) out.destroy(signal.reason)
    else signal.addEventListener('abort', onAbort, { once: true })
  }
  try {
    for await (const piece of out as AsyncIterable<Uint8Array>) yield piece
  } catch (err: any) {
    if (sourceError !== undefined || signal?.aborted === true) throw sourceError ?? err
    throw new DecompressionError(`${transform.constructor.name}: ${err?.message ?? String(err)}`, { cause: err })
  } finally {
    signal?.removeEventListener('abort', onAbort)
    out.destroy()
  }
}

async function * identity (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield * source
}

/** What Node decodes natively. */
export function builtinDecompressors (): Decompressors {
  return {
    none: (source) => identity(source),
    zstd: (source, options) => throughTransform(source, zlib.createZstdDecompress(), options),
    gzip: (source, options) => throughTransform(source, zlib.createGunzip(), options),
    br: (source, options) => throughTransform(source, zlib.createBrotliDecompress(), options)
  }
}

/** Decompresses `source` as `compression`, with the given decoders (built-ins when absent). */
export function decompress (compression: string, source: AsyncIterable<Uint8Array>, decompressors: Decompressors, options: AbortOptions = {}): AsyncIterable<Uint8Array> {
  const decoder = Object.hasOwn(decompressors, compression) ? decompressors[compression] : builtinDecompressors()[compression]
  if (decoder === undefined) {
    throw new UnsupportedCompressionError(`cannot decompress ${JSON.stringify(compression)}: no decoder available (known: ${[...new Set([...Object.keys(builtinDecompressors()), ...Object.keys(decompressors)])].join(', ')})`)
  }
  return decoder(source, options)
}

const MAGICS: Array<[string, number[]]> = [
  ['none', [0x0d, 0, 0, 0, 0, 0, 0, 0, 0x6e, 0x69, 0x78]], // str("nix-archive-1")
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['gzip', [0x1f, 0x8b]],
  ['lzip', [0x4c, 0x5a, 0x49, 0x50]],
  ['lz4', [0x04, 0x22, 0x4d, 0x18]]
]

/** Bytes needed to recognise every format above. */
export const SNIFF_BYTES = 11

/** The compression of a stream starting with `head`, or undefined if unrecognised. */
export function sniffCompression (head: Uint8Array): string | undefined {
  for (const [name, magic] of MAGICS) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return name
  }
  return undefined
}

/**
 * Reads the first bytes of `source` and returns its compression (by magic, else `fallback`)
 * and a stream that still yields every byte.
 */
export async function sniffStream (source: AsyncIterable<Uint8Array>, fallback?: string): Promise<{ compression: string | undefined, stream: AsyncIterable<Uint8Array> }> {
  const it = source[Symbol.asyncIterator]()
  const head: Uint8Array[] = []
  let have = 0
  let done = false
  while (have < SNIFF_BYTES) {
    const r = await it.next()
    if (r.done === true) { done = true; break }
    head.push(r.value)
    have += r.value.byteLength
  }
  const joined = Buffer.concat(head)
  const compression = sniffCompression(joined) ?? fallback
  async function * rest (): AsyncGenerator<Uint8Array> {
    if (joined.byteLength > 0) yield joined
    if (done) return
    for (;;) {
      const r = await it.next()
      if (r.done === true) return
      yield r.value
    }
  }
  return { compression, stream: rest() }
}
