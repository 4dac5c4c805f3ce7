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

const VERSION = '0.1.0'

const USAGE = `storeswarm ${VERSION} — peer-to-peer substitution node for Nix and Guix

Usage:
  storeswarm hash [--outboard] [FILE...]        BLAKE3 digest, printed like b3sum; --outboard also
                                               writes FILE.obao (16 KiB-group pre-order outboard)
  storeswarm import [FILE.nar|-] --store-path /nix/store/<hash>-<name>
                 [--reference PATH]... [--deriver PATH] [--sig KEY:SIG]... [--ca CA]
                 [--nar-hash sha256:…]         ingest a NAR (stdin when FILE is - or absent)
  storeswarm export STORE-PATH                  write the path's NAR to stdout
  storeswarm info STORE-PATH [--json]           narinfo fields and the castore root
  storeswarm list                               the store paths the node holds

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
      case 'import': return await cmdImport(rest)
      case 'export': return await cmdExport(rest)
      case 'info': return await cmdInfo(rest)
      case 'list': return await cmdList(rest)
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}; see storeswarm --help`)
    }
  } catch (err: any) {
    if (err?.code === 'EPIPE') return 0
    const name = err?.name !== undefined && err.name !== 'Error' ? `${err.name}: ` : ''
    process.stderr.write(`storeswarm: ${name}${err?.message ?? String(err)}\n`)
    return err instanceof UsageError ? 2 : 1
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
    'nar-hash': { type: 'string' }
  })
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
    process.stdout.write(`${info.storePath}\n`)
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
