/**
 * Swarm downloader: fetches a castore tree (or one blob) from several providers at once.
 *
 * - Directories first: one closure request, every directory verified by digest and linked to
 *   the root (fetch-protocol.ts), stored leaves first only after the blobs are in.
 * - Blobs already held are skipped (dedup across paths and across Nix and Guix).
 * - Small blobs (≤ SMALL_BLOB) go in one request to the least busy fast peer.
 * - Large blobs are split into group-aligned pieces; every provider runs workers that take the
 *   next piece (faster peers take several pieces at once: weighting by measured speed). When no
 *   piece is left, idle workers duplicate the pieces still in flight (end game); the first
 *   verified copy wins and the others are cancelled.
 * - Per-peer idle timeout; a peer that sends one bad group (or a wrong size) is banned and its
 *   piece goes back to the queue; the download continues from the others.
 * - Verified bytes go to a PartialBlob (castore/partial-blob.ts) whose verified ranges are
 *   recorded durably, so an interrupted download — peer gone, node restarted — resumes from
 *   its verified ranges; the complete blob is moved into the BlobStore (re-hashed there).
 */
import type { Stream } from '@libp2p/interface'
import { TypedEventEmitter } from '@libp2p/interface'
import type { AbortOptions } from '../abort.ts'
import { ChunkRanges, chunkCount } from '../blake3/index.ts'
import type { DecodedData } from '../blake3/index.ts'
import type { BlobStore } from '../castore/blob-store.ts'
import type { DirectoryStore } from '../castore/directory-store.ts'
import { directoryEntries } from '../castore/directory.ts'
import type { CastoreNode, Directory } from '../castore/directory.ts'
import { toHex } from '../castore/digest.ts'
import type { PartialBlob, PartialBlobStore } from '../castore/partial-blob.ts'
import { BLOB_CONCURRENCY, FETCH_PROTOCOL, IDLE_TIMEOUT_MS, PIECE_GROUPS, SMALL_BLOB } from './constants.ts'
import { NoProvidersError, NotHeldError, PeerMisbehavedError } from './errors.ts'
import { fetchBlobOnStream, fetchDirectoriesOnStream } from './fetch-protocol.ts'
import type { PeerScores } from './peer-scores.ts'

/** Opens a stream to `peer` (a peer id string) on `protocol`. */
export type OpenStream = (peer: string, protocol: string, options?: AbortOptions) => Promise<Stream>

export interface DownloaderComponents {
  blobs: BlobStore
  directories: DirectoryStore
  partials: PartialBlobStore
  scores: PeerScores
  openStream: OpenStream
}

export interface DownloaderInit {
  /** groups per piece (default 64 = 1 MiB) */
  pieceGroups?: number
  /** concurrent requests per peer per blob (default 2) */
  requestsPerPeer?: number
  /** idle timeout per request (default 10 s) */
  idleTimeoutMs?: number
  /** blobs fetched at once (default 8) */
  blobConcurrency?: number
  /** blobs up to this size are fetched whole into memory (default 1 MiB) */
  smallBlob?: number
  /** record verified ranges durably at least every this many bytes (default 16 MiB) */
  flushBytes?: number
}

export interface DownloadEvents {
  /** verified blob bytes received from a peer */
  'verified': CustomEvent<{ peer: string, digest: string, offset: number, bytes: number }>
  'blob:complete': CustomEvent<{ digest: string, size: number }>
  'peer:dropped': CustomEvent<{ peer: string, digest: string, reason: string }>
}

/** Largest contiguous run of verified data written at once. */
const WRITE_RUN = 1024 * 1024

export interface FetchBlobOptions extends AbortOptions {
  /** the blob's size (from a verified directory entry or path info) */
  size: number
}

interface Piece {
  start: number
  end: number
  /** workers currently fetching this piece */
  active: Set<AbortController>
  attempts: Set<string>
  done: boolean
}

export class Downloader extends TypedEventEmitter<DownloadEvents> {
  private readonly components: DownloaderComponents
  private readonly pieceGroups: number
  private readonly requestsPerPeer: number
  private readonly idleTimeoutMs: number
  private readonly blobConcurrency: number
  private readonly smallBlob: number
  private readonly flushBytes: number
  private readonly active = new Map<string, number>()
  private readonly running = new Map<string, Promise<void>>()

  constructor (components: DownloaderComponents, init: DownloaderInit = {}) {
    super()
    this.components = components
    this.pieceGroups = init.pieceGroups ?? PIECE_GROUPS
    this.requestsPerPeer = init.requestsPerPeer ?? 2
    this.idleTimeoutMs = init.idleTimeoutMs ?? IDLE_TIMEOUT_MS
    this.blobConcurrency = init.blobConcurrency ?? BLOB_CONCURRENCY
    this.smallBlob = init.smallBlob ?? SMALL_BLOB
    this.flushBytes = init.flushBytes ?? 16 * 1024 * 1024
  }

  /**
   * Makes the whole castore tree of `node` present locally: directories (verified closure) and
   * every missing blob. Throws `NoProvidersError` when some object could not be fetched from
   * any of `peers` (what was verified stays, for a resume).
   */
  async fetchTree (node: CastoreNode, peers: string[], options: AbortOptions = {}): Promise<void> {
    if (node.type === 'symlink') return
    if (node.type === 'file') {
      await this.fetchBlob(node.digest, peers, { ...options, size: node.size })
      return
    }
    let dirs: Directory[] = []
    if (!(await this.components.directories.has(node.digest, options))) {
      dirs = await this.fetchDirectories(node.digest, peers, options)
    } else {
      for await (const { directory } of this.components.directories.getRecursive(node.digest, options)) dirs.push(directory)
    }
    const files = new Map<string, { digest: Uint8Array, size: number }>()
    for (const dir of dirs) {
      for (const { node: child } of directoryEntries(dir)) {
        if (child.type === 'file') files.set(toHex(child.digest), { digest: child.digest, size: child.size })
      }
    }
    const missing: Array<{ digest: Uint8Array, size: number }> = []
    for (const f of files.values()) {
      if (!(await this.components.blobs.has(f.digest, options))) missing.push(f)
    }
    // large blobs first: they take longest and benefit from every peer
    missing.sort((a, b) => b.size - a.size)
    let next = 0
    let failure: unknown
    const worker = async (): Promise<void> => {
      while (next < missing.length && failure === undefined) {
        const f = missing[next++]
        try {
          await this.fetchBlob(f.digest, peers, { ...options, size: f.size })
        } catch (err) {
          failure ??= err
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.blobConcurrency, missing.length) }, worker))
    if (failure !== undefined) throw failure
    // all blobs are in: directories can be committed (leaves first, as received)
    if (!(await this.components.directories.has(node.digest, options))) {
      await (this.components.blobs as BlobStore & { sync?: () => Promise<void> }).sync?.()
      await this.components.directories.put(dirs, options)
    }
  }

  /** Fetches the verified directory closure of `root` from the first peer that has it (not stored yet). */
  async fetchDirectories (root: Uint8Array, peers: string[], options: AbortOptions = {}): Promise<Directory[]> {
    const errors: string[] = []
    for (const peer of this.components.scores.rank(peers)) {
      options.signal?.throwIfAborted()
      try {
        const stream = await this.components.openStream(peer, FETCH_PROTOCOL, options)
        return await fetchDirectoriesOnStream(stream, root, {
          ...options,
          idleTimeoutMs: this.idleTimeoutMs,
          have: async d => await this.components.directories.has(d, options)
        })
      } catch (err: any) {
        options.signal?.throwIfAborted()
        this.judge(peer, toHex(root), err)
        errors.push(`${peer}: ${err.name}: ${err.message}`)
      }
    }
    throw new NoProvidersError(`no peer delivered directory ${toHex(root)}${errors.length > 0 ? ` (${errors.join('; ')})` : ''}`)
  }

  /** Fetches one blob into the BlobStore (no-op if held). Concurrent calls for one digest share the work. */
  async fetchBlob (digest: Uint8Array, peers: string[], options: FetchBlobOptions): Promise<void> {
    const hex = toHex(digest)
    const running = this.running.get(hex)
    if (running !== undefined) return await running
    const p = (async () => {
      if (await this.components.blobs.has(digest, options)) return
      if (options.size <= this.smallBlob) await this.fetchSmall(digest, hex, peers, options)
      else await this.fetchLarge(digest, hex, peers, options)
      this.safeDispatchEvent('blob:complete', { detail: { digest: hex, size: options.size } })
    })()
    this.running.set(hex, p)
    try {
      await p
    } finally {
      this.running.delete(hex)
    }
  }

  private judge (peer: string, digest: string, err: any): 'drop' | 'retry' | 'abort' {
    if (err?.name === 'AbortError' || err?.name === 'TimeoutError') {
      // our own cancellation (end game, caller) is not the peer's fault
      return 'abort'
    }
    if (err instanceof PeerMisbehavedError) {
      this.components.scores.ban(peer, err.message)
      this.safeDispatchEvent('peer:dropped', { detail: { peer, digest, reason: err.message } })
      return 'drop'
    }
    if (err instanceof NotHeldError) return 'drop'
    this.components.scores.penalise(peer, 5, `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`)
    return 'retry'
  }

  private pickPeer (peers: string[], tried: Set<string>): string | undefined {
    let best: string | undefined
    let bestCost = Infinity
    for (const p of this.components.scores.rank(peers)) {
      if (tried.has(p)) continue
      const cost = ((this.active.get(p) ?? 0) + 1) / this.components.scores.speed(p)
      if (cost < bestCost) {
        best = p
        bestCost = cost
      }
    }
    return best
  }

  private async fetchSmall (digest: Uint8Array, hex: string, peers: string[], options: FetchBlobOptions): Promise<void> {
    const tried = new Set<string>()
    const errors: string[] = []
    while (true) {
      options.signal?.throwIfAborted()
      const peer = this.pickPeer(peers, tried)
      if (peer === undefined) break
      tried.add(peer)
      this.active.set(peer, (this.active.get(peer) ?? 0) + 1)
      const buf = new Uint8Array(options.size)
      const t0 = performance.now()
      try {
        const stream = await this.components.openStream(peer, FETCH_PROTOCOL, options)
        const result = await fetchBlobOnStream(stream, digest, {
          signal: options.signal,
          size: options.size,
          idleTimeoutMs: this.idleTimeoutMs,
          onData: (item: DecodedData) => {
            buf.set(item.data, item.offset)
            this.safeDispatchEvent('verified', { detail: { peer, digest: hex, offset: item.offset, bytes: item.data.byteLength } })
          }
        })
        if (!result.verified.covers(0, chunkCount(options.size))) throw new PeerMisbehavedError('response did not cover the blob')
        this.components.scores.recordTransfer(peer, result.bytes, performance.now() - t0)
        await this.components.blobs.put([buf], { size: options.size, expected: digest, signal: options.signal })
        return
      } catch (err: any) {
        options.signal?.throwIfAborted()
        this.judge(peer, hex, err)
        errors.push(`${peer}: ${err.name}: ${err.message}`)
      } finally {
        this.active.set(peer, (this.active.get(peer) ?? 1) - 1)
      }
    }
    throw new NoProvidersError(`no peer delivered blob ${hex}${errors.length > 0 ? ` (${errors.join('; ')})` : ''}`)
  }

  private async fetchLarge (digest: Uint8Array, hex: string, peers: string[], options: FetchBlobOptions): Promise<void> {
    const size = options.size
    const chunks = chunkCount(size)
    const partial = await this.components.partials.open(digest, size, options)
    let finalized = false
    try {
      // pieces: at most `pieceGroups` groups, but small enough that every peer gets ~16 of them
      // (a short tail for the end game); never below 16 groups (256 KiB)
      const groups = Math.ceil(chunks / 16)
      const livePeers = Math.max(1, this.components.scores.rank(peers).length)
      const unit = 16 * Math.max(Math.min(16, this.pieceGroups), Math.min(this.pieceGroups, Math.ceil(groups / (livePeers * 16))))
      const pieces: Piece[] = []
      for (let s = 0; s < chunks; s += unit) {
        const e = Math.min(s + unit, chunks)
        pieces.push({ start: s, end: e, active: new Set(), attempts: new Set(), done: partial.verified.covers(s, e) })
      }
      // chunks verified and received (possibly still being written): what no one needs to fetch again
      const state = { unflushed: 0, lastFlush: performance.now(), received: partial.verified }
      let changed: () => void = () => {}
      let changedP = new Promise<void>(resolve => { changed = resolve })
      const signalChange = (): void => {
        const c = changed
        changedP = new Promise<void>(resolve => { changed = resolve })
        c()
      }
      const remaining = (): boolean => pieces.some(p => !p.done)
      const dropped = new Set<string>()
      const peerFailures = new Map<string, number>()

      const take = (peer: string): Piece[] | undefined => {
        // weight by speed: a peer twice as fast as the median takes two pieces at once (max 4)
        const ranked = this.components.scores.rank(peers).filter(p => !dropped.has(p))
        const speeds = ranked.map(p => this.components.scores.speed(p)).sort((a, b) => a - b)
        const median = speeds[Math.floor(speeds.length / 2)] ?? 1
        const k = Math.max(1, Math.min(4, Math.floor(this.components.scores.speed(peer) / median)))
        const out: Piece[] = []
        for (const p of pieces) {
          if (p.done || p.active.size > 0 || p.attempts.has(peer)) {
            if (out.length > 0) break
            continue
          }
          out.push(p)
          if (out.length >= k) break
        }
        if (out.length > 0) return out
        // end game: duplicate an in-flight piece this peer is not already fetching
        let best: Piece | undefined
        for (const p of pieces) {
          if (p.done || p.attempts.has(peer)) continue
          if (best === undefined || p.active.size < best.active.size) best = p
        }
        return best === undefined ? undefined : [best]
      }

      const runPiece = async (peer: string, group: Piece[]): Promise<void> => {
        const ctl = new AbortController()
        const signal = options.signal === undefined ? ctl.signal : AbortSignal.any([ctl.signal, options.signal])
        for (const p of group) {
          p.active.add(ctl)
          p.attempts.add(peer)
        }
        const start = group[0].start
        const end = group[group.length - 1].end
        const want = ChunkRanges.from(start, end).difference(state.received)
        const t0 = performance.now()
        let delivered = 0
        // verified data is coalesced into contiguous runs of up to WRITE_RUN bytes and written
        // while decoding goes on (one write in flight per request): awaiting a thread-pool write
        // per 16 KiB group stalled the decoder
        let run: Uint8Array[] = []
        let runStart = -1
        let runLen = 0
        let writing: Promise<void> = Promise.resolve()
        const writeRun = async (): Promise<void> => {
          if (runLen === 0) return
          const data = run.length === 1 ? run[0] : Buffer.concat(run, runLen)
          const offset = runStart
          run = []
          runLen = 0
          runStart = -1
          await writing
          writing = partial.writeVerified(offset, data).then(async () => {
            state.unflushed += data.byteLength
            if (state.unflushed >= this.flushBytes || performance.now() - state.lastFlush > 1000) {
              state.unflushed = 0
              state.lastFlush = performance.now()
              await partial.flush()
            }
          })
        }
        try {
          if (want.isEmpty()) return
          const stream = await this.components.openStream(peer, FETCH_PROTOCOL, { signal })
          const result = await fetchBlobOnStream(stream, digest, {
            signal,
            size,
            ranges: want,
            idleTimeoutMs: this.idleTimeoutMs,
            onData: async (item: DecodedData) => {
              const c0 = item.offset / 1024
              const c1 = c0 + Math.ceil(item.data.byteLength / 1024)
              if (state.received.covers(c0, c1)) return
              state.received = state.received.union(ChunkRanges.from(c0, c1))
              delivered += item.data.byteLength
              this.safeDispatchEvent('verified', { detail: { peer, digest: hex, offset: item.offset, bytes: item.data.byteLength } })
              if (runLen > 0 && (runStart + runLen !== item.offset || runLen >= WRITE_RUN)) await writeRun()
              if (runLen === 0) runStart = item.offset
              run.push(item.data)
              runLen += item.data.byteLength
            }
          })
          this.components.scores.recordTransfer(peer, result.bytes, performance.now() - t0)
          if (!result.verified.isSuperset(want.truncate(size))) throw new PeerMisbehavedError('response did not cover the requested ranges')
        } catch (err) {
          if (ctl.signal.aborted && options.signal?.aborted !== true) {
            // lost an end-game race: another peer delivered this piece first. A slow peer
            // (or a slow drip) pays with its measured speed and a light penalty.
            this.components.scores.recordTransfer(peer, Math.max(delivered, 16 * 1024), (performance.now() - t0) * Math.max(1, (end - start) * 1024 / Math.max(delivered, 1)))
            this.components.scores.penalise(peer, 1, 'lost an end-game race (slow)')
          }
          throw err
        } finally {
          // what was verified is kept, whatever happened to the stream
          await writeRun().catch(() => {})
          await writing.catch(() => {})
          for (const p of group) {
            p.active.delete(ctl)
            if (state.received.covers(p.start, p.end)) {
              p.done = true
              // the piece is in: cancel duplicates still fetching it
              for (const other of p.active) other.abort()
            } else {
              // failed or cancelled: another peer may try it again
              p.attempts.delete(peer)
            }
          }
          signalChange()
        }
      }

      const worker = async (peer: string): Promise<void> => {
        while (remaining() && !dropped.has(peer) && !this.components.scores.isBanned(peer)) {
          options.signal?.throwIfAborted()
          const group = take(peer)
          if (group === undefined) {
            // nothing this peer can do now: wait for a piece to finish or fail
            await changedP
            continue
          }
          try {
            this.active.set(peer, (this.active.get(peer) ?? 0) + 1)
            await runPiece(peer, group)
          } catch (err: any) {
            options.signal?.throwIfAborted()
            const verdict = this.judge(peer, hex, err)
            if (verdict === 'drop') {
              dropped.add(peer)
            } else if (verdict === 'retry') {
              const n = (peerFailures.get(peer) ?? 0) + 1
              peerFailures.set(peer, n)
              if (n >= 3) {
                dropped.add(peer)
                this.safeDispatchEvent('peer:dropped', { detail: { peer, digest: hex, reason: `${n} failures (${err.name}: ${err.message})` } })
              }
            }
            // on a failure the piece was not marked attempted-for-good, so it is retried; mark
            // this peer as having tried it so another peer goes first
            for (const p of group) if (!p.done && verdict !== 'abort') p.attempts.add(peer)
            // if every live peer has tried every open piece, forget attempts so retries happen
            const live = peers.filter(p => !dropped.has(p) && !this.components.scores.isBanned(p))
            for (const p of pieces) if (!p.done && live.every(l => p.attempts.has(l)) && p.active.size === 0) p.attempts.clear()
            signalChange()
          } finally {
            this.active.set(peer, (this.active.get(peer) ?? 1) - 1)
          }
        }
        signalChange()
      }

      const live = this.components.scores.rank(peers)
      if (remaining()) {
        // allSettled: on abort every worker must have stopped writing before the partial closes
        await Promise.allSettled(live.flatMap(peer => Array.from({ length: this.requestsPerPeer }, async () => await worker(peer))))
      }
      options.signal?.throwIfAborted()
      if (!partial.complete) {
        throw new NoProvidersError(`blob ${hex}: ${partial.verified.count()} of ${chunks} chunks verified; no peer left to fetch the rest`)
      }
      await partial.flush()
      await partial.finalize(this.components.blobs, options)
      finalized = true
    } finally {
      if (!finalized) await partial.close()
    }
  }
}

export function createDownloader (components: DownloaderComponents, init?: DownloaderInit): Downloader {
  return new Downloader(components, init)
}
