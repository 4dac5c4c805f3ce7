/**
 * LAN discovery with real mDNS between two network namespaces created here (veth pair with a
 * multicast route, no uplink): B, started with only `--mdns`, discovers A and fetches a path
 * from it. Needs root and iproute2; under CI=true a missing `ip` fails instead of skipping.
 * mDNS is never enabled outside the namespaces this test creates; they are always removed.
 */
import { describe, it, expect, afterAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import { generateSigningKey, formatPublicKey } from '../src/nix/signing.ts'
import { controlRequest } from '../node/p2p.ts'
import { sampleTree, importSigned, publicKeyOf, exportBytes, removeDir } from './helpers/p2p.ts'
import { spawnNode } from './helpers/p2p-proc.ts'
import type { ProcNode } from './helpers/p2p-proc.ts'
import { requireTool } from './helpers/tools.ts'

const tag = String(process.pid % 100000)
const NS_A = `ss-mdns-a-${tag}`
const NS_B = `ss-mdns-b-${tag}`
const VETH_A = `ssa${tag}`
const VETH_B = `ssb${tag}`
const procs: ProcNode[] = []
const dirs: string[] = []

function ip (...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`)
}

function cleanup (): void {
  for (const ns of [NS_A, NS_B]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
}

afterAll(async () => {
  for (const p of procs) await p.stop()
  cleanup()
  for (const d of dirs) await removeDir(d)
})

describe('mDNS between two network namespaces', () => {
  it('a node started with --mdns finds its LAN neighbour and fetches from it', async () => {
    if (!requireTool('ip', 'iproute2')) return
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('the mDNS namespace test needs root under CI')
      return
    }
    cleanup()
    ip('netns', 'add', NS_A)
    ip('netns', 'add', NS_B)
    ip('link', 'add', VETH_A, 'netns', NS_A, 'type', 'veth', 'peer', 'name', VETH_B, 'netns', NS_B)
    ip('-n', NS_A, 'addr', 'add', '10.231.0.1/24', 'dev', VETH_A)
    ip('-n', NS_B, 'addr', 'add', '10.231.0.2/24', 'dev', VETH_B)
    for (const [ns, dev] of [[NS_A, VETH_A], [NS_B, VETH_B]]) {
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      ip('-n', ns, 'link', 'set', dev, 'up')
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', dev)
      // the namespace must hold nothing but lo and our veth: mDNS multicasts on every interface
      const links = spawnSync('ip', ['-n', ns, '-o', 'link'], { encoding: 'utf8' }).stdout
      const names = links.split('\n').filter(l => l !== '').map(l => l.split(':')[1].trim().split('@')[0])
      expect(names.sort()).toEqual([dev, 'lo'].sort())
    }

    await loadKernel()
    const key = generateSigningKey('lan.test-1')
    const trust = ['--trusted-public-key', formatPublicKey(publicKeyOf(key))]
    const [da, db] = [await mkdtemp(join(tmpdir(), 'ss-mdns-')), await mkdtemp(join(tmpdir(), 'ss-mdns-'))]
    dirs.push(da, db)
    const store = await openCastore({ dataDir: da, fsync: false })
    const info = await importSigned(store, sampleTree(55, 300_000), 'lan-1.0', 55, key)
    const original = await exportBytes(store, info.storePath)
    await store.close()

    const a = await spawnNode(da, [...trust, '--mdns', '--listen', '/ip4/10.231.0.1/tcp/0'], ['ip', 'netns', 'exec', NS_A]); procs.push(a)
    const b = await spawnNode(db, [...trust, '--mdns', '--listen', '/ip4/10.231.0.2/tcp/0'], ['ip', 'netns', 'exec', NS_B]); procs.push(b)
    // discovery (bounded): B's node dials what mDNS reports
    let seen = false
    for (let i = 0; i < 100 && !seen; i++) {
      const peers = await controlRequest(db, 'peers', []) as any
      seen = peers.peers.some((p: any) => p.id === a.peerId)
      if (!seen) await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect(seen).toBe(true)
    const r = await controlRequest(db, 'fetch', [info.storePath]) as any
    expect(r.storePath).toBe(info.storePath)
    await b.stop()
    const bs = await openCastore({ dataDir: db, fsync: false })
    try {
      expect((await exportBytes(bs, info.storePath)).equals(original)).toBe(true)
    } finally {
      await bs.close()
    }
  })
})
