/**
 * Finding the end of an unframed NAR on the wire (§1.5): NarFromPath replies,
 * AddToStore < 1.25 and AddToStoreNar < 1.21 payloads, and each NAR inside an
 * AddMultipleToStore stream carry a NAR with no length prefix, so the only way to
 * stay in sync is to follow the NAR grammar.
 *
 * This is a streaming grammar walker, not an unpacker: it validates structure
 * (tokens, zero padding, entry names and order, nesting depth) and passes the
 * exact bytes to an optional callback, holding at most one content chunk.
 */
import { MAX_NAR_DEPTH, MAX_NAR_TOKEN_LENGTH, FRAMED_CHUNK_SIZE } from './constants.ts'
import { ProtocolError } from './errors.ts'
import { WireWriter } from './wire.ts'
import type { WireReader } from './wire.ts'
import type { AbortOptions } from '../abort.ts'

export interface NarWalkOptions extends AbortOptions {
  /** Receives the NAR's bytes in order (exactly as on the wire). */
  onData?: (chunk: Uint8Array) => void | Promise<void>
  /** Reject NARs larger than this (default: unlimited). */
  maxSize?: number
  /** Maximum directory nesting (default 256). */
  maxDepth?: number
}

const enc = new TextEncoder()
const T = {
  magic: enc.encode('nix-archive-1'),
  open: enc.encode('('),
  close: enc.encode(')'),
  type: enc.encode('type'),
  regular: enc.encode('regular'),
  symlink: enc.encode('symlink'),
  directory: enc.encode('directory'),
  executable: enc.encode('executable'),
  contents: enc.encode('contents'),
  target: enc.encode('target'),
  entry: enc.encode('entry'),
  name: enc.encode('name'),
  node: enc.encode('node'),
  empty: new Uint8Array(0)
}

function eq (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.byteLength - b.byteLength
}

function show (b: Uint8Array): string {
  return JSON.stringify(new TextDecoder().decode(b.subarray(0, 64)))
}

class NarWalker {
  private readonly reader: WireReader
  private readonly options: NarWalkOptions
  private readonly start: number
  private readonly maxSize: number
  private readonly maxDepth: number
  private readonly out = new WireWriter()

  constructor (reader: WireReader, options: NarWalkOptions) {
    this.reader = reader
    this.options = options
    this.start = reader.position
    this.maxSize = options.maxSize ?? Number.POSITIVE_INFINITY
    this.maxDepth = options.maxDepth ?? MAX_NAR_DEPTH
  }

  private checkSize (extra: number): void {
    if (this.reader.position - this.start + extra > this.maxSize) {
      throw new ProtocolError(`NAR exceeds the limit of ${this.maxSize} bytes`, 'ERR_TOO_LARGE')
    }
  }

  private async flushOut (): Promise<void> {
    if (this.options.onData == null || this.out.length === 0) return
    await this.options.onData(this.out.take())
  }

  private async token (): Promise<Uint8Array> {
    this.checkSize(8)
    const t = await this.reader.readBytes(MAX_NAR_TOKEN_LENGTH, 'NAR token', this.options)
    this.checkSize(0)
    if (this.options.onData != null) {
      this.out.writeBytes(t)
      if (this.out.length >= FRAMED_CHUNK_SIZE) await this.flushOut()
    }
    return t
  }

  private async expect (want: Uint8Array): Promise<void> {
    const t = await this.token()
    if (!eq(t, want)) throw new ProtocolError(`NAR: expected ${show(want)}, got ${show(t)}`, 'ERR_BAD_VALUE')
  }

  async walk (): Promise<number> {
    const magic = await this.token()
    if (!eq(magic, T.magic)) throw new ProtocolError('input is not a NAR (bad magic)', 'ERR_BAD_MAGIC')
    await this.node(0)
    await this.flushOut()
    return this.reader.position - this.start
  }

  private async node (depth: number): Promise<void> {
    if (depth > this.maxDepth) throw new ProtocolError(`NAR nesting deeper than ${this.maxDepth}`, 'ERR_TOO_LARGE')
    await this.expect(T.open)
    await this.expect(T.type)
    const type = await this.token()
    if (eq(type, T.regular)) {
      let t = await this.token()
      if (eq(t, T.executable)) {
        await this.expect(T.empty)
        t = await this.token()
      }
      if (!eq(t, T.contents)) throw new ProtocolError(`NAR: expected "contents", got ${show(t)}`, 'ERR_BAD_VALUE')
      await this.contents()
      await this.expect(T.close)
    } else if (eq(type, T.symlink)) {
      await this.expect(T.target)
      const target = await this.token()
      if (target.byteLength === 0) throw new ProtocolError('NAR: empty symlink target', 'ERR_BAD_VALUE')
      await this.expect(T.close)
    } else if (eq(type, T.directory)) {
      let prev: Uint8Array | null = null
      while (true) {
        const t = await this.token()
        if (eq(t, T.close)) break
        if (!eq(t, T.entry)) throw new ProtocolError(`NAR: expected "entry" or ")", got ${show(t)}`, 'ERR_BAD_VALUE')
        await this.expect(T.open)
        await this.expect(T.name)
        const name = await this.token()
        this.checkEntryName(name)
        if (prev != null && compareBytes(prev, name) >= 0) {
          throw new ProtocolError(`NAR: entry ${show(name)} is not in sorted order`, 'ERR_BAD_VALUE')
        }
        prev = name
        await this.expect(T.node)
        await this.node(depth + 1)
        await this.expect(T.close)
      }
    } else {
      throw new ProtocolError(`NAR: unknown node type ${show(type)}`, 'ERR_BAD_VALUE')
    }
  }

  private checkEntryName (name: Uint8Array): void {
    if (name.byteLength === 0 || eq(name, enc.encode('.')) || eq(name, enc.encode('..')) ||
      name.includes(0x2f) || name.includes(0)) {
      throw new ProtocolError(`NAR: invalid entry name ${show(name)}`, 'ERR_BAD_VALUE')
    }
  }

  private async contents (): Promise<void> {
    this.checkSize(8)
    const size = await this.reader.readNumber('NAR file size', undefined, this.options)
    this.checkSize(size)
    if (this.options.onData != null) {
      this.out.writeU64(size)
      await this.flushOut()
      for await (const piece of this.reader.readStream(size, FRAMED_CHUNK_SIZE, 'NAR file contents', this.options)) {
        await this.options.onData(piece)
      }
    } else {
      await this.reader.skip(size, 'NAR file contents', this.options)
    }
    const pad = (8 - (size % 8)) % 8
    this.checkSize(pad)
    await this.reader.readPadding(size, 'NAR file contents', this.options)
    if (this.options.onData != null && pad > 0) this.out.writeRaw(new Uint8Array(pad))
  }
}

/**
 * Consumes one NAR from `reader`, validating its grammar; returns its size in
 * bytes. Malformed or truncated input throws {@link ProtocolError}.
 */
export async function walkNar (reader: WireReader, options: NarWalkOptions = {}): Promise<number> {
  return await new NarWalker(reader, options).walk()
}
