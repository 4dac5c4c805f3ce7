/**
 * Consistency check (fsck) of a castore, with optional repair.
 *
 * What is checked:
 * - every blob re-hashes (BLAKE3) to its name, and its stored outboard equals the one computed
 *   from the bytes (blobs > 16 KiB);
 * - every directory re-hashes to its key, decodes canonically, and every child directory it
 *   names is stored and sound (the DirectoryStore invariant: a directory has its closure);
 * - every PathInfo's root is present with its whole tree (directories and blobs, blob sizes as the
 *   entries claim), NarSize equals the size of the NAR the tree synthesises, and — with
 *   `narHashes` — the rendered NAR's sha256 equals NarHash;
 * - with `dataDir` (the on-disk layout): temp files, outboards without their blob, files that do
 *   not belong in `blobs/`, and partial-blob state (`partial/<hex>.ranges` records that parse,
 *   lie inside their blob, have their `.part` file, and name no blob that is already complete).
 *
 * Findings are of two kinds: `problems` are damage (something stored is wrong or missing;
 * `verify` exits 1), `leftovers` are the normal residue of an interrupted process (temp files,
 * an outboard renamed just before its blob, …) that `repair` tidies up.
 *
 * `repair` deletes corrupt blobs and directories (and directories left without their children),
 * rewrites a wrong or missing outboard of a sound blob, removes leftovers, and removes PathInfos
 * whose tree is no longer complete — listing each lost store path. It never deletes a sound
 * object. With `minAgeMs` (a node is running and writing), only leftovers older than that are
 * touched, and every removal is re-checked just before it is made.
 */
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { AbortOptions } from '../abort.ts'
import type { Castore } from './store.ts'
import { BlobHasher } from './blob-hashing.ts'
import { digestEquals, fromHex, toHex } from './digest.ts'
import type { B3Digest } from './digest.ts'
import type { CastoreNode } from './directory.ts'
import { directoryEntries } from './directory.ts'
import { FsBlobStore } from './fs-blob-store.ts'
import { narSizeOfNode } from './nar-range.ts'
import { splitStorePath } from './path-info.ts'
import type { PathInfo } from './path-info.ts'
import { ChunkRanges } from '../blake3/ranges.ts'
import { chunkCount } from '../blake3/tree.ts'

export type VerifyFindingKind =
  // damage
  | 'blob-corrupt' | 'blob-unreadable' | 'outboard-bad' | 'directory-corrupt' | 'directory-incomplete'
  | 'path-incomplete' | 'nar-size' | 'nar-hash' | 'partial-bad'
  // leftovers
  | 'temp-file' | 'orphan-outboard' | 'stray-file' | 'partial-done' | 'partial-unrecorded'

export interface VerifyProblem {
  kind: VerifyFindingKind
  storePath?: string
  object?: string
  problem: string
  /** set when `repair` fixed it */
  repaired?: boolean
}

export interface VerifyReport {
  paths: number
  blobsChecked: number
  directoriesChecked: number
  bytesHashed: number
  /** damage */
  problems: VerifyProblem[]
  /** residue of interrupted writes (not damage) */
  leftovers: VerifyProblem[]
  /** store paths whose PathInfo `repair` removed */
  lostPaths: string[]
  /** true when `repair` was asked for */
  repair: boolean
}

export interface VerifyOptions extends AbortOptions {
  /** also render each NAR and compare with NarHash (default true) */
  narHashes?: boolean
  /**
   * re-hash blob contents (default true); false: blobs referenced by paths are only checked to
   * exist with the right size (the daemon's `VerifyStore` without `checkContents`)
   */
  contents?: boolean
  /** fix what can be fixed (see the module comment) */
  repair?: boolean
  /** the data directory: also check temp files, stray files and partial blobs */
  dataDir?: string
  /** a node is writing to the store: leave leftovers younger than this alone */
  minAgeMs?: number
  /** bytes of blob data hashed so far */
  onProgress?: (bytesHashed: number) => void
}

const HEX = /^[0-9a-f]{64}$/
const SHARD = /^[0-9a-f]{2}$/
const SMALL_BLOB = 16384

type DirState = 'ok' | 'missing' | 'corrupt' | 'incomplete'

export async function verifyCastore (store: Castore, options: VerifyOptions = {}): Promise<VerifyReport> {
  const signal = options.signal
  const repair = options.repair === true
  const report: VerifyReport = { paths: 0, blobsChecked: 0, directoriesChecked: 0, bytesHashed: 0, problems: [], leftovers: [], lostPaths: [], repair }
  const fsStore = store.blobs instanceof FsBlobStore ? store.blobs : undefined
  const online = options.minAgeMs !== undefined
  const damage = (p: VerifyProblem): VerifyProblem => { report.problems.push(p); return p }
  const leftover = (p: VerifyProblem): VerifyProblem => { report.leftovers.push(p); return p }
  const oldEnough = async (file: string): Promise<boolean> => {
    if (!online) return true
    try { return Date.now() - (await stat(file)).mtimeMs >= options.minAgeMs! } catch { return false }
  }
  const remove = async (p: VerifyProblem, file: string): Promise<void> => {
    if (!repair || !(await oldEnough(file))) return
    await rm(file, { recursive: true, force: true })
    p.repaired = true
  }
  /** residue: reported (and removed on repair) only when old enough — a running node may be writing it */
  const residue = async (p: VerifyProblem, file: string): Promise<void> => {
    if (!(await oldEnough(file))) return
    await remove(leftover(p), file)
  }

  // ---- blobs: every stored blob, re-hashed, outboard compared --------------------------------
  /** hex → size of a sound blob; absent = missing or corrupt */
  const soundBlobs = new Map<string, number>()
  const badBlobs = new Set<string>()

  const checkBlob = async (digest: B3Digest): Promise<void> => {
    signal?.throwIfAborted()
    const hex = toHex(digest)
    if (soundBlobs.has(hex) || badBlobs.has(hex)) return
    const st = await store.blobs.stat(digest, { signal })
    if (st === undefined) return
    if (options.contents === false) { soundBlobs.set(hex, st.size); return }
    let computed: Uint8Array | undefined
    let outboard: Uint8Array | undefined
    try {
      const hasher = new BlobHasher(st.size)
      for await (const piece of store.blobs.read(digest, { signal })) {
        hasher.update(piece)
        report.bytesHashed += piece.byteLength
        options.onProgress?.(report.bytesHashed)
      }
      computed = hasher.finalize()
      outboard = hasher.outboard
    } catch (err: any) {
      signal?.throwIfAborted()
      // removed while we read it (a concurrent GC): not damage
      if ((await store.blobs.stat(digest, { signal })) === undefined) return
      report.blobsChecked++
      badBlobs.add(hex)
      const p = damage({ kind: 'blob-unreadable', object: hex, problem: `blob unreadable: ${err.message}` })
      if (repair) { await store.blobs.delete(digest, { signal }); p.repaired = true }
      return
    }
    report.blobsChecked++
    if (!digestEquals(computed, digest)) {
      badBlobs.add(hex)
      const p = damage({ kind: 'blob-corrupt', object: hex, problem: `blob content hashes to ${toHex(computed)}` })
      if (repair) { await store.blobs.delete(digest, { signal }); p.repaired = true }
      return
    }
    soundBlobs.set(hex, st.size)
    if (st.size <= SMALL_BLOB || outboard === undefined) return
    const stored = await store.blobs.outboard(digest, { signal })
    if (stored !== undefined && stored.byteLength === outboard.byteLength && Buffer.from(stored).equals(outboard)) return
    const p = damage({ kind: 'outboard-bad', object: hex, problem: stored === undefined ? 'outboard missing' : 'outboard does not match the blob' })
    if (repair && fsStore !== undefined) {
      await writeAtomically(fsStore, fsStore.dataPath(digest) + '.obao', outboard)
      p.repaired = true
    }
  }

  if (options.contents === false) {
    // referenced blobs are stat'ed on demand below
  } else if (fsStore !== undefined) {
    const top = join(fsStore.root, 'blobs')
    let shards: string[] = []
    try { shards = (await readdir(top)).sort() } catch (err: any) { if (err.code !== 'ENOENT') throw err }
    for (const shard of shards) {
      signal?.throwIfAborted()
      const shardDir = join(top, shard)
      if (!SHARD.test(shard)) {
        await residue({ kind: 'stray-file', object: `blobs/${shard}`, problem: 'not a blob shard' }, shardDir)
        continue
      }
      let names: string[]
      try { names = (await readdir(shardDir)).sort() } catch (err: any) {
        if (err.code === 'ENOTDIR') { await residue({ kind: 'stray-file', object: `blobs/${shard}`, problem: 'not a blob shard' }, shardDir); continue }
        throw err
      }
      const present = new Set(names)
      for (const name of names) {
        const file = join(shardDir, name)
        if (HEX.test(name) && name.startsWith(shard)) { await checkBlob(fromHex(name)); continue }
        const base = name.endsWith('.obao') ? name.slice(0, -5) : undefined
        if (base !== undefined && HEX.test(base) && base.startsWith(shard)) {
          if (present.has(base)) continue
          // an outboard is renamed into place just before its blob: one without a blob is residue
          if (!(await oldEnough(file))) continue
          const p = leftover({ kind: 'orphan-outboard', object: base, problem: 'outboard without its blob' })
          if (repair && (await oldEnough(file)) && !(await fsStore.has(fromHex(base)))) { await rm(file, { force: true }); p.repaired = true }
          continue
        }
        await residue({ kind: 'stray-file', object: `blobs/${shard}/${name}`, problem: 'not a blob or outboard of this shard' }, file)
      }
    }
  } else {
    for await (const digest of store.blobs.list({ signal })) await checkBlob(digest)
  }

  const blobOk = async (hex: string, digest: B3Digest): Promise<boolean> => {
    if (soundBlobs.has(hex)) return true
    if (badBlobs.has(hex)) return false
    await checkBlob(digest) // stored after the scan started
    return soundBlobs.has(hex)
  }

  // ---- directories: each re-hashed and decoded, child directories present and sound ----------
  const dirStates = new Map<string, DirState>()
  const dirState = async (digest: B3Digest): Promise<DirState> => {
    const hex = toHex(digest)
    const known = dirStates.get(hex)
    if (known !== undefined) return known
    signal?.throwIfAborted()
    let state: DirState = 'ok'
    try {
      const dir = await store.directories.get(digest, { signal })
      if (dir === undefined) state = 'missing'
      else {
        report.directoriesChecked++
        for (const child of dir.directories) {
          if ((await dirState(child.digest)) !== 'ok') state = 'incomplete'
        }
      }
    } catch (err: any) {
      signal?.throwIfAborted()
      report.directoriesChecked++
      state = 'corrupt'
      const p = damage({ kind: 'directory-corrupt', object: hex, problem: `directory invalid: ${err.message}` })
      if (repair) { await store.directories.delete(digest, { signal }); p.repaired = true }
    }
    dirStates.set(hex, state)
    return state
  }
  for await (const digest of store.directories.list({ signal })) {
    if ((await dirState(digest)) !== 'incomplete') continue
    const hex = toHex(digest)
    const p = damage({ kind: 'directory-incomplete', object: hex, problem: 'directory refers to a child directory that is missing or damaged' })
    if (repair) { await store.directories.delete(digest, { signal }); p.repaired = true }
  }

  // ---- path infos: whole tree present, NarSize (and NarHash) right ---------------------------
  /** directory hex → every blob below it sound with the size its entry claims */
  const treeComplete = new Map<string, string | undefined>()
  const missingIn = async (node: CastoreNode): Promise<string | undefined> => {
    if (node.type === 'symlink') return undefined
    const hex = toHex(node.digest)
    if (node.type === 'file') {
      if (!(await blobOk(hex, node.digest))) return `blob ${hex} missing or damaged`
      const size = soundBlobs.get(hex)
      return size === node.size ? undefined : `blob ${hex} has ${size} bytes, its entry says ${node.size}`
    }
    if (treeComplete.has(hex)) return treeComplete.get(hex)
    let why: string | undefined
    const state = await dirState(node.digest)
    if (state !== 'ok') why = `directory ${hex} ${state}`
    else {
      try {
        const dir = await store.directories.get(node.digest, { signal })
        if (dir === undefined) why = `directory ${hex} missing`
        else {
          for (const entry of directoryEntries(dir)) {
            why = await missingIn(entry.node)
            if (why !== undefined) break
          }
        }
      } catch (err: any) {
        signal?.throwIfAborted()
        why = `directory ${hex} invalid: ${err.message}`
      }
    }
    treeComplete.set(hex, why)
    return why
  }

  const doomed: Array<{ info: PathInfo, p: VerifyProblem }> = []
  const sizes = new Map<string, number>()
  for await (const info of store.pathInfos.list({ signal })) {
    signal?.throwIfAborted()
    report.paths++
    const why = await missingIn(info.node)
    if (why !== undefined) {
      doomed.push({ info, p: damage({ kind: 'path-incomplete', storePath: info.storePath, problem: `incomplete: ${why}` }) })
      continue
    }
    let narSize: number | undefined
    try {
      narSize = await narSizeOfNode(info.node, store, { signal, sizes })
    } catch (err: any) {
      signal?.throwIfAborted()
      doomed.push({ info, p: damage({ kind: 'path-incomplete', storePath: info.storePath, problem: `NAR size not computable: ${err.message}` }) })
      continue
    }
    if (narSize !== info.narSize) {
      doomed.push({ info, p: damage({ kind: 'nar-size', storePath: info.storePath, problem: `tree synthesises a NAR of ${narSize} bytes, NarSize says ${info.narSize}` }) })
      continue
    }
    if (options.narHashes !== false) {
      try {
        for await (const piece of store.renderVerified(info, { signal })) void piece
      } catch (err: any) {
        signal?.throwIfAborted()
        doomed.push({ info, p: damage({ kind: 'nar-hash', storePath: info.storePath, problem: err.message }) })
      }
    }
  }
  if (repair) {
    for (const { info, p } of doomed) {
      const hashPart = splitStorePath(info.storePath).hashPart
      const now = await store.pathInfos.get(hashPart, { signal })
      // re-imported or removed meanwhile: leave it to the next run
      if (now === undefined || now.storePath !== info.storePath || toHex(now.node.type === 'symlink' ? new Uint8Array(0) : now.node.digest) !== toHex(info.node.type === 'symlink' ? new Uint8Array(0) : info.node.digest)) continue
      await store.pathInfos.delete(hashPart, { signal })
      p.repaired = true
      report.lostPaths.push(info.storePath)
    }
  }

  // ---- on-disk residue: tmp/, partial/ ----------------------------------------------------
  if (options.dataDir !== undefined) {
    const tmpDir = join(options.dataDir, 'tmp')
    for (const name of await listDir(tmpDir)) {
      await residue({ kind: 'temp-file', object: `tmp/${name}`, problem: 'temp file of an interrupted write' }, join(tmpDir, name))
    }
    await checkPartials(join(options.dataDir, 'partial'), store, { leftover, damage, remove, residue, oldEnough, signal })
  }
  return report
}

interface PartialCheck extends AbortOptions {
  leftover: (p: VerifyProblem) => VerifyProblem
  damage: (p: VerifyProblem) => VerifyProblem
  remove: (p: VerifyProblem, file: string) => Promise<void>
  residue: (p: VerifyProblem, file: string) => Promise<void>
  oldEnough: (file: string) => Promise<boolean>
}

async function checkPartials (dir: string, store: Castore, c: PartialCheck): Promise<void> {
  const names = await listDir(dir)
  const present = new Set(names)
  for (const name of names) {
    c.signal?.throwIfAborted()
    const file = join(dir, name)
    const m = /^([0-9a-f]{64})\.(part|ranges)$/.exec(name)
    if (m === null) {
      const kind = /^\.[0-9a-f]{64}\.[0-9a-f]+\.tmp$/.test(name) ? 'temp-file' : 'stray-file'
      await c.residue({ kind, object: `partial/${name}`, problem: kind === 'temp-file' ? 'temp file of an interrupted record write' : 'not a partial blob file' }, file)
      continue
    }
    const [, hex, ext] = m
    if (await store.blobs.has(fromHex(hex), { signal: c.signal })) {
      await c.residue({ kind: 'partial-done', object: `partial/${name}`, problem: 'partial file of a blob that is complete' }, file)
      continue
    }
    if (ext === 'part') {
      if (!present.has(`${hex}.ranges`) && await c.oldEnough(file)) {
        // bytes written before the first record: unverified as far as we know, fetched again
        c.leftover({ kind: 'partial-unrecorded', object: `partial/${name}`, problem: 'partial data without a ranges record (will be fetched again)' })
      }
      continue
    }
    let why: string | undefined
    try {
      const json = JSON.parse(await readFile(file, 'utf8'))
      if (!Number.isSafeInteger(json?.size) || json.size < 0) why = 'bad size'
      else if (!Array.isArray(json.ranges)) why = 'no ranges'
      else {
        const ranges = ChunkRanges.fromBoundaries(json.ranges)
        const within = ranges.intersection(ChunkRanges.from(0, chunkCount(json.size)))
        if (!within.equals(ranges)) why = `ranges reach past the blob's ${json.size} bytes`
        else if (!present.has(`${hex}.part`)) {
          if (!ranges.isEmpty()) why = 'records verified ranges but the .part file is missing'
        } else {
          const partSize = (await stat(join(dir, `${hex}.part`))).size
          if (partSize > json.size) why = `.part has ${partSize} bytes, more than the blob's ${json.size}`
        }
      }
    } catch (err: any) {
      // finished or dropped since the directory was listed (a running node): nothing to check
      if (err.code === 'ENOENT') continue
      why = `unreadable record: ${err.message}`
    }
    if (why !== undefined) {
      const p = c.damage({ kind: 'partial-bad', object: `partial/${name}`, problem: why })
      // the download starts afresh without its record; the data file goes with it
      await c.remove(p, file)
      if (p.repaired === true) await rm(join(dir, `${hex}.part`), { force: true })
    }
  }
}

async function listDir (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch (err: any) {
    if (err.code === 'ENOENT') return []
    throw err
  }
}

async function writeAtomically (blobs: FsBlobStore, dest: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(blobs.root, 'tmp', `verify-${randomBytes(8).toString('hex')}`)
  const fh = await open(tmp, 'wx')
  try {
    await fh.write(bytes, 0, bytes.byteLength, 0)
    await fh.sync()
  } finally { await fh.close() }
  await rename(tmp, dest)
  const d = await open(join(dest, '..'), 'r')
  try { await d.sync() } finally { await d.close() }
}

/** True when the report holds damage that was not repaired. */
export function verifyFoundDamage (report: VerifyReport): boolean {
  return report.problems.some(p => p.repaired !== true)
}
