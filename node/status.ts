/**
 * `storeswarm status [--json] [--data-dir DIR] [--config FILE]`: asks the node running on the
 * data directory for its status snapshot over the control socket and prints a short summary
 * (or the snapshot as JSON). Exit 1 with "no node running on DIR" when none runs.
 */
import { parseArgs } from 'node:util'
import { controlRequest } from './control.ts'
import { commandDataDir } from './config.ts'
import type { StatusSnapshot } from '../src/metrics/index.ts'

export const STATUS_USAGE = '  storeswarm status [--json]                  the running node: addresses, keys, peers, transfers, store, hit ratios\n'

class StatusUsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

function bytes (n: number | undefined): string {
  if (n === undefined) return '?'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

function pct (x: number | undefined): string {
  return x === undefined ? '–' : `${(x * 100).toFixed(1)} %`
}

function duration (ms: number): string {
  let s = Math.floor(ms / 1000)
  const d = Math.floor(s / 86400); s -= d * 86400
  const h = Math.floor(s / 3600); s -= h * 3600
  const m = Math.floor(s / 60); s -= m * 60
  return `${d > 0 ? `${d}d ` : ''}${d > 0 || h > 0 ? `${h}h ` : ''}${d > 0 || h > 0 || m > 0 ? `${m}m ` : ''}${s}s`
}

/** The human summary of a snapshot. */
export function formatStatus (s: StatusSnapshot): string {
  const lines: string[] = []
  const id = s.identity
  lines.push(`storeswarm ${s.version}, up ${duration(s.uptimeMs)} (data ${id.dataDir})`)
  if (id.http.nix !== undefined) lines.push(`  Nix cache      ${id.http.nix}`)
  if (id.http.guix !== undefined) lines.push(`  Guix cache     ${id.http.guix}`)
  if (id.daemonSocket !== undefined) lines.push(`  daemon socket  unix://${id.daemonSocket}`)
  if (id.guixDaemonSocket !== undefined) lines.push(`  Guix daemon    ${id.guixDaemonSocket}`)
  lines.push(`  peer id        ${id.peerId ?? '(peer-to-peer off)'}`)
  for (const a of id.listenAddrs) lines.push(`                 ${a}`)
  if (s.keys.nix !== undefined) lines.push(`  ${s.keys.nix}`)
  const store = s.store
  lines.push(`store: ${bytes(store.bytes)} in ${store.paths ?? '?'} paths${store.pinned !== undefined ? `, ${store.pinned} pinned` : ''}${store.maxBytes !== undefined ? `, limit ${bytes(store.maxBytes)}` : ''}`)
  if (s.gc?.lastRun !== undefined) lines.push(`  last GC ${new Date(s.gc.lastRun.at).toISOString()}: ${s.gc.lastRun.evictedPaths} paths, ${bytes(s.gc.lastRun.freedBytes)} freed`)
  const c = s.counts
  lines.push(`narinfo hit ratio ${pct(s.ratios.narinfoHit)} (${c.narinfoHits} hits, ${c.narinfoMisses} misses)`)
  lines.push(`substitutions: ${c.substitutions.local} local, ${c.substitutions.peer} peer, ${c.substitutions.upstream} upstream`)
  const share = s.ratios.bytesBySource
  lines.push(`bytes by source: local ${bytes(c.bytesBySource.local)} (${pct(share?.local)}), peer ${bytes(c.bytesBySource.peer)} (${pct(share?.peer)}), upstream ${bytes(c.bytesBySource.upstream)} (${pct(share?.upstream)})`)
  lines.push(`served: HTTP ${c.httpRequests} requests, ${bytes(c.httpBytes)}; daemon ${c.daemonOps} ops, ${bytes(c.daemonBytes)}; peers ${bytes(c.peerBytesServed)}`)
  if (c.verificationFailures > 0) lines.push(`refused by verification: ${c.verificationFailures}`)
  lines.push(`peers: ${s.peers.length}`)
  for (const p of s.peers) lines.push(`  ${p.id}  ${p.addrs.join(' ')}  from ${bytes(p.bytesFrom)}  to ${bytes(p.bytesTo)}${p.speed !== undefined ? `  ${bytes(p.speed)}/s` : ''}`)
  if (s.transfers.length > 0) {
    lines.push(`transfers: ${s.transfers.length}`)
    for (const t of s.transfers) lines.push(`  ${t.target} from ${t.source}: ${bytes(t.bytes)}${t.total !== undefined ? ` / ${bytes(t.total)}` : ''} at ${bytes(t.rate)}/s`)
  }
  for (const u of s.upstreams) {
    lines.push(`upstream ${u.url}: ${u.state}, ${u.requests} requests, ${u.hits} hits, ${u.misses} misses, ${u.failures} failures, ${u.timeouts} timeouts, ${bytes(u.bytesFetched)}${u.lastError !== undefined ? ` (last error: ${u.lastError})` : ''}`)
  }
  if (s.substitutions.length > 0) {
    lines.push('recent substitutions:')
    for (const r of s.substitutions.slice(0, 10)) {
      lines.push(`  ${new Date(r.at).toISOString().slice(11, 19)}  ${r.source.padEnd(8)} ${bytes(r.bytes).padStart(10)}${r.ms !== undefined ? ` ${String(r.ms).padStart(6)} ms` : '          '}  ${r.storePath}`)
    }
  }
  return lines.join('\n') + '\n'
}

export async function cmdStatus (args: string[]): Promise<number> {
  let values: Record<string, unknown>
  try {
    ({ values } = parseArgs({ args, options: { 'data-dir': { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: false, strict: true }))
  } catch (err: any) {
    throw new StatusUsageError(err.message)
  }
  const dataDir = commandDataDir(values)
  const snapshot = await controlRequest(dataDir, 'status', [], { signal: AbortSignal.timeout(30_000) }) as StatusSnapshot | undefined
  if (snapshot === undefined) {
    process.stderr.write(`storeswarm: no node running on ${dataDir}\n`)
    return 1
  }
  process.stdout.write(values.json === true ? JSON.stringify(snapshot, null, 2) + '\n' : formatStatus(snapshot))
  return 0
}
