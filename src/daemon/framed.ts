/**
 * Framed streams (§1.1 "Frames"): repeated `u64 len` + `len` raw bytes (no
 * padding), terminated by `len = 0`. Used by AddToStoreNar (≥ 1.23), AddToStore
 * (≥ 1.25), AddMultipleToStore, AddBuildLog and AddToStoreScanning.
 *
 * Both directions stream with bounded memory: the reader hands out at most
 * `chunkSize` bytes at a time whatever the frame length; the writer holds at most
 * one frame.
 */
import { DEFAULT_FRAME_SIZE, FRAMED_CHUNK_SIZE, MAX_SAFE } from './constants.ts'
import { ProtocolError } from './errors.ts'
import { WireReader, WireWriter, concatBytes, writeToSink } from './wire.ts'
import type { ByteSink } from './wire.ts'
import type { AbortOptions } from '../abort.ts'

export interface FramedSourceOptions extends AbortOptions {
  /** Largest payload chunk handed out at once (default 64 KiB). */
  chunkSize?: number
  /** Reject a stream whose payload exceeds this many bytes (default: unlimited). */
  maxTotalLength?: number
  /** Reject a single frame longer than this (default: 2^53 − 1). */
  maxFrameLength?: number
}

/**
 * The payload of a framed stream as an async byte source. It can be consumed by
 * a nested {@link WireReader} (AddMultipleToStore's payload is itself wire data)
 * and then {@link drain}ed to the terminator, which a server must do even after
 * an error so the connection stays in sync (§1.1).
 */
export class FramedSource implements AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array> {
  private readonly reader: WireReader
  private readonly chunkSize: number
  private readonly maxTotalLength: number
  private readonly maxFrameLength: number
  private readonly signal?: AbortSignal
  private remaining = 0
  private frames = 0
  private total = 0
  private finished = false

  constructor (reader: WireReader, options: FramedSourceOptions = {}) {
    this.reader = reader
    this.chunkSize = options.chunkSize ?? FRAMED_CHUNK_SIZE
    this.maxTotalLength = options.maxTotalLength ?? Number.POSITIVE_INFINITY
    this.maxFrameLength = options.maxFrameLength ?? MAX_SAFE
    this.signal = options.signal
  }

  /** True once the zero-length terminator has been read. */
  get done (): boolean {
    return this.finished
  }

  /** Payload bytes announced by the frames read so far. */
  get totalLength (): number {
    return this.total
  }

  /** Number of non-empty frames read so far. */
  get frameCount (): number {
    return this.frames
  }

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    return this
  }

  async next (): Promise<IteratorResult<Uint8Array>> {
    while (true) {
      if (this.finished) return { done: true, value: undefined }
      if (this.remaining === 0) {
        const len = await this.reader.readNumber('frame length', MAX_SAFE, { signal: this.signal })
        if (len === 0) {
          this.finished = true
          continue
        }
        if (len > this.maxFrameLength) {
          throw new ProtocolError(`frame of ${len} bytes exceeds the limit of ${this.maxFrameLength}`, 'ERR_TOO_LARGE')
        }
        if (this.total + len > this.maxTotalLength) {
          throw new ProtocolError(
            `framed stream exceeds the limit of ${this.maxTotalLength} bytes`,
            'ERR_TOO_LARGE'
          )
        }
        this.total += len
        this.frames++
        this.remaining = len
        continue
      }
      const piece = await this.reader.readAvailable(
        Math.min(this.remaining, this.chunkSize), 'frame payload', { signal: this.signal }
      )
      this.remaining -= piece.byteLength
      return { done: false, value: piece }
    }
  }

  /** Consumes the rest of the stream up to and including the terminator. */
  async drain (): Promise<void> {
    while (!this.finished) {
      if (this.remaining > 0) {
        const piece = await this.reader.readAvailable(this.remaining, 'frame payload', { signal: this.signal })
        this.remaining -= piece.byteLength
        continue
      }
      await this.next()
    }
  }

  /** Reads the whole remaining payload into memory (capped by `maxLength`). */
  async readAll (maxLength: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = []
    let size = 0
    for (let r = await this.next(); r.done !== true; r = await this.next()) {
      size += r.value.byteLength
      if (size > maxLength) {
        throw new ProtocolError(`framed payload exceeds the limit of ${maxLength} bytes`, 'ERR_TOO_LARGE')
      }
      parts.push(r.value.slice())
    }
    return concatBytes(parts)
  }
}

export interface FramedSinkOptions {
  /** Payload bytes per frame (default 32 KiB). */
  frameSize?: number
}

/** Writes a framed stream to a sink, one frame at a time. */
export class FramedSink {
  private readonly sink: ByteSink
  private readonly frameSize: number
  private buffer: Uint8Array
  private fill = 0
  private ended = false

  constructor (sink: ByteSink, options: FramedSinkOptions = {}) {
    const frameSize = options.frameSize ?? DEFAULT_FRAME_SIZE
    if (!Number.isSafeInteger(frameSize) || frameSize <= 0) throw new RangeError(`invalid frame size ${frameSize}`)
    this.sink = sink
    this.frameSize = frameSize
    this.buffer = new Uint8Array(frameSize)
  }

  /**
   * Appends payload bytes; full frames are sent as they fill up. Whole frames
   * cut straight from `data` are handed to the sink without copying: do not
   * reuse `data` until the sink has consumed it.
   */
  async write (data: Uint8Array, options?: AbortOptions): Promise<void> {
    if (this.ended) throw new ProtocolError('write after end of framed stream', 'ERR_BAD_VALUE')
    let off = 0
    while (off < data.byteLength) {
      if (this.fill === 0 && data.byteLength - off >= this.frameSize) {
        await this.emit(data.subarray(off, off + this.frameSize), options)
        off += this.frameSize
        continue
      }
      const n = Math.min(this.frameSize - this.fill, data.byteLength - off)
      this.buffer.set(data.subarray(off, off + n), this.fill)
      this.fill += n
      off += n
      if (this.fill === this.frameSize) {
        await this.emit(this.buffer, options)
        this.buffer = new Uint8Array(this.frameSize)
        this.fill = 0
      }
    }
  }

  /** Sends the buffered partial frame and the zero terminator. */
  async end (options?: AbortOptions): Promise<void> {
    if (this.ended) return
    if (this.fill > 0) {
      await this.emit(this.buffer.subarray(0, this.fill), options)
      this.fill = 0
    }
    this.ended = true
    await writeToSink(this.sink, new WireWriter().writeU64(0).take(), options)
  }

  private async emit (payload: Uint8Array, options?: AbortOptions): Promise<void> {
    const w = new WireWriter()
    w.writeU64(payload.byteLength)
    w.writeRaw(payload)
    for (const chunk of w.takeChunks()) await writeToSink(this.sink, chunk, options)
  }
}

/**
 * Appends `data` as a framed stream (frames of `frameSize`, then the terminator)
 * to an in-memory writer.
 */
export function writeFramed (writer: WireWriter, data: Uint8Array, frameSize: number = DEFAULT_FRAME_SIZE): void {
  for (let off = 0; off < data.byteLength; off += frameSize) {
    const piece = data.subarray(off, Math.min(off + frameSize, data.byteLength))
    writer.writeU64(piece.byteLength)
    writer.writeRaw(piece)
  }
  writer.writeU64(0)
}
