/**
 * One small handler per implemented op (§2 table, facade column M/S). A handler
 * runs after the op's arguments were read; it consumes any payload, then either
 * queues `STDERR_LAST` + the reply body (`conn.reply`) or throws a
 * {@link DaemonOpError} — which the connection reports with `STDERR_ERROR` and
 * survives — after making sure the payload was consumed. Any other error closes
 * the connection.
 *
 * Ops without a handler get "operation 'X' (n) is not supported by storeswarm".
 */
import { createHash } from 'node:crypto'
import { verifyCastore } from '../castore/verify.ts'
import type { PathInfo } from '../castore/path-info.ts'
import { toHex } from '../castore/digest.ts'
import { writeNar } from '../nar/index.ts'
import {
  StorePath,
  encodeNixBase32,
  isNixBase32,
  makeFixedOutputPath,
  makeTextPath,
  parseHashAlgorithm,
  verifySignature
} from '../nix/index.ts'
import type { HashAlgorithm } from '../nix/index.ts'
import { BuildStatus, GATE, MAX_SHORT_STRING_LENGTH, STDERR_WRITE } from './constants.ts'
import type { OpName } from './constants.ts'
import { DaemonOpError, ProtocolError, UnsupportedOperationError, UploadRejectedError } from './errors.ts'
import { writeExportTrailer } from './export.ts'
import { FramedSource } from './framed.ts'
import { serveNar } from './nar-serve.ts'
import { OPS, readPathsWithNars } from './ops.ts'
import type { AddToStoreArgs, OpArgs } from './ops.ts'
import type { DaemonConnection } from './server.ts'
import { StorePathSetCodec, makeBuildResult } from './types.ts'
import type { DerivedPath, KeyedBuildResult, UnkeyedValidPathInfo, ValidPathInfo } from './types.ts'
import {
  checkStoreDir,
  checkUploadTrust,
  importOptionsFromWire,
  inStoreDir,
  readRawNar,
  singleFileLayout,
  verifyContentAddress,
  wireFingerprint
} from './upload.ts'
import { WireReader, WireWriter, concatBytes } from './wire.ts'
import type { WireVersion } from './version.ts'
import { workerAtLeast } from './version.ts'
import type { AbortOptions } from '../abort.ts'

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/** Most references/signatures one uploaded path info may list (bounds memory per item). */
const MAX_UPLOAD_REFERENCES = 65_536

const notValid = (path: string): DaemonOpError => new DaemonOpError(`path '${path}' is not valid`)
const noSubstituter = (path: string): string => `path '${path}' is required, but there is no substituter that can build it`
const noBuilds = (drv: string): string => `cannot build '${drv}': building derivations is not supported by storeswarm (it only serves and stores existing paths)`

/** Path info of `path`, or undefined; paths outside the served store are an error. */
async function lookup (conn: DaemonConnection, path: string): Promise<PathInfo | undefined> {
  checkStoreDir([path], conn.storeDir)
  const cache = conn.context.pathInfoCache
  const cached = cache.get(path)
  if (cached !== undefined) { conn.context.castore.touch?.(path); return cached }
  const info = await conn.context.castore.getPathInfo(path, { signal: conn.signal })
  if (info !== undefined) {
    cache.set(path, info)
    // last access, for GC's least-recently-used order (batched in memory)
    conn.context.castore.touch?.(path)
  }
  return info
}

/** Keeps GC off the path's tree while its NAR is sent; not valid any more if it was collected. */
async function leaseTree (conn: DaemonConnection, path: string, info: PathInfo): Promise<{ release: () => void }> {
  const castore = conn.context.castore
  if (castore.lease === undefined) return { release: () => {} }
  const lease = await castore.lease(info.node, { signal: conn.signal })
  if (lease === undefined) {
    conn.context.pathInfoCache.delete(path)
    throw notValid(path)
  }
  return lease
}

async function requireInfo (conn: DaemonConnection, path: string): Promise<PathInfo> {
  const info = await lookup(conn, path)
  if (info === undefined) throw notValid(path)
  return info
}

async function isValid (conn: DaemonConnection, path: string): Promise<boolean> {
  return (await lookup(conn, path)) !== undefined
}

/** castore PathInfo → wire UnkeyedValidPathInfo (§3.1): hex NarHash, seconds, never ultimate. */
export function toWirePathInfo (info: PathInfo): UnkeyedValidPathInfo {
  return {
    deriver: info.deriver ?? null,
    narHash: toHex(info.narHash),
    references: info.references,
    registrationTime: Math.floor(info.registrationTime / 1000),
    narSize: info.narSize,
    ultimate: false,
    signatures: info.signatures,
    ca: info.ca ?? null
  }
}

async function * allPaths (conn: DaemonConnection): AsyncGenerator<PathInfo> {
  for await (const info of conn.context.castore.pathInfos.list({ signal: conn.signal })) {
    if (inStoreDir(info.storePath, conn.storeDir)) yield info
  }
}

/** What an opaque/built derived path means for a store that never builds. */
async function derivedPathStatus (conn: DaemonConnection, p: DerivedPath): Promise<{ status: number, errorMsg: string }> {
  if (p.type === 'built') return { status: BuildStatus.MiscFailure, errorMsg: noBuilds(p.drvPath) }
  if (await isValid(conn, p.path)) return { status: BuildStatus.AlreadyValid, errorMsg: '' }
  return { status: BuildStatus.NoSubstituters, errorMsg: noSubstituter(p.path) }
}

/** Runs `work`, then consumes the rest of the payload with `finish`; errors become op errors once in sync. */
async function withPayload (path: string, finish: () => Promise<void>, work: () => Promise<void>): Promise<void> {
  try {
    await work()
  } catch (err) {
    await finish() // if this fails the stream is out of sync: the error closes the connection
    throw asUploadError(path, err)
  }
  await finish()
}

function asUploadError (path: string, err: unknown): DaemonOpError {
  if (err instanceof DaemonOpError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new UploadRejectedError(`cannot add path '${path}': ${message}`)
}

/** References must be in the store dir and valid (or added earlier in the same upload). */
async function checkReferences (conn: DaemonConnection, info: ValidPathInfo, batch: ReadonlySet<string>): Promise<void> {
  checkStoreDir([info.path, ...info.references, ...(info.deriver != null ? [info.deriver] : [])], conn.storeDir)
  for (const ref of info.references) {
    if (ref === info.path || batch.has(ref)) continue
    if (!(await isValid(conn, ref))) {
      throw new UploadRejectedError(`cannot add path '${info.path}' because it references the invalid path '${ref}'`)
    }
  }
}

/** Verifies and ingests one uploaded path; nothing becomes valid unless every check passes. */
async function ingestUpload (
  conn: DaemonConnection, info: ValidPathInfo, nar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  flags: { dontCheckSigs: boolean }, batch: ReadonlySet<string>
): Promise<void> {
  const check = checkUploadTrust(info, conn.storeDir, conn.context.policy, { trusted: conn.trusted, dontCheckSigs: flags.dontCheckSigs })
  await checkReferences(conn, info, batch)
  const source = check.ca != null ? verifyContentAddress(toAsync(nar), check.ca, info.path) : nar
  const { info: added } = await conn.context.castore.importNar(source, { ...importOptionsFromWire(info), signal: conn.signal })
  conn.context.pathInfoCache.set(added.storePath, added)
}

async function * toAsync (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield * source
}

/** A single regular (non-executable) file as a NAR. */
function fileNar (contents: Uint8Array): AsyncGenerator<Uint8Array> {
  return writeNar({ type: 'regular', executable: false, size: contents.byteLength, contents: async function * () { yield contents } })
}

function hashBytes (algorithm: HashAlgorithm, parts: Iterable<Uint8Array>): Uint8Array {
  const h = createHash(algorithm)
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

/** Reads a framed payload into memory up to `limit` bytes, always to its terminator. */
async function collectFramed (conn: DaemonConnection, limit: number): Promise<Uint8Array[] | null> {
  conn.unmetered()
  const framed = new FramedSource(conn.reader, { signal: conn.signal })
  const parts: Uint8Array[] = []
  let size = 0
  for await (const piece of framed) {
    size += piece.byteLength
    if (size <= limit) parts.push(piece.slice())
  }
  return size <= limit ? parts : null
}

/** Adds a content-addressed path whose store path the server computed itself. */
async function addComputedPath (
  conn: DaemonConnection, path: StorePath, nar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, references: string[], ca: string
): Promise<PathInfo> {
  const existing = await lookup(conn, path.toString())
  if (existing !== undefined) return existing
  const info: ValidPathInfo = {
    path: path.toString(), deriver: null, narHash: '', references, registrationTime: 0, narSize: 0, ultimate: false, signatures: [], ca
  }
  await checkReferences(conn, info, new Set())
  const { info: added } = await conn.context.castore.importNar(nar, {
    storePath: info.path, references, ca, signal: conn.signal
  })
  conn.context.pathInfoCache.set(added.storePath, added)
  return added
}

function storePathsOf (conn: DaemonConnection, paths: readonly string[]): StorePath[] {
  checkStoreDir(paths, conn.storeDir)
  return paths.map((p) => StorePath.parse(p, conn.storeDir))
}

function caHash (algorithm: HashAlgorithm, digest: Uint8Array): string {
  return `${algorithm}:${encodeNixBase32(digest)}`
}

function badName (name: string, err: unknown): DaemonOpError {
  return new DaemonOpError(`cannot add '${name}' to the store: ${err instanceof Error ? err.message : String(err)}`)
}

/* ------------------------------------------------------------------------ */
/* Argument readers that differ from the codec table                         */
/* ------------------------------------------------------------------------ */

/** AddTextToStore (8) with the text as raw bytes (the codec decodes UTF-8). */
interface AddTextArgsRaw { name: string, text: Uint8Array, references: string[] }

type ArgsReader = (reader: WireReader, version: WireVersion, options?: AbortOptions) => Promise<unknown>

export const READ_ARGS_OVERRIDES: Partial<Record<OpName, ArgsReader>> = {
  AddTextToStore: async (reader, version, options): Promise<AddTextArgsRaw> => {
    const name = await reader.readString(MAX_SHORT_STRING_LENGTH, 'name', options)
    const text = await reader.readBytes(undefined, 'text', options)
    const references = await StorePathSetCodec.read(reader, version, options)
    return { name, text, references }
  }
}

/* ------------------------------------------------------------------------ */
/* The handlers                                                              */
/* ------------------------------------------------------------------------ */

type Handler<K extends OpName> = (conn: DaemonConnection, args: OpArgs[K]) => Promise<void>
type Handlers = { [K in OpName]?: Handler<K> }

const one = (conn: DaemonConnection, op: 'EnsurePath' | 'AddTempRoot' | 'AddIndirectRoot' | 'SyncWithGC' | 'OptimiseStore' | 'ClearFailedPaths' | 'BuildPaths'): void => {
  conn.reply(op, 1)
}

export const HANDLERS: Handlers = {
  /* ---- queries ---- */

  async IsValidPath (conn, { path }) {
    conn.reply('IsValidPath', await isValid(conn, path))
  },

  async QueryValidPaths (conn, { paths }) {
    checkStoreDir(paths, conn.storeDir)
    const valid: string[] = []
    for (const p of paths) if (await isValid(conn, p)) valid.push(p)
    conn.reply('QueryValidPaths', valid)
  },

  async QueryPathInfo (conn, { path }) {
    const info = await lookup(conn, path)
    if (info === undefined) {
      // < 1.17 and Guix have no valid flag: old clients look for "is not valid" (§7.7)
      if (conn.dialect === 'guix' || !workerAtLeast(conn.codec, GATE.PATH_INFO_VALID_FLAG)) throw notValid(path)
      conn.reply('QueryPathInfo', null)
      return
    }
    conn.reply('QueryPathInfo', toWirePathInfo(info))
  },

  async QueryPathHash (conn, { path }) {
    conn.reply('QueryPathHash', toHex((await requireInfo(conn, path)).narHash))
  },

  async QueryReferences (conn, { path }) {
    conn.reply('QueryReferences', (await requireInfo(conn, path)).references)
  },

  async QueryDeriver (conn, { path }) {
    conn.reply('QueryDeriver', (await requireInfo(conn, path)).deriver ?? null)
  },

  async QueryReferrers (conn, { path }) {
    checkStoreDir([path], conn.storeDir)
    const referrers: string[] = []
    for await (const info of allPaths(conn)) if (info.references.includes(path)) referrers.push(info.storePath)
    conn.reply('QueryReferrers', referrers)
  },

  async QueryValidDerivers (conn, { path }) {
    const deriver = (await requireInfo(conn, path)).deriver
    conn.reply('QueryValidDerivers', deriver !== undefined && inStoreDir(deriver, conn.storeDir) && await isValid(conn, deriver) ? [deriver] : [])
  },

  async QueryAllValidPaths (conn) {
    const paths: string[] = []
    for await (const info of allPaths(conn)) paths.push(info.storePath)
    conn.reply('QueryAllValidPaths', paths)
  },

  async QueryPathFromHashPart (conn, { hashPart }) {
    if (!isNixBase32(hashPart) || hashPart.length !== 32) throw new DaemonOpError(`invalid hash part '${hashPart.slice(0, 64)}'`)
    const info = await conn.context.castore.getPathInfo(hashPart, { signal: conn.signal })
    conn.reply('QueryPathFromHashPart', info !== undefined && inStoreDir(info.storePath, conn.storeDir) ? info.storePath : null)
  },

  /* The node substitutes nothing on its own behalf: no path is "substitutable". */
  async HasSubstitutes (conn, { path }) {
    checkStoreDir([path], conn.storeDir)
    conn.reply('HasSubstitutes', false)
  },
  async QuerySubstitutablePaths (conn, { paths }) {
    checkStoreDir(paths, conn.storeDir)
    conn.reply('QuerySubstitutablePaths', [])
  },
  async QuerySubstitutablePathInfo (conn, { path }) {
    checkStoreDir([path], conn.storeDir)
    conn.reply('QuerySubstitutablePathInfo', null)
  },
  async QuerySubstitutablePathInfos (conn, { paths }) {
    checkStoreDir(paths.map(([p]) => p), conn.storeDir)
    conn.reply('QuerySubstitutablePathInfos', [])
  },

  async QueryMissing (conn, { targets }) {
    const unknown: string[] = []
    for (const t of targets) {
      if (t.type === 'built') unknown.push(t.drvPath)
      else if (!(await isValid(conn, t.path))) unknown.push(t.path)
    }
    conn.reply('QueryMissing', { willBuild: [], willSubstitute: [], unknown, downloadSize: 0n, narSize: 0n })
  },

  async QueryRealisation (conn, args) {
    if (args.form === 'binary') conn.reply('QueryRealisation', { form: 'binary', realisation: null })
    else if (workerAtLeast(conn.codec, GATE.REALISATION_JSON)) conn.reply('QueryRealisation', { form: 'json', realisations: [] })
    else conn.reply('QueryRealisation', { form: 'paths', outPaths: [] })
  },

  async QueryFailedPaths (conn) {
    conn.reply('QueryFailedPaths', [])
  },

  async FindRoots (conn) {
    conn.reply('FindRoots', [])
  },

  /* ---- "building" = making sure existing paths are valid ---- */

  async BuildPaths (conn, { paths }) {
    for (const p of paths) {
      const { status, errorMsg } = await derivedPathStatus(conn, p)
      if (status !== BuildStatus.AlreadyValid) throw new DaemonOpError(errorMsg)
    }
    one(conn, 'BuildPaths')
  },

  async BuildPathsWithResults (conn, { paths }) {
    const results: KeyedBuildResult[] = []
    for (const p of paths) {
      const { status, errorMsg } = await derivedPathStatus(conn, p)
      results.push({ path: p, ...makeBuildResult(status, { errorMsg }) })
    }
    conn.reply('BuildPathsWithResults', results)
  },

  async EnsurePath (conn, { path }) {
    if (!(await isValid(conn, path))) throw new DaemonOpError(noSubstituter(path))
    one(conn, 'EnsurePath')
  },

  /* ---- no-ops: the castore has no garbage collector that roots could protect from ---- */

  async AddTempRoot (conn, { path }) {
    checkStoreDir([path], conn.storeDir)
    one(conn, 'AddTempRoot')
  },
  async AddIndirectRoot (conn) { one(conn, 'AddIndirectRoot') },
  async SyncWithGC (conn) { one(conn, 'SyncWithGC') },
  async OptimiseStore (conn) { one(conn, 'OptimiseStore') },
  async ClearFailedPaths (conn) { one(conn, 'ClearFailedPaths') },

  async SetOptions (conn) {
    conn.startReply() // settings are accepted and ignored: nothing they control happens here
  },

  async BuiltinBuilders (conn) {
    conn.reply('BuiltinBuilders', [])
  },

  async SubstituteURLs (conn) {
    conn.reply('SubstituteURLs', [])
  },

  async VerifyStore (conn, { checkContents, repair }) {
    if (repair) throw new UnsupportedOperationError('repairing is not supported by storeswarm')
    const report = await verifyCastore(conn.context.castore, { narHashes: checkContents, contents: checkContents, signal: conn.signal })
    for (const p of report.problems) conn.logLine(`${p.storePath ?? p.object ?? 'store'}: ${p.problem}`)
    conn.reply('VerifyStore', report.problems.length > 0)
  },

  async AddSignatures (conn, { path, signatures }) {
    const info = await requireInfo(conn, path)
    const fp = wireFingerprint({ path, ...toWirePathInfo(info) }, conn.storeDir)
    for (const sig of signatures) {
      if (!/^[^:\s]+:[A-Za-z0-9+/]+=*$/.test(sig)) throw new DaemonOpError(`invalid signature '${sig.slice(0, 100)}'`)
      if (!conn.trusted && !verifySignature(fp, sig, conn.context.policy.trustedPublicKeys)) {
        throw new DaemonOpError('you are not privileged to add signatures that no trusted key verifies')
      }
    }
    const merged = [...new Set([...info.signatures, ...signatures])]
    if (merged.length !== info.signatures.length) {
      const updated = { ...info, signatures: merged }
      await conn.context.castore.pathInfos.put(updated, { signal: conn.signal })
      conn.context.pathInfoCache.set(path, updated)
    }
    conn.reply('AddSignatures', 1)
  },

  /* ---- content out ---- */

  async NarFromPath (conn, { path }) {
    const info = await requireInfo(conn, path)
    const { castore } = conn.context
    const lease = await leaseTree(conn, path, info)
    try {
      conn.startReply()
      // an error from here on cannot be reported: it closes the connection (§1.5)
      if (conn.context.verifyOnServe) {
        for await (const piece of castore.renderVerified(info, { signal: conn.signal })) await conn.write(piece)
      } else {
        const nar = serveNar(info.node, castore, { signal: conn.signal })
        for await (const piece of nar.stream) await conn.write(piece, nar.release)
      }
    } finally {
      lease.release()
    }
    conn.context.onNarServed?.({ storePath: info.storePath, bytes: info.narSize })
  },

  async ExportPath (conn, { path }) {
    const info = await requireInfo(conn, path)
    const piece = 64 * 1024
    const send = async (bytes: Uint8Array): Promise<void> => {
      for (let off = 0; off < bytes.byteLength; off += piece) {
        conn.out.writeU64(STDERR_WRITE).writeBytes(bytes.subarray(off, Math.min(bytes.byteLength, off + piece)))
        await conn.flush()
      }
    }
    // still inside the stderr loop: a failure here is reported with STDERR_ERROR
    const lease = await leaseTree(conn, path, info)
    try {
      for await (const chunk of conn.context.castore.renderVerified(info, { signal: conn.signal })) await send(chunk)
    } catch (err: any) {
      if (conn.signal.aborted) throw err
      throw new DaemonOpError(`exporting '${path}' failed: ${String(err?.message ?? err)}`)
    } finally {
      lease.release()
    }
    const trailer = new WireWriter()
    writeExportTrailer(trailer, { path, references: info.references, deriver: info.deriver ?? null })
    await send(trailer.take())
    conn.reply('ExportPath', 1)
  },

  /* ---- content in ---- */

  async AddToStoreNar (conn, { info, repair, dontCheckSigs }) {
    if (repair && !conn.trusted) {
      await drainAddToStoreNar(conn, info)
      throw new DaemonOpError('repairing is not allowed because you are not a trusted user')
    }
    const kind = OPS.AddToStoreNar.argsPayload(conn.codec)
    conn.unmetered()
    if (kind === 'framed') {
      const framed = new FramedSource(conn.reader, { signal: conn.signal, maxTotalLength: conn.context.limits.maxNarSize })
      await withPayload(info.path, async () => { await framed.drain() }, async () => {
        if (!repair && await isValid(conn, info.path)) return
        await ingestUpload(conn, info, framed, { dontCheckSigs }, new Set())
      })
    } else if (kind === 'stderr-read') {
      // 1.21–1.22: pull exactly narSize bytes with STDERR_READ; the client only sends when asked
      if (!repair && await isValid(conn, info.path)) {
        // no data requested: nothing to drain
      } else {
        const tunnel = stderrReadSource(conn, info.narSize)
        await withPayload(info.path, async () => {}, async () => { await ingestUpload(conn, info, tunnel, { dontCheckSigs }, new Set()) })
      }
    } else {
      const parts = await readRawNar(conn.reader, Math.min(conn.context.limits.maxBufferedSize, conn.context.limits.maxNarSize), { signal: conn.signal })
      await withPayload(info.path, async () => {}, async () => {
        if (!repair && await isValid(conn, info.path)) return
        await ingestUpload(conn, info, parts, { dontCheckSigs }, new Set())
      })
    }
    conn.startReply()
  },

  async AddMultipleToStore (conn, { repair, dontCheckSigs }) {
    if (repair && !conn.trusted) {
      conn.unmetered()
      await new FramedSource(conn.reader, { signal: conn.signal }).drain()
      throw new DaemonOpError('repairing is not allowed because you are not a trusted user')
    }
    conn.unmetered()
    const framed = new FramedSource(conn.reader, { signal: conn.signal })
    // path infos hold short strings (paths, hashes, signatures) and modest reference lists
    const inner = new WireReader(framed, {
      maxStringLength: MAX_SHORT_STRING_LENGTH,
      maxCollectionSize: Math.min(conn.context.limits.maxCollectionSize, MAX_UPLOAD_REFERENCES)
    })
    const added = new Set<string>()
    let firstError: DaemonOpError | null = null
    let current = '(AddMultipleToStore)'
    await withPayload(current, async () => { await framed.drain() }, async () => {
      for await (const item of readPathsWithNars(inner, { signal: conn.signal })) {
        if (firstError != null) continue // keep reading (the NAR is skipped) to stay in sync
        current = item.info.path
        try {
          if (item.info.narSize > conn.context.limits.maxNarSize) throw new UploadRejectedError(`cannot add path '${current}': NAR too large`)
          if (!repair && await isValid(conn, current)) {
            added.add(current)
            continue
          }
          await ingestUpload(conn, item.info, item.nar, { dontCheckSigs }, added)
          added.add(current)
        } catch (err) {
          if (err instanceof ProtocolError) throw err
          firstError = asUploadError(current, err)
        }
      }
    })
    if (firstError != null) throw firstError
    conn.startReply()
  },

  async AddToStore (conn, args) {
    const reply = args.form === 'framed' ? await addToStoreFramed(conn, args) : await addToStoreLegacy(conn, args)
    conn.reply('AddToStore', reply)
  },

  async AddTextToStore (conn, rawArgs) {
    const { name, text, references } = rawArgs as unknown as AddTextArgsRaw
    const refs = storePathsOf(conn, references)
    const hash = hashBytes('sha256', [text])
    let path: StorePath
    try {
      path = makeTextPath(name, { algorithm: 'sha256', digest: hash }, refs, conn.storeDir)
    } catch (err) {
      throw badName(name, err)
    }
    const added = await addComputedPath(conn, path, fileNar(text), references, `text:${caHash('sha256', hash)}`)
    conn.reply('AddTextToStore', added.storePath)
  }
}

/** STDERR_READ tunnel (AddToStoreNar 1.21–1.22): asks for exactly `size` bytes in pieces. */
async function * stderrReadSource (conn: DaemonConnection, size: number): AsyncGenerator<Uint8Array> {
  let left = size
  const piece = 64 * 1024
  while (left > 0) {
    const want = Math.min(piece, left)
    conn.out.writeU64(0x64617461 /* STDERR_READ */).writeU64(want)
    await conn.flush()
    const data = await conn.reader.readBytes(want, 'STDERR_READ answer', { signal: conn.signal })
    if (data.byteLength === 0) throw new ProtocolError('client ended the NAR early', 'ERR_TRUNCATED')
    left -= data.byteLength
    yield data
  }
}

/** Consumes an AddToStoreNar payload we refuse before looking at it. */
async function drainAddToStoreNar (conn: DaemonConnection, info: ValidPathInfo): Promise<void> {
  void info
  const kind = OPS.AddToStoreNar.argsPayload(conn.codec)
  conn.unmetered()
  if (kind === 'framed') await new FramedSource(conn.reader, { signal: conn.signal }).drain()
  else if (kind === 'nar') await readRawNar(conn.reader, conn.context.limits.maxBufferedSize, { signal: conn.signal })
}

/** Splits `text:`/`fixed:`/`fixed:r:`/`fixed:git:` + algorithm (AddToStore ≥ 1.25 camStr). */
function parseMethodWithAlgo (camStr: string): { method: 'text' | 'flat' | 'recursive' | 'git', algorithm: HashAlgorithm } {
  let rest: string
  let method: 'text' | 'flat' | 'recursive' | 'git'
  if (camStr.startsWith('text:')) { method = 'text'; rest = camStr.slice(5) } else if (camStr.startsWith('fixed:r:')) { method = 'recursive'; rest = camStr.slice(8) } else if (camStr.startsWith('fixed:git:')) { method = 'git'; rest = camStr.slice(10) } else if (camStr.startsWith('fixed:')) { method = 'flat'; rest = camStr.slice(6) } else {
    throw new DaemonOpError(`invalid content-address method '${camStr.slice(0, 64)}'`)
  }
  try {
    return { method, algorithm: parseHashAlgorithm(rest) }
  } catch (err: any) {
    throw new DaemonOpError(`invalid content-address method '${camStr.slice(0, 64)}': ${String(err.message)}`)
  }
}

/** AddToStore ≥ 1.25: framed dump (NAR for `fixed:r:`, raw bytes for flat/text) → ValidPathInfo. */
async function addToStoreFramed (conn: DaemonConnection, args: Extract<AddToStoreArgs, { form: 'framed' }>): Promise<ValidPathInfo> {
  const limit = conn.context.limits.maxBufferedSize
  const parts = await collectFramed(conn, limit)
  if (parts == null) throw new UploadRejectedError(`cannot add '${args.name}': more than ${limit} bytes`)
  const { method, algorithm } = parseMethodWithAlgo(args.camStr)
  const refs = storePathsOf(conn, args.references)
  const hash = hashBytes(algorithm, parts)
  let path: StorePath
  let nar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>
  let ca: string
  try {
    if (method === 'git') throw new UnsupportedOperationError('git content addresses are not supported by storeswarm')
    if (method === 'text') {
      if (algorithm !== 'sha256') throw new DaemonOpError('text content addresses must use sha256')
      path = makeTextPath(args.name, { algorithm, digest: hash }, refs, conn.storeDir)
      nar = fileNar(concatBytes(parts))
      ca = `text:${caHash(algorithm, hash)}`
    } else if (method === 'flat') {
      path = makeFixedOutputPath({ method: 'flat', hash: { algorithm, digest: hash }, name: args.name, references: refs, storeDir: conn.storeDir })
      nar = fileNar(concatBytes(parts))
      ca = `fixed:${caHash(algorithm, hash)}`
    } else {
      path = makeFixedOutputPath({ method: 'recursive', hash: { algorithm, digest: hash }, name: args.name, references: refs, storeDir: conn.storeDir })
      nar = parts
      ca = `fixed:r:${caHash(algorithm, hash)}`
    }
  } catch (err) {
    if (err instanceof DaemonOpError) throw err
    throw badName(args.name, err)
  }
  const info = await importComputed(conn, path, nar, args.references, ca)
  return { path: info.storePath, ...toWirePathInfo(info) }
}

/** AddToStore < 1.25 and Guix: raw NAR (of the file for flat) → store path. */
async function addToStoreLegacy (conn: DaemonConnection, args: Extract<AddToStoreArgs, { form: 'legacy' }>): Promise<string> {
  conn.unmetered()
  const parts = await readRawNar(conn.reader, conn.context.limits.maxBufferedSize, { signal: conn.signal })
  // Guix/Nix compatibility: "not fixed" means sha256 over the NAR
  const recursive = args.recursive || !args.fixed
  let algorithm: HashAlgorithm
  try {
    algorithm = args.fixed ? parseHashAlgorithm(args.hashAlgo) : 'sha256'
  } catch (err: any) {
    throw new DaemonOpError(String(err.message))
  }
  let path: StorePath
  let nar: Iterable<Uint8Array> | AsyncIterable<Uint8Array>
  let ca: string
  try {
    if (recursive) {
      const hash = hashBytes(algorithm, parts)
      path = makeFixedOutputPath({ method: 'recursive', hash: { algorithm, digest: hash }, name: args.name, storeDir: conn.storeDir })
      nar = parts
      ca = `fixed:r:${caHash(algorithm, hash)}`
    } else {
      const whole = concatBytes(parts)
      const layout = singleFileLayout(whole.subarray(0, 128))
      if (layout == null) throw new DaemonOpError('regular file expected')
      const contents = whole.subarray(layout.start, layout.start + layout.size)
      const hash = hashBytes(algorithm, [contents])
      path = makeFixedOutputPath({ method: 'flat', hash: { algorithm, digest: hash }, name: args.name, storeDir: conn.storeDir })
      nar = fileNar(contents)
      ca = `fixed:${caHash(algorithm, hash)}`
    }
  } catch (err) {
    if (err instanceof DaemonOpError) throw err
    throw badName(args.name, err)
  }
  return (await importComputed(conn, path, nar, [], ca)).storePath
}

async function importComputed (
  conn: DaemonConnection, path: StorePath, nar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, references: string[], ca: string
): Promise<PathInfo> {
  try {
    return await addComputedPath(conn, path, nar, references, ca)
  } catch (err) {
    throw asUploadError(path.toString(), err)
  }
}
