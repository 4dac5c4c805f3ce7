/**
 * Announcer: tells the DHT what this node holds, so others can find it.
 *
 * Announced per valid store path (roots only, never every blob or chunk: each provide is a full
 * DHT walk and the reprovider rescans every record hourly, libp2p-notes.md gotcha 7):
 *   - `storePathKey(hashPart)`: the index from store-path hash part to providers;
 *   - `digestKey(root digest)`: the castore root (directory or file) of the path;
 *   - `erisKey(root reference)`: when the path has an ERIS read capability (`PathInfo.eris`).
 * Paths given an ERIS capability later (the serve backfill) are found by a periodic rescan
 * (`erisRescanMs`) and announced again with the ERIS key.
 * kad-dht's reprovider republishes these on its schedule (validity 48 h, checked hourly); on
 * start every held path is announced again (the provider store may be in memory). Provides that
 * fail (no peer in the routing table yet) are retried when a peer connects or after a delay.
 */
import type { CID } from 'multiformats/cid'
import { TypedEventEmitter } from '@libp2p/interface'
import type { AbortOptions } from '../abort.ts'
import type { PathInfo } from '../castore/path-info.ts'
import { splitStorePath } from '../castore/path-info.ts'
import type { PathInfoStore } from '../castore/path-info-store.ts'
import { digestKey, erisKey, storePathKey } from './dht-keys.ts'

export interface AnnouncerComponents {
  pathInfos: PathInfoStore
  /** the DHT provide (`libp2p.contentRouting.provide`) */
  provide: (key: CID, options?: AbortOptions) => Promise<void>
  /** event target that fires `peer:connect` (the libp2p node) */
  events?: EventTarget
}

export interface AnnouncerInit {
  /** announce every held path at start (default true) */
  announceOnStart?: boolean
  /** retry delay for failed provides (default 5 s) */
  retryMs?: number
  /** how often to look for held paths whose ERIS capability was not announced yet (default 60 s; 0 = never) */
  erisRescanMs?: number
}

export interface AnnouncerEvents {
  'announced': CustomEvent<{ storePath: string, keys: string[] }>
}

export class Announcer extends TypedEventEmitter<AnnouncerEvents> {
  private readonly components: AnnouncerComponents
  private readonly init: AnnouncerInit
  private readonly pending = new Map<string, PathInfo>()
  private controller = new AbortController()
  private running = false
  private draining: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private rescanTimer: NodeJS.Timeout | undefined
  /** ERIS URN announced per store path */
  private readonly erisAnnounced = new Map<string, string>()
  private readonly onConnect = (): void => { this.kick() }

  constructor (components: AnnouncerComponents, init: AnnouncerInit = {}) {
    super()
    this.components = components
    this.init = init
  }

  /** DHT keys announcing one path. */
  static keysFor (info: PathInfo): CID[] {
    const keys = [storePathKey(splitStorePath(info.storePath).hashPart)]
    if (info.node.type !== 'symlink') keys.push(digestKey(info.node.digest))
    if (info.eris !== undefined) keys.push(erisKey(info.eris))
    return keys
  }

  isStarted (): boolean {
    return this.running
  }

  async start (): Promise<void> {
    this.running = true
    this.controller = new AbortController()
    this.components.events?.addEventListener('peer:connect', this.onConnect)
    if (this.init.announceOnStart ?? true) {
      for await (const info of this.components.pathInfos.list()) this.pending.set(info.storePath, info)
      this.kick()
    }
    const every = this.init.erisRescanMs ?? 60_000
    if (every > 0) {
      this.rescanTimer = setInterval(() => { void this.rescanEris().catch(() => {}) }, every)
      this.rescanTimer.unref?.()
    }
  }

  /** Queues every held path whose ERIS capability has not been announced (yet). */
  async rescanEris (): Promise<void> {
    let queued = false
    for await (const info of this.components.pathInfos.list({ signal: this.controller.signal })) {
      if (!this.running) return
      if (info.eris === undefined || this.erisAnnounced.get(info.storePath) === info.eris || this.pending.has(info.storePath)) continue
      this.pending.set(info.storePath, info)
      queued = true
    }
    if (queued) this.kick()
  }

  async stop (): Promise<void> {
    this.running = false
    this.controller.abort()
    clearTimeout(this.timer)
    clearInterval(this.rescanTimer)
    this.components.events?.removeEventListener('peer:connect', this.onConnect)
    await this.draining?.catch(() => {})
  }

  /** Queues `info` for announcement and resolves once it has been provided (or the announcer stops). */
  async announce (info: PathInfo): Promise<void> {
    this.pending.set(info.storePath, info)
    this.kick()
    while (this.running && this.pending.has(info.storePath)) {
      await new Promise<void>(resolve => {
        const done = (): void => { this.removeEventListener('announced', done); resolve() }
        this.addEventListener('announced', done)
        setTimeout(done, 250)
      })
    }
  }

  private kick (): void {
    if (!this.running || this.draining !== undefined) return
    this.draining = this.drain().finally(() => { this.draining = undefined })
  }

  private async drain (): Promise<void> {
    let failed = false
    const attempted = new Set<string>()
    while (true) {
      const next = [...this.pending].find(([path]) => !attempted.has(path))
      if (next === undefined || !this.running) break
      const [storePath, info] = next
      attempted.add(storePath)
      const keys = Announcer.keysFor(info)
      try {
        for (const key of keys) await this.components.provide(key, { signal: this.controller.signal })
        this.pending.delete(storePath)
        if (info.eris !== undefined) this.erisAnnounced.set(storePath, info.eris)
        this.safeDispatchEvent('announced', { detail: { storePath, keys: keys.map(k => k.toString()) } })
      } catch {
        failed = true
      }
    }
    if (failed && this.running) {
      clearTimeout(this.timer)
      this.timer = setTimeout(() => { this.kick() }, this.init.retryMs ?? 5000)
      this.timer.unref?.()
    }
  }
}

export function createAnnouncer (components: AnnouncerComponents, init?: AnnouncerInit): Announcer {
  return new Announcer(components, init)
}
