/**
 * A synthetic closure written as a `file://` binary cache exactly as `nix copy --to
 * file://…?compression=none` lays it out (nix-cache-info, `<hash>.narinfo`,
 * `nar/<narhash>.nar`, narinfos signed by a bench key), plus the same NARs zstd-compressed in a
 * second cache (what `?compression=zstd` writes) for the nginx-zstd anchor.
 *
 * Sizes are log-uniform (many small paths, a few large ones, like a desktop closure) scaled to
 * the requested total; file contents are built from a random dictionary so that they compress
 * roughly like binaries and text do (zstd ≈ 3×), not like random bytes.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile, open } from 'node:fs/promises'
import { join } from 'node:path'
import zlib from 'node:zlib'
import { writeNar } from '../../src/nar/index.ts'
import type { NarSourceNode } from '../../src/nar/index.ts'
import { encodeNixBase32 } from '../../src/nix/base32.ts'
import { renderNarInfo } from '../../src/nix/narinfo.ts'
import type { NarInfo } from '../../src/nix/narinfo.ts'
import { StorePath } from '../../src/nix/store-path.ts'
import { signNarInfo } from '../../src/nix/signing.ts'
import type { SecretKey } from '../../src/nix/signing.ts'

export interface SynthPath {
  storePath: string
  hashPart: string
  narSize: number
  url: string
  zstdUrl: string
}

export interface SynthOptions {
  paths: number
  totalBytes: number
  key: SecretKey
  seed?: number
}

export async function synthesizeCache (dir: string, zstdDir: string, options: SynthOptions): Promise<SynthPath[]> {
  let s = options.seed ?? 1
  const rand = (): number => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
  const dict = randomBytes(256 * 1024)
  const content = (n: number): Buffer => {
    const out = Buffer.allocUnsafe(n)
    let at = 0
    while (at < n) {
      if (rand() < 0.25) {
        const len = Math.min(n - at, 64 + Math.floor(rand() * 256))
        randomBytes(len).copy(out, at)
        at += len
      } else {
        const len = Math.min(n - at, 32 + Math.floor(rand() * 2048))
        const from = Math.floor(rand() * (dict.length - len))
        dict.copy(out, at, from, from + len)
        at += len
      }
    }
    return out
  }
  // log-uniform weights, scaled to the total
  const weights = Array.from({ length: options.paths }, () => Math.exp(rand() * Math.log(20_000)))
  const scale = options.totalBytes / weights.reduce((a, b) => a + b, 0)
  const sizes = weights.map(w => Math.max(256, Math.floor(w * scale)))

  for (const d of [dir, zstdDir]) {
    await mkdir(join(d, 'nar'), { recursive: true })
    await writeFile(join(d, 'nix-cache-info'), 'StoreDir: /nix/store\n')
  }
  const out: SynthPath[] = []
  for (let i = 0; i < options.paths; i++) {
    const digest = createHash('sha256').update(`bench-path-${options.seed ?? 1}-${i}`).digest().subarray(0, 20)
    const path = StorePath.fromDigest(digest, `bench-${i}-1.0`)
    const size = sizes[i]
    const files = Math.min(64, 1 + Math.floor(size / (256 * 1024)))
    const entries: Array<{ name: Uint8Array, node: NarSourceNode }> = []
    for (let f = 0; f < files; f++) {
      const n = f === files - 1 ? size - Math.floor(size / files) * (files - 1) : Math.floor(size / files)
      const data = content(n)
      entries.push({ name: Buffer.from(`file-${String(f).padStart(3, '0')}`), node: { type: 'regular', executable: f === 0, size: data.length, contents: async function * () { yield data } } })
    }
    entries.push({ name: Buffer.from('link'), node: { type: 'symlink', target: Buffer.from('file-000') } })
    const root: NarSourceNode = { type: 'directory', entries: async function * () { yield * entries } }
    const sha = createHash('sha256')
    const pieces: Uint8Array[] = []
    let narSize = 0
    for await (const piece of writeNar(root)) {
      sha.update(piece)
      pieces.push(piece)
      narSize += piece.length
    }
    const nar = Buffer.concat(pieces)
    const narHash = sha.digest()
    const nh32 = encodeNixBase32(narHash)
    const url = `nar/${nh32}.nar`
    const fh = await open(join(dir, url), 'w')
    await fh.write(nar)
    await fh.close()
    const z = zlib.zstdCompressSync(nar, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } })
    const zHash = createHash('sha256').update(z).digest()
    const zstdUrl = `nar/${encodeNixBase32(zHash)}.nar.zst`
    await writeFile(join(zstdDir, zstdUrl), z)
    const references = [path.baseName]
    for (let r = 0; r < Math.min(i, 5); r++) references.push(out[Math.floor(rand() * i)].storePath.slice(11))
    const base: NarInfo = {
      storePath: path,
      url,
      compression: 'none',
      fileHash: { algorithm: 'sha256', digest: narHash },
      fileSize: narSize,
      narHash: { algorithm: 'sha256', digest: narHash },
      narSize,
      references: [...new Set(references)],
      deriver: `${path.hashPart}-bench-${i}-1.0.drv`,
      signatures: []
    }
    const signed = signNarInfo(base, options.key)
    await writeFile(join(dir, `${path.hashPart}.narinfo`), renderNarInfo(signed))
    await writeFile(join(zstdDir, `${path.hashPart}.narinfo`), renderNarInfo({ ...signed, url: zstdUrl, compression: 'zstd', fileHash: { algorithm: 'sha256', digest: zHash }, fileSize: z.length }))
    out.push({ storePath: path.toString(), hashPart: path.hashPart, narSize, url, zstdUrl })
  }
  return out
}
