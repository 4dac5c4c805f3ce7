/**
 * NAR ↔ local filesystem: `restoreNar` unpacks a NAR (like `nix-store --restore`),
 * `dumpPath` describes an on-disk tree as a `NarSourceNode` for `writeNar`
 * (like `nix-store --dump`). Paths are handled as bytes so non-UTF-8 names survive.
 */
import { Buffer } from 'node:buffer'
import { constants } from 'node:fs'
import { lstat, mkdir, open, readdir, readlink, symlink } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import type { AbortOptions } from '../abort.ts'
import { NarWriteError } from './errors.ts'
import { compareBytes } from './names.ts'
import { parseNar } from './reader.ts'
import type { NarReaderOptions } from './reader.ts'
import type { NarSourceNode } from './writer.ts'

/** Read size for file contents handed to the writer (large pieces pass through uncopied). */
const READ_CHUNK = 1024 * 1024
const SLASH = Buffer.from('/')

function pathBytes (p: string | Uint8Array): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : Buffer.from(p.buffer, p.byteOffset, p.byteLength)
}

function join (dir: Buffer, names: readonly Uint8Array[]): Buffer {
  if (names.length === 0) return dir
  const parts: Uint8Array[] = [dir]
  for (const n of names) parts.push(SLASH, n)
  return Buffer.concat(parts)
}

async function writeAll (fh: FileHandle, data: Uint8Array): Promise<void> {
  let done = 0
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done)
    done += bytesWritten
  }
}

/**
 * Unpack the NAR in `source` to `dest`, which must not exist yet (its parent must).
 * The root may be a directory, a regular file or a symlink. Executable files get
 * `+x` for everyone (as Nix does); nothing is ever overwritten or followed.
 * Throws `NarParseError` for invalid NARs (possibly after creating part of the tree).
 */
export async function restoreNar (source: AsyncIterable<Uint8Array>, dest: string | Uint8Array, options: NarReaderOptions = {}): Promise<void> {
  const root = pathBytes(dest)
  for await (const event of parseNar(source, options)) {
    const target = join(root, event.path)
    switch (event.type) {
      case 'directory':
        await mkdir(target)
        break
      case 'end-directory':
        break
      case 'symlink':
        await symlink(Buffer.from(event.target), target)
        break
      case 'regular': {
        // 'wx' = O_CREAT|O_EXCL: fails on anything existing, including symlinks.
        const fh = await open(target, 'wx', 0o666)
        try {
          for await (const piece of event.contents) await writeAll(fh, piece)
          if (event.executable) {
            const st = await fh.stat()
            await fh.chmod((st.mode & 0o7777) | 0o111)
          }
        } finally {
          await fh.close()
        }
        break
      }
    }
  }
}

async function * readContents (file: Buffer, size: number, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    let done = 0
    while (true) {
      options.signal?.throwIfAborted()
      // Ask for one byte past the expected end so growth is noticed (the writer rejects it).
      const want = Math.max(1, Math.min(READ_CHUNK, size - done))
      const buf = Buffer.allocUnsafe(want)
      const { bytesRead } = await fh.read(buf, 0, want, null)
      if (bytesRead === 0) return
      done += bytesRead
      yield buf.subarray(0, bytesRead)
    }
  } finally {
    await fh.close()
  }
}

async function nodeOf (file: Buffer, st: Stats): Promise<NarSourceNode> {
  if (st.isFile()) {
    const size = st.size
    return {
      type: 'regular',
      executable: (st.mode & 0o100) !== 0,
      size,
      contents: (options?: AbortOptions) => readContents(file, size, options)
    }
  }
  if (st.isSymbolicLink()) {
    return { type: 'symlink', target: new Uint8Array(await readlink(file, { encoding: 'buffer' })) }
  }
  if (st.isDirectory()) {
    return {
      type: 'directory',
      entries: async function * (options?: AbortOptions) {
        const names = await readdir(file, { encoding: 'buffer' })
        names.sort(compareBytes)
        for (const name of names) {
          options?.signal?.throwIfAborted()
          const child = join(file, [name])
          yield { name: new Uint8Array(name), node: await nodeOf(child, await lstat(child)) }
        }
      }
    }
  }
  throw new NarWriteError(`file '${file.toString()}' has an unsupported type (not a regular file, directory or symlink)`)
}

/**
 * Describe the file, symlink or directory at `fsPath` (not following a final
 * symlink) as a `NarSourceNode`. Directories are read lazily, names sorted by raw
 * bytes; `executable` is the owner-execute bit; file contents are streamed in
 * 1 MiB pieces and checked against the `lstat` size by the writer.
 */
export async function dumpPath (fsPath: string | Uint8Array, options: AbortOptions = {}): Promise<NarSourceNode> {
  options.signal?.throwIfAborted()
  const file = pathBytes(fsPath)
  return await nodeOf(file, await lstat(file))
}
