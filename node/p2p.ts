/**
 * CLI-facing wiring of the peer-to-peer swarm (issue 5): `startP2P` for long-running commands
 * (`storeswarm serve` wires it in), and ready-to-wire commands `fetch`, `peers`, `announce`,
 * plus `p2p` (run a swarm node in the foreground).
 *
 * Flags: --listen MULTIADDR… (default /ip4/0.0.0.0/tcp/0), --bootstrap MULTIADDR… (default none),
 * --mdns, --upnp (off by default: they advertise the node on the LAN / router), --no-p2p,
 * --trusted-public-key KEY… (Nix `trusted-public-keys` entries).
 *
 * The peer identity is kept in `<data-dir>/p2p/identity.key` (created on first start, mode 0600);
 * the DHT / peer store in `<data-dir>/p2p/datastore`. A running node listens for the `fetch`,
 * `peers` and `announce` commands on `<data-dir>/p2p/control.sock` (newline-delimited JSON), since
 * the castore database can only be open in one process; without a running node, `fetch` and
 * `announce` start a node of their own for the duration of the command.
 *
 * `fetch urn:eris:… --store-path P` (`fetch-eris` on the control socket) decodes the NAR from the
 * node's own ERIS blocks, an HTTP ERIS store if one is given, and the peers providing the URN's
 * root reference (`/storeswarm/eris-block/1.0.0`), then imports it verified (`--nar-hash`) in the
 * process that owns the store (`fetchErisIntoStore`).
 */
import { parseArgs } from 'node:util'
import { chmod, mkdir, readFile, writeFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'
import { multiaddr } from '@multiformats/multiaddr'
import { startControlServerAt, controlRequestAt } from './control.ts'
import type { ControlServer } from './control.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore, parseDigest, toHex } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { PartialBlobStore } from '../src/castore/partial-blob.ts'
import { parsePublicKey } from '../src/nix/signing.ts'
import type { PublicKey } from '../src/nix/signing.ts'
import { createHost, createSwarm } from '../src/p2p/index.ts'
import type { Host, Swarm, SwarmInit } from '../src/p2p/index.ts'
import { ErisPathIndex, createHttpBlockStore, decodeEris, parseErisUrn } from '../src/eris/index.ts'
import type { ErisBlockStore } from '../src/eris/index.ts'
import { parseNixHash } from '../src/nix/hash.ts'
import { commandDataDir, p2pSettings, resolveConfig } from './config.ts'

export interface P2POptions {
  dataDir: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  upnp?: boolean
  /** --no-p2p: startP2P returns undefined */
  disabled?: boolean
  trustedPublicKeys?: string[]
  /** AutoNAT / DCUtR / relay transport (default true) */
  nat?: boolean
  /** connection-manager allow list (default: loopback and private ranges, so a LAN swarm behind one NAT is not rate-limited) */
  allow?: string[]
  /** open the control socket (default true) */
  control?: boolean
  /** lookup budget on a cache miss, ms */
  substituteBudgetMs?: number
  swarm?: SwarmInit
  /** `p2p.referral-copies` (referrals.ts); default REFERRAL_COPIES */
  referralCopies?: number
  /** where to print the listen addresses (default stderr) */
  log?: (line: string) => void
}

export interface P2PHandle {
  node: Host
  swarm: Swarm
  /** multiaddrs with /p2p/<id> */
  addrs: string[]
  peerId: string
  /** for the HTTP / daemon facades: find, fetch and verify a missing path (undefined if no peer has it) */
  substitute: Swarm['substituteFromPeers']
  close: () => Promise<void>
}

/** `parseArgs` options of the p2p flags, to merge into a command's own options. */
export const P2P_ARG_OPTIONS = {
  listen: { type: 'string', multiple: true },
  bootstrap: { type: 'string', multiple: true },
  mdns: { type: 'boolean' },
  upnp: { type: 'boolean' },
  'no-p2p': { type: 'boolean' },
  'trusted-public-key': { type: 'string', multiple: true }
} as const

/**
 * P2POptions of the configuration (node/config.ts): `--config FILE`, `STORESWARM_*` and the
 * command's flags (which win): data-dir, p2p.listen, p2p.bootstrap, p2p.mdns, p2p.upnp,
 * p2p.enabled (`--no-p2p`), p2p.trusted-public-keys (`--trusted-public-key`).
 */
export function p2pOptionsFromConfig (values: Record<string, any>, env: NodeJS.ProcessEnv = process.env): P2POptions & { listen: string[], bootstrap: string[] } {
  const cfg = resolveConfig({ flags: values, env })
  return { dataDir: cfg.settings.get('data-dir')!.value as string, ...p2pSettings(cfg) }
}

/** P2POptions from parsed flag values only (no config file, no environment). */
export function p2pOptionsFromFlags (values: Record<string, any>, dataDir: string): P2POptions {
  return {
    dataDir,
    listen: values.listen,
    bootstrap: values.bootstrap,
    mdns: values.mdns === true,
    upnp: values.upnp === true,
    disabled: values['no-p2p'] === true,
    trustedPublicKeys: values['trusted-public-key']
  }
}

async function loadIdentity (dir: string): Promise<PrivateKey> {
  const file = join(dir, 'identity.key')
  try {
    return privateKeyFromProtobuf(new Uint8Array(await readFile(file)))
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw err
  }
  const key = await generateKeyPair('Ed25519')
  await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' }).catch(async (err) => {
    if (err.code !== 'EEXIST') throw err
  })
  return privateKeyFromProtobuf(new Uint8Array(await readFile(file)))
}

function parseKeys (texts: string[] | undefined): PublicKey[] {
  return (texts ?? []).flatMap(t => t.split(/\s+/).filter(x => x !== '')).map(parsePublicKey)
}

/** Starts the swarm node next to an open castore; prints its multiaddrs. */
export async function startP2P (castore: Castore, options: P2POptions): Promise<P2PHandle | undefined> {
  if (options.disabled === true) return undefined
  const dir = join(options.dataDir, 'p2p')
  await mkdir(dir, { recursive: true })
  const privateKey = await loadIdentity(dir)
  const datastore = new LevelDatastore(join(dir, 'datastore'))
  await datastore.open()
  let host: Host
  try {
    host = await createHost({
      privateKey,
      listen: options.listen ?? ['/ip4/0.0.0.0/tcp/0'],
      bootstrap: options.bootstrap ?? [],
      mdns: options.mdns === true,
      upnp: options.upnp === true,
      nat: options.nat ?? true,
      datastore,
      allow: options.allow ?? ['/ip4/127.0.0.0/ipcidr/8', '/ip4/10.0.0.0/ipcidr/8', '/ip4/172.16.0.0/ipcidr/12', '/ip4/192.168.0.0/ipcidr/16']
    })
  } catch (err) {
    await datastore.close()
    throw err
  }
  const swarm = createSwarm({ host, castore, partials: new PartialBlobStore({ root: options.dataDir }) }, {
    trustedKeys: parseKeys(options.trustedPublicKeys),
    substituteBudgetMs: options.substituteBudgetMs,
    ...(options.referralCopies !== undefined ? { referrals: { copies: options.referralCopies } } : {}),
    ...options.swarm,
    fetchServer: {
      ...(process.env.STORESWARM_DEBUG === '1' ? { onError: (err: Error) => { process.stderr.write(`storeswarm p2p: serving failed: ${err.name}: ${err.message}\n`) } } : {}),
      ...options.swarm?.fetchServer
    }
  })
  await swarm.start()
  // discovered peers (mDNS, bootstrap) are not dialled by libp2p itself (libp2p-notes.md gotcha 8)
  host.addEventListener('peer:discovery', (evt) => {
    if (host.getConnections(evt.detail.id).length === 0) void host.dial(evt.detail.id).catch(() => {})
  })
  // with no connection left (laptop suspended, bootstrap peer restarted), dial the bootstrap list
  // again: libp2p's bootstrap module dials it only once (libp2p-notes.md gotcha 8)
  const redial = setInterval(() => {
    if (host.getConnections().length > 0) return
    for (const a of options.bootstrap ?? []) void host.dial(multiaddr(a)).catch(() => {})
  }, 30_000)
  redial.unref()
  const peerId = host.peerId.toString()
  const addrs = host.getMultiaddrs().map(a => a.toString())
  let control: ControlServer | undefined
  if (options.control ?? true) {
    control = await startControlServerAt(join(dir, 'control.sock'))
    registerControl(control, swarm)
  }
  const log = options.log ?? ((line: string) => { process.stderr.write(line + '\n') })
  log(`storeswarm p2p: peer id ${peerId}`)
  for (const a of addrs) log(`storeswarm p2p: listening on ${a}`)
  let closed = false
  return {
    node: host,
    swarm,
    addrs,
    peerId,
    substitute: swarm.substituteFromPeers.bind(swarm),
    close: async () => {
      if (closed) return
      closed = true
      clearInterval(redial)
      await control?.close()
      await swarm.stop()
      await host.stop()
      await datastore.close()
    }
  }
}

/* ----------------------------------------------------------- control socket */

/** Registers the swarm's commands on its control socket (`<data-dir>/p2p/control.sock`). */
function registerControl (control: ControlServer, swarm: Swarm): void {
  /** progress lines at most every 200 ms */
  const throttled = (progress: (bytes: number) => void): (bytes: number) => void => {
    let last = 0
    return (bytes) => { if (performance.now() - last > 200) { last = performance.now(); progress(bytes) } }
  }
  control.handle('peers', async () => ({ self: swarm.peerId, addrs: swarm.host.getMultiaddrs().map(a => a.toString()), peers: swarm.peers() }))
  control.handle('announce', async (args) => {
    const infos = await swarm.announce(args.map(String), { signal: AbortSignal.timeout(60_000) })
    return infos.map(i => i.storePath)
  })
  control.handle('fetch', async (args, { progress }) => {
    const report = throttled(progress)
    let bytes = 0
    const onVerified = (e: any): void => { bytes += e.detail.bytes; report(bytes) }
    swarm.downloader.addEventListener('verified', onVerified)
    try {
      return await fetchTarget(swarm, String(args[0]))
    } finally {
      swarm.downloader.removeEventListener('verified', onVerified)
    }
  })
  control.handle('fetch-eris', async (args, { progress }) => {
    const [urn, storePath, narHash, erisStore] = args.map(a => typeof a === 'string' && a !== '' ? a : undefined)
    if (urn === undefined || storePath === undefined) throw Object.assign(new Error('fetch-eris needs a URN and a store path'), { name: 'UsageError' })
    const report = throttled(progress)
    let bytes = 0
    return await fetchErisIntoStore(swarm.castore, { urn, storePath, narHash, erisStore, swarm, onBlock: (n) => { bytes += n; report(bytes) } })
  })
}

/** Sends one command to a running node; undefined when no node is running on this data dir. */
export async function controlRequest (dataDir: string, cmd: string, args: string[], onProgress?: (bytes: number) => void): Promise<unknown> {
  return await controlRequestAt(join(dataDir, 'p2p', 'control.sock'), cmd, args, { onProgress })
}

/* ----------------------------------------------------------------- commands */

async function fetchTarget (swarm: Swarm, target: string): Promise<unknown> {
  if (target.startsWith('/')) {
    const info = await swarm.fetchStorePath(target, { budgetMs: 30_000 })
    if (info === undefined) throw Object.assign(new Error(`no peer has ${target}`), { name: 'NoProvidersError' })
    return { storePath: info.storePath, narSize: info.narSize }
  }
  const digest = parseDigest(target)
  const r = await swarm.fetchDigest(digest, { budgetMs: 30_000 })
  return { digest: toHex(digest), ...r }
}

export interface FetchErisOptions {
  urn: string
  storePath: string
  /** expected NarHash (`sha256:…`, any Nix hash form) */
  narHash?: string
  /** HTTP ERIS store (N2R) to ask before the peers */
  erisStore?: string
  /** the running swarm: peers providing the URN are asked for blocks */
  swarm?: Swarm
  /** bytes of each block fetched from elsewhere */
  onBlock?: (bytes: number) => void
  signal?: AbortSignal
}

/**
 * Decodes the NAR of `urn` — blocks from local data, then the HTTP store (if given), then peers
 * (if a swarm is given) — and imports it as `storePath` (verified against `narHash` if given),
 * computes its ERIS index (the URN must come out the same) and announces it. An already valid
 * path is returned as it is (after checking `narHash`).
 */
export async function fetchErisIntoStore (castore: Castore, options: FetchErisOptions): Promise<{ storePath: string, narSize: number, eris: string }> {
  const { urn, storePath, signal } = options
  parseErisUrn(urn)
  const narHash = options.narHash === undefined ? undefined : parseNixHash(options.narHash, { algorithm: 'sha256' }).digest
  const held = await castore.getPathInfo(storePath, { signal })
  if (held !== undefined) {
    if (narHash !== undefined && toHex(narHash) !== toHex(held.narHash)) throw Object.assign(new Error(`${storePath} is valid here with another NarHash (sha256 ${toHex(held.narHash)})`), { name: 'NarHashMismatchError' })
    return { storePath: held.storePath, narSize: held.narSize, eris: held.eris ?? urn }
  }
  const index = new ErisPathIndex(castore)
  const http: ErisBlockStore | undefined = options.erisStore === undefined ? undefined : createHttpBlockStore({ baseUrl: options.erisStore })
  const peers = options.swarm?.erisBlockStore(urn)
  if (http === undefined && peers === undefined) throw Object.assign(new Error('no block source: no node is running and no --eris-store was given'), { name: 'UsageError' })
  const getBlock = async (ref: Uint8Array, opts?: { signal?: AbortSignal }): Promise<Uint8Array | undefined> => {
    const local = await index.getBlock(ref, opts)
    if (local !== undefined) return local
    let httpError: unknown
    if (http !== undefined) {
      try {
        const block = await http.get(ref, opts)
        if (block !== undefined) { options.onBlock?.(block.byteLength); return block }
      } catch (err) {
        if (opts?.signal?.aborted === true || peers === undefined) throw err
        httpError = err
      }
    }
    if (peers === undefined) return undefined
    try {
      const block = await peers.get(ref, opts)
      if (block !== undefined) options.onBlock?.(block.byteLength)
      return block
    } catch (err: any) {
      // no peer provides the URN: what the HTTP store said is the better error
      if (err?.name === 'NoProvidersError' && http !== undefined) {
        if (httpError !== undefined) throw httpError
        return undefined
      }
      throw err
    }
  }
  const { info } = await castore.importNar(decodeEris(urn, getBlock, { prefetch: 4, signal }), { storePath, narHash, signal })
  const encoded = await index.encodePath(info, { signal })
  if (encoded.urn !== urn) throw new Error(`imported NAR re-encodes to ${encoded.urn}, not ${urn}`)
  if (options.swarm !== undefined) void options.swarm.announce([info.storePath]).catch(() => {})
  return { storePath: info.storePath, narSize: info.narSize, eris: urn }
}

function parse (args: string[], extra: Record<string, any> = {}): { values: Record<string, any>, positionals: string[] } {
  return parseArgs({ args, options: { 'data-dir': { type: 'string' }, config: { type: 'string' }, ...P2P_ARG_OPTIONS, ...extra }, allowPositionals: true, strict: true }) as any
}

function progress (): { update: (bytes: number) => void, done: () => void } {
  const tty = process.stderr.isTTY === true
  const t0 = performance.now()
  return {
    update: (bytes) => {
      if (!tty) return
      const mb = bytes / 1e6
      const rate = mb / Math.max((performance.now() - t0) / 1000, 0.001)
      process.stderr.write(`\r\x1b[K${mb.toFixed(1)} MB verified (${rate.toFixed(1)} MB/s)`)
    },
    done: () => { if (tty) process.stderr.write('\r\x1b[K') }
  }
}

/**
 * Starts a castore + node for one command when no node is running. Bootstrap peers, mDNS, UPnP
 * and trusted keys come from the configuration (`options`, else `p2pOptionsFromConfig(values)`);
 * the node listens on `--listen` if given, else on an ephemeral port (a configured fixed
 * p2p.listen port is the long-running node's).
 */
export async function withOwnNode<T> (values: Record<string, any>, fn: (swarm: Swarm) => Promise<T>, options: P2POptions = p2pOptionsFromConfig(values)): Promise<T> {
  if (options.disabled === true) throw Object.assign(new Error(`no node is running on the data directory ${options.dataDir} and the swarm is off (--no-p2p, or p2p.enabled = false): nothing to do`), { name: 'UsageError' })
  await loadKernel()
  const castore = await openCastore({ dataDir: options.dataDir })
  try {
    const p2p = await startP2P(castore, { ...options, control: false, listen: values.listen ?? ['/ip4/0.0.0.0/tcp/0'] })
    if (p2p === undefined) throw Object.assign(new Error('--no-p2p: nothing to do'), { name: 'UsageError' })
    try {
      // give bootstrap / mDNS a moment to connect before the first DHT query
      const deadline = performance.now() + 5000
      while (p2p.node.getConnections().length === 0 && performance.now() < deadline && ((options.bootstrap ?? []).length > 0 || options.mdns === true)) {
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      return await fn(p2p.swarm)
    } finally {
      await p2p.close()
    }
  } finally {
    await castore.close()
  }
}

/** `storeswarm fetch STORE-PATH|BLAKE3-DIGEST` */
export async function cmdFetch (args: string[]): Promise<number> {
  const { values, positionals } = parse(args)
  if (positionals.length !== 1) throw Object.assign(new Error('fetch takes one store path or BLAKE3 digest'), { name: 'UsageError' })
  const bar = progress()
  try {
    const dataDir = commandDataDir(values)
    let result = await controlRequest(dataDir, 'fetch', positionals, bar.update)
    if (result === undefined) {
      result = await withOwnNode(values, async (swarm) => {
        let bytes = 0
        swarm.downloader.addEventListener('verified', (e) => { bytes += e.detail.bytes; bar.update(bytes) })
        return await fetchTarget(swarm, positionals[0])
      })
    }
    bar.done()
    process.stdout.write(JSON.stringify(result) + '\n')
    return 0
  } finally {
    bar.done()
  }
}

/** `storeswarm peers`: the running node's id, addresses and connected peers. */
export async function cmdPeers (args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' } })
  const dataDir = commandDataDir(values)
  const result = await controlRequest(dataDir, 'peers', []) as any
  if (result === undefined) {
    process.stderr.write(`storeswarm: no node is running on the data directory ${dataDir}\n`)
    return 1
  }
  if (values.json === true) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
    return 0
  }
  process.stdout.write(`self ${result.self}\n`)
  for (const a of result.addrs) process.stdout.write(`  ${a}\n`)
  for (const p of result.peers) process.stdout.write(`${p.id} ${p.addrs.join(' ')}\n`)
  return 0
}

/** `storeswarm announce STORE-PATH…` */
export async function cmdAnnounce (args: string[]): Promise<number> {
  const { values, positionals } = parse(args)
  if (positionals.length === 0) throw Object.assign(new Error('announce takes store paths'), { name: 'UsageError' })
  const dataDir = commandDataDir(values)
  let result = await controlRequest(dataDir, 'announce', positionals)
  if (result === undefined) {
    process.stderr.write('storeswarm: no node is running; announcing from a temporary node (peers can fetch only while a node runs)\n')
    result = await withOwnNode(values, async (swarm) => (await swarm.announce(positionals, { signal: AbortSignal.timeout(60_000) })).map(i => i.storePath))
  }
  for (const p of result as string[]) process.stdout.write(`${p}\n`)
  return 0
}

/** `storeswarm p2p`: runs a swarm node in the foreground until SIGINT / SIGTERM. */
export async function cmdP2P (args: string[]): Promise<number> {
  const { values } = parse(args)
  // flags > STORESWARM_* > config file (p2p.listen, p2p.bootstrap, p2p.mdns, …) > defaults
  const options = p2pOptionsFromConfig(values)
  // listen for the signals before the first log line: a SIGTERM with no listener kills at once
  let stop: () => void = () => {}
  const stopped = new Promise<void>(resolve => { stop = resolve })
  process.once('SIGINT', () => { stop() })
  process.once('SIGTERM', () => { stop() })
  await loadKernel()
  const castore = await openCastore({ dataDir: options.dataDir })
  const p2p = await startP2P(castore, { ...options, log: (l) => { process.stdout.write(l + '\n') } })
  if (p2p === undefined) {
    await castore.close()
    return 0
  }
  await stopped
  await p2p.close()
  await castore.close()
  return 0
}
