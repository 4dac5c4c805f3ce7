/**
 * Test helper for the metrics / status tests: a real node (`startNode`, HTTP on 127.0.0.1:0,
 * no p2p, data in a temp dir) holding the real-nix `tree` fixture path, plus small HTTP helpers.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import { startNode } from '../node/serve.ts'
import type { RunningNode, ServeOptions } from '../node/serve.ts'
import { fixture } from './fixtures.ts'

export const TREE = '/nix/store/mbig2lb0l0g5haak3zgg7lkjsypn90pw-tree'
export const TREE_HASH = 'mbig2lb0l0g5haak3zgg7lkjsypn90pw'
export const TREE_NAR_SIZE = 2000
/** a hash part no store holds */
export const MISSING_HASH = '00000000000000000000000000000000'

export interface TestNode {
  node: RunningNode
  dir: string
  daemonSocket?: string
  dataDir: string
  url: string
  close: () => Promise<void>
}

/** `withDaemon`: a daemon socket at `<dir>/daemon.sock` (none otherwise) */
export async function startTestNode (options: Partial<ServeOptions> & { withDaemon?: boolean } = {}): Promise<TestNode> {
  await loadKernel()
  const dir = await mkdtemp(join(tmpdir(), 'storeswarm-status-'))
  const dataDir = join(dir, 'data')
  const store = await openCastore({ dataDir, fsync: false })
  try {
    await store.importNar([await readFile(fixture('real-nix', 'tree', 'tree.nar'))], { storePath: TREE })
  } finally {
    await store.close()
  }
  const { withDaemon, ...rest } = options
  const node = await startNode({ dataDir, http: '127.0.0.1:0', daemonSocket: withDaemon === true ? join(dir, 'daemon.sock') : false, eris: false, log: () => {}, ...rest })
  return {
    node,
    dir,
    dataDir,
    ...(node.daemon !== undefined ? { daemonSocket: node.daemon.path } : {}),
    url: node.nix.url!,
    close: async () => {
      await node.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** GET a path; returns status, headers and body text. */
export async function get (base: string, path: string): Promise<{ status: number, type: string, text: string }> {
  const res = await fetch(base + path)
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() }
}

/** The NAR URL from a narinfo. */
export function narUrl (narinfo: string): string {
  const m = /^URL: (.+)$/m.exec(narinfo)
  if (m === null) throw new Error(`no URL in narinfo:\n${narinfo}`)
  return m[1]
}

/** Value of one sample in a Prometheus exposition (undefined when absent). */
export function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const got: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[l[1]] = l[2]
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(m[3])
  }
  return undefined
}
