/**
 * ERIS for store paths: the read capability of a path's **uncompressed NAR**, 32 KiB blocks,
 * null convergence secret (content-addressing.md §4.7) — a deterministic alternate address for
 * the same content, and the blocks behind it answered from local data.
 *
 * Block storage, decided by measurement (bench/eris.ts reports both sides):
 * - internal nodes (one per 512 leaves, ≈ 0.2 % of the content) are stored in the castore's
 *   key-value index, so the tree can be walked without any CPU work;
 * - leaves are **regenerated on demand** from castore: the NAR range of the leaf is rendered
 *   (seekable synthesis), encrypted (keyed BLAKE2b → ChaCha20) and checked against the requested
 *   reference before it is returned. Storing them would double the disk used by every path
 *   (blocks ≈ 1.002 × NAR size) to save ≈ 0.1 ms of CPU per 32 KiB block served.
 *   A leaf index (reference → store path, leaf number; 40 bytes per leaf) locates them.
 *
 * The index is advisory: entries of a path that was removed, or whose data no longer yields the
 * reference, make `getBlock` answer `undefined` (never a wrong block).
 */
import type { AbortOptions } from '../abort.ts'
import type { Castore } from '../castore/store.ts'
import type { PathInfo } from '../castore/path-info.ts'
import { splitStorePath } from '../castore/path-info.ts'
import type { KeyValueStore } from '../castore/level-stores.ts'
import { renderNarRange, NarSizeCache } from '../castore/nar-range.ts'
import { encodeEris } from './encode.ts'
import type { EncodeErisResult } from './encode.ts'
import { chacha20, keyedBlake2b256, unkeyedBlake2b256 } from './crypto.ts'
import { ERIS_BLOCK_SIZE_32KIB, CONVERGENCE_SECRET_LENGTH, PADDING_MARKER } from './constants.ts'

/** Name of the castore key-value namespace holding the index. */
export const ERIS_INDEX_NAMESPACE = 'eris'
/** Block size used for store paths (32 KiB, as Guix's proposal and the spec recommend for large content). */
export const STORE_PATH_BLOCK_SIZE = ERIS_BLOCK_SIZE_32KIB

const KIND_LEAF = 0
const KIND_NODE = 1
const BATCH = 512

export interface ErisEncodePathResult extends EncodeErisResult {
  leaves: number
  nodes: number
}

export class ErisPathIndex {
  private readonly castore: Castore
  private readonly index: KeyValueStore
  private readonly sizes = new NarSizeCache()

  constructor (castore: Castore) {
    this.castore = castore
    this.index = castore.kv(ERIS_INDEX_NAMESPACE)
  }

  /**
   * Encodes the path's NAR, records its internal nodes and leaf locations, and stores the URN in
   * its PathInfo (`eris`). Returns the updated encoding summary.
   */
  async encodePath (info: PathInfo, options: AbortOptions = {}): Promise<ErisEncodePathResult> {
    const { hashPart } = splitStorePath(info.storePath)
    let leaves = 0
    let nodes = 0
    let pending: Array<{ key: string, value: Uint8Array }> = []
    const flush = async (): Promise<void> => {
      const batch = pending
      pending = []
      await this.index.putMany(batch, options)
    }
    const result = await encodeEris(this.castore.renderVerified(info, options), {
      blockSize: STORE_PATH_BLOCK_SIZE,
      signal: options.signal,
      onBlock: async (reference, block, { level }) => {
        if (level === 0) {
          pending.push({ key: hex(reference), value: leafEntry(hashPart, leaves++) })
        } else {
          nodes++
          const value = new Uint8Array(block.length + 1)
          value[0] = KIND_NODE
          value.set(block, 1)
          pending.push({ key: hex(reference), value })
        }
        if (pending.length >= BATCH) await flush()
      }
    })
    await flush()
    const current = await this.castore.pathInfos.get(hashPart, options)
    if (current !== undefined && current.storePath === info.storePath && current.eris !== result.urn) {
      await this.castore.pathInfos.put({ ...current, eris: result.urn }, options)
    }
    return { ...result, leaves, nodes }
  }

  /** The block with this BLAKE2b-256 reference, from local data, or undefined. */
  async getBlock (reference: Uint8Array, options: AbortOptions = {}): Promise<Uint8Array | undefined> {
    const entry = await this.index.get(hex(reference), options)
    if (entry === undefined || entry.length === 0) return undefined
    if (entry[0] === KIND_NODE) {
      const block = entry.subarray(1)
      return (await sameReference(block, reference)) ? new Uint8Array(block) : undefined
    }
    const { hashPart, leaf } = parseLeafEntry(entry)
    const info = await this.castore.pathInfos.get(hashPart, options)
    if (info === undefined) return undefined
    const bs = STORE_PATH_BLOCK_SIZE
    const start = leaf * bs
    if (start > info.narSize) return undefined
    const plain = new Uint8Array(bs)
    let fill = 0
    for await (const piece of renderNarRange(info.node, this.castore, { offset: start, length: Math.min(bs, info.narSize - start), sizes: this.sizes, signal: options.signal })) {
      plain.set(piece, fill)
      fill += piece.byteLength
    }
    if (fill !== Math.min(bs, info.narSize - start)) return undefined
    if (fill < bs) plain[fill] = PADDING_MARKER
    const key = (await keyedBlake2b256(new Uint8Array(CONVERGENCE_SECRET_LENGTH))).digest(plain)
    const block = chacha20(key, 0, plain)
    return (await sameReference(block, reference)) ? block : undefined
  }
}

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function leafEntry (hashPart: string, leaf: number): Uint8Array {
  const text = Buffer.from(`${hashPart}:${leaf}`)
  const out = new Uint8Array(text.length + 1)
  out[0] = KIND_LEAF
  out.set(text, 1)
  return out
}

function parseLeafEntry (entry: Uint8Array): { hashPart: string, leaf: number } {
  const [hashPart, leaf] = Buffer.from(entry.subarray(1)).toString().split(':')
  return { hashPart, leaf: Number(leaf) }
}

async function sameReference (block: Uint8Array, reference: Uint8Array): Promise<boolean> {
  const actual = (await unkeyedBlake2b256()).digest(block)
  return Buffer.compare(actual, reference) === 0
}
