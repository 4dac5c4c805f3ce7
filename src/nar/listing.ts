/**
 * `.ls` NAR listings (shared/specs/binary-cache.md §1.7), as written by Nix 2.8
 * `nix copy --to 'file://…?write-nar-listing=1'` (`nar-accessor.cc listNar` with
 * `json.cc toJSON`):
 *
 *   {"version":1,"root":<node>}
 *   <node> = {"type":"regular","size":N[,"executable":true],"narOffset":O}
 *          | {"type":"symlink","target":"…"}
 *          | {"type":"directory","entries":{"<name>":<node>,…}}
 *
 * No whitespace; entries in NAR (= raw byte) order. Names and targets are written
 * byte for byte like Nix 2.8: `"` and `\` backslash-escaped, `\n` `\r` `\t`, other
 * bytes below 0x20 as `\u00XX`, every other byte (including non-UTF-8) verbatim.
 *
 * The listing is produced while the NAR streams by (memory bounded by depth).
 */
import type { AbortOptions } from '../abort.ts'
import { WRITER_CHUNK_SIZE } from './constants.ts'
import { parseNar } from './reader.ts'
import type { NarEvent, NarReaderOptions } from './reader.ts'

export type NarListingNode =
  | { type: 'regular', size: number, executable?: true, narOffset?: number }
  | { type: 'symlink', target: string }
  | { type: 'directory', entries: Record<string, NarListingNode> }

export interface NarListing {
  version: 1
  root: NarListingNode
}

const HEX = '0123456789abcdef'

/** Byte builder that emits pieces of about `WRITER_CHUNK_SIZE` bytes. */
class JsonBytes {
  private buf = new Uint8Array(WRITER_CHUNK_SIZE)
  private fill = 0

  private room (n: number): void {
    if (this.fill + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.fill + n))
      bigger.set(this.buf.subarray(0, this.fill))
      this.buf = bigger
    }
  }

  ascii (s: string): void {
    this.room(s.length)
    for (let i = 0; i < s.length; i++) this.buf[this.fill++] = s.charCodeAt(i)
  }

  string (bytes: Uint8Array): void {
    this.room(bytes.length * 6 + 2)
    const b = this.buf
    let at = this.fill
    b[at++] = 0x22
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]
      if (c === 0x22 || c === 0x5c) {
        b[at++] = 0x5c
        b[at++] = c
      } else if (c === 0x0a) {
        b[at++] = 0x5c
        b[at++] = 0x6e
      } else if (c === 0x0d) {
        b[at++] = 0x5c
        b[at++] = 0x72
      } else if (c === 0x09) {
        b[at++] = 0x5c
        b[at++] = 0x74
      } else if (c < 0x20) {
        b[at++] = 0x5c
        b[at++] = 0x75
        b[at++] = 0x30
        b[at++] = 0x30
        b[at++] = HEX.charCodeAt(c >> 4)
        b[at++] = HEX.charCodeAt(c & 15)
      } else {
        b[at++] = c
      }
    }
    b[at++] = 0x22
    this.fill = at
  }

  /** A finished piece once enough bytes are buffered (or `force`). */
  take (force: boolean): Uint8Array | undefined {
    if (this.fill === 0 || (!force && this.fill < WRITER_CHUNK_SIZE)) return undefined
    const out = this.buf.subarray(0, this.fill)
    this.buf = new Uint8Array(WRITER_CHUNK_SIZE)
    this.fill = 0
    return out
  }
}

/**
 * Stream the `.ls` JSON for the NAR described by `events` (from `parseNar`).
 * File contents are not read (the reader skips them).
 */
export async function * narListing (events: AsyncIterable<NarEvent>, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
  const out = new JsonBytes()
  /** Per open directory: has an entry been written yet? */
  const open: boolean[] = []
  out.ascii('{"version":1,"root":')

  const prefix = (path: Uint8Array[]): void => {
    if (path.length === 0) return
    if (open[open.length - 1]) out.ascii(',')
    open[open.length - 1] = true
    out.string(path[path.length - 1])
    out.ascii(':')
  }

  for await (const event of events) {
    options.signal?.throwIfAborted()
    switch (event.type) {
      case 'directory':
        prefix(event.path)
        out.ascii('{"type":"directory","entries":{')
        open.push(false)
        break
      case 'end-directory':
        out.ascii('}}')
        open.pop()
        break
      case 'regular':
        prefix(event.path)
        out.ascii(`{"type":"regular","size":${event.size}`)
        if (event.executable) out.ascii(',"executable":true')
        out.ascii(`,"narOffset":${event.offset}}`)
        break
      case 'symlink':
        prefix(event.path)
        out.ascii('{"type":"symlink","target":')
        out.string(event.target)
        out.ascii('}')
        break
    }
    const piece = out.take(false)
    if (piece !== undefined) yield piece
  }
  out.ascii('}')
  const piece = out.take(true)
  if (piece !== undefined) yield piece
}

/** Parse the NAR in `source` and return its complete `.ls` listing bytes. */
export async function listNar (source: AsyncIterable<Uint8Array>, options: NarReaderOptions = {}): Promise<Uint8Array> {
  const pieces: Uint8Array[] = []
  let total = 0
  for await (const piece of narListing(parseNar(source, options), options)) {
    pieces.push(piece)
    total += piece.length
  }
  const out = new Uint8Array(total)
  let at = 0
  for (const p of pieces) {
    out.set(p, at)
    at += p.length
  }
  return out
}
