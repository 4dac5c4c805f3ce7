/**
 * The simulated network: nodes with up/down links (token-bucket-like FIFO reservations), sites
 * joined by WAN links, per-connection TCP loss (Mathis throughput cap), NAT'd nodes reached by
 * hole punching or through a relay node, libp2p-like streams (message events, close-write,
 * reset, pause/resume, backpressure) and a host object exposing the subset of the libp2p API
 * that `src/p2p/swarm.ts` uses. Providers are kept in a modelled DHT (see `ProviderIndex`).
 *
 * Units: bytes are simulation bytes (real bytes × scale); bandwidths are simulation bytes per
 * virtual millisecond; times are virtual milliseconds.
 */
import type { PeerId } from '@libp2p/interface'
import type { VirtualClock } from './clock.ts'
import { Rng } from './rng.ts'

/** Per-frame overhead (yamux header + Noise tag + length), real bytes. */
const FRAME_OVERHEAD = 30
/** A TCP segment (real bytes), for the loss model. */
const MSS = 1460
/** End-of-writes marker in a stream's send queue. */
const FIN = Symbol('fin')
const DEBUG = process.env.SIM_DEBUG !== undefined

export class Link {
  readonly name: string
  /** simulation bytes per virtual ms */
  readonly bw: number
  freeAt = 0
  bytes = 0
  /** bytes per time bucket (for charts), when recorded */
  series: number[] | undefined
  /** @internal debugging: bytes by sender */
  by = new Map<string, number>()
  constructor (name: string, bw: number, record = false) {
    this.name = name
    this.bw = bw
    if (record) this.series = []
  }
}

export interface NodeSpec {
  /** real megabits per second */
  upMbps: number
  downMbps: number
  /** one-way latency to the node's site (ms) */
  latencyMs: number
  /** packet loss on the node's access link (0..1) */
  loss?: number
  nat?: boolean
  site?: string
}

export class NetNode {
  readonly id: string
  readonly peerId: PeerId
  readonly index: number
  readonly up: Link
  readonly down: Link
  readonly latency: number
  readonly loss: number
  readonly nat: boolean
  readonly site: string
  online = true
  /** incremented each time the node leaves: streams and connections of an older epoch are dead */
  epoch = 0
  readonly streams = new Set<SimStream>()
  /** nodes this one has had a connection with (as libp2p keeps them; `getConnections`) */
  readonly connected = new Set<NetNode>()
  handlers = new Map<string, (stream: any, connection: any) => void | Promise<void>>()

  constructor (index: number, peerId: PeerId, spec: NodeSpec, scale: number, record: boolean) {
    this.index = index
    this.peerId = peerId
    this.id = peerId.toString()
    this.up = new Link(`up:${index}`, spec.upMbps * 125 * scale, record)
    this.down = new Link(`down:${index}`, spec.downMbps * 125 * scale)
    this.latency = spec.latencyMs
    this.loss = spec.loss ?? 0
    this.nat = spec.nat ?? false
    this.site = spec.site ?? 'internet'
  }
}

export interface WanSpec {
  from: string
  to: string
  mbps: number
  latencyMs: number
  loss?: number
}

export interface NetInit {
  clock: VirtualClock
  rng: Rng
  /** simulation bytes per real byte (e.g. 1/256) */
  scale: number
  wan?: WanSpec[]
  /** chance that DCUtR hole punching gives a direct connection to a NAT'd node (default 0.7, arXiv 2510.27500) */
  holePunchSuccess?: number
  /** how long a dial to an unreachable peer takes to fail (default 5 s, libp2p's dial timeout) */
  dialTimeoutMs?: number
  /** round trips to set up a connection (TCP + Noise + yamux/multistream; default 3) */
  handshakeRtts?: number
  /** width of a chart time bucket (virtual ms) */
  bucketMs?: number
  /**
   * real KiB a stream puts on the wire at once (default 256). Each one is a simulation event
   * (delivery, a message to the reader): larger segments make big runs faster, smaller ones
   * interleave streams more finely.
   */
  segmentKiB?: number
}

interface Conn {
  a: NetNode
  b: NetNode
  epochA: number
  epochB: number
  relay: NetNode | undefined
  /** Mathis throughput cap per direction, when the path loses packets */
  capAB: Link | undefined
  capBA: Link | undefined
  pipeAB: Pipe
  pipeBA: Pipe
  ready: Promise<void>
}

class DialError extends Error {
  static override name = 'DialError'
  override name = 'DialError'
}

class StreamResetError extends Error {
  static override name = 'StreamResetError'
  override name = 'StreamResetError'
}

class StreamStateError extends Error {
  static override name = 'StreamStateError'
  override name = 'StreamStateError'
}

let streamIds = 0

/**
 * One direction of a connection (one TCP connection carrying yamux streams): streams with data
 * take turns segment by segment, and at most `Net.inFlightBytes` are on the way at once (a
 * congestion window of 1 MiB real), so a link's queue stays short and every stream makes progress — as
 * yamux frames interleave over TCP.
 */
class Pipe {
  private readonly net: Net
  private readonly ready: SimStream[] = []
  private readonly queued = new Set<SimStream>()
  private inFlight = 0
  /** @internal debugging */
  lastSend = 0
  lastArrive = 0

  constructor (net: Net) {
    this.net = net
  }

  enqueue (stream: SimStream): void {
    if (!this.queued.has(stream)) { this.queued.add(stream); this.ready.push(stream) }
    this.pump()
  }

  private pump (): void {
    while (this.inFlight < this.net.inFlightBytes && this.ready.length > 0) {
      const stream = this.ready.shift() as SimStream
      this.queued.delete(stream)
      const item = stream.takeItem()
      if (item === undefined) continue
      if (stream.hasItems()) { this.queued.add(stream); this.ready.push(stream) }
      const peer = stream.peer
      const size = item === FIN ? 0 : item.byteLength
      // what the segment costs on the wire, in simulation bytes: blob contents are already
      // scaled; requests, path infos, directories and framing are real-size metadata, scaled here
      let wire: number
      if (stream.carriesContent) {
        // the response header (status, size) is real-size metadata; the rest is blob content
        const meta = Math.min(stream.metaLeft, size)
        stream.metaLeft -= meta
        wire = (size - meta) + (meta + FRAME_OVERHEAD) * this.net.scale
      } else {
        wire = (size + FRAME_OVERHEAD) * this.net.scale
      }
      const t = this.net.transmit(stream, wire)
      if (t === undefined) continue
      this.inFlight += wire
      this.lastSend = this.net.clock.now
      this.net.clock.schedule(() => {
        this.lastArrive = this.net.clock.now
        this.inFlight -= wire
        if (item === FIN) peer.deliverFin()
        else peer.deliver(item)
        stream.sent(size)
        this.pump()
      }, t.arrive - this.net.clock.now)
    }
  }
}


/** One end of a simulated libp2p stream (the parts of `Stream` that src/p2p uses). */
export class SimStream extends EventTarget {
  readonly id: string
  readonly protocol: string
  readonly direction: 'inbound' | 'outbound'
  readonly node: NetNode
  readonly epoch: number
  readonly net: Net
  readonly conn: Conn
  peer!: SimStream
  status: 'open' | 'closed' | 'aborted' | 'reset' = 'open'
  readStatus: 'readable' | 'paused' | 'closed' = 'paused'
  writeStatus: 'writable' | 'closed' = 'writable'
  remoteWriteStatus: 'writable' | 'closed' = 'writable'
  maxReadBufferLength = 4 * 1024 * 1024
  readBufferLength = 0
  /** blob digest (hex) this stream carries, when it is a fetch stream (WAN accounting) */
  tag: string | undefined
  /** this end sends blob contents (the server end of a blob request): counted unscaled */
  carriesContent = false
  /** the request kind this server end answers (2: may be answered with a referral) */
  requestKind = -1
  /** leading bytes of this end's response that are metadata (status byte, size), counted scaled */
  metaLeft = 0
  private responded = false
  /** arrival time of the last message sent from this end (in-order delivery) */
  lastArrival = 0
  private buffer: Uint8Array[] = []
  private outQueue: Array<Uint8Array | typeof FIN> = []
  private unsent = 0
  private drainWaiters: Array<() => void> = []

  constructor (net: Net, node: NetNode, conn: Conn, protocol: string, direction: 'inbound' | 'outbound') {
    super()
    this.id = String(++streamIds)
    this.net = net
    this.node = node
    this.epoch = node.epoch
    this.conn = conn
    this.protocol = protocol
    this.direction = direction
    node.streams.add(this)
  }

  get alive (): boolean {
    return this.node.online && this.node.epoch === this.epoch && (this.status === 'open')
  }

  send (data: Uint8Array): boolean {
    if (this.writeStatus !== 'writable' || this.status !== 'open') throw new StreamStateError(`cannot write to a ${this.status} stream`)
    if (data.byteLength === 0) return true
    const bytes = data.slice()
    if (this.tag === undefined && this.direction === 'outbound' && this.protocol.includes('/fetch/')) this.setTag(bytes)
    if (this.carriesContent && !this.responded) {
      this.responded = true
      // kind 2 answers with a status byte first: a referral (1) is a list of peer ids, metadata
      if (this.requestKind === 2 && bytes[0] !== 0) this.carriesContent = false
      else this.metaLeft = this.requestKind === 2 ? 9 : 8
    }
    const seg = this.net.segment
    for (let at = 0; at < bytes.byteLength; at += seg) this.outQueue.push(bytes.subarray(at, Math.min(bytes.byteLength, at + seg)))
    this.unsent += bytes.byteLength
    this.pipe().enqueue(this)
    return this.unsent <= this.net.window
  }

  private pipe (): Pipe {
    return this.node === this.conn.a ? this.conn.pipeAB : this.conn.pipeBA
  }

  /** @internal the next item of this stream's send queue (the pipe takes one at a time) */
  takeItem (): Uint8Array | typeof FIN | undefined {
    if (this.status === 'aborted' || this.status === 'reset') { this.outQueue = []; return undefined }
    return this.outQueue.shift()
  }

  /** @internal */
  hasItems (): boolean {
    return this.outQueue.length > 0 && this.status !== 'aborted' && this.status !== 'reset'
  }

  /** @internal a segment reached the other end */
  sent (bytes: number): void {
    this.unsent -= bytes
    if (this.unsent <= this.net.window && this.drainWaiters.length > 0) this.wakeDrain()
  }

  private setTag (request: Uint8Array): void {
    // varint length, kind, 32-byte digest
    let i = 0
    while (i < request.byteLength && (request[i] & 0x80) !== 0) i++
    const start = i + 2
    if (request.byteLength >= start + 32) {
      this.tag = Buffer.from(request.subarray(start, start + 32)).toString('hex')
      this.peer.tag = this.tag
      // blob requests (kind 0, and kind 2 that may be answered with a referral instead)
      this.peer.carriesContent = request[i + 1] === 0 || request[i + 1] === 2
      this.peer.requestKind = request[i + 1]
    }
  }

  private wakeDrain (): void {
    const w = this.drainWaiters
    this.drainWaiters = []
    for (const f of w) f()
  }

  async onDrain (options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.unsent <= this.net.window || this.status !== 'open') return
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(options.signal?.reason) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.drainWaiters.push(() => { options.signal?.removeEventListener('abort', onAbort); resolve() })
    })
  }

  async close (_options?: unknown): Promise<void> {
    if (this.writeStatus === 'closed' || this.status !== 'open') return
    this.writeStatus = 'closed'
    this.outQueue.push(FIN)
    this.pipe().enqueue(this)
    if (this.remoteWriteStatus === 'closed') this.finish()
  }

  async closeWrite (options?: unknown): Promise<void> {
    await this.close(options)
  }

  abort (err: Error): void {
    if (this.status !== 'open') return
    this.kill('aborted', err)
    const t = this.net.transmit(this, FRAME_OVERHEAD * this.net.scale, true)
    if (t !== undefined) {
      const peer = this.peer
      this.net.clock.schedule(() => { peer.deliverReset() }, t.arrive - this.net.clock.now)
    }
  }

  pause (): void {
    if (this.readStatus === 'readable') this.readStatus = 'paused'
  }

  resume (): void {
    if (this.readStatus !== 'paused') return
    this.readStatus = 'readable'
    while (this.buffer.length > 0 && this.readStatus === 'readable') {
      const piece = this.buffer.shift() as Uint8Array
      this.readBufferLength -= piece.byteLength
      this.dispatchEvent(Object.assign(new Event('message'), { data: piece }))
    }
  }

  /** @internal the node left (silently): this end dies without telling the other */
  kill (status: 'aborted' | 'reset', err: Error): void {
    if (this.status !== 'open') return
    this.status = status
    this.writeStatus = 'closed'
    this.readStatus = 'closed'
    this.remoteWriteStatus = 'closed'
    this.buffer = []
    this.outQueue = []
    this.unsent = 0
    this.readBufferLength = 0
    this.node.streams.delete(this)
    this.wakeDrain()
    this.dispatchEvent(Object.assign(new Event('close'), { error: err }))
  }

  /** @internal */
  deliver (data: Uint8Array): void {
    if (!this.alive || this.readStatus === 'closed') return
    if (this.readStatus === 'paused') {
      this.buffer.push(data)
      this.readBufferLength += data.byteLength
      return
    }
    this.dispatchEvent(Object.assign(new Event('message'), { data }))
  }

  /** @internal */
  deliverFin (): void {
    if (!this.alive) return
    this.remoteWriteStatus = 'closed'
    this.dispatchEvent(new Event('remoteCloseWrite'))
    if (this.writeStatus === 'closed') this.finish()
  }

  private deliverReset (): void {
    if (!this.alive) return
    this.kill('reset', new StreamResetError('stream reset by the remote'))
  }

  private finish (): void {
    if (this.status !== 'open') return
    this.status = 'closed'
    this.node.streams.delete(this)
    this.dispatchEvent(Object.assign(new Event('close'), { error: undefined }))
  }
}

export interface NetStats {
  /** payload + framing bytes over each WAN link */
  wan: Record<string, number>
  /** WAN bytes per blob digest (fetch responses and requests) */
  wanByDigest: Map<string, number>
  /** bytes relayed by the relay node */
  relayed: number
  connections: number
  relayedConnections: number
  holePunched: number
  dialFailures: number
}

/** The network. */
export class Net {
  readonly clock: VirtualClock
  readonly rng: Rng
  readonly scale: number
  readonly nodes = new Map<string, NetNode>()
  readonly byIndex: NetNode[] = []
  readonly wanLinks = new Map<string, { link: Link, latency: number, loss: number }>()
  /** backpressure window per stream (simulation bytes): yamux's 16 MiB, scaled */
  readonly window: number
  /** bytes on the way per connection direction (1 MiB real: a TCP congestion window) */
  readonly inFlightBytes: number
  /** bytes a stream puts on the wire at once: `segmentKiB` real (default 256 KiB), scaled, at least 256 */
  readonly segment: number
  readonly bucketMs: number
  relay: NetNode | undefined
  readonly stats: NetStats = { wan: {}, wanByDigest: new Map(), relayed: 0, connections: 0, relayedConnections: 0, holePunched: 0, dialFailures: 0 }
  private readonly conns = new Map<string, Conn>()
  private readonly init: NetInit
  /** node by `PeerId` object: `PeerId.toString()` is a base58 encoding each time */
  private readonly byPeer = new WeakMap<object, NetNode>()

  constructor (init: NetInit) {
    this.init = init
    this.clock = init.clock
    this.rng = init.rng
    this.scale = init.scale
    this.window = Math.max(16 * 1024, Math.round(16 * 1024 * 1024 * init.scale))
    this.segment = Math.max(256, Math.round((init.segmentKiB ?? 256) * 1024 * init.scale))
    this.inFlightBytes = Math.max(4 * this.segment, Math.round(1024 * 1024 * init.scale))
    this.bucketMs = init.bucketMs ?? 1000
    for (const w of init.wan ?? []) {
      this.wanLinks.set(`${w.from}>${w.to}`, { link: new Link(`wan:${w.from}>${w.to}`, w.mbps * 125 * init.scale, true), latency: w.latencyMs, loss: w.loss ?? 0 })
      if (!this.wanLinks.has(`${w.to}>${w.from}`)) {
        this.wanLinks.set(`${w.to}>${w.from}`, { link: new Link(`wan:${w.to}>${w.from}`, w.mbps * 125 * init.scale, true), latency: w.latencyMs, loss: w.loss ?? 0 })
      }
    }
  }

  addNode (peerId: PeerId, spec: NodeSpec, record = false): NetNode {
    const node = new NetNode(this.byIndex.length, peerId, spec, this.scale, record)
    this.nodes.set(node.id, node)
    this.byIndex.push(node)
    this.byPeer.set(peerId, node)
    return node
  }

  /** The node of a peer id (same as `nodes.get(peer.toString())`, cached per `PeerId` object). */
  nodeOf (peer: PeerId): NetNode | undefined {
    let node = this.byPeer.get(peer)
    if (node === undefined) {
      node = this.nodes.get(peer.toString())
      if (node !== undefined) this.byPeer.set(peer, node) // a miss is not kept: the node may be added later
    }
    return node
  }

  /** The node leaves at once and silently (lid closed): its streams die, peers time out. */
  leave (node: NetNode): void {
    node.online = false
    node.epoch++
    for (const s of [...node.streams]) s.kill('aborted', new Error('node left the network'))
  }

  join (node: NetNode): void {
    node.online = true
  }

  private hops (from: NetNode, to: NetNode): Array<{ link: Link, latency: number, loss: number }> {
    const out: Array<{ link: Link, latency: number, loss: number }> = [{ link: from.up, latency: from.latency, loss: from.loss }]
    if (from.site !== to.site) {
      const w = this.wanLinks.get(`${from.site}>${to.site}`)
      if (w === undefined) throw new Error(`no WAN link from ${from.site} to ${to.site}`)
      out.push(w)
    }
    out.push({ link: to.down, latency: to.latency, loss: to.loss })
    return out
  }

  private route (conn: Conn, from: NetNode): Array<{ link: Link, latency: number, loss: number }> {
    const to = from === conn.a ? conn.b : conn.a
    if (conn.relay === undefined) return this.hops(from, to)
    return [...this.hops(from, conn.relay), ...this.hops(conn.relay, to)]
  }

  /** Round-trip time between two nodes over their connection's route. */
  rtt (a: NetNode, b: NetNode, relay?: NetNode): number {
    const one = (x: NetNode, y: NetNode): number => this.hops(x, y).reduce((s, h) => s + h.latency, 0)
    return relay === undefined ? 2 * one(a, b) : 2 * (one(a, relay) + one(relay, b))
  }

  /**
   * Reserves capacity for `bytes` from `stream`'s end to the other: departure from the sender's
   * uplink and arrival at the receiver (cut-through over every link of the route, FIFO per
   * link, in order per stream direction). Undefined when the packet is lost for good (an end
   * is gone).
   */
  transmit (stream: SimStream, bytes: number, force = false): { depart: number, arrive: number } | undefined {
    const from = stream.node
    if (!force && (stream.status === 'aborted' || stream.status === 'reset')) return undefined
    if (!from.online || from.epoch !== stream.epoch) return undefined
    const conn = stream.conn
    const route = this.route(conn, from)
    const now = this.clock.now
    let start = now
    let finish = now
    let depart = now
    let latency = 0
    const bucket = Math.floor(now / this.bucketMs)
    // every link of the route serialises the segment from now in its own FIFO (a link never
    // waits for a slow upstream link: no head-of-line blocking across unrelated flows); the
    // segment arrives when the slowest link is done with it, plus the propagation delays
    route.forEach((h, i) => {
      const s = Math.max(now, h.link.freeAt)
      const f = s + bytes / h.link.bw
      h.link.freeAt = f
      h.link.bytes += bytes
      if (DEBUG) { const k = `${from.index}:${stream.protocol.split('/')[2]}`; h.link.by.set(k, (h.link.by.get(k) ?? 0) + bytes) }
      if (h.link.series !== undefined) h.link.series[bucket] = (h.link.series[bucket] ?? 0) + bytes
      start = Math.max(start, s)
      finish = Math.max(finish, f)
      latency += h.latency
      if (i === 0) depart = f
      if (h.link.name.startsWith('wan:')) {
        this.stats.wan[h.link.name] = (this.stats.wan[h.link.name] ?? 0) + bytes
        if (stream.tag !== undefined) this.stats.wanByDigest.set(stream.tag, (this.stats.wanByDigest.get(stream.tag) ?? 0) + bytes)
      }
    })
    if (conn.relay !== undefined) this.stats.relayed += bytes
    // TCP loss: throughput of this connection direction capped per Mathis et al.
    const cap = from === conn.a ? conn.capAB : conn.capBA
    if (cap !== undefined) {
      const s = Math.max(now, cap.freeAt)
      cap.freeAt = s + bytes / cap.bw
      finish = Math.max(finish, cap.freeAt)
    }
    const arrive = Math.max(finish + latency, stream.lastArrival)
    stream.lastArrival = arrive
    return { depart, arrive }
  }

  /** Opens (or reuses) the connection from `from` to `to`; fails like a libp2p dial when `to` is unreachable. */
  async connect (from: NetNode, to: NetNode, signal?: AbortSignal): Promise<Conn> {
    const key = from.index < to.index ? `${from.index}|${to.index}` : `${to.index}|${from.index}`
    let conn = this.conns.get(key)
    if (conn !== undefined && (conn.epochA !== conn.a.epoch || conn.epochB !== conn.b.epoch || !conn.a.online || !conn.b.online)) {
      this.conns.delete(key)
      conn = undefined
    }
    if (conn === undefined) {
      if (!to.online) {
        this.stats.dialFailures++
        await this.clock.sleep(this.init.dialTimeoutMs ?? 5000, signal)
        throw new DialError(`peer ${to.index} is unreachable`)
      }
      const [a, b] = from.index < to.index ? [from, to] : [to, from]
      let relay: NetNode | undefined
      let rtts = this.init.handshakeRtts ?? 3
      if (to.nat) {
        // reach the NAT'd node through the relay, then try to upgrade with DCUtR
        const punched = this.rng.next() < (this.init.holePunchSuccess ?? 0.7)
        if (punched) {
          rtts += 2
          this.stats.holePunched++
        } else {
          if (this.relay === undefined || this.relay === to || this.relay === from) throw new DialError(`peer ${to.index} is behind NAT and no relay is configured`)
          relay = this.relay
          this.stats.relayedConnections++
        }
      }
      const c: Conn = { a, b, epochA: a.epoch, epochB: b.epoch, relay, capAB: undefined, capBA: undefined, pipeAB: new Pipe(this), pipeBA: new Pipe(this), ready: Promise.resolve() }
      const route = this.route(c, a)
      const loss = 1 - route.reduce((p, h) => p * (1 - h.loss), 1)
      if (loss > 0) {
        const rttS = this.rtt(a, b, relay) / 1000
        const realBytesPerS = MSS * 1.22 / (rttS * Math.sqrt(loss))
        c.capAB = new Link('tcp', realBytesPerS / 1000 * this.scale)
        c.capBA = new Link('tcp', realBytesPerS / 1000 * this.scale)
      }
      c.ready = this.clock.sleep(rtts * this.rtt(a, b, relay), signal)
      this.conns.set(key, c)
      this.stats.connections++
      a.connected.add(b)
      b.connected.add(a)
      conn = c
    }
    try {
      await conn.ready
    } catch (err) {
      if (this.conns.get(key) === conn) this.conns.delete(key)
      throw err
    }
    if (!to.online || conn.epochA !== conn.a.epoch || conn.epochB !== conn.b.epoch) {
      this.stats.dialFailures++
      throw new DialError(`peer ${to.index} went away during the dial`)
    }
    return conn
  }

  /** Opens a stream for `protocol`; the remote handler runs when the stream reaches it. */
  async openStream (from: NetNode, to: NetNode, protocol: string, signal?: AbortSignal): Promise<SimStream> {
    if (!from.online) throw new DialError('this node is offline')
    const conn = await this.connect(from, to, signal)
    signal?.throwIfAborted()
    const local = new SimStream(this, from, conn, protocol, 'outbound')
    const remote = new SimStream(this, to, conn, protocol, 'inbound')
    local.peer = remote
    remote.peer = local
    const oneWay = this.rtt(from, to, conn.relay) / 2
    this.clock.schedule(() => {
      if (!remote.alive) return
      const handler = to.handlers.get(protocol)
      if (handler === undefined) { remote.abort(new Error(`protocol ${protocol} not supported`)); return }
      void Promise.resolve(handler(remote, { remotePeer: from.peerId })).catch(() => {})
    }, oneWay)
    return local
  }
}

/**
 * The DHT, modelled: provider records per key (they outlive a node that leaves, as in
 * kad-dht), a lookup costs `hops` round trips, a provide the same plus the store; a lookup
 * returns up to 20 providers picked uniformly from the records. The real kad-dht code is not
 * run (200 full libp2p hosts do not fit this machine); the announcer and lookup code that call
 * it are the real ones.
 */
export class ProviderIndex {
  readonly net: Net
  readonly rng: Rng
  private readonly records = new Map<string, string[]>()
  private readonly sets = new Map<string, Set<string>>()
  provides = 0
  lookups = 0

  constructor (net: Net, rng: Rng) {
    this.net = net
    this.rng = rng
  }

  private hopTime (node: NetNode): number {
    const n = Math.max(2, this.net.nodes.size)
    const hops = Math.max(1, Math.ceil(Math.log(n) / Math.log(20)))
    // a round trip to a typical peer: twice this node's latency plus a peer's
    return hops * 2 * (node.latency * 2 + 20)
  }

  async provide (node: NetNode, key: string, signal?: AbortSignal): Promise<void> {
    if (!node.online) throw new Error('offline: no DHT peers')
    await this.net.clock.sleep(this.hopTime(node) + 2 * (node.latency * 2 + 20), signal)
    if (!node.online) throw new Error('offline: no DHT peers')
    let set = this.sets.get(key)
    if (set === undefined) { set = new Set(); this.sets.set(key, set); this.records.set(key, []) }
    if (!set.has(node.id)) { set.add(node.id); this.records.get(key)?.push(node.id) }
    this.provides++
  }

  async * findProviders (node: NetNode, key: string, signal?: AbortSignal): AsyncGenerator<{ id: PeerId, multiaddrs: never[] }> {
    this.lookups++
    if (!node.online) throw Object.assign(new Error('no peers'), { name: 'NoPeersError' })
    await this.net.clock.sleep(this.hopTime(node), signal)
    const all = (this.records.get(key) ?? []).filter(id => id !== node.id)
    for (const id of this.rng.sample(all, 20)) {
      const peer = this.net.nodes.get(id)
      if (peer !== undefined) yield { id: peer.peerId, multiaddrs: [] }
    }
  }

  holders (key: string): number {
    return this.records.get(key)?.length ?? 0
  }
}

/** The subset of a libp2p node that `Swarm` uses, over the simulated network. */
export class SimHost extends EventTarget {
  readonly node: NetNode
  readonly net: Net
  readonly peerId: PeerId
  readonly contentRouting: {
    provide: (key: { toString: () => string }, options?: { signal?: AbortSignal }) => Promise<void>
    findProviders: (key: { toString: () => string }, options?: { signal?: AbortSignal }) => AsyncIterable<{ id: PeerId, multiaddrs: never[] }>
  }

  readonly peerStore = { merge: async () => {} }
  private readonly hub: PeerId

  constructor (node: NetNode, net: Net, dht: ProviderIndex, hub: PeerId) {
    super()
    this.node = node
    this.net = net
    this.peerId = node.peerId
    this.hub = hub
    this.contentRouting = {
      provide: async (key, options) => { await dht.provide(node, key.toString(), options?.signal) },
      findProviders: (key, options) => dht.findProviders(node, key.toString(), options?.signal)
    }
  }

  async handle (protocol: string, handler: (stream: any, connection: any) => void | Promise<void>): Promise<void> {
    this.node.handlers.set(protocol, handler)
  }

  async unhandle (protocol: string): Promise<void> {
    this.node.handlers.delete(protocol)
  }

  async dialProtocol (peer: PeerId, protocol: string, options: { signal?: AbortSignal } = {}): Promise<SimStream> {
    const to = this.net.nodeOf(peer)
    if (to === undefined) throw new DialError(`unknown peer ${peer.toString()}`)
    return await this.net.openStream(this.node, to, protocol, options.signal)
  }

  /**
   * One standing connection (to the bootstrap hub) while online: `Swarm.waitForPeers` needs a
   * peer. Asked about one peer: a connection while both are online (referrals skip departed peers).
   */
  getConnections (peer?: PeerId): Array<{ remotePeer: PeerId, remoteAddr: { toString: () => string } }> {
    if (!this.node.online) return []
    if (peer !== undefined) {
      const other = this.net.nodeOf(peer)
      return other?.online === true ? [{ remotePeer: peer, remoteAddr: { toString: () => this.addressOf(other) } }] : []
    }
    // the bootstrap hub (reached over the LAN on a site shared with other nodes, as mDNS gives
    // them), and every online node this one has been connected to
    this.lanPeers ??= [...this.net.nodes.values()].some(n => n !== this.node && n.site === this.node.site)
    const hubAddr = this.lanPeers ? '/ip4/10.255.0.1/tcp/4001' : '/sim/hub'
    const out: Array<{ remotePeer: PeerId, remoteAddr: { toString: () => string } }> = [{ remotePeer: this.hub, remoteAddr: { toString: () => hubAddr } }]
    for (const other of this.node.connected) {
      if (other.online) out.push({ remotePeer: other.peerId, remoteAddr: { toString: () => this.addressOf(other) } })
    }
    if (this.net.wanLinks.size > 0) {
      // sites joined by a WAN: mDNS finds every node of the site and libp2p connects to it
      if (this.sitePeers === undefined || this.sitePeersOf !== this.net.nodes.size) {
        this.sitePeersOf = this.net.nodes.size
        this.sitePeers = [...this.net.nodes.values()].filter(n => n !== this.node && n.site === this.node.site)
      }
      for (const other of this.sitePeers) {
        if (other.online && !this.node.connected.has(other)) out.push({ remotePeer: other.peerId, remoteAddr: { toString: () => this.addressOf(other) } })
      }
    }
    return out
  }

  /**
   * The address `other` is seen at: on the same site a private LAN address; another site's nodes
   * share their site's public address (behind its gateway), on different ports.
   */
  private addressOf (other: NetNode): string {
    return other.site === this.node.site ? `/ip4/10.0.${other.index >> 8}.${other.index & 255}/tcp/4001` : `/ip4/100.64.${siteNumber(other.site)}.1/tcp/${4000 + other.index}`
  }

  private lanPeers: boolean | undefined
  private sitePeers: NetNode[] | undefined
  private sitePeersOf = 0

  async stop (): Promise<void> {}
}

/** A small number per site name (its public address in `SimHost.getConnections`). */
function siteNumber (site: string): number {
  let h = 0
  for (let i = 0; i < site.length; i++) h = (h * 31 + site.charCodeAt(i)) % 251
  return h
}
