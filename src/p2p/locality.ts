/**
 * Where peers are, from the addresses of the connections to them: on the local network
 * (private, loopback, unique-local or link-local addresses, as mDNS finds them), or at a public
 * address shared with other connected peers (a site of several nodes behind one gateway).
 * Downloads and referrals prefer near peers, so a site pulls a file across its WAN link about
 * once and shares it over its LAN.
 *
 * Asked on every request (and for every recipient a referral considers), so answers are kept
 * for `refreshMs` (default 1 s; a peer's own connections are read when it is first asked
 * about, all connections at most once per `refreshMs` for the per-host counts).
 */
export interface LocalityConnection {
  remotePeer: { toString: () => string }
  remoteAddr: { toString: () => string }
}

export interface LocalityComponents {
  /** every open connection (libp2p `getConnections()`) */
  connections: () => LocalityConnection[]
  /** the open connections to one peer (libp2p `getConnections(peerId)`) */
  connectionsTo: (peer: string) => LocalityConnection[]
}

interface Place {
  local: boolean
  /** the public host, when the peer connects from one */
  host: string | undefined
}

export class Locality {
  private readonly components: LocalityComponents
  private readonly refreshMs: number
  private readAt = -Infinity
  private places = new Map<string, Place | undefined>()
  private hostPeers = new Map<string, number>()
  private anyLocal = false
  private local: string[] = []

  constructor (components: LocalityComponents, init: { refreshMs?: number } = {}) {
    this.components = components
    this.refreshMs = init.refreshMs ?? 1000
  }

  /** Refreshes the per-host counts; the places of single peers are looked up when first asked. */
  private refresh (): void {
    const now = performance.now()
    if (now - this.readAt <= this.refreshMs) return
    this.readAt = now
    this.places = new Map()
    const hostPeers = new Map<string, Set<string>>()
    let anyLocal = false
    const local = new Set<string>()
    for (const c of this.components.connections()) {
      const addr = c.remoteAddr.toString()
      if (isPrivateAddress(addr)) {
        anyLocal = true
        local.add(c.remotePeer.toString())
      }
      const host = publicHost(addr)
      if (host !== undefined) hostPeers.set(host, (hostPeers.get(host) ?? new Set()).add(c.remotePeer.toString()))
    }
    this.hostPeers = new Map([...hostPeers].map(([h, s]) => [h, s.size]))
    this.anyLocal = anyLocal
    this.local = [...local]
  }

  /** Where `peer` is, from its own connections (undefined: not connected), memoised per refresh. */
  private place (peer: string): Place | undefined {
    this.refresh()
    if (this.places.has(peer)) return this.places.get(peer)
    let place: Place | undefined
    let conns: LocalityConnection[] = []
    try { conns = this.components.connectionsTo(peer) } catch {}
    for (const c of conns) {
      const addr = c.remoteAddr.toString()
      place = { local: (place?.local ?? false) || isPrivateAddress(addr), host: place?.host ?? publicHost(addr) }
    }
    this.places.set(peer, place)
    return place
  }

  /** Whether `peer` is connected. */
  isConnected (peer: string): boolean {
    return this.place(peer) !== undefined
  }

  /** Whether `peer` is connected over a local-network address. */
  isLocal (peer: string): boolean {
    return this.place(peer)?.local === true
  }

  /** The connected peers on the local network. */
  localPeers (): string[] {
    this.refresh()
    return this.local
  }

  /** Whether some connected peer is on the local network. */
  hasLocalPeers (): boolean {
    this.refresh()
    return this.anyLocal
  }

  /** The public host `peer` connects from when another connected peer shares it (a site); else undefined. */
  siteOf (peer: string): string | undefined {
    const host = this.place(peer)?.host
    return host !== undefined && (this.hostPeers.get(host) ?? 0) >= 2 ? host : undefined
  }
}

/** The host part of a multiaddr on a public address (IPv4, or an IPv6 /64), else undefined. */
function publicHost (addr: string): string | undefined {
  if (isPrivateAddress(addr)) return undefined
  const v4 = /^\/ip4\/([\d.]+)/.exec(addr)
  if (v4 !== null) return v4[1]
  const v6 = /^\/ip6\/([0-9a-f:]+)/i.exec(addr)
  if (v6 !== null) return v6[1].toLowerCase().split(':').slice(0, 4).join(':')
  return undefined
}

/**
 * A multiaddr on a private (RFC 1918), loopback, unique-local or link-local address. (Not
 * `@libp2p/utils`' `isPrivateIp`: that counts carrier-grade NAT space, 100.64/10, as private,
 * and peers there are not on our LAN.)
 */
export function isPrivateAddress (addr: string): boolean {
  const v4 = /^\/ip4\/(\d+)\.(\d+)\.\d+\.\d+/.exec(addr)
  if (v4 !== null) {
    const a = Number(v4[1])
    const b = Number(v4[2])
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 169 && b === 254)
  }
  const v6 = /^\/ip6\/([0-9a-f:]+)/i.exec(addr)
  if (v6 !== null) {
    const h = v6[1].toLowerCase()
    return h === '::1' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h)
  }
  return false
}
