/**
 * Host factory: the libp2p 3 node of a storeswarm peer (libp2p-notes.md §2 `createNode()`).
 *
 * - transports: TCP (+ circuit relay v2 for NAT'd peers when `nat` is on)
 * - encryption: Noise and TLS both offered; multistream-select picks the first the initiator
 *   offers that both speak. Noise first by default: @libp2p/tls measured 4–8× slower here
 *   (see `DEFAULT_ENCRYPTERS` in constants.ts)
 * - muxer: Yamux; services: identify, ping (kad-dht needs both), a **private** Kademlia DHT
 *   (`DHT_PROTOCOL`, never the public Amino DHT) in server mode with all addresses kept
 *   (`passthroughMapper`: LAN and loopback peers must enter the routing table, gotcha 3)
 * - WAN: AutoNAT, DCUtR hole punching, circuit relay transport, optional UPnP
 * - discovery: bootstrap list (explicit only; default none) and mDNS (off unless asked: it
 *   advertises the node to the LAN)
 * - connection monitor does not abort busy connections on a late ping (gotcha 10)
 */
import { createLibp2p } from 'libp2p'
import type { Libp2p, PeerDiscovery, PrivateKey, ConnectionEncrypter } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT, KadDHTInit } from '@libp2p/kad-dht'
import { bootstrap } from '@libp2p/bootstrap'
import { mdns } from '@libp2p/mdns'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { autoNAT } from '@libp2p/autonat'
import { dcutr } from '@libp2p/dcutr'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { DEFAULT_ENCRYPTERS, DHT_PROTOCOL } from './constants.ts'
import { DEFAULT_MAX_CONNECTIONS } from './limits.ts'

/** The service map (a type alias, libp2p-notes.md gotcha 13). */
export type HostServices = {
  dht: KadDHT
  identify: Identify
  ping: Ping
} & Record<string, unknown>

export type Host = Libp2p<HostServices>

export type EncrypterName = 'tls' | 'noise'

export interface HostInit {
  privateKey?: PrivateKey
  /** listen multiaddrs (default `/ip4/0.0.0.0/tcp/0`) */
  listen?: string[]
  /** bootstrap multiaddrs with `/p2p/<id>` (default none) */
  bootstrap?: string[]
  /** advertise and discover on the LAN with mDNS (default false) */
  mdns?: boolean
  /** map a port on the router with UPnP (default false) */
  upnp?: boolean
  /** AutoNAT, DCUtR and the relay transport (default true) */
  nat?: boolean
  /** connection encrypters in order of preference (default `DEFAULT_ENCRYPTERS`: noise, tls; may be empty with `extraEncrypters`) */
  encrypters?: EncrypterName[]
  /** extra connection encrypters offered after `encrypters` (benchmarks add plaintext to isolate the cost of encryption) */
  extraEncrypters?: Array<(components: any) => ConnectionEncrypter>
  /** persistent datastore for the DHT and peer store (default in memory) */
  datastore?: Datastore
  /** extra discovery (tests inject fake LANs) */
  peerDiscovery?: Array<(components: any) => PeerDiscovery>
  /** connection-manager allow list (never limited per IP), e.g. `/ip4/127.0.0.0/ipcidr/8` */
  allow?: string[]
  /** connections kept at most, inbound and outbound (default `DEFAULT_MAX_CONNECTIONS`); libp2p also refuses more than 5 inbound connections per second per IP and 10 pending upgrades */
  maxConnections?: number
  /** kad-dht options overriding the defaults (e.g. `initialQuerySelfInterval: 0` in tests) */
  dht?: Partial<KadDHTInit>
}

function encrypter (name: EncrypterName): (components: any) => ConnectionEncrypter {
  return name === 'tls' ? tls() : noise()
}

/** Creates and starts a host. */
export async function createHost (init: HostInit = {}): Promise<Host> {
  const nat = init.nat ?? true
  const discovery: Array<(components: any) => PeerDiscovery> = [...(init.peerDiscovery ?? [])]
  if ((init.bootstrap ?? []).length > 0) discovery.push(bootstrap({ list: init.bootstrap as string[], timeout: 100 }))
  if (init.mdns === true) discovery.push(mdns({ interval: 1000, serviceTag: '_storeswarm._udp.local' }))
  const services: Record<string, any> = {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      logPrefix: 'storeswarm:dht',
      datastorePrefix: '/storeswarm-dht',
      metricsPrefix: 'storeswarm_dht',
      ...init.dht
    })
  }
  if (nat) {
    services.autoNAT = autoNAT()
    services.dcutr = dcutr()
  }
  if (init.upnp === true) services.upnp = uPnPNAT()
  const node = await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? ['/ip4/0.0.0.0/tcp/0'] },
    transports: nat ? [tcp(), circuitRelayTransport()] : [tcp()],
    connectionEncrypters: [...(init.encrypters ?? DEFAULT_ENCRYPTERS).map(encrypter), ...(init.extraEncrypters ?? [])],
    streamMuxers: [yamux()],
    peerDiscovery: discovery,
    datastore: init.datastore,
    connectionManager: { allow: init.allow ?? [], maxConnections: init.maxConnections ?? DEFAULT_MAX_CONNECTIONS },
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: services as any
  })
  return node as unknown as Host
}
