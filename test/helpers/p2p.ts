/**
 * Test helpers for the p2p layer: loopback nodes (castore in a temp dir + libp2p host + swarm),
 * deterministic NAR trees, signing.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openCastore } from '../../src/castore/index.ts'
import type { Castore, PathInfo } from '../../src/castore/index.ts'
import { PartialBlobStore } from '../../src/castore/partial-blob.ts'
import { writeNar } from '../../src/nar/index.ts'
import type { NarSourceNode } from '../../src/nar/index.ts'
import { StorePath } from '../../src/nix/store-path.ts'
import { fingerprintPath } from '../../src/nix/fingerprint.ts'
import { signFingerprint, toPublicKey } from '../../src/nix/signing.ts'
import type { PublicKey, SecretKey } from '../../src/nix/signing.ts'
import { createHost, createSwarm } from '../../src/p2p/index.ts'
import type { Host, HostInit, Swarm, SwarmInit } from '../../src/p2p/index.ts'

export interface TestNode {
  dir: string
  castore: Castore
  host: Host
  swarm: Swarm
  addr: string
  stop: () => Promise<void>
}

export async function makeNode (opts: { dir?: string, host?: HostInit, swarm?: SwarmInit } = {}): Promise<TestNode> {
  const dir = opts.dir ?? await mkdtemp(join(tmpdir(), 'ss-p2p-'))
  const castore = await openCastore({ dataDir: dir, fsync: false })
  const host = await createHost({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    nat: false,
    allow: ['/ip4/127.0.0.0/ipcidr/8'],
    dht: { initialQuerySelfInterval: 0 },
    ...opts.host
  })
  const swarm = createSwarm({ host, castore, partials: new PartialBlobStore({ root: dir, fsync: false }) }, opts.swarm)
  await swarm.start()
  const addr = host.getMultiaddrs()[0].toString()
  let stopped = false
  return {
    dir,
    castore,
    host,
    swarm,
    addr,
    stop: async () => {
      if (stopped) return
      stopped = true
      await swarm.stop().catch(() => {})
      await Promise.resolve(host.stop()).catch(() => {})
      await castore.close().catch(() => {})
    }
  }
}

export async function removeDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function pattern (size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = (seed >>> 0) || 0x9e3779b9
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x; out[i + 1] = x >>> 8; out[i + 2] = x >>> 16; out[i + 3] = x >>> 24
  }
  return out
}

function file (data: Uint8Array, executable = false): NarSourceNode {
  return { type: 'regular', executable, size: data.length, contents: async function * () { yield data } }
}

/** A small tree: two files, a symlink, a subdirectory with a bigger file of `bigSize` bytes. */
export function sampleTree (seed: number, bigSize: number = 3 * 1024 * 1024 + 123): NarSourceNode {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
  const sub: NarSourceNode = {
    type: 'directory',
    entries: async function * () {
      yield { name: enc('big.bin'), node: file(pattern(bigSize, seed + 1)) }
      yield { name: enc('small'), node: file(pattern(5000, seed + 2), true) }
    }
  }
  return {
    type: 'directory',
    entries: async function * () {
      yield { name: enc('a.txt'), node: file(enc(`hello ${seed}\n`)) }
      yield { name: enc('bin'), node: sub }
      yield { name: enc('link'), node: { type: 'symlink', target: enc('a.txt') } }
    }
  }
}

const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'
export function fakeHashPart (seed: number): string {
  let s = ''
  let x = Math.imul(seed, 2654435761) >>> 0
  for (let i = 0; i < 32; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; s += NIX32[(x >>> 16) % 32] }
  return s
}

/** Imports `tree` as `/nix/store/<hash>-<name>`, signed by `key` when given. */
export async function importSigned (castore: Castore, tree: NarSourceNode, name: string, seed: number, key?: SecretKey, extra: Partial<PathInfo> = {}): Promise<PathInfo> {
  const storePath = `/nix/store/${fakeHashPart(seed)}-${name}`
  const { info } = await castore.importNar(writeNar(tree), { storePath, ca: extra.ca })
  const signed: PathInfo = { ...info, ...extra }
  if (key !== undefined) {
    const fp = fingerprintPath(StorePath.parse(storePath, '/nix/store'), { algorithm: 'sha256', digest: info.narHash }, info.narSize, info.references.map(r => r.slice(r.lastIndexOf('/') + 1)))
    signed.signatures = [signFingerprint(fp, key)]
  }
  await castore.pathInfos.put(signed)
  return signed
}

export function publicKeyOf (key: SecretKey): PublicKey {
  return toPublicKey(key)
}

/** Collects a NAR export into one buffer. */
export async function exportBytes (castore: Castore, path: string): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of castore.exportNar(path)) parts.push(p)
  return Buffer.concat(parts)
}
