/**
 * An `ErisBlockStore` backed by peers: the providers of one ERIS read capability's root
 * reference (DHT `erisKey`, plus directly connected peers and any peers named up front) are
 * asked for blocks over `/storeswarm/eris-block/1.0.0`.
 *
 * For each block, providers are tried best first (`PeerScores.rank`); a peer that does not hold
 * the block, times out or breaks the stream is skipped for that block; a peer that sends a block
 * whose hash is not its reference is banned (`onBadBlock` names the block) and the next one is
 * asked. `get` answers undefined only when no provider delivered the block — `decodeEris` then
 * fails naming it. The blocks handed out are verified against their reference, and `decodeEris`
 * verifies them again (with the keys).
 */
import type { AbortOptions } from '../abort.ts'
import type { ErisBlockStore } from '../eris/block-store.ts'
import { formatBlockUrn, parseErisUrn } from '../eris/capability.ts'
import { ERIS_BLOCK_PROTOCOL, requestErisBlocks } from './eris-block-protocol.ts'
import { NoProvidersError, PeerMisbehavedError } from './errors.ts'
import type { PeerScores } from './peer-scores.ts'

export interface PeerErisBlockStoreComponents {
  /** opens a stream of `protocol` to `peer` (peer id string) */
  openStream: (peer: string, protocol: string, options?: AbortOptions) => Promise<any>
  /** providers of the URN's root reference, as they are found (DHT walk) */
  findProviders: (urn: string, options?: AbortOptions) => AsyncIterable<string>
  /** peers connected now (asked too unless `askConnected` is false) */
  connectedPeers?: () => string[]
  scores: PeerScores
}

export interface PeerErisBlockStoreInit {
  /** `urn:eris:…` whose blocks are wanted */
  urn: string
  /** peers to ask first, in this order (e.g. already known holders) */
  providers?: string[]
  /** also ask directly connected peers (default true) */
  askConnected?: boolean
  /** budget of the provider lookup, ms (default 10 s) */
  lookupBudgetMs?: number
  /** per-request idle timeout, ms */
  idleTimeoutMs?: number
  /** a peer sent a block that is not the block asked for (it is banned) */
  onBadBlock?: (event: { peer: string, reference: string, error: Error }) => void
  /** a block was delivered (verified) by `peer` */
  onBlock?: (event: { peer: string, reference: string, bytes: number }) => void
}

export class PeerErisBlockStore implements ErisBlockStore {
  readonly urn: string
  private readonly components: PeerErisBlockStoreComponents
  private readonly init: PeerErisBlockStoreInit
  private readonly providers: string[] = []
  private lookup: Promise<void> | undefined
  private lookupDone = false
  private wake: Array<() => void> = []

  constructor (components: PeerErisBlockStoreComponents, init: PeerErisBlockStoreInit) {
    parseErisUrn(init.urn)
    this.components = components
    this.init = init
    this.urn = init.urn
    for (const p of init.providers ?? []) this.addProvider(p)
  }

  /** Providers known so far (in the order they were learnt). */
  knownProviders (): string[] {
    return [...this.providers]
  }

  private addProvider (peer: string): void {
    if (this.providers.includes(peer)) return
    this.providers.push(peer)
    const w = this.wake
    this.wake = []
    for (const f of w) f()
  }

  private startLookup (): void {
    if (this.lookup !== undefined) return
    if (this.init.askConnected ?? true) for (const p of this.components.connectedPeers?.() ?? []) this.addProvider(p)
    const signal = AbortSignal.timeout(this.init.lookupBudgetMs ?? 10_000)
    this.lookup = (async () => {
      try {
        for await (const p of this.components.findProviders(this.urn, { signal })) this.addProvider(p)
      } catch {
        // a failed walk leaves the providers found so far
      } finally {
        this.lookupDone = true
        const w = this.wake
        this.wake = []
        for (const f of w) f()
      }
    })()
  }

  /** Waits until a provider beyond the first `n` is known or the lookup has ended. */
  private async morePeers (n: number, options: AbortOptions): Promise<boolean> {
    while (this.providers.length <= n && !this.lookupDone) {
      options.signal?.throwIfAborted()
      await new Promise<void>(resolve => {
        const done = (): void => { options.signal?.removeEventListener('abort', done); resolve() }
        this.wake.push(done)
        options.signal?.addEventListener('abort', done, { once: true })
      })
    }
    return this.providers.length > n
  }

  async get (reference: Uint8Array, options: AbortOptions = {}): Promise<Uint8Array | undefined> {
    this.startLookup()
    const tried = new Set<string>()
    const name = formatBlockUrn(reference)
    while (true) {
      const candidates = this.components.scores.rank(this.providers.filter(p => !tried.has(p)))
      if (candidates.length === 0) {
        // nobody left to ask: wait for the DHT walk to name another provider
        if (await this.morePeers(this.providers.length, options)) continue
        if (this.providers.length === 0) throw new NoProvidersError(`no peer provides ${this.urn}`)
        return undefined
      }
      const peer = candidates[0]
      tried.add(peer)
      try {
        const t0 = performance.now()
        const stream = await this.components.openStream(peer, ERIS_BLOCK_PROTOCOL, options)
        const [block] = await requestErisBlocks(stream, [reference], { signal: options.signal, idleTimeoutMs: this.init.idleTimeoutMs })
        if (block === undefined) continue
        this.components.scores.recordTransfer(peer, block.byteLength, performance.now() - t0)
        this.init.onBlock?.({ peer, reference: name, bytes: block.byteLength })
        return block
      } catch (err: any) {
        if (options.signal?.aborted === true) throw err
        if (err instanceof PeerMisbehavedError) {
          this.components.scores.ban(peer, err.message)
          this.init.onBadBlock?.({ peer, reference: name, error: err })
        } else {
          this.components.scores.penalise(peer, 5, `ERIS block ${name}: ${String(err?.message ?? err)}`)
        }
      }
    }
  }

  async has (reference: Uint8Array, options?: AbortOptions): Promise<boolean> {
    return (await this.get(reference, options)) !== undefined
  }

  async put (): Promise<void> {
    throw new Error('a peer ERIS block store is read-only')
  }
}
