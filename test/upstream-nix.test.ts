/**
 * Pull-through with the real Nix 2.8 client: a node (`startNode`, as `storeswarm serve` runs it)
 * whose first upstream is dead and second a mock cache on loopback; `nix-store -r` into a chroot
 * store, trusting only the node's key, substitutes a closure the node pulls through. The node
 * then holds the paths, and Nix checks every NarHash itself.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { requireTool } from './helpers/tools.ts'
import { nixRun, CHROOT_OPTS } from './helpers/nix.ts'
import { makeNar, mockPath, startMockUpstream, deadPort, randomStorePath } from './helpers/mock-upstream.ts'
import type { MockUpstream } from './helpers/mock-upstream.ts'
import { generateSigningKey, formatPublicKey, toPublicKey } from '../src/nix/signing.ts'
import { startNode } from '../node/serve.ts'
import type { RunningNode } from '../node/serve.ts'

const hasNix = requireTool('nix-store', 'nix-bin') && requireTool('xz', 'xz-utils')

let work: string
let up: MockUpstream
let node: RunningNode
let nodeKey: string
const key = generateSigningKey('upstream-nix-test-1')

beforeAll(async () => {
  if (!hasNix) return
  work = await mkdtemp(join(tmpdir(), 'storeswarm-upstream-nix-'))
}, 60_000)

afterAll(async () => {
  await node?.stop()
  await up?.close()
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

describe.skipIf(!hasNix)('real Nix through the pull-through node', () => {
  it('nix-store -r substitutes a closure the node pulls from its upstream past a dead one', async () => {
    const dep = mockPath({ name: 'dep-1.0', nar: await makeNar({ 'lib.so': randomBytes(300_000) }), compression: 'xz' }, key)
    const appPath = randomStorePath('app-1.0')
    const app = mockPath({ storePath: appPath, nar: await makeNar({ app: Buffer.from(`#!/bin/sh\necho ${dep.storePath}\n`), blob: randomBytes(1_500_000) }), compression: 'zstd', references: [dep.storePath, appPath] }, key)
    up = await startMockUpstream([dep, app])
    const lines: string[] = []
    node = await startNode({
      dataDir: join(work, 'node'),
      http: '127.0.0.1:0',
      daemonSocket: false,
      eris: false,
      keyName: 'storeswarm-upstream-test-1',
      upstreams: [
        { url: `http://127.0.0.1:${await deadPort()}`, publicKeys: [formatPublicKey(toPublicKey(key))] },
        { url: up.url, publicKeys: [formatPublicKey(toPublicKey(key))], timeoutMs: 5_000 }
      ],
      log: (l) => lines.push(l)
    })
    nodeKey = /trusted-public-keys = (\S+)/.exec(lines.join('\n'))![1]
    expect(node.upstream).toBeDefined()
    const store = join(work, 'dest')
    const r = await nixRun('nix-store', ['--store', store, ...CHROOT_OPTS, '-r', app.storePath, '--option', 'substituters', node.nix.url!, '--option', 'trusted-public-keys', nodeKey, '--option', 'require-sigs', 'true'], join(work, 'home'), 120_000)
    expect(r.stderr).not.toMatch(/error/i)
    expect(r.code).toBe(0)
    const q = await nixRun('nix-store', ['--store', store, ...CHROOT_OPTS, '-qR', app.storePath], join(work, 'home'))
    expect(q.stdout.trim().split('\n').sort()).toEqual([app.storePath, dep.storePath].sort())
    const v = await nixRun('nix-store', ['--store', store, ...CHROOT_OPTS, '--verify', '--check-contents'], join(work, 'home'))
    expect(v.code).toBe(0)
    const stats = node.upstream!.stats().upstreams
    expect(stats[1]).toMatchObject({ hits: 2, failures: 0, state: 'closed' })
    expect(stats[0].state).toBe('open')
    expect(stats[0].requests).toBe(0)
  }, 120_000)
})
