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
import { ConfigError, commandDataDir, configArgOptions, resolveConfig, configToServeOptions, formatConfigToml, configToJSON, configReferenceMarkdown, configReferenceText } from './config.ts'
import { COMMANDS, commandHelp, topLevelHelp } from './help.ts'
import { createLogger } from './log.ts'
import { openBinaryCacheSource, importFromCache } from '../src/http/index.ts'
import { parsePublicKey } from '../src/nix/signing.ts'
import { CACHE_NIXOS_ORG_KEY } from '../src/nix/constants.ts'
import { systemDecompressors } from './decompress.ts'
import { progressLine, formatBytes } from './progress.ts'
import { runServe, readTokenFile } from './serve.ts'
import { loadOrCreateKeys } from './keys.ts'
import { cmdDaemon, cmdImportFromDaemon, cmdStdio } from './daemon.ts'
import { cmdEris, cmdFetchEris } from './eris.ts'
import { cmdFetch, cmdPeers, cmdAnnounce, cmdP2P } from './p2p.ts'
import { ErisPathIndex } from '../src/eris/index.ts'
import { cmdGc, cmdPin, cmdUnpin, cmdPins } from './gc.ts'
import { cmdWatch } from './watch.ts'
import { cmdStatus } from './status.ts'
import { cmdVerify } from './verify.ts'

const VERSION = '0.1.0'

export class UsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    // help is handled here, for every command alike: `CMD --help`, `CMD -h`, `help CMD`
    const dashdash = rest.indexOf('--')
    const own = dashdash < 0 ? rest : rest.slice(0, dashdash)
    if (command !== undefined && KNOWN_COMMANDS.has(command) && (own.includes('--help') || own.includes('-h'))) {
      process.stdout.write(commandHelp(command)!)
      return 0
    }
    switch (command) {
      case undefined: case '-h': case '--help':
        process.stdout.write(topLevelHelp(VERSION))
        return 0
      case 'help': {
        if (rest.length === 0) { process.stdout.write(topLevelHelp(VERSION)); return 0 }
        const text = commandHelp(rest[0])
        if (text === undefined) throw new UsageError(`no command ${JSON.stringify(rest[0])}; see storeswarm --help`)
        process.stdout.write(text)
        return 0
      }
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
      case 'config': return await cmdConfig(rest)
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}; see storeswarm --help`)
    }
  } catch (err: any) {
    if (err?.code === 'EPIPE') return 0
    const name = err?.name !== undefined && err.name !== 'Error' ? `${err.name}: ` : ''
    process.stderr.write(`storeswarm: ${name}${err?.message ?? String(err)}\n`)
    return exitCodeOf(err)
  }
}

const KNOWN_COMMANDS = new Set(COMMANDS.map(c => c.name))

/** 2: usage error (including a bad flag value); 3: configuration error (file, environment). */
export function exitCodeOf (err: any): number {
  if (err instanceof ConfigError || err?.name === 'ConfigError') return err?.origin === 'flag' ? 2 : 3
  if (err instanceof UsageError || err?.name === 'UsageError') return 2
  return 1
}

function parse (args: string[], options: Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }>): { values: Record<string, any>, positionals: string[] } {
  try {
    return parseArgs({ args, options: { 'data-dir': { type: 'string' }, config: { type: 'string' }, ...options }, allowPositionals: true, strict: true })
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
  const store = await openCastore({ dataDir: commandDataDir(values) })
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
  const store = await openCastore({ dataDir: commandDataDir(values) })
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
  const store = await openCastore({ dataDir: commandDataDir(values) })
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
  const { values, positionals } = parse(args, { json: { type: 'boolean' } })
  if (positionals.length > 0) throw new UsageError('list takes no arguments')
  const store = await openCastore({ dataDir: commandDataDir(values) })
  try {
    if (values.json === true) {
      const paths: string[] = []
      for await (const info of store.pathInfos.list()) paths.push(info.storePath)
      process.stdout.write(JSON.stringify(paths, null, 2) + '\n')
      return 0
    }
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
  const store = await openCastore({ dataDir: commandDataDir(values) })
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

async function cmdServe (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...configArgOptions(), 'upload-token': { type: 'string' } })
  if (positionals.length > 0) throw new UsageError('serve takes no positional arguments')
  const cfg = resolveConfig({ flags: values })
  const options = configToServeOptions(cfg)
  const log = createLogger({ format: options.logFormat })
  const tokenFile = cfg.settings.get('http.upload-token-file')!.value as string | undefined
  let uploadToken: string | undefined = values['upload-token'] ?? (process.env.STORESWARM_UPLOAD_TOKEN !== undefined && process.env.STORESWARM_UPLOAD_TOKEN !== '' ? process.env.STORESWARM_UPLOAD_TOKEN : undefined)
  if (tokenFile !== undefined) uploadToken = await readTokenFile(tokenFile)
  if (uploadToken !== undefined && options.allowUploads !== true) throw new UsageError('an upload token needs --allow-uploads (http.allow-uploads = true)')
  if (cfg.file !== undefined) log(`storeswarm: configuration from ${cfg.file}`)
  const controller = new AbortController()
  const onSignal = (): void => { controller.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await runServe({ ...options, uploadToken, log: undefined, signal: controller.signal })
    return 0
  } catch (err: any) {
    if (log.format !== 'json') throw err
    // the error as a JSON log line too, so a log collector sees why the node stopped
    log.event('error', err?.message ?? String(err), { error: err?.name ?? 'Error' })
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function cmdConfig (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'reference') {
    const { values, positionals } = parse(rest, { markdown: { type: 'boolean' } })
    if (positionals.length > 0) throw new UsageError('config reference takes no arguments')
    process.stdout.write(values.markdown === true ? configReferenceMarkdown() : configReferenceText())
    return 0
  }
  if (sub !== 'show') throw new UsageError('usage: storeswarm config show [--json] | storeswarm config reference [--markdown]')
  const { values, positionals } = parse(rest, { ...configArgOptions(), 'upload-token': { type: 'string' }, json: { type: 'boolean' } })
  if (positionals.length > 0) throw new UsageError('config show takes no positional arguments')
  const cfg = resolveConfig({ flags: values })
  process.stdout.write(values.json === true ? JSON.stringify(configToJSON(cfg), null, 2) + '\n' : formatConfigToml(cfg))
  return 0
}

async function cmdKeys (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'show') throw new UsageError('usage: storeswarm keys show [--nix|--guix|--json]')
  const { values, positionals } = parse(rest, { nix: { type: 'boolean' }, guix: { type: 'boolean' }, json: { type: 'boolean' }, 'nix-secret-key-file': { type: 'string' } })
  if (positionals.length > 0) throw new UsageError('keys show takes no positional arguments')
  // the keys `serve` would use: the data directory and secret key file of the configuration too
  const cfg = resolveConfig({ flags: { config: values.config, 'data-dir': values['data-dir'], 'nix-secret-key-file': values['nix-secret-key-file'] } })
  const keys = await loadOrCreateKeys(cfg.settings.get('data-dir')!.value as string, { readOnly: true, nixSecretKeyFile: cfg.settings.get('http.secret-key-file')!.value as string | undefined })
  if (values.json === true) { process.stdout.write(JSON.stringify({ nix: keys.nixPublic, guix: keys.guixPublic, dir: keys.dir }, null, 2) + '\n'); return 0 }
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
