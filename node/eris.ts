/**
 * `storeswarm eris …` and `storeswarm fetch urn:eris:…`: ERIS URNs as an alternate address of
 * store paths. Blocks come from local data first (the node's ERIS index over castore), then
 * from an HTTP ERIS store (`--eris-store URL`, the N2R binding), then (for `fetch`) from the
 * peers providing the URN: through the running node's control socket, or a node started for
 * the command when none runs and no `--eris-store` is given (or `--bootstrap` / `--mdns` are).
 */
import { parseArgs } from 'node:util'
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { encodeEris, decodeEris, ErisPathIndex, createHttpBlockStore, parseErisUrn } from '../src/eris/index.ts'
import type { ErisBlockStore } from '../src/eris/index.ts'
import { commandDataDir } from './config.ts'
import { P2P_ARG_OPTIONS, controlRequest, fetchErisIntoStore, p2pOptionsFromConfig, withOwnNode } from './p2p.ts'

export class ErisUsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

export const ERIS_USAGE = `  storeswarm eris encode FILE [--block-size 1K|32K]
                                               print the ERIS URN of a file (null convergence secret)
  storeswarm eris decode URN [--eris-store URL]  write the content of an ERIS URN to stdout, from
                                               the node's own data or an HTTP ERIS store
  storeswarm fetch urn:eris:… --store-path PATH [--eris-store URL] [--nar-hash sha256:…]
                                               fetch a NAR by its ERIS URN (from peers, and the
                                               HTTP ERIS store if given) and import it
`

function parse (args: string[], options: Record<string, { type: 'string' | 'boolean', multiple?: boolean }>): { values: Record<string, any>, positionals: string[] } {
  try {
    return parseArgs({ args, options: { 'data-dir': { type: 'string' }, config: { type: 'string' }, ...options }, allowPositionals: true, strict: true }) as any
  } catch (err: any) {
    throw new ErisUsageError(err.message)
  }
}

/** Block source: the node's index first, then the HTTP store if one was given. */
function blockSource (store: Castore, erisStore: string | undefined): (ref: Uint8Array, options?: { signal?: AbortSignal }) => Promise<Uint8Array | undefined> {
  const index = new ErisPathIndex(store)
  const remote: ErisBlockStore | undefined = erisStore === undefined ? undefined : createHttpBlockStore({ baseUrl: erisStore })
  return async (ref, options) => (await index.getBlock(ref, options)) ?? (await remote?.get(ref, options))
}

export async function cmdEris (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'encode') {
    const { values, positionals } = parse(rest, { 'block-size': { type: 'string' } })
    if (positionals.length !== 1) throw new ErisUsageError('eris encode takes one file')
    const bs = values['block-size'] ?? '32K'
    if (bs !== '1K' && bs !== '32K') throw new ErisUsageError('--block-size is 1K or 32K')
    const result = await encodeEris(createReadStream(positionals[0], { highWaterMark: 1024 * 1024 }), { blockSize: bs === '1K' ? 1024 : 32768 })
    process.stdout.write(result.urn + '\n')
    return 0
  }
  if (sub === 'decode') {
    const { values, positionals } = parse(rest, { 'eris-store': { type: 'string' } })
    if (positionals.length !== 1) throw new ErisUsageError('eris decode takes one urn:eris:… URN')
    parseErisUrn(positionals[0])
    const store = await openCastore({ dataDir: commandDataDir(values) })
    try {
      await pipeline(Readable.from(decodeEris(positionals[0], blockSource(store, values['eris-store']))), process.stdout)
      return 0
    } finally {
      await store.close()
    }
  }
  throw new ErisUsageError('usage: storeswarm eris encode FILE | storeswarm eris decode URN')
}

/**
 * `storeswarm fetch urn:eris:… --store-path P`: decode the NAR and import it (verified). With a
 * node running on the data directory, the node does it (it owns the store; its peers are asked
 * as well as `--eris-store`); otherwise a node is started for the command, unless only an HTTP
 * ERIS store was asked for (`--eris-store` without `--bootstrap` / `--mdns`).
 */
export async function cmdFetchEris (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { 'store-path': { type: 'string' }, 'eris-store': { type: 'string' }, 'nar-hash': { type: 'string' }, ...P2P_ARG_OPTIONS })
  if (positionals.length !== 1 || !positionals[0].startsWith('urn:eris:')) throw new ErisUsageError('fetch takes one urn:eris:… URN')
  if (values['store-path'] === undefined) throw new ErisUsageError('fetching by ERIS URN needs --store-path (the URN names the NAR, not the path)')
  const urn = positionals[0]
  parseErisUrn(urn)
  const storePath: string = values['store-path']
  const narHash: string | undefined = values['nar-hash']
  const erisStore: string | undefined = values['eris-store']
  const dataDir = commandDataDir(values)
  const viaNode = await controlRequest(dataDir, 'fetch-eris', [urn, storePath, narHash ?? '', erisStore ?? '']) as { storePath: string } | undefined
  if (viaNode !== undefined) {
    process.stdout.write(viaNode.storePath + '\n')
    return 0
  }
  // bootstrap peers, mDNS and --no-p2p (p2p.enabled) of the configuration count like the flags
  const p2p = p2pOptionsFromConfig(values)
  const wantPeers = erisStore === undefined || p2p.bootstrap.length > 0 || p2p.mdns === true
  if (wantPeers && p2p.disabled !== true) {
    const r = await withOwnNode(values, async (swarm) => await fetchErisIntoStore(swarm.castore, { urn, storePath, narHash, erisStore, swarm }), p2p)
    process.stdout.write(r.storePath + '\n')
    return 0
  }
  await loadKernel()
  const store = await openCastore({ dataDir })
  try {
    const r = await fetchErisIntoStore(store, { urn, storePath, narHash, erisStore })
    process.stdout.write(r.storePath + '\n')
    return 0
  } finally {
    await store.close()
  }
}
