/**
 * Byte-level helpers over libp2p v3 message streams (libp2p-notes.md §2 "Stream API in libp2p
 * v3" and gotcha 9): a reader with a high-water mark (pause/resume), a writer that honours
 * `send() === false` by awaiting `onDrain`, and unsigned varints.
 */
import type { Stream } from '@libp2p/interface'
import type { AbortOptions } from '../abort.ts'
import { Blake3TruncatedError, ByteReader } from '../blake3/index.ts'
import { READ_HIGH_WATER } from './constants.ts'
import { ProtocolError } from './errors.ts'

/**
 * The stream's incoming bytes as an async iterable, pausing the stream while more than
 * `highWater` bytes are queued. Ends at the remote's close-write; rethrows a close error.
 */
export async function * readStream (stream: Stream, options: AbortOptions & { highWater?: number } = {}): AsyncGenerator<Uint8Array> {
  const highWater = options.highWater ?? READ_HIGH_WATER
  // While paused, yamux still accepts what the window already granted (up to 16 MiB): the
  // stream's own buffer must hold that, or the stream is reset (StreamBufferError).
  const minBuffer = highWater + 32 * 1024 * 1024
  if (stream.maxReadBufferLength < minBuffer) stream.maxReadBufferLength = minBuffer
  const queue: Uint8Array[] = []
  let queued = 0
  let ended = false
  let error: Error | undefined
  let wake: (() => void) | undefined
  const notify = (): void => { const w = wake; wake = undefined; w?.() }
  const onMessage = (evt: any): void => {
    const data = evt.data
    const bytes: Uint8Array = data instanceof Uint8Array ? data : data.subarray()
    queue.push(bytes)
    queued += bytes.byteLength
    if (queued > highWater && stream.readStatus === 'readable') stream.pause()
    notify()
  }
  const onEnd = (): void => { if (stream.readBufferLength === 0) ended = true; notify() }
  const onClose = (evt: any): void => {
    if (evt?.error != null) error = evt.error
    if (stream.readBufferLength === 0) ended = true
    notify()
  }
  const onAbort = (): void => { error = options.signal?.reason ?? new Error('aborted'); notify() }
  stream.addEventListener('message', onMessage)
  stream.addEventListener('remoteCloseWrite', onEnd)
  stream.addEventListener('end', onEnd)
  stream.addEventListener('close', onClose)
  options.signal?.addEventListener('abort', onAbort)
  try {
    // anything that arrived before we listened is in the stream's own buffer
    if (stream.readStatus === 'paused') stream.resume()
    while (true) {
      if (error !== undefined) throw error
      if (queue.length > 0) {
        const piece = queue.shift() as Uint8Array
        queued -= piece.byteLength
        if (queued <= highWater / 2 && stream.readStatus === 'paused') stream.resume()
        yield piece
        continue
      }
      // the end: nothing queued here and nothing left in the stream's own read buffer (data that
      // arrived before we listened is dispatched in a microtask, after the remote may have closed)
      const drained = stream.readBufferLength === 0
      if (ended || (drained && (stream.remoteWriteStatus === 'closed' || stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset'))) {
        if (error !== undefined) throw error
        return
      }
      await new Promise<void>(resolve => { wake = resolve })
    }
  } finally {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('remoteCloseWrite', onEnd)
    stream.removeEventListener('end', onEnd)
    stream.removeEventListener('close', onClose)
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/** Sends one buffer, waiting for the window when the muxer asks for it. */
export async function send (stream: Stream, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
  if (bytes.byteLength === 0) return
  if (!stream.send(bytes)) await stream.onDrain(options)
}

/** Sends every piece of `source` with backpressure. */
export async function sendAll (stream: Stream, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: AbortOptions = {}): Promise<void> {
  for await (const piece of source) {
    options.signal?.throwIfAborted()
    await send(stream, piece, options)
  }
}

export function encodeVarint (value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`)
  const out: number[] = []
  let v = value
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return new Uint8Array(out)
}

/** Decodes a varint from `bytes` at `offset`; returns value and new offset. */
export function decodeVarint (bytes: Uint8Array, offset: number): { value: number, offset: number } {
  let value = 0
  let scale = 1
  for (let i = offset; i < bytes.length && i < offset + 8; i++) {
    const b = bytes[i]
    value += (b & 0x7f) * scale
    if ((b & 0x80) === 0) {
      if (!Number.isSafeInteger(value)) break
      return { value, offset: i + 1 }
    }
    scale *= 0x80
  }
  throw new ProtocolError('bad varint')
}

/** Reads one varint from a ByteReader (at most 8 bytes). */
export async function readVarint (reader: ByteReader, options?: AbortOptions): Promise<number> {
  let value = 0
  let scale = 1
  for (let i = 0; i < 8; i++) {
    const b = (await readOrCutOff(reader, 1, 'varint', options))[0]
    value += (b & 0x7f) * scale
    if ((b & 0x80) === 0) {
      if (!Number.isSafeInteger(value)) break
      return value
    }
    scale *= 0x80
  }
  throw new ProtocolError('bad varint')
}

/** A varint length-prefixed frame. */
export function frame (payload: Uint8Array): Uint8Array {
  const len = encodeVarint(payload.byteLength)
  const out = new Uint8Array(len.byteLength + payload.byteLength)
  out.set(len, 0)
  out.set(payload, len.byteLength)
  return out
}

/**
 * Reads one length-prefixed frame, refusing lengths above `max`. Returns undefined at a clean
 * end of stream before the frame starts.
 */
export async function readFrame (reader: ByteReader, max: number, options?: AbortOptions): Promise<Uint8Array | undefined> {
  if (await reader.atEnd(options)) return undefined
  const len = await readVarint(reader, options)
  if (len > max) throw new ProtocolError(`frame of ${len} bytes exceeds ${max}`)
  if (len <= FRAME_PIECE) return (await readOrCutOff(reader, len, 'frame', options)).slice()
  // a large frame is gathered as it arrives: memory follows the bytes received, not the bytes announced
  const pieces: Uint8Array[] = []
  for (let got = 0; got < len; got += FRAME_PIECE) {
    pieces.push((await readOrCutOff(reader, Math.min(FRAME_PIECE, len - got), 'frame', options)).slice())
  }
  const out = new Uint8Array(len)
  let at = 0
  for (const p of pieces) { out.set(p, at); at += p.byteLength }
  return out
}

const FRAME_PIECE = 64 * 1024

/** `reader.read`, but a stream that ends early is the peer's protocol error, not a BLAKE3 one. */
async function readOrCutOff (reader: ByteReader, length: number, what: string, options?: AbortOptions): Promise<Uint8Array> {
  try {
    return await reader.read(length, options)
  } catch (err) {
    if (err instanceof Blake3TruncatedError) throw new ProtocolError(`stream cut off in a ${what}: ${err.message}`, { cause: err })
    throw err
  }
}

export { ByteReader }
