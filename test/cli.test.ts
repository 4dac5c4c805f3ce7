/**
 * The storeswarm command line, run as a user runs it (a separate Node process), against the
 * real b3sum and real Nix 2.8 (`nix-store --dump/--restore`).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile, mkdir, symlink, chmod, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { fixture } from './fixtures.ts'
import { requireTool } from './helpers/tools.ts'
import { hashWithOutboard, loadKernel } from '../src/blake3/index.ts'

await loadKernel()
const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
let work: string
let dataDir: string

function cli (args: string[], input?: Uint8Array): { status: number, stdout: Buffer, stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    input,
    env: { ...process.env, STORESWARM_DATA_DIR: dataDir },
    maxBuffer: 256 * 1024 * 1024
  })
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storeswarm-cli-'))
  dataDir = join(work, 'data')
})
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

const SIZES = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 16383, 16384, 16385, 32768, 100_000, 1 << 20, 5 * 1024 * 1024 + 3]

describe('storeswarm hash', () => {
  it('agrees with b3sum on random files of many sizes', async () => {
    const hasB3sum = requireTool('b3sum', 'b3sum')
    const files: string[] = []
    for (const size of SIZES) {
      const f = join(work, `rand-${size}`)
      await writeFile(f, randomBytes(size))
      files.push(f)
    }
    const ours = cli(['hash', ...files])
    expect(ours.stderr).toBe('')
    expect(ours.status).toBe(0)
    const lines = ours.stdout.toString().trimEnd().split('\n')
    expect(lines).toHaveLength(files.length)
    for (const [i, f] of files.entries()) {
      const expected = Buffer.from(hashWithOutboard(await readFile(f)).digest).toString('hex')
      expect(lines[i]).toBe(`${expected}  ${f}`)
    }
    if (hasB3sum) {
      const ref = spawnSync('b3sum', ['--num-threads', '1', ...files])
      expect(ref.status).toBe(0)
      expect(ours.stdout.toString()).toBe(ref.stdout.toString())
    }
  })

  it('hashes stdin like b3sum does, and writes outboards', async () => {
    const data = randomBytes(70_000)
    const r = cli(['hash'], data)
    expect(r.stdout.toString()).toBe(`${Buffer.from(hashWithOutboard(data).digest).toString('hex')}  -\n`)
    const f = join(work, 'ob')
    await writeFile(f, data)
    expect(cli(['hash', '--outboard', f]).status).toBe(0)
    expect(Buffer.compare(await readFile(f + '.obao'), Buffer.from(hashWithOutboard(data).outboard))).toBe(0)
    expect((await readFile(f + '.obao')).length).toBe((Math.ceil(70_000 / 16384) - 1) * 64)
  })

  it('reports a missing file with a non-zero status', () => {
    const r = cli(['hash', join(work, 'does-not-exist')])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/does-not-exist/)
  })
})

describe('storeswarm import / export / info', () => {
  it('imports from a file and from stdin, exports the identical NAR, shows info', async () => {
    const nar = await readFile(fixture('real-nix', 'tree', 'tree.nar'))
    const path = '/nix/store/mbig2lb0l0g5haak3zgg7lkjsypn90pw-tree'
    const imp = cli(['import', fixture('real-nix', 'tree', 'tree.nar'), '--store-path', path, '--nar-hash', 'sha256:047p5jrq0ibd1n8jnk86s5rrjf25yhkz3gyk76gs4skg5pij2mpn', '--ca', 'fixed:r:sha256:047p5jrq0ibd1n8jnk86s5rrjf25yhkz3gyk76gs4skg5pij2mpn'])
    expect(imp.stderr).toMatch(/imported 2000 bytes/)
    expect(imp.status).toBe(0)
    expect(imp.stdout.toString()).toBe(path + '\n')
    const exp = cli(['export', path])
    expect(exp.status).toBe(0)
    expect(Buffer.compare(exp.stdout, nar)).toBe(0)
    const info = cli(['info', path])
    expect(info.stdout.toString()).toMatch(/^StorePath: \/nix\/store\/mbig2lb0l0g5haak3zgg7lkjsypn90pw-tree\nNarHash: sha256:047p5jrq0ibd1n8jnk86s5rrjf25yhkz3gyk76gs4skg5pij2mpn\nNarSize: 2000\nReferences: \nCA: fixed:r:sha256:047p5jrq0ibd1n8jnk86s5rrjf25yhkz3gyk76gs4skg5pij2mpn\nERIS: urn:eris:[A-Z2-7]{106}\nCastoreRoot: directory [0-9a-f]{64}/)
    const json = JSON.parse(cli(['info', path, '--json']).stdout.toString())
    expect(json.narSize).toBe(2000)
    expect(json.castore.digest).toMatch(/^blake3-/)
    const viaStdin = cli(['import', '-', '--store-path', '/nix/store/00000000000000000000000000000000-tree-again'], nar)
    expect(viaStdin.status).toBe(0)
    expect(cli(['list']).stdout.toString().split('\n').filter(Boolean).sort()).toEqual(['/nix/store/00000000000000000000000000000000-tree-again', path])
  })

  it('refuses a wrong NarHash, a malformed NAR and an unknown path with clear errors', async () => {
    const nar = await readFile(fixture('real-nix', 'tree', 'tree.nar'))
    const wrong = cli(['import', '-', '--store-path', '/nix/store/11111111111111111111111111111111-x', '--nar-hash', 'sha256:' + '0'.repeat(52)], nar)
    expect(wrong.status).toBe(1)
    expect(wrong.stderr).toMatch(/NarHashMismatchError/)
    const bad = cli(['import', fixture('nar', 'nixos-nix', 'dotdot.nar'), '--store-path', '/nix/store/11111111111111111111111111111111-x'])
    expect(bad.status).toBe(1)
    expect(bad.stderr).toMatch(/NarParseError/)
    expect(cli(['info', '/nix/store/11111111111111111111111111111111-x']).status).toBe(1)
    const missing = cli(['export', '/nix/store/11111111111111111111111111111111-x'])
    expect(missing.status).toBe(1)
    expect(missing.stderr).toMatch(/not a valid path/)
    expect(cli(['import', fixture('nar', 'nixos-nix', 'dotdot.nar')]).status).toBe(2)
    expect(cli(['frobnicate']).status).toBe(2)
  })
})

describe('interop with real Nix (nix-store --dump / --restore)', () => {
  it('import then export returns nix-store --dump bytes for trees with executables, symlinks, empty files and dirs', async () => {
    requireTool('nix-store', 'nix-bin')
    const trees: string[] = []
    for (let t = 0; t < 3; t++) {
      const root = join(work, `tree-${t}`)
      await mkdir(join(root, 'bin'), { recursive: true })
      await mkdir(join(root, 'empty-dir'))
      await mkdir(join(root, 'share', 'deep', 'er'), { recursive: true })
      await writeFile(join(root, 'bin', 'tool'), '#!/bin/sh\necho hi\n')
      await chmod(join(root, 'bin', 'tool'), 0o755)
      await writeFile(join(root, 'empty-file'), '')
      await writeFile(join(root, 'share', 'deep', 'er', 'data'), randomBytes(t * 70_000 + 5))
      await writeFile(join(root, 'Upper'), 'sorts before lower case')
      await writeFile(join(root, 'big'), randomBytes(300_000 * (t + 1)))
      await symlink('bin/tool', join(root, 'link'))
      await symlink('/nix/store/absolute-target', join(root, 'abs-link'))
      trees.push(root)
    }
    trees.push(join(work, 'tree-0', 'bin', 'tool')) // a lone executable file
    trees.push(join(work, 'tree-0', 'link')) // a lone symlink
    for (const [i, root] of trees.entries()) {
      const dump = spawnSync('nix-store', ['--dump', root], { maxBuffer: 64 * 1024 * 1024 })
      expect(dump.status).toBe(0)
      const path = `/nix/store/${'2'.repeat(31)}${i}-nixtree`
      expect(cli(['import', '-', '--store-path', path], dump.stdout).status).toBe(0)
      const exp = cli(['export', path])
      expect(exp.status).toBe(0)
      expect(Buffer.compare(exp.stdout, dump.stdout)).toBe(0)
      // and real Nix accepts what we export
      const restored = join(work, `restored-${i}`)
      const restore = spawnSync('nix-store', ['--restore', restored], { input: exp.stdout })
      expect(restore.status).toBe(0)
      const again = spawnSync('nix-store', ['--dump', restored], { maxBuffer: 64 * 1024 * 1024 })
      expect(Buffer.compare(again.stdout, dump.stdout)).toBe(0)
    }
  })
})
