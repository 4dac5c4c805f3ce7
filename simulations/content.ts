/**
 * Closures of realistic shape, generated from a seed: `paths` store paths whose NAR sizes follow
 * a log-normal distribution scaled to `totalMiB` (real) and then to simulation bytes. Each path
 * is a directory of one to five files (one dominant, e.g. `lib/libxul.so` next to small ones)
 * with deterministic pseudo-random contents. A second version of a closure keeps a chosen
 * fraction of the files byte for byte under new store paths (a nixpkgs update).
 */
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import type { Castore, PathInfo } from '../src/castore/index.ts'
import { StorePath } from '../src/nix/store-path.ts'
import { fingerprintPath } from '../src/nix/fingerprint.ts'
import { signFingerprint } from '../src/nix/signing.ts'
import type { SecretKey } from '../src/nix/signing.ts'
import { Rng, fillBytes } from './rng.ts'

export interface ClosureSpec {
  /** number of store paths (firefox: 373) */
  paths: number
  /** total NAR size in real MiB (firefox: 1541) */
  totalMiB: number
  /** log-normal sigma of path sizes (default 2.2: a few paths hold most bytes) */
  sigma?: number
}

export interface SimFile {
  name: string
  size: number
  /** seed of the contents */
  seed: number
}

export interface SimPath {
  storePath: string
  hashPart: string
  files: SimFile[]
}

export interface Closure {
  version: number
  paths: SimPath[]
  /** simulation bytes of file contents */
  bytes: number
}

const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'

function hashPart (rng: Rng): string {
  let s = ''
  for (let i = 0; i < 32; i++) s += NIX32[rng.int(32)]
  return s
}

/** Generates a closure (file sizes in simulation bytes = real × scale). */
export function generateClosure (spec: ClosureSpec, scale: number, seed: number): Closure {
  const rng = new Rng(seed)
  const sigma = spec.sigma ?? 2.2
  const raw = Array.from({ length: spec.paths }, () => Math.exp(sigma * rng.normal()))
  const sum = raw.reduce((a, b) => a + b, 0)
  const total = spec.totalMiB * 1024 * 1024 * scale
  const paths: SimPath[] = []
  let bytes = 0
  raw.forEach((r, i) => {
    const size = Math.max(64, Math.round(r / sum * total))
    const n = 1 + rng.int(5)
    const weights = Array.from({ length: n }, (_, j) => j === 0 ? 4 + rng.next() * 8 : 0.2 + rng.next())
    const wsum = weights.reduce((a, b) => a + b, 0)
    const files: SimFile[] = weights.map((w, j) => ({
      name: j === 0 ? 'lib/main.so' : `share/f${j}`,
      size: Math.max(1, Math.round(size * w / wsum)),
      seed: (seed * 7919 + i * 131 + j * 17 + 1) >>> 0
    }))
    for (const f of files) bytes += f.size
    const hp = hashPart(rng)
    paths.push({ storePath: `/nix/store/${hp}-pkg${i}-1.0`, hashPart: hp, files })
  })
  return { version: 1, paths, bytes }
}

/** The next version: new store paths; a fraction `shared` of the files (by count, chosen at random) kept byte for byte. */
export function updateClosure (old: Closure, shared: number, seed: number): Closure {
  const rng = new Rng(seed ^ 0x5bd1e995)
  const all = old.paths.flatMap((p, i) => p.files.map((_, j) => `${i}/${j}`))
  const changed = new Set(rng.shuffle(all).slice(0, Math.round((1 - shared) * all.length)))
  let bytes = 0
  const paths = old.paths.map((p, i) => {
    const hp = hashPart(rng)
    const files = p.files.map((f, j) => changed.has(`${i}/${j}`) ? { ...f, seed: (f.seed ^ 0xa5a5a5a5 ^ (old.version + 1)) >>> 0 } : f)
    for (const f of files) bytes += f.size
    return { storePath: `/nix/store/${hp}-pkg${i}-${old.version + 1}.0`, hashPart: hp, files }
  })
  return { version: old.version + 1, paths, bytes }
}

function tree (p: SimPath): NarSourceNode {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
  const lib = p.files.filter(f => f.name.startsWith('lib/'))
  const share = p.files.filter(f => f.name.startsWith('share/'))
  const file = (f: SimFile): NarSourceNode => ({ type: 'regular', executable: false, size: f.size, contents: async function * () { yield fillBytes(f.size, f.seed) } })
  const dir = (files: SimFile[]): NarSourceNode => ({
    type: 'directory',
    entries: async function * () {
      for (const f of [...files].sort((a, b) => a.name < b.name ? -1 : 1)) yield { name: enc(f.name.slice(f.name.indexOf('/') + 1)), node: file(f) }
    }
  })
  return {
    type: 'directory',
    entries: async function * () {
      if (lib.length > 0) yield { name: enc('lib'), node: dir(lib) }
      if (share.length > 0) yield { name: enc('share'), node: dir(share) }
    }
  }
}

/** Imports every path of `closure` into `castore`, signed by `key`; returns the path infos. */
export async function importClosure (castore: Castore, closure: Closure, key: SecretKey): Promise<PathInfo[]> {
  const out: PathInfo[] = []
  for (const p of closure.paths) {
    const { info } = await castore.importNar(writeNar(tree(p)), { storePath: p.storePath })
    const fp = fingerprintPath(StorePath.parse(p.storePath, '/nix/store'), { algorithm: 'sha256', digest: info.narHash }, info.narSize, [])
    const signed: PathInfo = { ...info, signatures: [signFingerprint(fp, key)] }
    await castore.pathInfos.put(signed)
    out.push(signed)
  }
  return out
}
