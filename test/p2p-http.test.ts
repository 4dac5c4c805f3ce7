/**
 * Substitution through peers behind the HTTP binary-cache facade: C holds nothing; Nix (or any
 * client) asks C's cache; C finds the path among peers, fetches it verified, and serves it.
 * An unknown path is a 404. Real `nix copy --from` against C when nix is installed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { loadKernel } from '../src/blake3/index.ts'
import { splitStorePath } from '../src/castore/index.ts'
import { createBinaryCache } from '../src/http/index.ts'
import type { BinaryCache } from '../src/http/index.ts'
import { generateSigningKey, formatPublicKey } from '../src/nix/signing.ts'
import { withPeerSubstitution } from '../src/p2p/index.ts'
import { makeNode, removeDir, sampleTree, importSigned, publicKeyOf, exportBytes, fakeHashPart } from './helpers/p2p.ts'
import type { TestNode } from './helpers/p2p.ts'
import { requireTool } from './helpers/tools.ts'

const key = generateSigningKey('swarm.test-1')

async function run (cmd: string, args: string[]): Promise<{ status: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 50_000 })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => { stdout += String(d) })
    p.stderr.on('data', (d) => { stderr += String(d) })
    p.on('error', reject)
    p.on('close', (status) => { resolve({ status, stdout, stderr }) })
  })
}
let a: TestNode, c: TestNode
let cache: BinaryCache
let url: string
const substituted: string[] = []

beforeAll(async () => {
  await loadKernel()
  a = await makeNode()
  c = await makeNode({ swarm: { trustedKeys: [publicKeyOf(key)] } })
  await c.host.dial(multiaddr(a.addr))
  const castore = withPeerSubstitution(c.castore, c.swarm.substituteFromPeers.bind(c.swarm), { budgetMs: 2000, onSubstituted: (i) => { substituted.push(i.storePath) } })
  cache = createBinaryCache({ castore, signing: { mode: 'none' }, listen: { host: '127.0.0.1', port: 0 } })
  await cache.start()
  url = cache.url!
})

afterAll(async () => {
  await cache?.stop()
  for (const n of [a, c]) { await n?.stop(); if (n !== undefined) await removeDir(n.dir) }
})

describe('HTTP facade with substitution through peers', () => {
  it('serves a narinfo and NAR it fetched from a peer on the miss', async () => {
    const info = await importSigned(a.castore, sampleTree(31), 'served-1.0', 31, key)
    const hashPart = splitStorePath(info.storePath).hashPart
    const res = await fetch(`${url}/${hashPart}.narinfo`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toContain(`StorePath: ${info.storePath}`)
    expect(text).toContain('Sig: swarm.test-1:')
    expect(substituted).toEqual([info.storePath])
    const narUrl = /^URL: (.*)$/m.exec(text)![1]
    const nar = Buffer.from(await (await fetch(`${url}/${narUrl}`)).arrayBuffer())
    expect(nar.equals(await exportBytes(a.castore, info.storePath))).toBe(true)
    expect(createHash('sha256').update(nar).digest('hex')).toBe(Buffer.from(info.narHash).toString('hex'))
  })

  it('answers 404 when no peer has the path', async () => {
    const res = await fetch(`${url}/${fakeHashPart(999)}.narinfo`)
    expect(res.status).toBe(404)
  })

  it('real nix copy --from the cache gets a path C fetched from the swarm', async () => {
    if (!requireTool('nix', 'nix')) return
    const info = await importSigned(a.castore, sampleTree(32, 200_000), 'nix-copied-1.0', 32, key)
    const dest = await mkdtemp(join(tmpdir(), 'ss-nixcopy-'))
    try {
      // async: the cache runs in this process, spawnSync would block it
      const r = await run('nix', [
        '--extra-experimental-features', 'nix-command', 'copy',
        '--option', 'trusted-public-keys', formatPublicKey(publicKeyOf(key)),
        '--option', 'substituters', '',
        '--from', url, '--to', `file://${dest}`, info.storePath
      ])
      expect(r.stderr).not.toMatch(/error/)
      expect(r.status).toBe(0)
      const files = await readdir(dest)
      expect(files).toContain(`${splitStorePath(info.storePath).hashPart}.narinfo`)
      expect(await c.castore.getPathInfo(info.storePath)).toBeDefined()
    } finally {
      await removeDir(dest)
    }
  })
})
