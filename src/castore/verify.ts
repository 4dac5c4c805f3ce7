/**
 * Consistency check of a castore: every PathInfo's closure is present, every blob re-hashes to
 * its digest with the size its entries claim, every directory decodes under its digest, and the
 * rendered NAR matches NarHash and NarSize. Reports problems instead of stopping at the first.
 */
import type { AbortOptions } from '../abort.ts'
import type { Castore } from './store.ts'
import { BlobHasher } from './blob-hashing.ts'
import { digestEquals, toHex } from './digest.ts'
import type { CastoreNode } from './directory.ts'
import { directoryEntries } from './directory.ts'

export interface VerifyProblem {
  storePath?: string
  object?: string
  problem: string
}

export interface VerifyReport {
  paths: number
  blobsChecked: number
  directoriesChecked: number
  problems: VerifyProblem[]
}

export interface VerifyOptions extends AbortOptions {
  /** also render each NAR and compare with NarHash (default true) */
  narHashes?: boolean
}

export async function verifyCastore (store: Castore, options: VerifyOptions = {}): Promise<VerifyReport> {
  const report: VerifyReport = { paths: 0, blobsChecked: 0, directoriesChecked: 0, problems: [] }
  const goodBlobs = new Map<string, boolean>()
  const goodDirs = new Map<string, boolean>()

  const checkBlob = async (node: Extract<CastoreNode, { type: 'file' }>, storePath: string): Promise<boolean> => {
    const key = toHex(node.digest)
    const known = goodBlobs.get(key)
    if (known !== undefined) return known
    let ok = false
    try {
      const stat = await store.blobs.stat(node.digest, options)
      if (stat === undefined) report.problems.push({ storePath, object: key, problem: 'blob missing' })
      else if (stat.size !== node.size) report.problems.push({ storePath, object: key, problem: `blob has ${stat.size} bytes, entry says ${node.size}` })
      else {
        const hasher = new BlobHasher(stat.size)
        for await (const piece of store.blobs.read(node.digest, options)) hasher.update(piece)
        const digest = hasher.finalize()
        if (!digestEquals(digest, node.digest)) report.problems.push({ storePath, object: key, problem: `blob content hashes to ${toHex(digest)}` })
        else ok = true
      }
    } catch (err: any) {
      report.problems.push({ storePath, object: key, problem: `blob unreadable: ${err.message}` })
    }
    report.blobsChecked++
    goodBlobs.set(key, ok)
    return ok
  }

  const checkNode = async (node: CastoreNode, storePath: string): Promise<boolean> => {
    if (node.type === 'symlink') return true
    if (node.type === 'file') return await checkBlob(node, storePath)
    const key = toHex(node.digest)
    const known = goodDirs.get(key)
    if (known !== undefined) return known
    let ok = true
    try {
      const dir = await store.directories.get(node.digest, options)
      report.directoriesChecked++
      if (dir === undefined) {
        report.problems.push({ storePath, object: key, problem: 'directory missing' })
        ok = false
      } else {
        for (const entry of directoryEntries(dir)) {
          if (!(await checkNode(entry.node, storePath))) ok = false
        }
      }
    } catch (err: any) {
      report.problems.push({ storePath, object: key, problem: `directory invalid: ${err.message}` })
      ok = false
    }
    goodDirs.set(key, ok)
    return ok
  }

  for await (const info of store.pathInfos.list(options)) {
    options.signal?.throwIfAborted()
    report.paths++
    const complete = await checkNode(info.node, info.storePath)
    if (complete && options.narHashes !== false) {
      try {
        for await (const piece of store.renderVerified(info, options)) void piece
      } catch (err: any) {
        report.problems.push({ storePath: info.storePath, problem: err.message })
      }
    }
  }
  return report
}
