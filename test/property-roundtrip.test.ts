/**
 * Round-trip properties (fast-check, seeded and bounded) for every decoder that has a writer:
 * NAR trees, narinfo text, worker-protocol primitives and path infos at every protocol version,
 * castore Directories, ERIS content with its URN, and generated valid HTTP ranges.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareBytes, parseNar, writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { parseNarInfo, renderNarInfo } from '../src/nix/narinfo.ts'
import { encodeNixBase32 } from '../src/nix/base32.ts'
import { WireReader, WireWriter, ValidPathInfoCodec, UnkeyedValidPathInfoCodec, protocolVersion } from '../src/daemon/index.ts'
import type { ValidPathInfo } from '../src/daemon/index.ts'
import { decodeDirectory, encodeDirectory, compareNames } from '../src/castore/directory.ts'
import type { Directory } from '../src/castore/directory.ts'
import { decodeErisBytes, encodeErisBytes, formatErisUrn, parseErisUrn, base32Encode } from '../src/eris/index.ts'
import { parseRange } from '../src/http/range.ts'
import { RangeNotSatisfiableError } from '../src/http/errors.ts'

const SEED = 0x5eed
const utf8 = new TextEncoder()
const run = { seed: SEED, numRuns: 100 }

/* ------------------------------------------------------------------ NAR */

interface Tree {
  type: 'regular' | 'symlink' | 'directory'
  executable?: boolean
  contents?: Uint8Array
  target?: Uint8Array
  entries?: Array<[Uint8Array, Tree]>
}

const nameArb = fc.string({ minLength: 1, maxLength: 6, unit: fc.constantFrom('a', 'b', 'Z', '.', '-', 'é', '\n', ' ', '\u00ff') })
  .filter(n => n !== '.' && n !== '..')
  .map(n => utf8.encode(n))
const targetArb = fc.uint8Array({ minLength: 1, maxLength: 40 }).map(t => t.map(b => b === 0 ? 1 : b))

const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>(tie => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ type: fc.constant('regular' as const), executable: fc.boolean(), contents: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({ type: fc.constant('symlink' as const), target: targetArb }),
    fc.record({
      type: fc.constant('directory' as const),
      entries: fc.uniqueArray(fc.tuple(nameArb, tie('node')), { maxLength: 5, selector: ([n]) => Buffer.from(n).toString('latin1') })
        .map(es => es.sort((a, b) => compareBytes(a[0], b[0])))
    })
  )
})).node

function source (t: Tree): NarSourceNode {
  if (t.type === 'regular') {
    const c = t.contents as Uint8Array
    return { type: 'regular', executable: t.executable === true, size: c.length, contents: async function * () { if (c.length > 0) yield c } }
  }
  if (t.type === 'symlink') return { type: 'symlink', target: t.target as Uint8Array }
  const entries = t.entries ?? []
  return { type: 'directory', entries: async function * () { for (const [name, node] of entries) yield { name, node: source(node) } } }
}

async function collect (gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of gen) parts.push(p.slice())
  return new Uint8Array(Buffer.concat(parts))
}

/** Rebuilds the tree from the reader's events. */
async function readTree (nar: Uint8Array, piece: number): Promise<Tree> {
  const src = (async function * () { for (let i = 0; i < nar.length; i += piece) yield nar.subarray(i, i + piece) })()
  const stack: Tree[] = []
  let root: Tree | undefined
  const place = (path: Uint8Array[], node: Tree): void => {
    if (path.length === 0) { root = node; return }
    const parent = stack[path.length - 1]
    ;(parent.entries as Array<[Uint8Array, Tree]>).push([path[path.length - 1].slice(), node])
  }
  for await (const ev of parseNar(src)) {
    if (ev.type === 'directory') {
      const node: Tree = { type: 'directory', entries: [] }
      place(ev.path, node)
      stack[ev.path.length] = node
    } else if (ev.type === 'regular') {
      place(ev.path, { type: 'regular', executable: ev.executable, contents: await collect(ev.contents) })
    } else if (ev.type === 'symlink') {
      place(ev.path, { type: 'symlink', target: ev.target.slice() })
    }
  }
  return root as Tree
}

describe('round trips', () => {
  it('NAR: arbitrary tree → writeNar → parseNar (any piece size) → same tree', async () => {
    await fc.assert(fc.asyncProperty(treeArb, fc.integer({ min: 1, max: 97 }), async (tree, piece) => {
      const nar = await collect(writeNar(source(tree)))
      expect(nar.length % 8).toBe(0)
      expect(await readTree(nar, piece)).toEqual(tree)
    }), run)
  })

  /* ---------------------------------------------------------------- narinfo */

  const nix32 = (n: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: n, maxLength: n }).map(b => encodeNixBase32(b))
  const hashPart = fc.uint8Array({ minLength: 20, maxLength: 20 }).map(b => encodeNixBase32(b))
  const pkgName = fc.stringMatching(/^[a-zA-Z0-9+._?=-]{1,30}$/).filter(n => n !== '.' && n !== '..' && !n.startsWith('.'))
  const baseName = fc.tuple(hashPart, pkgName).map(([h, n]) => `${h}-${n}`)
  const sig = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/), fc.uint8Array({ minLength: 64, maxLength: 64 }))
    .map(([k, b]) => `${k}:${Buffer.from(b).toString('base64')}`)

  const narinfoText = fc.record({
    base: baseName,
    compression: fc.constantFrom('xz', 'zstd', 'bzip2', 'none', 'br'),
    fileHash: fc.option(nix32(32), { nil: undefined }),
    fileSize: fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }),
    narHash: nix32(32),
    narSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    // Nix keeps references as a sorted set: render emits them sorted
    references: fc.uniqueArray(baseName, { maxLength: 5 }).map(r => r.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))),
    deriver: fc.option(baseName.map(b => `${b}.drv`), { nil: undefined }),
    system: fc.option(fc.constantFrom('x86_64-linux', 'aarch64-darwin'), { nil: undefined }),
    sigs: fc.uniqueArray(sig, { maxLength: 3 }).map(r => r.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))),
    ca: fc.option(nix32(32).map(h => `fixed:r:sha256:${h}`), { nil: undefined })
  }).map(r => [
    `StorePath: /nix/store/${r.base}`,
    `URL: nar/${r.narHash}.nar${r.compression === 'none' ? '' : '.' + r.compression}`,
    `Compression: ${r.compression}`,
    ...(r.fileHash !== undefined ? [`FileHash: sha256:${r.fileHash}`] : []),
    ...(r.fileSize !== undefined ? [`FileSize: ${r.fileSize}`] : []),
    `NarHash: sha256:${r.narHash}`,
    `NarSize: ${r.narSize}`,
    `References: ${r.references.join(' ')}`,
    ...(r.deriver !== undefined ? [`Deriver: ${r.deriver}`] : []),
    ...(r.system !== undefined ? [`System: ${r.system}`] : []),
    ...r.sigs.map(s => `Sig: ${s}`),
    ...(r.ca !== undefined ? [`CA: ${r.ca}`] : [])
  ].join('\n') + '\n')

  it('narinfo: generated text parses; render is a fixed point of parse', () => {
    fc.assert(fc.property(narinfoText, (text) => {
      const info = parseNarInfo(text)
      const rendered = renderNarInfo(info)
      expect(parseNarInfo(rendered)).toEqual(info)
      expect(renderNarInfo(parseNarInfo(rendered))).toBe(rendered)
      expect(rendered).toBe(text)
    }), { ...run, numRuns: 200 })
  })

  /* ---------------------------------------------------------------- daemon wire */

  const VERSIONS = [10, 14, 15, 16, 17, 21, 25, 27, 30, 32, 33, 34, 35, 37, 38].map(m => protocolVersion(1, m))

  it('wire: u64 numbers and bigints, bools, strings, byte strings and string lists', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.oneof(
        fc.record({ k: fc.constant('n' as const), v: fc.maxSafeNat() }),
        fc.record({ k: fc.constant('u' as const), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
        fc.record({ k: fc.constant('b' as const), v: fc.boolean() }),
        fc.record({ k: fc.constant('s' as const), v: fc.string({ maxLength: 40, unit: 'grapheme' }) }),
        fc.record({ k: fc.constant('y' as const), v: fc.uint8Array({ maxLength: 40 }) }),
        fc.record({ k: fc.constant('l' as const), v: fc.array(fc.string({ maxLength: 12 }), { maxLength: 6 }) })
      ), { maxLength: 12 }),
      fc.integer({ min: 1, max: 17 }),
      async (values, piece) => {
        const w = new WireWriter()
        for (const x of values) {
          if (x.k === 'n' || x.k === 'u') w.writeU64(x.v)
          else if (x.k === 'b') w.writeBool(x.v)
          else if (x.k === 's') w.writeString(x.v)
          else if (x.k === 'y') w.writeBytes(x.v)
          else w.writeStrings(x.v)
        }
        const bytes = w.toBytes()
        expect(bytes.length % 8).toBe(0)
        const r = new WireReader((function * () { for (let i = 0; i < bytes.length; i += piece) yield bytes.subarray(i, i + piece) })())
        for (const x of values) {
          if (x.k === 'n') expect(await r.readNumber()).toBe(x.v)
          else if (x.k === 'u') expect(await r.readU64()).toBe(x.v)
          else if (x.k === 'b') expect(await r.readBool()).toBe(x.v)
          else if (x.k === 's') expect(await r.readString()).toBe(x.v)
          else if (x.k === 'y') expect([...await r.readBytes()]).toEqual([...x.v])
          else expect(await r.readStrings()).toEqual(x.v)
        }
        expect(await r.atEnd()).toBe(true)
      }), run)
  })

  const storePath = baseName.map(b => `/nix/store/${b}`)
  const pathInfo: fc.Arbitrary<ValidPathInfo> = fc.record({
    path: storePath,
    deriver: fc.option(baseName.map(b => `/nix/store/${b}.drv`), { nil: null }),
    narHash: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b => Buffer.from(b).toString('hex')),
    references: fc.uniqueArray(storePath, { maxLength: 4 }).map(r => r.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))),
    registrationTime: fc.maxSafeNat(),
    narSize: fc.maxSafeNat(),
    ultimate: fc.boolean(),
    signatures: fc.uniqueArray(sig, { maxLength: 3 }).map(s => s.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))),
    ca: fc.option(nix32(32).map(h => `fixed:r:sha256:${h}`), { nil: null })
  })

  it('wire: ValidPathInfo and UnkeyedValidPathInfo at every protocol version', async () => {
    await fc.assert(fc.asyncProperty(pathInfo, fc.constantFrom(...VERSIONS), async (info, version) => {
      const w = new WireWriter()
      ValidPathInfoCodec.write(w, info, version)
      UnkeyedValidPathInfoCodec.write(w, info, version)
      const r = new WireReader(w.toBytes())
      const keyed = await ValidPathInfoCodec.read(r, version)
      const unkeyed = await UnkeyedValidPathInfoCodec.read(r, version)
      expect(await r.atEnd()).toBe(true)
      // below 1.16 the wire has no ultimate / signatures / ca
      const old = version < protocolVersion(1, 16)
      const want = old ? { ...info, ultimate: false, signatures: [], ca: null } : info
      expect(keyed).toEqual(want)
      const { path: _path, ...wantUnkeyed } = want
      expect(unkeyed).toEqual(wantUnkeyed)
    }), { ...run, numRuns: 300 })
  })

  /* ---------------------------------------------------------------- castore Directory */

  const entryName = fc.uint8Array({ minLength: 1, maxLength: 12 })
    .map(n => n.map(b => (b === 0 || b === 0x2f) ? 0x61 : b))
    .filter(n => !(n.length === 1 && n[0] === 0x2e) && !(n.length === 2 && n[0] === 0x2e && n[1] === 0x2e))
  const digest = fc.uint8Array({ minLength: 32, maxLength: 32 })
  const directoryArb: fc.Arbitrary<Directory> = fc.uniqueArray(fc.tuple(entryName, fc.integer({ min: 0, max: 2 })), { maxLength: 12, selector: ([n]) => Buffer.from(n).toString('latin1') })
    .chain(names => fc.tuple(...names.map(([name, kind]) =>
      kind === 0
        ? fc.record({ kind: fc.constant(0), name: fc.constant(name), digest, size: fc.maxSafeNat() })
        : kind === 1
          ? fc.record({ kind: fc.constant(1), name: fc.constant(name), digest, size: fc.maxSafeNat(), executable: fc.boolean() })
          : fc.record({ kind: fc.constant(2), name: fc.constant(name), target: targetArb })
    )))
    .map(entries => {
      const sorted = [...entries].sort((a, b) => compareNames(a.name, b.name))
      return {
        directories: sorted.filter(e => e.kind === 0).map(e => ({ name: e.name, digest: (e as any).digest, size: (e as any).size })),
        files: sorted.filter(e => e.kind === 1).map(e => ({ name: e.name, digest: (e as any).digest, size: (e as any).size, executable: (e as any).executable })),
        symlinks: sorted.filter(e => e.kind === 2).map(e => ({ name: e.name, target: (e as any).target }))
      }
    })

  it('castore Directory: encode → decode → same directory, same bytes', () => {
    fc.assert(fc.property(directoryArb, (dir) => {
      const bytes = encodeDirectory(dir)
      const back = decodeDirectory(bytes)
      expect(back).toEqual(dir)
      expect(Buffer.compare(encodeDirectory(back), bytes)).toBe(0)
    }), { ...run, numRuns: 300 })
  })

  /* ---------------------------------------------------------------- ERIS */

  it('ERIS: small random contents → encode → URN → parse → decode → same bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), fc.boolean(), async (data, small) => {
      const enc = await encodeErisBytes(data, { blockSize: small ? 1024 : 32768 })
      expect(formatErisUrn(enc.capability)).toBe(enc.urn)
      const cap = parseErisUrn(enc.urn)
      expect(cap).toEqual(enc.capability)
      const out = await decodeErisBytes(cap, async (ref) => enc.blocks.get(base32Encode(ref)))
      expect(Buffer.compare(out, data)).toBe(0)
    }), { ...run, numRuns: 60 })
  })

  /* ---------------------------------------------------------------- HTTP range */

  it('HTTP Range: generated valid single ranges parse to their interval', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.maxSafeNat(), fc.maxSafeNat(), (size, x, y) => {
      const [a, b] = x <= y ? [x, y] : [y, x]
      for (const kind of ['closed', 'open', 'suffix'] as const) {
        const header = kind === 'closed' ? `bytes=${a}-${b}` : kind === 'open' ? `bytes=${a}-` : `bytes=-${b}`
        let got: unknown
        try { got = parseRange(header, size) } catch (err) { got = err }
        if (kind === 'suffix') {
          if (b === 0 || size === 0) expect(got).toBeInstanceOf(RangeNotSatisfiableError)
          else expect(got).toEqual({ start: Math.max(0, size - b), end: size })
        } else if (a >= size) {
          expect(got).toBeInstanceOf(RangeNotSatisfiableError)
        } else {
          expect(got).toEqual({ start: a, end: kind === 'open' ? size : Math.min(size, b + 1) })
        }
      }
    }), { ...run, numRuns: 500 })
  })
})
