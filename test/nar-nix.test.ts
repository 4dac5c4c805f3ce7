/**
 * Cross-check against a real Nix (`nix-store --restore` / `--dump`, Debian nix-bin 2.8).
 * Without nix-store these tests skip locally but FAIL when CI=true.
 */
import { spawnSync } from 'node:child_process'
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { TestContext } from 'vitest'
import { fixture } from './fixtures.ts'
import { chunked, collect } from './nar-helpers.ts'
import { dumpPath, restoreNar, writeNar } from '../src/nar/index.ts'

function findNixStore (): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, 'nix-store')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

const nixStore = findNixStore()
const scratch = mkdtempSync(join(tmpdir(), 'storeswarm-nar-nix-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
let counter = 0
const fresh = (): string => join(scratch, `t${counter++}`)

/** Environment for nix-store: no access to the user's config or caches. */
const nixEnv = { ...process.env, HOME: scratch, XDG_CACHE_HOME: scratch, XDG_CONFIG_HOME: scratch, NIX_CONF_DIR: scratch }

function requireNix (ctx: TestContext): string {
  if (nixStore !== undefined) return nixStore
  if (process.env.CI === 'true') {
    throw new Error('nix-store not found: nix-bin is required in CI (apt-get install -y nix-bin)')
  }
  ctx.skip('nix-store not installed (apt-get install -y nix-bin to run the real-Nix cross-checks)')
  throw new Error('unreachable')
}

function nix (bin: string, args: string[], input?: Uint8Array): Buffer {
  const r = spawnSync(bin, args, { input, env: nixEnv, maxBuffer: 64 * 1024 * 1024 })
  if (r.error !== undefined) throw r.error
  if (r.status !== 0) throw new Error(`nix-store ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}`)
  return r.stdout
}

const manifest: Array<{ file: string, nix_2_8_restore_ok: boolean, roundtrip_identical_nix_2_8: boolean | null }> =
  JSON.parse(readFileSync(fixture('nar', 'manifest.json'), 'utf8'))
const valid = manifest
  .filter(m => (m.nix_2_8_restore_ok && m.roundtrip_identical_nix_2_8 === true) ||
    m.file === 'nixos-nix/case.nar' || m.file === 'nixos-nix/case-collision.nar')
  .map(m => m.file)

describe('against real nix-store', () => {
  it('nix-store is available (required when CI=true)', (ctx) => {
    const bin = requireNix(ctx)
    expect(nix(bin, ['--version']).toString()).toMatch(/nix-store \(Nix\) \d/)
  })

  it.for([...valid.map(f => ['nar', f]), ['real-nix', 'tree/tree.nar']])('%s/%s: our restore and dump agree with nix-store', async ([dir, file], ctx) => {
    const bin = requireNix(ctx)
    const data = new Uint8Array(readFileSync(fixture(dir, ...file.split('/'))))
    const ours = fresh()
    const theirs = fresh()
    await restoreNar(chunked(data, 4096), ours)
    nix(bin, ['--restore', theirs], data)
    // Nix's dump of our restored tree is the original NAR...
    expect(Buffer.compare(nix(bin, ['--dump', ours]), data)).toBe(0)
    // ...and our dump of Nix's restored tree too.
    expect(Buffer.compare(await collect(writeNar(await dumpPath(theirs))), data)).toBe(0)
  })

  it('dumpPath + writeNar equals nix-store --dump on a tree with every node kind', async (ctx) => {
    const bin = requireNix(ctx)
    const root = fresh()
    mkdirSync(root)
    const at = (...p: string[]): string => join(root, ...p)
    writeFileSync(at('plain'), 'plain text\n')
    writeFileSync(at('script.sh'), '#!/bin/sh\necho hi\n')
    chmodSync(at('script.sh'), 0o755)
    writeFileSync(at('only-group-x'), 'x')
    chmodSync(at('only-group-x'), 0o654) // not owner-executable: not executable in the NAR
    writeFileSync(at('empty'), '')
    writeFileSync(at('empty-exec'), '')
    chmodSync(at('empty-exec'), 0o700)
    mkdirSync(at('empty-dir'))
    mkdirSync(at('nested', 'deeper', 'deepest'), { recursive: true })
    writeFileSync(at('nested', 'deeper', 'deepest', 'leaf'), 'leaf')
    symlinkSync('plain', at('rel-link'))
    symlinkSync('/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-dangling', at('abs-link'))
    symlinkSync('../..', at('nested', 'up'))
    writeFileSync(at('Case'), 'C')
    writeFileSync(at('case'), 'c')
    writeFileSync(at('new\nline'), 'nl')
    writeFileSync(Buffer.from(at('') + '\xff-not-utf8', 'latin1'), 'bytes')
    writeFileSync(at('unicode-\u00e9'), 'e')
    const big = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => (i * 7) & 0xff)
    writeFileSync(at('big.bin'), big)
    for (let i = 0; i < 9; i++) writeFileSync(at(`pad-${i}`), 'p'.repeat(i))

    const expected = nix(bin, ['--dump', root])
    const ours = await collect(writeNar(await dumpPath(root)))
    expect(ours.length).toBe(expected.length)
    expect(Buffer.compare(ours, expected)).toBe(0)

    // and the single-file / single-symlink roots
    expect(Buffer.compare(await collect(writeNar(await dumpPath(at('script.sh')))), nix(bin, ['--dump', at('script.sh')]))).toBe(0)
    expect(Buffer.compare(await collect(writeNar(await dumpPath(at('abs-link')))), nix(bin, ['--dump', at('abs-link')]))).toBe(0)

    // our restore of Nix's NAR is what Nix dumps again
    const copy = fresh()
    await restoreNar(chunked(new Uint8Array(expected), 65536), copy)
    expect(Buffer.compare(nix(bin, ['--dump', copy]), expected)).toBe(0)
  })
})
