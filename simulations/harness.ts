/**
 * Runs one scenario: builds the network and the nodes, seeds the closure, starts every node's
 * "Nix client" (fetch each store path of the closure through `Swarm.fetchStorePath`, `jobs` at a
 * time, retrying failures), applies churn, and measures. After the run every honest node's store
 * is re-hashed (blobs against their BLAKE3 digests, paths re-rendered against the seeder's
 * NarHash) to count corrupt bytes accepted.
 */
import { loadKernel } from '../src/blake3/index.ts'
import { BlobHasher } from '../src/castore/blob-hashing.ts'
import { splitStorePath } from '../src/castore/index.ts'
import type { MemoryBlobStore, PathInfo } from '../src/castore/index.ts'
import { toHex } from '../src/castore/digest.ts'
import { generateSigningKey, toPublicKey } from '../src/nix/signing.ts'
import { storePathKey } from '../src/p2p/index.ts'
import type { SwarmInit } from '../src/p2p/index.ts'
import { VirtualClock, wallNow } from './clock.ts'
import { generateClosure, importClosure, updateClosure } from './content.ts'
import type { Closure, ClosureSpec } from './content.ts'
import { Net, ProviderIndex } from './net.ts'
import type { NodeSpec, WanSpec } from './net.ts'
import { copyStore, installLiar, makePeerId, makeSimNode } from './nodes.ts'
import type { LiarKind, SimNode } from './nodes.ts'
import { Rng } from './rng.ts'

export interface SiteSpec {
  name: string
  /** fetching nodes in this site */
  nodes: number
  peer?: Partial<NodeSpec>
}

export interface Scenario {
  name: string
  description?: string
  seed: number
  /** real bytes per simulation byte (sizes and bandwidths are divided by it; times are not) */
  scaleDown: number
  closure: ClosureSpec
  /** fetching nodes (not counting seeder, relay, liars) */
  nodes: number
  seeder: NodeSpec
  peer: NodeSpec
  /** fraction of fetching nodes behind NAT (reached via hole punching or the relay) */
  natFraction?: number
  relay?: NodeSpec
  /** substitution jobs per node (Nix `max-substitution-jobs`, default 16) */
  jobs?: number
  /** the order each node fetches the closure in: `same` (Nix: one topological order) or `shuffled` */
  order?: 'same' | 'shuffled'
  /** nodes start within this many seconds of each other (default 0: all at once) */
  startSpreadS?: number
  churn?: {
    /** fraction of fetching nodes that leave during the crowd */
    fraction: number
    /** when they leave (seconds after the start) */
    leaveS: [number, number]
    /** how long they stay away (seconds) */
    downS: [number, number]
    /** fraction of leavers that never come back */
    permanent: number
  }
  liars?: {
    /** liars as a fraction of the fetching nodes (at least one of each kind) */
    fraction: number
    kinds: LiarKind[]
    /** the liars' links (default `peer`) */
    spec?: NodeSpec
    /** also run the same scenario without liars, to compare completion times (default true) */
    baseline?: boolean
  }
  update?: {
    /** fraction of files shared with the first closure */
    shared: number
  }
  /** real KiB a stream sends as one simulation event (default 256; net.ts) */
  segmentKiB?: number
  sites?: SiteSpec[]
  wan?: WanSpec[]
  /** the seeder's site (default the first) */
  seederSite?: string
  /** also run one node alone at the same bandwidth (default true) */
  solo?: boolean
  /** give up after this many virtual seconds */
  limitS?: number
  swarm?: SwarmInit
  /** chart time bucket (virtual seconds, default 5) */
  bucketS?: number
}

export interface NodeResult {
  index: number
  role: string
  site: string
  nat: boolean
  /** seconds from the start to the last path, or null */
  completedS: number | null
  churn?: 'left' | 'returned'
  downBytes: number
  upBytes: number
  /** closure paths held at the end */
  paths: number
  /** failed `fetchStorePath` attempts (retried) */
  failures: number
}

export interface RunResult {
  scenario: string
  nodes: number
  scaleDown: number
  closure: { paths: number, files: number, fileBytes: number, narBytes: number }
  virtualSeconds: number
  wallSeconds: number
  stop: 'done' | 'idle' | 'limit'
  timersFired: number
  peakRssMiB: number
  seeder: { uploadBytes: number, uploadPerClosure: number, series: Array<[number, number]> }
  /** fetching peers' uplinks: bytes sent per bucket ÷ what their uplinks could send (0..1, by the time a segment was queued) */
  peersUpBusy?: Array<[number, number]>
  completion: {
    completed: number
    expected: number
    firstS: number | null
    medianS: number | null
    lastS: number | null
    cdf: Array<[number, number]>
  }
  integrity: { checkedNodes: number, corruptBytesAccepted: number, badBlobs: number, badPaths: number, missingPaths: number }
  liars?: { count: number, kinds: Record<string, number>, pathInfosRejected: number, peersBanned: number, bytesFromLiars: number }
  churn?: { left: number, returned: number, stayersCompleted: number, stayers: number, returnersCompleted: number, returners: number }
  update?: { narBytes: number, bytesPerNodeMean: number, bytesPerNodeMax: number, ratioMean: number, ratioMax: number, sharedFiles: number, sharedBytes: number }
  wan?: { links: Record<string, number>, fileBytesNeeded: number, factor: number, perFileMax: number, perFileMean: number, sites: number }
  network: { connections: number, relayedConnections: number, holePunched: number, relayedBytes: number, dialFailures: number, dhtLookups: number, dhtProvides: number, downloader: Record<string, number>, verifiedBySource: Record<string, number>, afarBytes?: Record<string, number>, downloaderBySite?: Record<string, Record<string, number>> }
  links: Record<string, number>
  nodesDetail: NodeResult[]
}

const HUB_SEED = 0x7fff0001

function pick (rng: Rng, range: [number, number]): number {
  return range[0] + rng.next() * (range[1] - range[0])
}

export interface RunOptions {
  /** progress lines to this function (real time) */
  log?: (line: string) => void
  /** run without liars (the liars scenario's baseline) */
  noLiars?: boolean
  /** override: one fetching node, no churn/liars (the solo reference) */
  solo?: boolean
}

/** Runs `scenario` once on a fresh virtual clock. */
export async function runScenario (scenario: Scenario, options: RunOptions = {}): Promise<RunResult> {
  await loadKernel()
  const log = options.log ?? (() => {})
  const wall0 = wallNow()
  const clock = new VirtualClock()
  clock.install()
  try {
    return await simulate(scenario, clock, options, log, wall0)
  } finally {
    clock.uninstall()
  }
}

async function simulate (sc: Scenario, clock: VirtualClock, options: RunOptions, log: (line: string) => void, wall0: number): Promise<RunResult> {
  const scale = 1 / sc.scaleDown
  const rng = new Rng(sc.seed)
  const bucketMs = (sc.bucketS ?? 5) * 1000
  const net = new Net({ clock, rng: rng.fork(1), scale, wan: sc.wan, bucketMs, segmentKiB: sc.segmentKiB })
  const dht = new ProviderIndex(net, rng.fork(2))
  const hub = await makePeerId(HUB_SEED)
  const key = generateSigningKey('cache.sim-1')
  const swarmInit: SwarmInit = {
    trustedKeys: [toPublicKey(key)],
    // asking every connected peer for every path is N² questions; with sites, the LAN peers
    // (what mDNS finds) are asked, as a real node does
    askConnected: sc.sites !== undefined ? 'local' : false,
    serveEris: false,
    substituteBudgetMs: 10_000,
    ...sc.swarm,
    downloader: {
      // the 1 MiB small-blob threshold and 256 KiB minimum piece, scaled (never below one 16 KiB group)
      smallBlob: Math.max(16 * 1024, Math.round(1024 * 1024 * scale)),
      pieceGroups: Math.max(1, Math.round(256 * scale)),
      ...sc.swarm?.downloader
    },
    announcer: { erisRescanMs: 0, ...sc.swarm?.announcer }
  }
  const solo = options.solo === true
  const fetchers = solo ? 1 : sc.nodes
  const sites: SiteSpec[] = sc.sites ?? [{ name: 'internet', nodes: fetchers }]
  const seederSite = sc.seederSite ?? sites[0].name

  // content
  const closure1 = generateClosure(sc.closure, scale, sc.seed)
  const closure: Closure = sc.update !== undefined ? updateClosure(closure1, sc.update.shared, sc.seed) : closure1

  // nodes
  const seeder = await makeSimNode(net, dht, hub, 'seeder', { ...sc.seeder, site: seederSite }, 1, swarmInit)
  const nodes: SimNode[] = [seeder]
  if ((sc.natFraction ?? 0) > 0 && !solo) {
    const relay = await makeSimNode(net, dht, hub, 'relay', { ...(sc.relay ?? sc.seeder), site: seederSite }, 2, swarmInit)
    net.relay = relay.net
    nodes.push(relay)
  }
  const natRng = rng.fork(3)
  const fetching: SimNode[] = []
  let seedNo = 100
  for (const site of sites) {
    const count = solo ? (site === sites[0] ? 1 : 0) : site.nodes
    for (let i = 0; i < count; i++) {
      const nat = !solo && natRng.next() < (sc.natFraction ?? 0)
      const n = await makeSimNode(net, dht, hub, 'peer', { ...sc.peer, ...site.peer, site: site.name, nat }, seedNo++, { ...swarmInit, announcer: { ...swarmInit.announcer, announceOnStart: false } })
      nodes.push(n)
      fetching.push(n)
    }
  }
  const liarKinds: LiarKind[] = sc.liars?.kinds ?? []
  // at least one liar of each kind (small runs)
  const liarCount = solo || options.noLiars === true || sc.liars === undefined ? 0 : Math.max(liarKinds.length, Math.round(sc.liars.fraction * fetchers))
  const liars: SimNode[] = []
  for (let i = 0; i < liarCount; i++) {
    const kind = liarKinds[i % liarKinds.length]
    const n = await makeSimNode(net, dht, hub, 'liar', { ...sc.peer, ...sc.liars?.spec, site: sites[i % sites.length].name }, 10_000 + i, swarmInit, kind)
    nodes.push(n)
    liars.push(n)
  }

  // seed: the seeder imports (first closure too, for an update); fetchers hold the first closure
  const t0import = wallNow()
  if (sc.update !== undefined) {
    // the first closure everywhere (blobs shared in memory), then the second at the seeder only
    const infos1 = await importClosure(seeder.castore, closure1, key)
    for (const n of fetching) await copyStore(seeder.castore, n.castore, infos1)
  }
  const infos = await importClosure(seeder.castore, closure, key)
  for (const l of liars) await copyStore(seeder.castore, l.castore, infos)
  log(`${sc.name}: ${nodes.length} nodes, closure ${closure.paths.length} paths, ${(closure.bytes / 1048576).toFixed(1)} MiB simulated (×${sc.scaleDown}); seeded in ${((wallNow() - t0import) / 1000).toFixed(1)} s`)

  // start every swarm; the seeder (and liars) announce what they hold before the crowd starts
  const bans = { count: 0, bytesFromLiars: 0, rejected: 0 }
  /** verified blob bytes received, by "source site → receiving site" (the seeder apart), real scale */
  const verifiedBySource: Record<string, number> = {}
  const liarIds = new Set(liars.map(l => l.net.id))
  for (const n of nodes) {
    if (n.swarm === undefined) continue
    await n.swarm.start()
    if (n.role === 'liar') installLiar(n, n.liar as LiarKind, infos)
    if (n.role === 'peer') {
      n.swarm.addEventListener('path-info:rejected', () => { bans.rejected++ })
      n.swarm.scores.addEventListener('peer:penalised', (e) => { if (e.detail.total >= 100 && e.detail.total - e.detail.points < 100) bans.count++ })
      n.swarm.downloader.addEventListener('verified', (e) => {
        if (liarIds.has(e.detail.peer)) bans.bytesFromLiars += e.detail.bytes
        const from = net.nodes.get(e.detail.peer)
        const key = `${e.detail.peer === seeder.net.id ? 'seeder' : from?.site ?? '?'} → ${n.net.site}`
        verifiedBySource[key] = (verifiedBySource[key] ?? 0) + e.detail.bytes * sc.scaleDown
      })
    }
  }
  const announced = (): boolean => infos.every(i => dht.holders(pathKey(i)) >= 1 + liars.length)
  const phase0 = await clock.run(announced, 48 * 3600 * 1000)
  if (phase0 !== 'done') throw new Error(`the seeder did not finish announcing (${phase0})`)
  for (const l of net.byIndex) { l.up.freeAt = Math.max(l.up.freeAt, clock.now); if (l.up.series !== undefined) l.up.series.length = 0 }
  const t0 = clock.now
  const seederUp0 = seeder.net.up.bytes
  const down0 = new Map(nodes.map(n => [n, n.net.down.bytes]))
  const up0 = new Map(nodes.map(n => [n, n.net.up.bytes]))
  const wan0 = new Map([...net.wanLinks].map(([k, w]) => [k, w.link.bytes]))
  net.stats.wanByDigest.clear()
  log(`${sc.name}: seeder announced in ${(t0 / 1000).toFixed(1)} virtual s; crowd starts`)

  // clients
  const jobs = sc.jobs ?? 16
  const done = new Map<SimNode, number>()
  const failures = new Map<SimNode, number>()
  const controllers = new Map<SimNode, AbortController>()
  const orderRng = rng.fork(4)
  const orders = new Map(fetching.map(n => [n, sc.order === 'shuffled' ? orderRng.shuffle([...closure.paths]) : closure.paths]))
  const runClient = async (n: SimNode): Promise<void> => {
    const ctl = new AbortController()
    controllers.set(n, ctl)
    const swarm = n.swarm
    if (swarm === undefined) return
    const order = orders.get(n) ?? closure.paths
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < order.length && !ctl.signal.aborted) {
        const p = order[next++]
        for (let attempt = 0; attempt < 50 && !ctl.signal.aborted; attempt++) {
          try {
            const info = await swarm.fetchStorePath(p.hashPart, { signal: ctl.signal })
            if (info !== undefined) break
          } catch (err: any) {
            if (ctl.signal.aborted) return
            if (process.env.SIM_DEBUG !== undefined) console.error(`node ${n.net.index} ${p.hashPart}: ${err.name}: ${err.message}`)
          }
          failures.set(n, (failures.get(n) ?? 0) + 1)
          await clock.sleep(1000 + attempt * 1000, ctl.signal).catch(() => {})
        }
      }
    }
    await Promise.all(Array.from({ length: jobs }, worker))
    if (ctl.signal.aborted) return
    let all = true
    for (const p of closure.paths) if (await n.castore.pathInfos.get(p.hashPart) === undefined) { all = false; break }
    if (all) done.set(n, clock.now - t0)
  }
  const startRng = rng.fork(5)
  for (const n of fetching) {
    const delay = (sc.startSpreadS ?? 0) * 1000 * startRng.next()
    clock.setTimeout(() => { void runClient(n) }, delay)
  }

  // churn
  const churnRng = rng.fork(6)
  const churnState = new Map<SimNode, 'left' | 'returned'>()
  if (sc.churn !== undefined && !solo) {
    const leavers = churnRng.sample(fetching, Math.round(sc.churn.fraction * fetching.length))
    for (const n of leavers) {
      const leaveAt = pick(churnRng, sc.churn.leaveS) * 1000
      const permanent = churnRng.next() < sc.churn.permanent
      const downFor = pick(churnRng, sc.churn.downS) * 1000
      churnState.set(n, permanent ? 'left' : 'returned')
      clock.setTimeout(() => {
        if (done.has(n) && !permanent) return
        controllers.get(n)?.abort()
        net.leave(n.net)
        if (!permanent) {
          clock.setTimeout(() => {
            net.join(n.net)
            void runClient(n)
          }, downFor)
        }
      }, leaveAt)
    }
  }

  // run
  const expected = fetching.filter(n => churnState.get(n) !== 'left')
  let lastLog = wallNow()
  const limit = t0 + (sc.limitS ?? 4 * 3600) * 1000
  const stop = await clock.run(() => {
    if (wallNow() - lastLog > 10_000) {
      lastLog = wallNow()
      log(`  t=${((clock.now - t0) / 1000).toFixed(0)} s: ${done.size}/${expected.length} complete, seeder up ${((seeder.net.up.bytes - seederUp0) * sc.scaleDown / 2 ** 30).toFixed(2)} GiB, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB${process.env.SIM_DEBUG !== undefined ? ` ${JSON.stringify(sumStats(fetching))}` : ''}`)
    }
    return expected.every(n => done.has(n))
  }, limit)
  const tEnd = clock.now
  for (const ctl of controllers.values()) ctl.abort()
  for (const n of nodes) n.swarm?.announcer.stop().catch(() => {})
  const peakRss = process.memoryUsage().rss

  // integrity: re-hash every honest fetching node's store
  const seederInfo = new Map(infos.map(i => [i.storePath, toHex(i.narHash)]))
  const integrity = { checkedNodes: 0, corruptBytesAccepted: 0, badBlobs: 0, badPaths: 0, missingPaths: 0 }
  for (const n of fetching) {
    integrity.checkedNodes++
    const blobs = (n.castore.blobs as MemoryBlobStore as any).blobs as Map<string, { data: Uint8Array }>
    for (const [hex, held] of blobs) {
      const h = new BlobHasher(held.data.byteLength)
      h.update(held.data)
      if (toHex(h.finalize()) !== hex) { integrity.badBlobs++; integrity.corruptBytesAccepted += held.data.byteLength }
    }
    for (const p of closure.paths) {
      const info = await n.castore.pathInfos.get(p.hashPart)
      if (info === undefined) { integrity.missingPaths++; continue }
      let ok = seederInfo.get(info.storePath) === toHex(info.narHash)
      if (ok) {
        try { for await (const piece of n.castore.renderVerified(info)) void piece } catch { ok = false }
      }
      if (!ok) { integrity.badPaths++; integrity.corruptBytesAccepted += info.narSize }
    }
  }

  // figures
  const narBytes = infos.reduce((s, i) => s + i.narSize, 0)
  const files = closure.paths.reduce((s, p) => s + p.files.length, 0)
  const times = [...done.values()].map(t => t / 1000).sort((a, b) => a - b)
  const q = (f: number): number | null => times.length === 0 ? null : times[Math.min(times.length - 1, Math.floor(f * times.length))]
  const seederUp = seeder.net.up.bytes - seederUp0
  const series = (seeder.net.up.series ?? []).map((b, i) => [i * bucketMs / 1000 - t0 / 1000, (b ?? 0) * sc.scaleDown / (bucketMs / 1000)] as [number, number]).filter(([t]) => t >= 0)
  const upCap = fetching.reduce((s, n) => s + n.net.up.bw, 0) * bucketMs
  const upSum: number[] = []
  for (const n of fetching) (n.net.up.series ?? []).forEach((b, i) => { upSum[i] = (upSum[i] ?? 0) + (b ?? 0) })
  const peersUpBusy = Array.from(upSum, (b, i) => [i * bucketMs / 1000 - t0 / 1000, Math.round((b ?? 0) / upCap * 1000) / 1000] as [number, number]).filter(([t]) => t >= 0 && t <= (tEnd - t0) / 1000)
  const held = new Map<SimNode, number>()
  for (const n of fetching) {
    let k = 0
    for (const p of closure.paths) if (await n.castore.pathInfos.get(p.hashPart) !== undefined) k++
    held.set(n, k)
  }
  const nodesDetail: NodeResult[] = nodes.filter(n => n.role !== 'relay').map(n => ({
    index: n.net.index,
    role: n.role === 'liar' ? `liar:${n.liar ?? ''}` : n.role,
    site: n.net.site,
    nat: n.net.nat,
    completedS: done.has(n) ? (done.get(n) as number) / 1000 : null,
    ...(churnState.has(n) ? { churn: churnState.get(n) } : {}),
    downBytes: (n.net.down.bytes - (down0.get(n) ?? 0)) * sc.scaleDown,
    upBytes: (n.net.up.bytes - (up0.get(n) ?? 0)) * sc.scaleDown,
    paths: held.get(n) ?? closure.paths.length,
    failures: failures.get(n) ?? 0
  }))
  const links: Record<string, number> = {
    'seeder up': seederUp * sc.scaleDown,
    'peers up (sum)': fetching.reduce((s, n) => s + n.net.up.bytes - (up0.get(n) ?? 0), 0) * sc.scaleDown,
    'peers down (sum)': fetching.reduce((s, n) => s + n.net.down.bytes - (down0.get(n) ?? 0), 0) * sc.scaleDown
  }
  if (liars.length > 0) links['liars up (sum)'] = liars.reduce((s, n) => s + n.net.up.bytes - (up0.get(n) ?? 0), 0) * sc.scaleDown
  if (net.relay !== undefined) links['relay (through)'] = net.stats.relayed * sc.scaleDown
  for (const [k, w] of net.wanLinks) links[`WAN ${k}`] = (w.link.bytes - (wan0.get(k) ?? 0)) * sc.scaleDown

  const result: RunResult = {
    scenario: sc.name + (solo ? ' (one node alone)' : options.noLiars === true ? ' (without liars)' : ''),
    nodes: fetching.length,
    scaleDown: sc.scaleDown,
    closure: { paths: closure.paths.length, files, fileBytes: closure.bytes * sc.scaleDown, narBytes: narBytes * sc.scaleDown },
    virtualSeconds: (tEnd - t0) / 1000,
    wallSeconds: (wallNow() - wall0) / 1000,
    stop,
    timersFired: clock.fired,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    seeder: { uploadBytes: seederUp * sc.scaleDown, uploadPerClosure: seederUp / narBytes, series },
    peersUpBusy,
    completion: {
      completed: done.size,
      expected: expected.length,
      firstS: q(0),
      medianS: q(0.5),
      lastS: times.length === expected.length ? times[times.length - 1] ?? null : null,
      cdf: times.map((t, i) => [t, (i + 1) / expected.length])
    },
    integrity,
    network: {
      connections: net.stats.connections,
      relayedConnections: net.stats.relayedConnections,
      holePunched: net.stats.holePunched,
      relayedBytes: net.stats.relayed * sc.scaleDown,
      dialFailures: net.stats.dialFailures,
      dhtLookups: dht.lookups,
      dhtProvides: dht.provides,
      downloader: sumStats(fetching),
      verifiedBySource,
      ...(sc.sites !== undefined ? { afarBytes: sumAfar(fetching, sc.scaleDown), downloaderBySite: Object.fromEntries(sites.map(st => [st.name, sumStats(fetching.filter(n => n.net.site === st.name))])) } : {})
    },
    links,
    nodesDetail
  }
  if (liars.length > 0) {
    const kinds: Record<string, number> = {}
    for (const l of liars) kinds[l.liar as string] = (kinds[l.liar as string] ?? 0) + 1
    result.liars = { count: liars.length, kinds, pathInfosRejected: bans.rejected, peersBanned: bans.count, bytesFromLiars: bans.bytesFromLiars * sc.scaleDown }
  }
  if (churnState.size > 0) {
    const stayers = fetching.filter(n => !churnState.has(n))
    const returners = fetching.filter(n => churnState.get(n) === 'returned')
    result.churn = {
      left: [...churnState.values()].filter(v => v === 'left').length,
      returned: returners.length,
      stayers: stayers.length,
      stayersCompleted: stayers.filter(n => done.has(n)).length,
      returners: returners.length,
      returnersCompleted: returners.filter(n => done.has(n)).length
    }
  }
  if (sc.update !== undefined) {
    const per = fetching.map(n => n.net.down.bytes - (down0.get(n) ?? 0))
    const mean = per.reduce((a, b) => a + b, 0) / Math.max(1, per.length)
    const max = Math.max(0, ...per)
    const old = new Set(closure1.paths.flatMap(p => p.files.map(f => `${f.seed}:${f.size}`)))
    const shared = closure.paths.flatMap(p => p.files).filter(f => old.has(`${f.seed}:${f.size}`))
    result.update = {
      narBytes: narBytes * sc.scaleDown,
      bytesPerNodeMean: mean * sc.scaleDown,
      bytesPerNodeMax: max * sc.scaleDown,
      ratioMean: mean / narBytes,
      ratioMax: max / narBytes,
      sharedFiles: shared.length / files,
      sharedBytes: shared.reduce((s, f) => s + f.size, 0) / closure.bytes
    }
  }
  if (net.wanLinks.size > 0) {
    const wl: Record<string, number> = {}
    let wanTotal = 0
    for (const [k, w] of net.wanLinks) { wl[k] = (w.link.bytes - (wan0.get(k) ?? 0)) * sc.scaleDown; wanTotal += w.link.bytes - (wan0.get(k) ?? 0) }
    // every site other than the seeder's needs each file once
    const otherSites = sites.filter(s => s.name !== seederSite && s.nodes > 0).length
    const sizes = new Map<string, number>()
    for (const n of [seeder]) {
      const blobs = (n.castore.blobs as MemoryBlobStore as any).blobs as Map<string, { data: Uint8Array }>
      for (const [hex, held] of blobs) sizes.set(hex, held.data.byteLength)
    }
    const factors: number[] = []
    for (const [hex, bytes] of net.stats.wanByDigest) {
      const size = sizes.get(hex)
      if (size !== undefined && size >= 16 * 1024) factors.push(bytes / size / Math.max(1, otherSites))
    }
    result.wan = {
      links: wl,
      fileBytesNeeded: closure.bytes * otherSites * sc.scaleDown,
      factor: wanTotal / Math.max(1, closure.bytes * otherSites),
      perFileMax: Math.max(0, ...factors),
      perFileMean: factors.reduce((a, b) => a + b, 0) / Math.max(1, factors.length),
      sites: sites.length
    }
  }
  return result
}

/** The DHT key of a path's store-path record (what `Announcer` provides first). */
function pathKey (info: PathInfo): string {
  return storePathKey(splitStorePath(info.storePath).hashPart).toString()
}

/** The fetching nodes' downloader counters, summed (requests, referrals followed, deferrals, insists…). */
/** Bytes the nodes fetched from peers off their LAN while they had LAN peers, by why (real bytes). */
function sumAfar (nodes: SimNode[], scale: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const n of nodes) {
    for (const [k, v] of Object.entries(n.swarm?.downloader.afarBytes ?? {})) out[`${n.net.site} ${k}`] = (out[`${n.net.site} ${k}`] ?? 0) + v * scale
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)))
}

function sumStats (nodes: SimNode[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const n of nodes) {
    for (const [k, v] of Object.entries(n.swarm?.downloader.stats ?? {})) out[k] = (out[k] ?? 0) + v
  }
  return out
}
