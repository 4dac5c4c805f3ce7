import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import { encodeNixBase32 } from '../src/nix/base32.ts'
import { contentAddressedPath, isContentAddressed, parseContentAddress, renderContentAddress } from '../src/nix/content-address.ts'
import { InvalidContentAddressError, InvalidStorePathError } from '../src/nix/errors.ts'
import { computeNixHash, parseNixHash, xorFold } from '../src/nix/hash.ts'
import {
  isValidStorePathName, makeFixedOutputPath, makeOutputPath, makePathType, makeStorePath, makeTextPath,
  parseBaseName, parseStorePath, StorePath
} from '../src/nix/store-path.ts'

interface Vector { cmd: string, path: string, fingerprint?: string, inner?: string, ca?: string, deriver?: string }
const storePaths: { vectors: Vector[] } = JSON.parse(readFileSync(fixture('real-nix', 'store-paths.json'), 'utf8'))
const byPath = (path: string): Vector => {
  const v = storePaths.vectors.find(v => v.path === path)
  if (v == null) throw new Error(`no vector ${path}`)
  return v
}
const hex = (algorithm: 'sha1' | 'sha256', h: string) => parseNixHash(h, { algorithm })

describe('store-paths.json (printed by Nix 2.8)', () => {
  it('every vector parses and round-trips', () => {
    for (const { path, deriver } of storePaths.vectors) {
      const storeDir = path.startsWith('/gnu/store/') ? '/gnu/store' : '/nix/store'
      const p = StorePath.parse(path, storeDir)
      expect(p.toString()).toBe(path)
      expect(p.storeDir).toBe(storeDir)
      expect(`${storeDir}/${p.hashPart}-${p.name}`).toBe(path)
      expect(StorePath.fromBaseName(p.baseName, storeDir).equals(p)).toBe(true)
      expect(StorePath.fromDigest(p.digest, p.name, storeDir).equals(p)).toBe(true)
      if (deriver != null) expect(parseStorePath(deriver).isDerivation).toBe(true)
    }
  })

  it('each fingerprint string hashes (sha256, XOR-fold to 20 B, nix32) to its path', () => {
    let n = 0
    for (const { path, fingerprint } of storePaths.vectors) {
      if (fingerprint == null) continue
      const folded = xorFold(createHash('sha256').update(fingerprint).digest(), 20)
      expect(`${encodeNixBase32(folded)}`).toBe(StorePath.parse(path).hashPart)
      // <type>:sha256:<inner hex>:<storeDir>:<name>
      const at = fingerprint.indexOf(':sha256:')
      const type = fingerprint.slice(0, at)
      const innerHex = fingerprint.slice(at + 8, at + 8 + 64)
      const storeDir = fingerprint.slice(at + 8 + 65, fingerprint.lastIndexOf(':'))
      const name = fingerprint.slice(fingerprint.lastIndexOf(':') + 1)
      expect(makeStorePath(type, innerHex, name, storeDir).toString()).toBe(path)
      n++
    }
    expect(n).toBe(5)
  })

  it('source paths (nix-store --add, recursive sha256)', () => {
    const tree = byPath('/nix/store/mbig2lb0l0g5haak3zgg7lkjsypn90pw-tree')
    const narHash = hex('sha256', 'f65621e32d6f6aa29f39d3bff127f445389973d1064d2b910d6d4580b32cf710')
    expect(makeFixedOutputPath({ method: 'recursive', hash: narHash, name: 'tree' }).toString()).toBe(tree.path)
    expect(makeFixedOutputPath({ method: 'recursive', hash: narHash, name: 'tree', storeDir: '/gnu/store' }).toString())
      .toBe('/gnu/store/7l7i5703191piz8j4dpyzgqawppdci8y-tree')
    expect(makeFixedOutputPath({ method: 'recursive', hash: hex('sha256', '1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13'), name: 'hello.txt' }).toString())
      .toBe('/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt')
    // the CA line Nix wrote for it recomputes the path
    const ca = parseContentAddress(tree.ca as string)
    expect(renderContentAddress(ca)).toBe(tree.ca)
    expect(contentAddressedPath(ca, 'tree', [], '/nix/store').toString()).toBe(tree.path)
    expect(isContentAddressed(StorePath.parse(tree.path), ca, [])).toBe(true)
    expect(isContentAddressed(StorePath.parse('/nix/store/nzacmggw5xl44c2dcdbahynzj3wwhxdc-tree'), ca, [])).toBe(false)
  })

  it('fixed-output paths (flat sha256, flat sha1, recursive sha1)', () => {
    const flat256 = byPath('/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt')
    const h256 = hex('sha256', '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03')
    expect(Buffer.from(computeNixHash('sha256', flat256.inner as string).digest).toString('hex'))
      .toBe('bc101cf2ad0f504c5dd74b9cce0a732e7157bfbddd2afec191aa0eecd3e252a9')
    expect(makeFixedOutputPath({ method: 'flat', hash: h256, name: 'hello.txt' }).toString()).toBe(flat256.path)
    expect(makeFixedOutputPath({ method: 'flat', hash: hex('sha1', 'f572d396fae9206628714fb2ce00f72e94f2258f'), name: 'hello.txt' }).toString())
      .toBe('/nix/store/svdva85yi507g9vncgsaxvnd1r808h4w-hello.txt')
    const rsha1 = hex('sha1', '078ab335ed56214d1390887c96d4defdee42a415')
    expect(makeFixedOutputPath({ method: 'recursive', hash: rsha1, name: 'tree' }).toString())
      .toBe('/nix/store/nzacmggw5xl44c2dcdbahynzj3wwhxdc-tree')
    expect(contentAddressedPath({ method: 'recursive', hash: rsha1 }, 'tree', [], '/nix/store').toString())
      .toBe('/nix/store/nzacmggw5xl44c2dcdbahynzj3wwhxdc-tree')
    // only recursive sha256 may carry references
    const ref = StorePath.parse('/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo')
    expect(() => makeFixedOutputPath({ method: 'flat', hash: h256, name: 'x', references: [ref] })).toThrow(InvalidStorePathError)
    expect(() => makeFixedOutputPath({ method: 'recursive', hash: rsha1, name: 'x', hasSelfReference: true })).toThrow(InvalidStorePathError)
  })

  it('text paths (builtins.toFile), with a reference and under /gnu/store', () => {
    const foo = makeTextPath('foo', computeNixHash('sha256', 'bar'))
    expect(foo.toString()).toBe('/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo')
    expect(makeTextPath('foo', computeNixHash('sha256', 'bar'), [], '/gnu/store').toString())
      .toBe('/gnu/store/798sxvdgr0680czdggbls7rd3sfwk2yx-foo')
    const bazHash = computeNixHash('sha256', foo.toString())
    expect(Buffer.from(bazHash.digest).toString('hex')).toBe('bcd698d8c0f97a637a6ac51a0517ff95ceb72c696a01186b7ccf6b54e02d13a4')
    expect(makeTextPath('baz', bazHash, [foo]).toString()).toBe('/nix/store/5xd714cbfnkz02h2vbsj4fm03x3f15nf-baz')
    expect(contentAddressedPath({ method: 'text', hash: bazHash }, 'baz', [foo], '/nix/store').toString())
      .toBe('/nix/store/5xd714cbfnkz02h2vbsj4fm03x3f15nf-baz')
    expect(() => makeTextPath('foo', computeNixHash('sha1', 'bar'))).toThrow(InvalidStorePathError)
  })

  it('makePathType sorts and de-duplicates references and appends :self', () => {
    const a = StorePath.parse('/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo')
    const b = StorePath.parse('/nix/store/5xd714cbfnkz02h2vbsj4fm03x3f15nf-baz')
    expect(makePathType('source', [a, b, a], true))
      .toBe(`source:${b.toString()}:${a.toString()}:self`)
    expect(makePathType('text')).toBe('text')
  })

  it('output paths append -<output> unless out', () => {
    const h = 'f'.repeat(64)
    expect(makeOutputPath('out', h, 'hello').name).toBe('hello')
    expect(makeOutputPath('dev', h, 'hello').name).toBe('hello-dev')
    expect(makeOutputPath('out', h, 'hello').toString()).toBe(makeStorePath('output:out', h, 'hello').toString())
    expect(() => makeStorePath('output:out', 'F'.repeat(64), 'x')).toThrow(InvalidStorePathError)
  })
})

describe('store path validation', () => {
  const hash = '00bgd045z0d4icpbc2yyz4gx48ak44la'

  it('accepts every allowed character and a 211-character name', () => {
    expect(parseBaseName(`${hash}-aZ09+-._?=`).name).toBe('aZ09+-._?=')
    expect(StorePath.fromBaseName(`${hash}-${'a'.repeat(211)}`).name.length).toBe(211)
    expect(isValidStorePathName('a.b')).toBe(true)
  })

  it.each([
    ['too long name', `/nix/store/${hash}-${'a'.repeat(212)}`],
    ['empty name', `/nix/store/${hash}-`],
    ['no dash', `/nix/store/${hash}xhello`],
    ['leading dot', `/nix/store/${hash}-.hidden`],
    ['dot', `/nix/store/${hash}-.`],
    ['dotdot', `/nix/store/${hash}-..`],
    ['illegal char space', `/nix/store/${hash}-a b`],
    ['illegal char slash', `/nix/store/${hash}-a/b`],
    ['illegal char CR', `/nix/store/${hash}-ab\r`],
    ['illegal char non-ASCII', `/nix/store/${hash}-é`],
    ['illegal hash char e', `/nix/store/${'e'.repeat(32)}-x`],
    ['upper-case hash', `/nix/store/${hash.toUpperCase()}-x`],
    ['short hash', `/nix/store/${hash.slice(1)}-x`],
    ['wrong store dir', `/gnu/store/${hash}-x`],
    ['sub path', `/nix/store/${hash}-x/bin`],
    ['double slash', `/nix/store//${hash}-x`],
    ['relative', `${hash}-x`],
    ['empty', '']
  ])('rejects %s', (_label, path) => {
    expect(() => StorePath.parse(path)).toThrow(InvalidStorePathError)
  })

  it('honours the store dir and validates it', () => {
    expect(StorePath.parse(`/gnu/store/${hash}-x`, '/gnu/store').toString()).toBe(`/gnu/store/${hash}-x`)
    for (const dir of ['', '/', 'nix/store', '/nix/store/', '/nix//store', '/nix/./store', '/nix/../store']) {
      expect(() => StorePath.parse(`${dir}/${hash}-x`, dir)).toThrow(InvalidStorePathError)
    }
  })

  it('never throws anything but InvalidStorePathError', () => {
    const chars = fc.constantFrom(...'0123456789abcdefghijklmnopqrstuvwxyzA._-+?=/ é\n'.split(''))
    fc.assert(fc.property(fc.string({ unit: chars, maxLength: 260 }), tail => {
      try {
        const p = StorePath.parse(`/nix/store/${tail}`)
        expect(p.toString()).toBe(`/nix/store/${tail}`)
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidStorePathError)
      }
    }), { numRuns: 2000 })
  })
})

describe('content addresses', () => {
  it.each([
    'text:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
    'fixed:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
    'fixed:r:sha1:1ak1ymbmsfx7z8kh09jzkr3a4dvkrfjw',
    'fixed:md5:3y8bwfr609h3lh9ch0izcqq7fl'
  ])('round-trips %s', text => {
    expect(renderContentAddress(parseContentAddress(text))).toBe(text)
  })

  it('normalises base16 digests to nix32 like Nix', () => {
    expect(renderContentAddress(parseContentAddress('fixed:r:sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')))
      .toBe('fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s')
  })

  it.each([
    'text:sha1:1ak1ymbmsfx7z8kh09jzkr3a4dvkrfjw',
    'fixed:r:sha1',
    'fixed:r:sha3:1ak1ymbmsfx7z8kh09jzkr3a4dvkrfjw',
    'fixed:sha256-ungVv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=',
    'blob:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
    'fixed:git:sha1:1ak1ymbmsfx7z8kh09jzkr3a4dvkrfjw',
    ''
  ])('rejects %s', text => {
    expect(() => parseContentAddress(text)).toThrow(InvalidContentAddressError)
  })
})
