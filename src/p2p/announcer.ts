/**
 * Announcer: tells the DHT what this node holds, so others can find it.
 *
 * Announced per valid store path (roots only, never every blob or chunk: each provide is a full
 * DHT walk and the reprovider rescans every record hourly, libp2p-notes.md gotcha 7):
 *   - `storePathKey(hashPart)`: the index from store-path hash part to providers;
 *   - `digestKey(root digest)`: the castore root (directory or file) of the path.
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
import { digestKey, storePathKey } from './dht-keys.ts'

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
  }

  async stop (): Promise<void> {
    this.running = false
    this.controller.abort()
    clearTimeout(this.timer)
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
