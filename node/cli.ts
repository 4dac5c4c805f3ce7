/**
 * The `storeswarm` command line: parses arguments and wires the library to files, stdin/stdout
 * and the data directory. Each command is a small function returning an exit code.
 */
import { parseArgs } from 'node:util'
import { createReadStream, createWriteStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { TreeHasher, Blake3Hasher, loadKernel, outboardSize } from '../src/blake3/index.ts'
import { openCastore, toHex, nodeToJSON, toSnixString } from '../src/castore/index.ts'
import type { PathInfo } from '../src/castore/index.ts'
import { encodeNixBase32 } from '../src/nix/base32.ts'
import { parseNixHash } from '../src/nix/hash.ts'
import { resolveDataDir } from './config.ts'
import { openBinaryCacheSource, importFromCache } from '../src/http/index.ts'
import type { SigningMode } from '../src/http/index.ts'
import { parsePublicKey, parseTrustedPublicKeys } from '../src/nix/signing.ts'
import { CACHE_NIXOS_ORG_KEY } from '../src/nix/constants.ts'
import { systemDecompressors } from './decompress.ts'
import { progressLine, formatBytes } from './progress.ts'
import { runServe, DEFAULT_HTTP, readTokenFile } from './serve.ts'
import { loadOrCreateKeys } from './keys.ts'
import { DAEMON_USAGE, cmdDaemon, cmdImportFromDaemon, cmdStdio } from './daemon.ts'
import { ERIS_USAGE, cmdEris, cmdFetchEris } from './eris.ts'
import { cmdFetch, cmdPeers, cmdAnnounce, cmdP2P, P2P_ARG_OPTIONS, p2pOptionsFromFlags } from './p2p.ts'
import { ErisPathIndex } from '../src/eris/index.ts'
import { cmdGc, cmdPin, cmdUnpin, cmdPins } from './gc.ts'
import { cmdWatch } from './watch.ts'
import { cmdStatus } from './status.ts'
import { cmdVerify } from './verify.ts'

const VERSION = '0.1.0'

const USAGE = `storeswarm ${VERSION} — peer-to-peer substitution node for Nix and Guix

Usage:
  storeswarm hash [--outboard] [FILE...]        BLAKE3 digest, printed like b3sum; --outboard also
                                               writes FILE.obao (16 KiB-group pre-order outboard)
  storeswarm import [FILE.nar|-] --store-path /nix/store/<hash>-<name>
                 [--reference PATH]... [--deriver PATH] [--sig KEY:SIG]... [--ca CA]
                 [--nar-hash sha256:…]         ingest a NAR (stdin when FILE is - or absent)
  storeswarm import --from-cache URL STORE-PATH... [--closure] [--trusted-public-key NAME:KEY]...
                 [--no-check-sigs]             import from a Nix binary cache (file:// or http(s)://;
                                               none, xz, bzip2, zstd, br, gzip, lzip, lz4); signatures
                                               are checked against the given keys (default:
                                               cache.nixos.org-1)
  storeswarm export STORE-PATH                  write the path's NAR to stdout
  storeswarm info STORE-PATH [--json]           narinfo fields and the castore root
  storeswarm list                               the store paths the node holds
  storeswarm serve [--http HOST:PORT] [--http-guix HOST:PORT] [...]
                                               run the node: a Nix binary cache on ${DEFAULT_HTTP}
                                               (and a Guix one with --http-guix); see below
  storeswarm keys show [--nix|--guix]           the public keys to trust (trusted-public-keys,
                                               guix archive --authorize)
${DAEMON_USAGE}${ERIS_USAGE}
Serve options:
  --http HOST:PORT          Nix listener (default ${DEFAULT_HTTP})
  --http-guix HOST:PORT     Guix listener (StoreDir /gnu/store; off by default)
  --priority N              nix-cache-info Priority (default 30; cache.nixos.org is 40)
  --compression none|zstd   NARs in narinfos uncompressed (default) or zstd (compressed once, cached)
  --sign all|unsigned|none  add the node's signature to every narinfo (default), only to paths
                            without one, or never (upstream signatures are always kept)
  --key-name NAME           name of the Nix key generated on first start
  --nix-secret-key-file F   sign with this Nix key instead of the generated one
  --allow-uploads           accept nix copy --to http://… (loopback clients, and token holders)
  --upload-token TOKEN      token for remote uploads (Bearer, or netrc password); also
  --upload-token-file FILE  $STORESWARM_UPLOAD_TOKEN
  --no-loopback-uploads     require the token from loopback clients too
  --max-upload-size SIZE    largest NAR upload (default 64G)
  --nar-cache-size SIZE     bound of the compressed-NAR cache (default 4G)
  --verify-nars             re-hash every NAR served in full (costs throughput)
  --log-requests            one log line per request
  --daemon-socket PATH      Nix daemon protocol socket (default $XDG_RUNTIME_DIR/storeswarm/daemon.sock,
                            skipped with a warning if in use); --no-daemon for none
  --guix-daemon-socket PATH a Guix daemon protocol socket (off by default)
  --trusted-public-keys K   keys whose signatures make daemon uploads valid (default cache.nixos.org-1)
  --trust-clients           every client of the daemon socket is a trusted user
  --no-eris                 don't compute ERIS capabilities of paths in the background

Peer-to-peer (serve, p2p, fetch, peers, announce):
  --listen MULTIADDR...     where the swarm listens (default /ip4/0.0.0.0/tcp/0)
  --bootstrap MULTIADDR...  peers to join through (default none)
  --mdns                    find peers on the LAN with mDNS (off by default: it tells the LAN you
                            run storeswarm and lets peers ask what you hold)
  --upnp                    ask the router to forward the listen port (off by default)
  --trusted-public-key K    accept path infos from peers signed by this key (name:base64)
  --no-p2p                  no swarm at all
  storeswarm fetch STORE-PATH|BLAKE3-DIGEST     fetch from peers through the running node
  storeswarm peers                              peers the running node is connected to
  storeswarm announce STORE-PATH...             tell the swarm the running node holds these
  storeswarm p2p                                a swarm node without the HTTP cache

Options:
  --data-dir DIR     data directory (default $STORESWARM_DATA_DIR, else $XDG_DATA_HOME/storeswarm,
                     else ~/.local/share/storeswarm)
  -h, --help         this text
  --version          print the version
`

export class UsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case undefined: case '-h': case '--help': case 'help':
        process.stdout.write(USAGE)
        return 0
      case '--version': case 'version':
        process.stdout.write(`storeswarm ${VERSION}\n`)
        return 0
      case 'hash': return await cmdHash(rest)
      case 'import': return rest.includes('--from-daemon') ? await cmdImportFromDaemon(rest) : await cmdImport(rest)
      case 'export': return await cmdExport(rest)
      case 'info': return await cmdInfo(rest)
      case 'list': return await cmdList(rest)
      case 'serve': return await cmdServe(rest)
      case 'keys': return await cmdKeys(rest)
      case 'daemon': return await cmdDaemon(rest)
      case 'stdio': return await cmdStdio(rest)
      case 'eris': return await cmdEris(rest)
      case 'fetch':
        if (rest.some(a => a.startsWith('urn:eris:'))) return await cmdFetchEris(rest)
        return await cmdFetch(rest)
      case 'peers': return await cmdPeers(rest)
      case 'announce': return await cmdAnnounce(rest)
      case 'p2p': return await cmdP2P(rest)
      case 'gc': return await cmdGc(rest)
      case 'pin': return await cmdPin(rest)
      case 'unpin': return await cmdUnpin(rest)
      case 'pins': return await cmdPins(rest)
      case 'watch': return await cmdWatch(rest)
      case 'status': return await cmdStatus(rest)
      case 'verify': return await cmdVerify(rest)
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}; see storeswarm --help`)
    }
  } catch (err: any) {
    if (err?.code === 'EPIPE') return 0
    const name = err?.name !== undefined && err.name !== 'Error' ? `${err.name}: ` : ''
    process.stderr.write(`storeswarm: ${name}${err?.message ?? String(err)}\n`)
    return err instanceof UsageError || err?.name === 'UsageError' ? 2 : 1
  }
}

function parse (args: string[], options: Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }>): { values: Record<string, any>, positionals: string[] } {
  try {
    return parseArgs({ args, options: { 'data-dir': { type: 'string' }, ...options }, allowPositionals: true, strict: true })
  } catch (err: any) {
    throw new UsageError(err.message)
  }
}

async function cmdHash (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { outboard: { type: 'boolean' } })
  await loadKernel()
  const files = positionals.length === 0 ? ['-'] : positionals
  let status = 0
  for (const file of files) {
    try {
      if (file === '-') {
        if (values.outboard === true) throw new UsageError('--outboard needs a file (the size must be known up front)')
        const hasher = new Blake3Hasher()
        for await (const piece of process.stdin) hasher.update(piece)
        process.stdout.write(`${toHex(hasher.digest())}  -\n`)
        continue
      }
      const { size } = await stat(file)
      const outboard = values.outboard === true ? new Uint8Array(outboardSize(size)) : undefined
      const hasher = new TreeHasher({ size, onParent: outboard === undefined ? undefined : (offset, pair) => { outboard.set(pair, offset) } })
      for await (const piece of createReadStream(file, { highWaterMark: 1024 * 1024 })) hasher.update(piece as Buffer)
      const digest = hasher.finalize()
      if (outboard !== undefined) await pipeline(Readable.from([outboard]), createWriteStream(file + '.obao'))
      process.stdout.write(`${toHex(digest)}  ${file}\n`)
    } catch (err: any) {
      if (err instanceof UsageError) throw err
      process.stderr.write(`storeswarm hash: ${file}: ${err.message}\n`)
      status = 1
    }
  }
  return status
}

async function cmdImport (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    'store-path': { type: 'string' },
    reference: { type: 'string', multiple: true },
    deriver: { type: 'string' },
    sig: { type: 'string', multiple: true },
    ca: { type: 'string' },
    'nar-hash': { type: 'string' },
    'from-cache': { type: 'string' },
    closure: { type: 'boolean' },
    'trusted-public-key': { type: 'string', multiple: true },
    'no-check-sigs': { type: 'boolean' }
  })
  if (values['from-cache'] !== undefined) return await cmdImportFromCache(values, positionals)
  for (const flag of ['closure', 'trusted-public-key', 'no-check-sigs']) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --from-cache`)
  }
  if (values['store-path'] === undefined) throw new UsageError('import needs --store-path /nix/store/<hash>-<name>')
  if (positionals.length > 1) throw new UsageError('import takes one NAR file (or - for stdin)')
  const file = positionals[0] ?? '-'
  const narHash = values['nar-hash'] === undefined ? undefined : parseNixHash(values['nar-hash'], { algorithm: 'sha256' }).digest
  await loadKernel()
  const store = await openCastore({ dataDir: resolveDataDir(values['data-dir']) })
  try {
    const source = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1024 * 1024 })
    const sizeHint = file === '-' ? undefined : (await stat(file)).size
    const { info, stats } = await store.importNar(source as AsyncIterable<Uint8Array>, {
      storePath: values['store-path'],
      references: values.reference,
      deriver: values.deriver,
      signatures: values.sig,
      ca: values.ca,
      narHash,
      sizeHint
    })
    // the ERIS read capability of the NAR, an alternate address of the path (kept in its PathInfo)
    const eris = await new ErisPathIndex(store).encodePath(info)
    process.stdout.write(`${info.storePath}\n`)
    process.stderr.write(`ERIS ${eris.urn}\n`)
    process.stderr.write(`imported ${info.narSize} bytes of NAR: ${stats.files} files (${stats.blobsAdded} new blobs, ${stats.bytesAdded} new bytes), ${stats.directories} directories; root ${describeRoot(info)}\n`)
    return 0
  } finally {
    await store.close()
  }
}

async function cmdExport (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {})
  if (positionals.length !== 1) throw new UsageError('export takes one store path')
  await loadKernel()
  const store = await openCastore({ dataDir: resolveDataDir(values['data-dir']) })
  try {
    await pipeline(Readable.from(store.exportNar(positionals[0])), process.stdout)
    return 0
  } finally {
    await store.close()
  }
}

async function cmdInfo (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } })
  if (positionals.length !== 1) throw new UsageError('info takes one store path')
  const store = await openCastore({ dataDir: resolveDataDir(values['data-dir']) })
  try {
    const info = await store.getPathInfo(positionals[0])
    if (info === undefined) {
      process.stderr.write(`storeswarm: ${positionals[0]} is not valid in this store\n`)
      return 1
    }
    const narHash = 'sha256:' + encodeNixBase32(info.narHash)
    if (values.json === true) {
      process.stdout.write(JSON.stringify({
        storePath: info.storePath,
        narHash,
        narSize: info.narSize,
        references: info.references,
        ...(info.deriver !== undefined ? { deriver: info.deriver } : {}),
        signatures: info.signatures,
        ...(info.ca !== undefined ? { ca: info.ca } : {}),
        registrationTime: info.registrationTime,
        ...(info.eris !== undefined ? { eris: info.eris } : {}),
        castore: { root: nodeToJSON(info.node), ...(info.node.type !== 'symlink' ? { digest: toSnixString(info.node.digest) } : {}) }
      }, null, 2) + '\n')
      return 0
    }
    const lines = [
      `StorePath: ${info.storePath}`,
      `NarHash: ${narHash}`,
      `NarSize: ${info.narSize}`,
      `References: ${info.references.map(r => r.slice(r.lastIndexOf('/') + 1)).join(' ')}`,
      ...(info.deriver !== undefined ? [`Deriver: ${info.deriver.slice(info.deriver.lastIndexOf('/') + 1)}`] : []),
      ...info.signatures.map(s => `Sig: ${s}`),
      ...(info.ca !== undefined ? [`CA: ${info.ca}`] : []),
      ...(info.eris !== undefined ? [`ERIS: ${info.eris}`] : []),
      `CastoreRoot: ${describeRoot(info)}`
    ]
    process.stdout.write(lines.join('\n') + '\n')
    return 0
  } finally {
    await store.close()
  }
}

async function cmdList (args: string[]): Promise<number> {
  const { values } = parse(args, {})
  const store = await openCastore({ dataDir: resolveDataDir(values['data-dir']) })
  try {
    for await (const info of store.pathInfos.list()) process.stdout.write(info.storePath + '\n')
    return 0
  } finally {
    await store.close()
  }
}

function describeRoot (info: PathInfo): string {
  const n = info.node
  if (n.type === 'symlink') return `symlink -> ${Buffer.from(n.target).toString()}`
  return `${n.type} ${toHex(n.digest)} (${n.type === 'file' ? `${n.size} bytes` : `size ${n.size}`})`
}

async function cmdImportFromCache (values: Record<string, any>, positionals: string[]): Promise<number> {
  for (const flag of ['store-path', 'reference', 'deriver', 'sig', 'ca', 'nar-hash']) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} does not go with --from-cache (the narinfo says it)`)
  }
  if (positionals.length === 0) throw new UsageError('import --from-cache URL needs at least one store path')
  const keys = ((values['trusted-public-key'] as string[] | undefined) ?? [CACHE_NIXOS_ORG_KEY]).map(k => {
    try { return parsePublicKey(k) } catch (err: any) { throw new UsageError(`--trusted-public-key: ${err.message}`) }
  })
  let source
  try { source = openBinaryCacheSource(values['from-cache']) } catch (err: any) { throw new UsageError(err.message) }
  await loadKernel()
  const store = await openCastore({ dataDir: resolveDataDir(values['data-dir']) })
  const progress = progressLine()
  try {
    const result = await importFromCache({
      castore: store,
      source,
      paths: positionals,
      closure: values.closure === true,
      trustedKeys: keys,
      noCheckSigs: values['no-check-sigs'] === true,
      decompressors: systemDecompressors(),
      onProgress: (p) => {
        if (p.phase === 'narinfo') progress.update(`querying ${p.storePath}`)
        else if (p.phase === 'nar') progress.update(`[${p.index}/${p.total}] ${p.storePath.slice(p.storePath.lastIndexOf('/') + 1)}  ${formatBytes(p.bytes)}${p.fileSize !== undefined ? ` / ${formatBytes(p.fileSize)}` : ''}`)
      }
    })
    progress.done()
    for (const path of result.imported) process.stdout.write(`${path}\n`)
    process.stderr.write(`imported ${result.imported.length} path(s) from ${source.url}${result.alreadyValid.length > 0 ? `; ${result.alreadyValid.length} already valid` : ''}\n`)
    return 0
  } finally {
    progress.done()
    await store.close()
  }
}

function parseSize (text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(text)
  if (m === null) throw new UsageError(`${flag}: bad size ${JSON.stringify(text)} (use e.g. 512M, 4G)`)
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T']
  return Math.floor(Number(m[1]) * mult)
}

async function cmdServe (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    http: { type: 'string' },
    'http-guix': { type: 'string' },
    priority: { type: 'string' },
    compression: { type: 'string' },
    sign: { type: 'string' },
    'key-name': { type: 'string' },
    'nix-secret-key-file': { type: 'string' },
    'allow-uploads': { type: 'boolean' },
    'upload-token': { type: 'string' },
    'upload-token-file': { type: 'string' },
    'no-loopback-uploads': { type: 'boolean' },
    'max-upload-size': { type: 'string' },
    'nar-cache-size': { type: 'string' },
    'verify-nars': { type: 'boolean' },
    'log-requests': { type: 'boolean' },
    'daemon-socket': { type: 'string' },
    'no-daemon': { type: 'boolean' },
    'guix-daemon-socket': { type: 'string' },
    'trusted-public-keys': { type: 'string', multiple: true },
    'trust-clients': { type: 'boolean' },
    'no-eris': { type: 'boolean' },
    ...P2P_ARG_OPTIONS
  })
  if (positionals.length > 0) throw new UsageError('serve takes no positional arguments')
  if (values['no-daemon'] === true && values['daemon-socket'] !== undefined) throw new UsageError('--no-daemon and --daemon-socket exclude each other')
  let trustedPublicKeys
  try {
    // one trust set: --trusted-public-keys (Nix's space-separated form) and --trusted-public-key
    const given = [...(values['trusted-public-keys'] ?? []), ...(values['trusted-public-key'] ?? [])] as string[]
    trustedPublicKeys = given.length === 0 ? undefined : given.flatMap(k => parseTrustedPublicKeys(k))
  } catch (err: any) {
    throw new UsageError(`--trusted-public-keys: ${err.message}`)
  }
  const compression = values.compression ?? 'none'
  if (compression !== 'none' && compression !== 'zstd') throw new UsageError('--compression must be none or zstd')
  const sign = values.sign ?? 'all'
  if (!['all', 'unsigned', 'none'].includes(sign)) throw new UsageError('--sign must be all, unsigned or none')
  let priority: number | undefined
  if (values.priority !== undefined) {
    priority = Number(values.priority)
    if (!Number.isSafeInteger(priority) || priority < 0) throw new UsageError('--priority must be a non-negative integer')
  }
  let uploadToken: string | undefined = values['upload-token'] ?? (process.env.STORESWARM_UPLOAD_TOKEN !== undefined && process.env.STORESWARM_UPLOAD_TOKEN !== '' ? process.env.STORESWARM_UPLOAD_TOKEN : undefined)
  if (values['upload-token-file'] !== undefined) uploadToken = await readTokenFile(values['upload-token-file'])
  if (uploadToken !== undefined && values['allow-uploads'] !== true) throw new UsageError('an upload token needs --allow-uploads')
  const controller = new AbortController()
  const onSignal = (): void => { controller.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await runServe({
      dataDir: resolveDataDir(values['data-dir']),
      http: values.http,
      httpGuix: values['http-guix'],
      priority,
      compression,
      sign: sign as SigningMode,
      keyName: values['key-name'],
      nixSecretKeyFile: values['nix-secret-key-file'],
      allowUploads: values['allow-uploads'] === true,
      uploadToken,
      loopbackUploads: values['no-loopback-uploads'] !== true,
      maxUploadBytes: values['max-upload-size'] === undefined ? undefined : parseSize(values['max-upload-size'], '--max-upload-size'),
      compressedCacheBytes: values['nar-cache-size'] === undefined ? undefined : parseSize(values['nar-cache-size'], '--nar-cache-size'),
      verifyNars: values['verify-nars'] === true,
      logRequests: values['log-requests'] === true,
      daemonSocket: values['no-daemon'] === true ? false : values['daemon-socket'],
      guixDaemonSocket: values['guix-daemon-socket'],
      trustedPublicKeys,
      trustClients: values['trust-clients'] === true,
      eris: values['no-eris'] !== true,
      p2p: p2pOptionsFromFlags(values, resolveDataDir(values['data-dir'])),
      signal: controller.signal
    })
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function cmdKeys (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'show') throw new UsageError('usage: storeswarm keys show [--nix|--guix]')
  const { values, positionals } = parse(rest, { nix: { type: 'boolean' }, guix: { type: 'boolean' }, 'nix-secret-key-file': { type: 'string' } })
  if (positionals.length > 0) throw new UsageError('keys show takes no positional arguments')
  const keys = await loadOrCreateKeys(resolveDataDir(values['data-dir']), { readOnly: true, nixSecretKeyFile: values['nix-secret-key-file'] })
  if (values.nix === true) { process.stdout.write(keys.nixPublic + '\n'); return 0 }
  if (values.guix === true) { process.stdout.write(keys.guixPublic); return 0 }
  process.stdout.write([
    'Nix — add to /etc/nix/nix.conf (with the node in substituters):',
    `  extra-trusted-public-keys = ${keys.nixPublic}`,
    '',
    'Guix — authorize with `storeswarm keys show --guix | sudo guix archive --authorize`:',
    ...keys.guixPublic.trimEnd().split('\n').map(l => '  ' + l),
    '',
    `Key files: ${keys.dir}`,
    ''
  ].join('\n'))
  return 0
}
