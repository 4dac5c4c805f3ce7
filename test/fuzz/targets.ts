/**
 * Fuzz targets: every decoder that sees outside bytes, with the error classes it may reject
 * input with ("expected rejections"). Anything else it throws — TypeError, RangeError, a plain
 * Error, an unhandled rejection — is a crash. Shared by `scripts/fuzz.ts` (long runs in a
 * watchdogged worker) and the property tests in `npm test` (short, seeded runs).
 *
 * Each target takes one `Uint8Array` and either returns (accepted) or throws. Some targets
 * interpret the first byte(s) as a selector (which parser, which protocol version, which
 * dialect), so one corpus covers a family of related decoders.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { fixture, repoRoot } from '../fixtures.ts'
import { tokensOf, u64le } from './mutators.ts'
import type { Rng } from './mutators.ts'

import { parseNar, writeNar, NarParseError } from '../../src/nar/index.ts'
import type { NarSourceNode } from '../../src/nar/index.ts'
import { parseNarInfo, renderNarInfo } from '../../src/nix/narinfo.ts'
import { GuixNarInfoError, createGuixNarInfo, equivalentGuixNarInfo, parseGuixNarInfo, renderGuixNarInfo } from '../../src/nix/guix-narinfo.ts'
import { GuixKeyError, GuixSignatureError, addGuixSignature, guixKeyPairFromScalar, parseGuixPublicKey, parseGuixSignatureField, verifyGuixNarInfo } from '../../src/nix/guix-signature.ts'
import type { GuixPublicKey } from '../../src/nix/guix-signature.ts'
import { SexpParseError, encodeCanonicalSexp, parseCanonicalSexp, parseSexp, sexpEquals } from '../../src/nix/sexp.ts'
import type { Sexp } from '../../src/nix/sexp.ts'
import {
  InvalidContentAddressError, InvalidHashError, InvalidNarInfoError, InvalidNixBase32Error, InvalidSignatureError,
  InvalidSigningKeyError, InvalidStorePathError, NarInfoParseError
} from '../../src/nix/errors.ts'
import { parseHashDigest, parseNixHash } from '../../src/nix/hash.ts'
import { parseBaseName, parseStorePath } from '../../src/nix/store-path.ts'
import { decodeNixBase32 } from '../../src/nix/base32.ts'
import { parseContentAddress as parseNixContentAddress } from '../../src/nix/content-address.ts'
import { parsePublicKey, parseSecretKey, parseTrustedPublicKeys, verifySignature } from '../../src/nix/signing.ts'
import type { PublicKey } from '../../src/nix/signing.ts'
import { parseSignature } from '../../src/nix/signature.ts'

import {
  FramedSource, OPS, Op, ProtocolError as DaemonProtocolError, DaemonError, WireReader, WireWriter,
  clientHandshake, opDefinition, protocolVersion, readPathsWithNars, readReply, readRequest, readStderrLoop,
  serverHandshake, walkNar, STDERR_LAST,
  StorePathCodec, OptStorePathCodec, StorePathSetCodec, StringCodec, StringListCodec, StringMapCodec,
  ContentAddressCodec, OptContentAddressCodec, BuildModeCodec, OptTrustedFlagCodec, OptMicrosecondsCodec,
  DerivedPathCodec, UnkeyedValidPathInfoCodec, ValidPathInfoCodec, SubstitutablePathInfoCodec, DrvOutputCodec,
  UnkeyedRealisationCodec, RealisationCodec, OptUnkeyedRealisationCodec, BuildResultCodec, KeyedBuildResultCodec,
  ClientHandshakeInfoCodec, BasicDerivationCodec, LegacyRealisationCodec,
  parseContentAddress as parseDaemonContentAddress, parseDerivedPath, parseRealisationJson
} from '../../src/daemon/index.ts'
import type { ByteSink, Codec, OpName, DaemonServer, DaemonServerEvent, DaemonSocket } from '../../src/daemon/index.ts'
import { createDaemonServer, DaemonOpError } from '../../src/daemon/index.ts'
import { Castore } from '../../src/castore/store.ts'
import { MemoryBlobStore } from '../../src/castore/memory-blob-store.ts'
import { createMemoryDirectoryStore, createMemoryPathInfoStore } from '../../src/castore/memory-stores.ts'
import { Duplex } from 'node:stream'

import { decodeRequest, receiveBlob, receiveDirectories, encodeRequest, serveFetch, KIND_BLOB, KIND_DIRECTORY } from '../../src/p2p/fetch-protocol.ts'
import { decodeErisBlockRequest, encodeErisBlockRequest, requestErisBlocks, serveErisBlocks } from '../../src/p2p/eris-block-protocol.ts'
import { requestPathInfo, servePathInfo } from '../../src/p2p/path-info-protocol.ts'
import { FakeStream } from './fake-stream.ts'
import { NotHeldError, PeerMisbehavedError, ProtocolError as P2pProtocolError, UntrustedPathInfoError } from '../../src/p2p/errors.ts'
import { checkPathInfoTrust } from '../../src/p2p/trust.ts'
import { ByteReader, readFrame, frame } from '../../src/p2p/stream-io.ts'
import { ChunkRanges, hashWithOutboard, PreOrderOutboard, encodeRanges, bytesReader, sizePrefix } from '../../src/blake3/index.ts'
import { pathInfoFromJSON, pathInfoToJSON, splitStorePath } from '../../src/castore/path-info.ts'
import { decodeDirectory, encodeDirectory, directoryDigest, emptyDirectory } from '../../src/castore/directory.ts'
import type { Directory } from '../../src/castore/directory.ts'
import { CastoreDecodeError, CastoreValidationError } from '../../src/castore/errors.ts'

import { ErisDecodeError, ErisUrnError, decodeErisBytes, decodeReadCapability, encodeErisBytes, parseBlockUrn, parseErisUrn, encodeReadCapability, formatErisUrn } from '../../src/eris/index.ts'
import { chacha20, unkeyedBlake2b256 } from '../../src/eris/crypto.ts'
import type { Blake2b256 } from '../../src/eris/crypto.ts'

import { parseRange } from '../../src/http/range.ts'
import { RangeNotSatisfiableError } from '../../src/http/errors.ts'

/** Constructor of an error class a target may reject input with. */
export type ErrorClass = abstract new (...args: any[]) => Error

export interface FuzzTarget {
  name: string
  description: string
  /** Error classes that are the parser's typed rejections; anything else is a crash. */
  expected: readonly ErrorClass[]
  /** Seed corpus (fixtures read in place, plus synthetic seeds). */
  seeds: () => Promise<Uint8Array[]>
  /** Format tokens for the mutator. */
  dictionary?: Uint8Array[]
  /** Text format (line / number mutations). */
  text?: boolean
  /** Little-endian u64 fields (aligned overwrite weighting). */
  u64Fields?: boolean
  /** Largest generated input. */
  maxLength?: number
  /** Structure-aware mutation (used for a share of the inputs): returns a new input derived from `base`. */
  structured?: (rng: Rng, base: Uint8Array) => Uint8Array
  /** Runs the decoder on one input; returns normally (accepted) or throws. */
  run: (input: Uint8Array) => void | Promise<void>
}

/** A property the target checks about an accepted input failed: always a crash. */
export class FuzzInvariantError extends Error {
  static override name = 'FuzzInvariantError'
  override name = 'FuzzInvariantError'
}

function invariant (ok: boolean, message: string): asserts ok {
  if (!ok) throw new FuzzInvariantError(message)
}

/** null when `err` is an expected rejection of `target`, else a one-line description of the crash. */
export function classifyError (target: FuzzTarget, err: unknown): string | null {
  if (err instanceof Error && !(err instanceof FuzzInvariantError)) {
    for (const cls of target.expected) if (err instanceof cls) return null
  }
  if (err instanceof Error) return `${err.name}: ${err.message.slice(0, 300)}`
  return `non-Error thrown: ${String(err).slice(0, 300)}`
}

const utf8 = new TextEncoder()
const utf8d = new TextDecoder()
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')

function readDir (dir: string, filter: (name: string) => boolean): Uint8Array[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter(filter).sort().map(f => new Uint8Array(readFileSync(join(dir, f))))
}

function concat (parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

/* ------------------------------------------------------------------ NAR */

const NAR_DICT = tokensOf(
  ...['nix-archive-1', '(', ')', 'type', 'regular', 'symlink', 'directory', 'executable', '', 'contents', 'target', 'entry', 'name', 'node', '.', '..', 'a/b', 'a\0b']
    .map(t => concat([u64le(BigInt(utf8.encode(t).length)), utf8.encode(t), new Uint8Array((8 - utf8.encode(t).length % 8) % 8)]))
)

/** Deterministic small trees written by writeNar: structure the fixtures lack (deep, wide, odd names). */
async function syntheticNars (): Promise<Uint8Array[]> {
  let x = 12345
  const rand = (n: number): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return (x >>> 8) % n }
  const names = ['a', 'b', 'c', '-', '.x', 'é', 'long'.repeat(20), 'Z', '~']
  const node = (depth: number): NarSourceNode => {
    const k = depth > 3 ? rand(2) : rand(3)
    if (k === 0) {
      const c = utf8.encode('x'.repeat(rand(20)))
      return { type: 'regular', executable: rand(2) === 1, size: c.length, contents: async function * () { if (c.length > 0) yield c } }
    }
    if (k === 1) return { type: 'symlink', target: utf8.encode(['/nix/store/x', '../a', 'a'.repeat(rand(9) + 1)][rand(3)]) }
    const chosen = [...new Set(Array.from({ length: rand(5) }, () => names[rand(names.length)]))].map(n => utf8.encode(n)).sort((a, b) => Buffer.compare(a, b))
    const entries = chosen.map(name => ({ name, node: node(depth + 1) }))
    return { type: 'directory', entries: async function * () { yield * entries } }
  }
  const out: Uint8Array[] = []
  for (let i = 0; i < 24; i++) {
    const parts: Uint8Array[] = []
    for await (const p of writeNar(node(0))) parts.push(p.slice())
    out.push(concat(parts))
  }
  return out
}

async function narSeeds (): Promise<Uint8Array[]> {
  const out: Uint8Array[] = await syntheticNars()
  for (const sub of ['nixos-nix', 'synthetic', 'tvix', 'harmonia', 'attic']) {
    out.push(...readDir(fixture('nar', sub), f => f.endsWith('.nar')).filter(b => b.length <= 256 * 1024))
  }
  return out
}

async function drainNar (input: Uint8Array): Promise<void> {
  // two pieces so values straddle a piece boundary
  const cut = input.length >>> 1
  const source = (async function * () { yield input.subarray(0, cut); yield input.subarray(cut) })()
  let total = 0
  const skipContents = (input.length & 1) === 1 // the reader must skip unread contents itself
  for await (const ev of parseNar(source, { maxSize: 1 << 24 })) {
    if (ev.type === 'regular' && !skipContents) {
      let n = 0
      for await (const piece of ev.contents) n += piece.length
      invariant(n === ev.size, `regular file yielded ${n} bytes, declared ${ev.size}`)
      total += n
    }
  }
  invariant(total <= input.length, 'NAR yielded more content than its own size')
}

/* ------------------------------------------------------------------ narinfo */

const NARINFO_DICT = tokensOf(
  'StorePath: ', 'URL: ', 'Compression: ', 'FileHash: ', 'FileSize: ', 'NarHash: ', 'NarSize: ', 'References: ',
  'Deriver: ', 'System: ', 'Sig: ', 'CA: ', '\n', ': ', '/nix/store/', 'sha256:', 'sha512:', 'sha1:', 'md5:', 'fixed:r:sha256:',
  'text:sha256:', 'fixed:sha256:', 'xz', 'zstd', 'none', 'bzip2', 'cache.nixos.org-1:', '-', '.drv', 'unknown-deriver',
  '1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s', 'nar/', '.nar.xz', '\r\n', '\t', '\0', 'é', '\uffff'
)

const GUIX_DICT = tokensOf(
  'StorePath: ', 'URL: ', 'Compression: ', 'FileSize: ', 'FileHash: ', 'NarHash: ', 'NarSize: ', 'References: ', 'Deriver: ',
  'System: ', 'Signature: ', '1;', 'berlin.guix.gnu.org;', '/gnu/store/', 'sha256:', '\n', '+ ', '# ', '%', 'lzip', 'zstd', 'gzip', 'none',
  '(signature ', '(data ', '(flags rfc6979)', '(hash sha256 ', '(sig-val ', '(ecdsa ', '(r ', '(s ', '(public-key ', '(ecc ', '(curve Ed25519)',
  '(q ', '#', '|', '{', '}', '[', ']', ')', '"', '3:', '32:'
)

/** A fixed test key pair (deterministic), trusted by the guix-narinfo target, and narinfos it signed. */
let guixTestKey: ReturnType<typeof guixKeyPairFromScalar> | undefined
function testKey (): ReturnType<typeof guixKeyPairFromScalar> {
  guixTestKey ??= guixKeyPairFromScalar(0x5eed5eed5eed5eed5eedn)
  return guixTestKey
}

function signedGuixSeeds (): Uint8Array[] {
  const out: Uint8Array[] = []
  const hash = 'sha256:' + '1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s'
  const variants = [
    { references: [], nars: [{ url: 'nar/lzip/x', compression: 'lzip', fileSize: 10 }] },
    { references: ['y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test', 'a0000000000000000000000000000000-b'], deriver: 'y857mykfnc9vd1sc2lqz5g35l111fp71-x.drv', system: 'x86_64-linux',
      nars: [{ url: 'nar/zstd/x', compression: 'zstd', fileSize: 5 }, { url: 'nar/x', compression: 'none', fileSize: 9 }] }
  ]
  for (const v of variants) {
    const info = createGuixNarInfo({ storePath: '/gnu/store/y857mykfnc9vd1sc2lqz5g35l111fp71-opensmtpd-test', narHash: hash, narSize: 1234, ...v })
    out.push(utf8.encode(renderGuixNarInfo(addGuixSignature(info, testKey().secretKey, { hostname: 'fuzz.example' }))))
  }
  return out
}

function guixTrustedKeys (): GuixPublicKey[] {
  const keys: GuixPublicKey[] = [testKey().publicKey]
  for (const f of ['berlin.guix.gnu.org.pub', 'bordeaux.guix.gnu.org.pub']) {
    const p = fixture('narinfo', 'guix', f)
    if (existsSync(p)) keys.push(parseGuixPublicKey(readFileSync(p, 'utf8')))
  }
  return keys
}
let guixKeys: GuixPublicKey[] | undefined
/** How many inputs carried a valid signature (the seeds do: the check is reached). */
export let validGuixSignatures = 0

/* ------------------------------------------------------------------ nix text */

const NIX_TEXT_PARSERS: Array<(text: string) => unknown> = [
  t => parseNixHash(t),
  t => parseHashDigest(t, 'sha256'),
  t => parseStorePath(t),
  t => decodeNixBase32(t),
  t => parseNixContentAddress(t),
  t => parsePublicKey(t),
  t => parseSecretKey(t),
  t => parseSignature(t),
  t => verifySignature('1;/nix/store/x;sha256:0;0;', t, nixKeys()),
  t => parseDaemonContentAddress(t),
  t => parseDerivedPath(t),
  t => parseRealisationJson(t),
  t => parseTrustedPublicKeys(t),
  t => parseBaseName(t),
  t => parseNixHash(t, { algorithm: 'sha256' })
]
let nixKeyCache: PublicKey[] | undefined
function nixKeys (): PublicKey[] {
  nixKeyCache ??= [parsePublicKey('cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=')]
  return nixKeyCache
}

const NIX_TEXT_SEEDS = [
  'sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
  'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello-2.10',
  '0c5pkd2q5wqqlhmrzgz6dbr2r8vm7ppz',
  'fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
  'text:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
  'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=',
  'test-1:aVgqwEh1pOv9cdIf6z7lXGQfasGLwAQHmKRxBS/VN6tXxOrVEhtTX4pKb5pQMEYF8vAhlH6a1tSLL+3RJD+W0A==',
  'cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ==',
  '/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello-2.10.drv!out',
  '/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello-2.10.drv^out,dev',
  '{"id":"sha256:15e3c5608946f3ea6dd26d6a0d8d7d8e0d8b3d7f3b3d7f3b3d7f3b3d7f3b3d7f!out","outPath":"7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello","signatures":[],"dependentRealisations":{}}',
  'a:AAAA b:BBBB',
  '7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello-2.10'
]

/* ------------------------------------------------------------------ daemon */

const V = (minor: number): number => protocolVersion(1, minor)
const DAEMON_VERSIONS = [V(10), V(14), V(16), V(21), V(22), V(23), V(25), V(27), V(28), V(29), V(30), V(32), V(33), V(34), V(35), V(37), V(38), 0x163]

const DAEMON_CODECS: Array<[string, Codec<any>]> = [
  ['store-path', StorePathCodec], ['optional-store-path', OptStorePathCodec], ['set', StorePathSetCodec], ['string', StringCodec],
  ['vector', StringListCodec], ['string-map', StringMapCodec], ['content-address', ContentAddressCodec],
  ['optional-content-address', OptContentAddressCodec], ['build-mode', BuildModeCodec], ['optional-trusted-flag', OptTrustedFlagCodec],
  ['optional-microseconds', OptMicrosecondsCodec], ['derived-path', DerivedPathCodec], ['unkeyed-valid-path-info', UnkeyedValidPathInfoCodec],
  ['valid-path-info', ValidPathInfoCodec], ['substitutable-path-info', SubstitutablePathInfoCodec], ['drv-output', DrvOutputCodec],
  ['unkeyed-realisation', UnkeyedRealisationCodec], ['realisation', RealisationCodec], ['optional-unkeyed-realisation', OptUnkeyedRealisationCodec],
  ['build-result', BuildResultCodec], ['keyed-build-result', KeyedBuildResultCodec], ['client-handshake-info', ClientHandshakeInfoCodec],
  ['basic-derivation', BasicDerivationCodec], ['legacy-realisation', LegacyRealisationCodec]
]

const DAEMON_DICT: Uint8Array[] = [
  ...[0x6e697863, 0x6478696f, STDERR_LAST, 0x6f6c6d67, 0x64617461, 0x64617416, 0x63787470, 0x53545254, 0x53544f50, 0x52534c54, 0x390c9deb, 0x5452eecb]
    .map(n => u64le(BigInt(n))),
  ...DAEMON_VERSIONS.map(v => u64le(BigInt(v))),
  ...Array.from({ length: 50 }, (_, i) => u64le(BigInt(i))),
  ...tokensOf('/nix/store/', 'sha256:', 'nix-archive-1', 'fixed:r:sha256:', '!out', '^out', '*').map(t =>
    concat([u64le(BigInt(t.length)), t, new Uint8Array((8 - t.length % 8) % 8)]))
]

class NullSink implements ByteSink {
  bytes = 0
  write (chunk: Uint8Array): void { this.bytes += chunk.byteLength }
}

function captureFiles (suffix: string): Array<{ name: string, bytes: Uint8Array }> {
  const dir = fixture('nix-worker-protocol', 'captures-nix-2.8.0')
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter(f => f.endsWith(suffix)).sort()
    .map(f => ({ name: f.slice(0, -suffix.length), bytes: new Uint8Array(readFileSync(join(dir, f))) }))
}

/** Server side: handshake, then every request with its payload, as the daemon facade reads them. */
async function daemonServer (input: Uint8Array): Promise<void> {
  if (input.length === 0) return
  const flags = input[0]
  const reader = new WireReader(input.subarray(1), { maxStringLength: 1 << 20, maxCollectionSize: 1 << 16 })
  const hs = await serverHandshake(reader, new NullSink(), { dialect: (flags & 1) === 1 ? 'guix' : 'nix' })
  const version = hs.version
  for (let i = 0; i < 64; i++) {
    const req = await readRequest(reader, version)
    if (req === null) return
    const payload = opDefinition(Op[req.op]).argsPayload(version)
    if (payload === 'framed') {
      const framed = new FramedSource(reader, { maxTotalLength: 1 << 22 })
      const inner = new WireReader(framed)
      if (req.op === 'AddMultipleToStore') {
        for await (const item of readPathsWithNars(inner)) {
          await walkNar(new WireReader(item.nar), { maxSize: 1 << 22 })
        }
      }
      await framed.drain()
    } else if (payload === 'nar') {
      await walkNar(reader, { maxSize: 1 << 22 })
    } else if (payload === 'stderr-read') {
      return // the server would now ask for data with STDERR_READ
    }
  }
}

const OP_NAMES = Object.keys(OPS) as OpName[]

const SAMPLE_PATH = '/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello-2.10'

/** Each op code after a real client handshake, followed by a few plausible argument words. */
async function daemonServerSeeds (): Promise<Uint8Array[]> {
  const out = captureFiles('.c2s').map(c => concat([new Uint8Array([0]), c.bytes]))
  const first = captureFiles('.c2s')[0]
  if (first === undefined) return out
  const r = new WireReader(first.bytes)
  await serverHandshake(r, new NullSink())
  const hello = first.bytes.subarray(0, r.position)
  // argument layouts most ops start with: a path; a list of paths; a number, then a path
  const layouts = [
    new WireWriter().writeString(SAMPLE_PATH).writeU64(1).writeStrings([SAMPLE_PATH]).writeU64(0).writeU64(0).toBytes(),
    new WireWriter().writeStrings([SAMPLE_PATH, SAMPLE_PATH + '.drv!out']).writeU64(0).writeU64(0).toBytes(),
    new WireWriter().writeU64(1).writeString(SAMPLE_PATH).writeU64(0).toBytes()
  ]
  // and real encoded values (paths, path infos, derived paths, content addresses …) as arguments
  const values = (await daemonCodecSeeds()).map(v => v.subarray(2))
  let x = 7
  const pick = (): Uint8Array => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return values[(x >>> 8) % values.length] }
  for (const name of OP_NAMES) {
    for (const args of layouts) out.push(concat([new Uint8Array([0]), hello, u64le(BigInt(Op[name])), args]))
    if (values.length > 0) out.push(concat([new Uint8Array([2]), hello, u64le(BigInt(Op[name])), pick(), pick(), pick()]))
  }
  return out
}

/** Each op's reply after a real daemon handshake: STDERR_LAST and a few plausible reply words. */
async function daemonClientSeeds (): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  const first = captureFiles('.s2c')[0]
  if (first === undefined) return out
  const r = new WireReader(first.bytes)
  await clientHandshake(r, new NullSink(), {})
  const hello = first.bytes.subarray(0, r.position)
  const body = new WireWriter().writeU64(STDERR_LAST).writeU64(1).writeString(SAMPLE_PATH).writeStrings([SAMPLE_PATH]).writeU64(0).writeU64(0).toBytes()
  for (let i = 0; i < OP_NAMES.length; i++) out.push(concat([new Uint8Array([1, i]), hello, body]))
  return out
}

/** Client side: handshake, then for each op the stderr loop and the reply (or NAR). Input: n, n op indices, stream. */
async function daemonClient (input: Uint8Array): Promise<void> {
  if (input.length === 0) return
  const n = Math.min(input[0], input.length - 1)
  const ops = [...input.subarray(1, 1 + n)].map(b => OP_NAMES[b % OP_NAMES.length])
  const reader = new WireReader(input.subarray(1 + n), { maxStringLength: 1 << 20, maxCollectionSize: 1 << 16 })
  const hs = await clientHandshake(reader, new NullSink(), {})
  for (const op of ops) {
    const err = await readStderrLoop(reader, hs.version, { onMessage: () => {} })
    if (err !== null) continue
    if (OPS[op].replyPayload === 'nar') await walkNar(reader, { maxSize: 1 << 22 })
    else await readReply(reader, op, hs.version)
  }
}

/** One codec value at one version: byte 0 = codec, byte 1 = version; the value must be all of the rest. */
async function daemonCodec (input: Uint8Array): Promise<void> {
  if (input.length < 2) return
  const [, codec] = DAEMON_CODECS[input[0] % DAEMON_CODECS.length]
  const version = DAEMON_VERSIONS[input[1] % DAEMON_VERSIONS.length]
  const reader = new WireReader(input.subarray(2), { maxStringLength: 1 << 20, maxCollectionSize: 1 << 16 })
  const value = await codec.read(reader, version)
  // whatever decodes must re-encode (the writer accepts every value the reader produces)
  const w = new WireWriter()
  try {
    codec.write(w, value, version)
  } catch (err) {
    if (err instanceof DaemonProtocolError && err.code === 'ERR_NOT_REPRESENTABLE') return
    throw new FuzzInvariantError(`decoded value does not re-encode: ${String(err)}`)
  }
  // and the re-encoding decodes to the same value
  let again: unknown
  try { again = await codec.read(new WireReader(w.toBytes()), version) } catch (err) { throw new FuzzInvariantError(`re-encoded value does not decode: ${String(err)}`) }
  invariant(isDeepStrictEqual(again, value), 'value changes through encode/decode')
}

async function daemonCodecSeeds (): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (const sub of ['worker-protocol', 'common-protocol']) {
    const dir = fixture('nix-worker-protocol', sub)
    if (!existsSync(dir)) continue
    for (const f of readdirSync(dir).filter(f => f.endsWith('.bin')).sort()) {
      const bytes = new Uint8Array(readFileSync(join(dir, f)))
      const base = f.replace(/(_|-)?[0-9._]*(-compat)?\.bin$/, '').replace(/-realisation-with-path-not-hash$/, '')
      let idx = DAEMON_CODECS.findIndex(([n]) => n === base)
      if (idx < 0) idx = DAEMON_CODECS.findIndex(([n]) => base.startsWith(n))
      if (idx < 0) continue
      const m = /1[._](\d+)/.exec(f)
      const minor = m != null ? Number(m[1]) : 38
      let vi = DAEMON_VERSIONS.indexOf(V(minor))
      if (vi < 0) vi = DAEMON_VERSIONS.indexOf(V(38))
      // fixtures hold several values in a row: the first value only is read
      out.push(concat([new Uint8Array([idx, vi]), bytes]))
    }
  }
  return out
}

/* ------------------------------------------------------------------ daemon session */

interface SessionServers { nix: DaemonServer, nixTrusted: DaemonServer, guix: DaemonServer }
let sessionServers: Promise<SessionServers> | undefined

async function makeSessionServers (): Promise<SessionServers> {
  const castore = new Castore({ blobs: new MemoryBlobStore(), directories: createMemoryDirectoryStore(), pathInfos: createMemoryPathInfoStore() })
  // one valid path, so queries and NarFromPath of the seeds' sample path find something
  const nar = (await syntheticNars())[3]
  await castore.importNar([nar], { storePath: SAMPLE_PATH, references: [SAMPLE_PATH] })
  await castore.importNar([nar], { storePath: SAMPLE_PATH.replace('/nix/store', '/gnu/store') })
  const limits = { maxNarSize: 1 << 22 }
  const onEvent = (e: DaemonServerEvent): void => { sessionListener?.(e) }
  return {
    nix: createDaemonServer({ castore, limits, pathInfoCache: false, onEvent }),
    nixTrusted: createDaemonServer({ castore, limits, trustClients: true, requireSigs: false, pathInfoCache: false, onEvent }),
    guix: createDaemonServer({ castore, limits, dialect: 'guix', storeDir: '/gnu/store', pathInfoCache: false, onEvent })
  }
}
/** Receives the events of the session being run (sessions run one at a time). */
let sessionListener: ((e: DaemonServerEvent) => void) | undefined
let sessionCount = 0

/** Errors a session may legitimately end with: protocol violations and rejected operations. */
const SESSION_EXPECTED: ErrorClass[] = [DaemonProtocolError, DaemonOpError, NarParseError]

/**
 * A whole daemon session against a server over an in-memory castore: the bytes are what the
 * client sends (then it closes its side). Byte 0: bit 0 = Guix dialect, bit 1 = trusted client.
 * A connection closed by anything but a protocol error or a rejected op is a crash.
 */
async function daemonSession (input: Uint8Array): Promise<void> {
  if (input.length === 0) return
  // a fresh in-memory store now and then: uploads accumulate
  if (++sessionCount % 4000 === 0 && sessionServers !== undefined) {
    const old = await sessionServers
    sessionServers = undefined
    await Promise.all([old.nix.stop(), old.nixTrusted.stop(), old.guix.stop()])
  }
  sessionServers ??= makeSessionServers()
  const servers = await sessionServers
  const server = (input[0] & 1) === 1 ? servers.guix : (input[0] & 2) === 2 ? servers.nixTrusted : servers.nix
  let failure: Error | undefined
  const socket = new Duplex({ read () {}, write (_chunk, _enc, cb) { cb() } })
  socket.push(Buffer.from(input.buffer, input.byteOffset + 1, input.byteLength - 1))
  socket.push(null)
  sessionListener = (e) => { if (e.type === 'close' && e.error !== undefined) failure = e.error }
  try {
    await server.handleConnection(socket as unknown as DaemonSocket)
  } finally {
    sessionListener = undefined
  }
  if (failure !== undefined) throw failure
}

/* ------------------------------------------------------------------ p2p */

const P2P_DICT: Uint8Array[] = [
  new Uint8Array([0]), new Uint8Array([1]), new Uint8Array([0x80]), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]),
  new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), new Uint8Array(32),
  sizePrefix(0), sizePrefix(1024), sizePrefix(16384), sizePrefix(16385), u64le(1n << 40n), u64le((1n << 64n) - 1n)
]

/** A small blob and its verified responses for some ranges (seeds for receiveBlob). */
function blobFixture (size: number, seed: number): { data: Uint8Array, digest: Uint8Array, outboard: Uint8Array } {
  const data = new Uint8Array(size)
  for (let i = 0; i < size; i++) data[i] = (i * 31 + seed) & 0xff
  const { digest, outboard } = hashWithOutboard(data)
  return { data, digest, outboard }
}

const BLOB_SIZES = [0, 1, 1024, 16384, 16385, 50000]
let blobCache: Array<ReturnType<typeof blobFixture>> | undefined
function blobs (): Array<ReturnType<typeof blobFixture>> {
  blobCache ??= BLOB_SIZES.map((s, i) => blobFixture(s, i))
  return blobCache
}

const BLOB_RANGES: ChunkRanges[] = [ChunkRanges.all(), ChunkRanges.fromBoundaries([0, 1]), ChunkRanges.fromBoundaries([16, 17]), ChunkRanges.fromBoundaries([3, 40])]

/** Input: byte 0 = blob index (digest, size known or not), byte 1 = ranges; rest = response. */
async function fetchBlobResponse (input: Uint8Array): Promise<void> {
  if (input.length < 2) return
  const blob = blobs()[input[0] % BLOB_SIZES.length]
  const ranges = BLOB_RANGES[input[1] % BLOB_RANGES.length]
  const knownSize = (input[0] & 0x80) === 0
  let delivered = 0
  await receiveBlob([input.subarray(2)], {
    digest: blob.digest,
    size: knownSize ? blob.data.length : undefined,
    ranges,
    onData: (item) => {
      // verified data must be the blob's own bytes
      const want = blob.data.subarray(item.offset, item.offset + item.data.length)
      invariant(item.offset + item.data.length <= blob.data.length && Buffer.compare(want, item.data) === 0, 'receiveBlob delivered bytes that are not the blob')
      delivered += item.data.length
    }
  })
  invariant(delivered <= blob.data.length, 'delivered more than the blob')
}

async function fetchBlobSeeds (): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (const [bi, b] of blobs().entries()) {
    for (const [ri, r] of BLOB_RANGES.entries()) {
      const ob = new PreOrderOutboard({ root: b.digest, size: b.data.length, outboard: b.outboard })
      const parts: Uint8Array[] = [new Uint8Array([bi, ri]), sizePrefix(b.data.length)]
      for await (const p of encodeRanges(ob, bytesReader(b.data), r)) parts.push(p.slice())
      out.push(concat(parts))
    }
  }
  return out
}

/** A small directory tree: root → a → b, plus files and symlinks. */
function directoryTree (): Directory[] {
  const leaf: Directory = emptyDirectory()
  leaf.files.push({ name: utf8.encode('f'), digest: new Uint8Array(32).fill(1), size: 3, executable: true })
  leaf.symlinks.push({ name: utf8.encode('l'), target: utf8.encode('../x') })
  const mid: Directory = emptyDirectory()
  mid.directories.push({ name: utf8.encode('b'), digest: directoryDigest(leaf), size: 2 })
  mid.files.push({ name: utf8.encode('c'), digest: new Uint8Array(32).fill(2), size: 0, executable: false })
  const root: Directory = emptyDirectory()
  root.directories.push({ name: utf8.encode('a'), digest: directoryDigest(mid), size: 2 + 2 })
  root.symlinks.push({ name: utf8.encode('z'), target: utf8.encode('a/b/f') })
  return [root, mid, leaf]
}
let dirTree: Directory[] | undefined
function dirs (): Directory[] {
  dirTree ??= directoryTree()
  return dirTree
}

async function fetchDirsResponse (input: Uint8Array): Promise<void> {
  if (input.length < 1) return
  const tree = dirs()
  const root = directoryDigest(tree[input[0] % tree.length])
  const got = await receiveDirectories([input.subarray(1)], root, { have: async () => (input[0] & 0x80) !== 0 })
  for (const d of got) invariant(decodeDirectory(encodeDirectory(d)) !== undefined, 'received directory does not re-encode')
}

async function fetchDirsSeeds (): Promise<Uint8Array[]> {
  const tree = dirs()
  return [
    concat([new Uint8Array([0]), ...tree.map(d => frame(encodeDirectory(d)))]),
    concat([new Uint8Array([1]), ...tree.slice(1).map(d => frame(encodeDirectory(d)))]),
    concat([new Uint8Array([0x80]), frame(encodeDirectory(tree[0]))]),
    new Uint8Array([2])
  ]
}

function fetchRequestSeeds (): Uint8Array[] {
  const d = new Uint8Array(32).fill(7)
  return [
    strip(encodeRequest({ kind: KIND_BLOB, digest: d })),
    strip(encodeRequest({ kind: KIND_BLOB, digest: d, ranges: ChunkRanges.fromBoundaries([0, 5, 9]) })),
    strip(encodeRequest({ kind: KIND_BLOB, digest: d, ranges: ChunkRanges.fromBoundaries([3, 4, 100, 2 ** 40]) })),
    strip(encodeRequest({ kind: KIND_DIRECTORY, digest: d }))
  ]
}

/** Strips a varint length prefix. */
function strip (framed: Uint8Array): Uint8Array {
  let i = 0
  while ((framed[i] & 0x80) !== 0) i++
  return framed.subarray(i + 1)
}

/** A framed stream as a peer sends it: one frame (request / response), then the decoder. */
async function framedThen<T> (input: Uint8Array, max: number, decode: (payload: Uint8Array) => T | Promise<T>): Promise<void> {
  const reader = new ByteReader([input])
  const payload = await readFrame(reader, max)
  if (payload === undefined) return
  await decode(payload)
}

function pathInfoSeeds (): Uint8Array[] {
  const storePath = '/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello-2.10'
  const base = {
    storePath,
    node: { type: 'directory', digest: new Uint8Array(32).fill(3), size: 7 },
    references: [storePath],
    narHash: new Uint8Array(32).fill(9),
    narSize: 1234,
    signatures: ['cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ=='],
    registrationTime: 0,
    deriver: '/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello-2.10.drv',
    ca: 'fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s'
  }
  const variants: any[] = [
    base,
    { ...base, node: { type: 'file', digest: new Uint8Array(32).fill(4), size: 5, executable: true } },
    { ...base, node: { type: 'symlink', target: utf8.encode('/nix/store/x') }, deriver: undefined, ca: undefined }
  ]
  return variants.map(v => frame(utf8.encode(JSON.stringify(pathInfoToJSON(v)))))
}

/** Odd JSON values for structure-aware mutation of JSON documents. */
const JSON_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 2 ** 53, 1e300, -0, '', 'x', 'deadbeef', '0'.repeat(64), 'ff'.repeat(32), '/nix/store/', 'AAAA',
  [], [null], [1], [{}], {}, { toString: 1 }, { valueOf: null }, [{ toString: 'x' }], { type: 'file' }, { type: 'directory', digest: 1 },
  { type: 'symlink', target: 5 }, { __proto__: { x: 1 } }, 'urn:eris:' + 'A'.repeat(106)
]

/** Replaces, deletes or adds one member somewhere in a JSON document. */
export function mutateJson (rng: Rng, value: unknown, depth = 0): unknown {
  const fresh = (): unknown => structuredClone(rng.pick(JSON_VALUES))
  if (value === null || typeof value !== 'object' || depth > 4 || rng.chance(0.15)) return fresh()
  if (Array.isArray(value)) {
    const out = [...value]
    if (out.length === 0 || rng.chance(0.2)) out.push(fresh())
    else out[rng.below(out.length)] = mutateJson(rng, out[rng.below(out.length)], depth + 1)
    return out
  }
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) }
  const keys = Object.keys(out)
  if (keys.length === 0 || rng.chance(0.1)) out[rng.pick(['toString', 'valueOf', 'node', 'extra', 'size', 'constructor'])] = fresh()
  else if (rng.chance(0.1)) delete out[rng.pick(keys)]
  else { const k = rng.pick(keys); out[k] = mutateJson(rng, out[k], depth + 1) }
  return out
}

function mutateFramedJson (rng: Rng, base: Uint8Array): Uint8Array {
  let i = 0
  while (i < base.length && (base[i] & 0x80) !== 0) i++
  let doc: unknown
  try { doc = JSON.parse(utf8d.decode(base.subarray(i + 1))) } catch { return base }
  const rounds = 1 + rng.below(3)
  for (let r = 0; r < rounds; r++) doc = mutateJson(rng, doc)
  return frame(utf8.encode(JSON.stringify(doc) ?? 'null'))
}

const TOML_VALUES = [
  '[]', '{}', '1e999', '-1', '0', 'inf', '-inf', 'nan', '""', '[1, "a"]', '{ a = 1 }', '9223372036854775807', '-9223372036854775808', '0x7fffffff',
  '1979-05-27T07:32:00Z', '07:32:00', 'true', `"${'x'.repeat(5000)}"`, '"../../x"', '"\\u0000"', '"-1G"', '"1e3G"', '"0s"', '"999999999999999999h"',
  '"1.5G"', '"NaNs"', '"127.0.0.1:99999"', '"[::1]:0"', '":"', '["/ip4/1.2.3.4/tcp/-1"]', '["not a multiaddr"]', '["a:b c:d"]', '"ftp://x"', '"http://"',
  '[[1]]', '[{ url = "x" }]', "'literal'", '+1', '1_000', '0b101', '0o17', '1.0', '-0.0'
]

/** Replaces the value of one `key = value` line by an odd TOML value. */
function mutateTomlValue (rng: Rng, base: Uint8Array): Uint8Array {
  const lines = utf8d.decode(base).split('\n')
  const idx = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s*[A-Za-z0-9_.-]+\s*=/.test(l)).map(([, i]) => i)
  if (idx.length === 0) return base
  const i = rng.pick(idx)
  lines[i] = lines[i].replace(/=.*$/, '= ' + rng.pick(TOML_VALUES))
  return utf8.encode(lines.join('\n'))
}

/* ------------------------------------------------------------------ p2p over streams */

interface P2pWorld {
  blobs: MemoryBlobStore
  directories: ReturnType<typeof createMemoryDirectoryStore>
  pathInfos: ReturnType<typeof createMemoryPathInfoStore>
  erisBlocks: Uint8Array[]
  erisRefs: Uint8Array[]
}
let p2pWorld: Promise<P2pWorld> | undefined

async function makeP2pWorld (): Promise<P2pWorld> {
  const blobsStore = new MemoryBlobStore()
  for (const b of blobs()) await blobsStore.put([b.data], { size: b.data.length })
  const directories = createMemoryDirectoryStore()
  await directories.put([...dirs()].reverse())
  const pathInfos = createMemoryPathInfoStore()
  for (const seed of pathInfoSeeds()) await pathInfos.put(pathInfoFromJSON(JSON.parse(utf8d.decode(strip(seed)))))
  blake ??= await unkeyedBlake2b256()
  const erisBlocks = [new Uint8Array(1024).fill(1), new Uint8Array(32768).fill(2)]
  const erisRefs = erisBlocks.map(b => (blake as Blake2b256).digest(b).slice())
  return { blobs: blobsStore, directories, pathInfos, erisBlocks, erisRefs }
}

const P2P_STREAM_EXPECTED: ErrorClass[] = [P2pProtocolError, PeerMisbehavedError, NotHeldError, UntrustedPathInfoError]

/** The error a handler aborted its stream with, if any, must be one of the p2p errors. */
function checkAbort (stream: FakeStream): void {
  const err = stream.aborted
  if (err === undefined) return
  for (const cls of P2P_STREAM_EXPECTED) if (err instanceof cls) return
  throw err
}

/**
 * The p2p protocol handlers and clients over a scripted stream. Byte 0 selects: 0 path-info
 * server, 1 ERIS block server, 2 fetch server (blobs and directories held), 3 path-info client,
 * 4 ERIS block client; the rest is what the remote sends, in two pieces.
 */
async function p2pStreams (input: Uint8Array): Promise<void> {
  if (input.length === 0) return
  p2pWorld ??= makeP2pWorld()
  const w = await p2pWorld
  const body = input.subarray(1)
  const cut = body.length >>> 1
  const remote = [body.subarray(0, cut), body.subarray(cut)].filter(p => p.length > 0)
  const sel = input[0] % 5
  const server = sel <= 2
  const stream = new FakeStream(remote, server)
  if (sel === 0) {
    await servePathInfo(stream.asStream(), { pathInfos: w.pathInfos })
  } else if (sel === 1) {
    await serveErisBlocks(stream.asStream(), { getBlock: async (ref) => w.erisBlocks.find((_, i) => Buffer.compare(w.erisRefs[i], ref) === 0) })
  } else if (sel === 2) {
    await serveFetch(stream.asStream(), { blobs: w.blobs, directories: w.directories })
  } else if (sel === 3) {
    const { info } = await requestPathInfo(stream.asStream(), '7h7qgvs4kgzsn8a6rb273saxyqh4jxlz', { trustedKeys: nixKeys(), idleTimeoutMs: 1500 })
    invariant(info.storePath.includes('7h7qgvs4kgzsn8a6rb273saxyqh4jxlz'), 'path info for another path accepted')
  } else {
    const got = await requestErisBlocks(stream.asStream(), w.erisRefs, { idleTimeoutMs: 1500 })
    invariant(got.length === w.erisRefs.length, 'wrong number of ERIS answers')
    for (const [i, b] of got.entries()) invariant(b === undefined || Buffer.compare(b, w.erisBlocks[i]) === 0, 'ERIS block accepted that is not the referenced one')
  }
  if (server) checkAbort(stream)
}

async function p2pStreamSeeds (): Promise<Uint8Array[]> {
  const w = await (p2pWorld ??= makeP2pWorld())
  const d = blobs()[4].digest
  const root = directoryDigest(dirs()[0])
  return [
    concat([new Uint8Array([0]), frame(utf8.encode('7h7qgvs4kgzsn8a6rb273saxyqh4jxlz'))]),
    concat([new Uint8Array([1]), encodeErisBlockRequest(w.erisRefs)]),
    concat([new Uint8Array([2]), encodeRequest({ kind: KIND_BLOB, digest: d })]),
    concat([new Uint8Array([2]), encodeRequest({ kind: KIND_BLOB, digest: d, ranges: ChunkRanges.fromBoundaries([3, 20, 40]) })]),
    concat([new Uint8Array([2]), encodeRequest({ kind: KIND_DIRECTORY, digest: root })]),
    ...pathInfoSeeds().map(p => concat([new Uint8Array([3]), p])),
    concat([new Uint8Array([4]), frame(w.erisBlocks[0]), frame(w.erisBlocks[1])]),
    concat([new Uint8Array([4]), new Uint8Array([0, 0])])
  ]
}

const FIELD_VALUES = [
  '', ' ', '0', '-1', '1', '18446744073709551616', '9007199254740993', '00012', '1e3', 'sha256:', 'sha256:' + 'z'.repeat(52), 'sha256:' + '0'.repeat(51),
  'sha256:' + 'f'.repeat(64), 'sha512:' + '0'.repeat(103), 'sha1:' + '0'.repeat(32), 'md5:' + '0'.repeat(26), 'sha256-' + 'A'.repeat(43) + '=',
  '/nix/store/' + '0'.repeat(32) + '-x', '/gnu/store/' + '0'.repeat(32) + '-x', '/nix/store/' + '0'.repeat(32), '0'.repeat(32) + '-x', '0'.repeat(32) + '-',
  '0'.repeat(32) + '-' + 'a'.repeat(300), 'unknown-deriver', 'x:' + 'A'.repeat(88), 'x:', ':AAAA', 'fixed:r:sha1:' + '0'.repeat(32), 'text:sha256:' + '0'.repeat(52),
  'fixed:git:sha1:' + '0'.repeat(40), 'nar/x.nar', 'https://x/y', 'xz', 'none', 'zstd', 'br', 'bogus', 'a'.repeat(70000), '\u00e9', '\t', 'a b  c',
  '1;berlin.guix.gnu.org;' + 'KHNpZ25hdHVyZQ==', '1;x;', '2;x;AAAA'
]

/** Replaces, duplicates or drops one `Key: value` line of a narinfo-like document. */
function mutateFields (rng: Rng, base: Uint8Array): Uint8Array {
  const lines = utf8d.decode(base).split('\n')
  const idx = lines.map((l, i) => [l, i] as const).filter(([l]) => /^[A-Za-z%][^:]*:/.test(l)).map(([, i]) => i)
  if (idx.length === 0) return base
  const i = rng.pick(idx)
  const key = lines[i].slice(0, lines[i].indexOf(':'))
  const k = rng.below(4)
  if (k === 0) lines.splice(i, 1)
  else if (k === 1) lines.splice(i, 0, lines[i])
  else lines[i] = `${key}: ${rng.pick(FIELD_VALUES)}`
  return utf8.encode(lines.join('\n'))
}

/* ------------------------------------------------------------------ ERIS */

let blake: Blake2b256 | undefined

/**
 * Builds a content-addressed block store out of fuzzed *plaintext* so the decoder's checks after
 * the hash checks (node structure, padding, levels) are reachable: header byte = level (0–3) and
 * prefetch; the rest is cut in 1 KiB plaintext blocks. Block 0 is the root at `level`; in an
 * internal node every pair whose first byte is non-zero is replaced by the (reference, key) of
 * the next unused plaintext block, encrypted one level down. Null pairs and zeros stay.
 */
async function erisDecodeFuzzed (input: Uint8Array): Promise<void> {
  if (input.length < 2) return
  blake ??= await unkeyedBlake2b256()
  const h = blake
  const level = input[0] & 3
  const prefetch = 1 + ((input[0] >> 2) & 3)
  const body = input.subarray(1)
  const plains: Uint8Array[] = []
  for (let i = 0; i < body.length && plains.length < 64; i += 1024) {
    const p = new Uint8Array(1024)
    p.set(body.subarray(i, i + 1024))
    plains.push(p)
  }
  const store = new Map<string, Uint8Array>()
  let nextPlain = 1
  const seal = (plain: Uint8Array, lvl: number): { ref: Uint8Array, key: Uint8Array } => {
    if (lvl > 0) {
      for (let off = 0; off + 64 <= 1024; off += 64) {
        if (plain[off] !== 0 && nextPlain < plains.length) {
          const child = seal(plains[nextPlain++], lvl - 1)
          plain.set(child.ref, off)
          plain.set(child.key, off + 32)
        }
      }
    }
    const key = h.digest(plain).slice()
    const block = chacha20(key, lvl, plain)
    const ref = h.digest(block).slice()
    store.set(Buffer.from(ref).toString('hex'), block)
    return { ref, key }
  }
  const root = seal(plains[0], level)
  const cap = { blockSize: 1024 as const, level, rootReference: root.ref, rootKey: root.key }
  const out = await decodeErisBytes(cap, async (ref) => store.get(Buffer.from(ref).toString('hex')), { prefetch })
  invariant(out.length <= plains.length * 1024, 'decoded more than the blocks hold')
}

async function erisDecodeSeeds (): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  // plaintext trees: a padded leaf; a level-1 node with two leaves; a level-2 tree
  const leaf = (text: string, last: boolean): Uint8Array => {
    const p = new Uint8Array(1024)
    const t = utf8.encode(text)
    p.set(t)
    if (last) p[t.length] = 0x80
    return p
  }
  const pairMarks = (n: number): Uint8Array => {
    const p = new Uint8Array(1024)
    for (let i = 0; i < n; i++) p[i * 64] = 1
    return p
  }
  out.push(concat([new Uint8Array([0]), leaf('hello', true)]))
  out.push(concat([new Uint8Array([1]), pairMarks(2), leaf('a'.repeat(1024), false), leaf('tail', true)]))
  out.push(concat([new Uint8Array([2 | 4]), pairMarks(2), pairMarks(2), leaf('x'.repeat(1024), false), leaf('y'.repeat(1024), false), pairMarks(1), leaf('end', true)]))
  out.push(concat([new Uint8Array([1 | 8]), pairMarks(16), ...Array.from({ length: 15 }, () => leaf('q'.repeat(1024), false)), leaf('', true)]))
  return out
}

async function erisUrnSeeds (): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (const f of readDir(fixture('eris'), n => n.endsWith('.json'))) {
    try {
      const j = JSON.parse(utf8d.decode(f))
      if (typeof j.urn === 'string') out.push(concat([new Uint8Array([0]), utf8.encode(j.urn)]))
      if (typeof j['read-capability'] === 'string') out.push(concat([new Uint8Array([0]), utf8.encode(j['read-capability'])]))
    } catch {}
  }
  const enc = await encodeErisBytes(utf8.encode('hello'), { blockSize: 1024 })
  out.push(concat([new Uint8Array([0]), utf8.encode(enc.urn)]))
  out.push(concat([new Uint8Array([2]), encodeReadCapability(enc.capability)]))
  out.push(concat([new Uint8Array([1]), utf8.encode('urn:blake2b:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')]))
  out.push(concat([new Uint8Array([2, 0x0a, 0]), new Uint8Array(64)]))
  return out
}

/* ------------------------------------------------------------------ castore Directory */

function directorySeeds (): Uint8Array[] {
  const tree = dirs()
  const big = emptyDirectory()
  for (let i = 0; i < 20; i++) big.files.push({ name: utf8.encode(`file-${String(i).padStart(2, '0')}`), digest: new Uint8Array(32).fill(i), size: i * 1000, executable: i % 2 === 0 })
  return [...tree.map(encodeDirectory), encodeDirectory(emptyDirectory()), encodeDirectory(big)]
}

/* ------------------------------------------------------------------ HTTP range */

function httpRange (input: Uint8Array): void {
  if (input.length < 2) return
  const sizes = [0, 1, 100, 1 << 20, 2 ** 40, Number.MAX_SAFE_INTEGER]
  const size = sizes[input[0] % sizes.length]
  const withIfRange = (input[1] & 1) === 1
  const text = latin1(input.subarray(2))
  const r = parseRange(text, size, withIfRange ? '"etag"' : undefined, '"etag"')
  if (r !== undefined) {
    invariant(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end), `range ${JSON.stringify(r)} is not integral`)
    invariant(r.start >= 0 && r.start < r.end && r.end <= size, `range ${JSON.stringify(r)} outside [0, ${size})`)
  }
}

const RANGE_SEEDS = ['bytes=0-0', 'bytes=0-', 'bytes=-1', 'bytes=5-10', 'bytes=100-', 'bytes=-0', 'bytes=0-1,2-3', 'bytes = 1 - 2', 'items=0-1', 'bytes=9999999999999999-']

/* ------------------------------------------------------------------ registry */

async function textSeeds (dir: string, filter: (n: string) => boolean): Promise<Uint8Array[]> {
  return readDir(dir, filter)
}

export const TARGETS: FuzzTarget[] = [
  {
    name: 'nar',
    description: 'NAR reader (parseNar) — every event drained, file contents read',
    expected: [NarParseError],
    seeds: narSeeds,
    dictionary: NAR_DICT,
    u64Fields: true,
    maxLength: 128 * 1024,
    run: drainNar
  },
  {
    name: 'narinfo',
    description: 'Nix narinfo parser (parseNarInfo)',
    expected: [NarInfoParseError, InvalidNarInfoError],
    seeds: async () => {
      const nix = [
        ...await textSeeds(fixture('narinfo', 'nixos-cache'), n => n.endsWith('.narinfo')),
        ...await textSeeds(fixture('narinfo', 'nix-manual'), n => n.endsWith('.narinfo')),
        ...await textSeeds(fixture('real-nix', 'cache-none'), n => n.endsWith('.narinfo'))
      ]
      // the same documents in /gnu/store, at an odd length (which selects that store directory)
      const gnu = nix.map(b => {
        const t = utf8d.decode(b).replaceAll('/nix/store/', '/gnu/store/')
        return utf8.encode(utf8.encode(t).length % 2 === 1 ? t : t + 'X-Pad: 1\n')
      })
      return [...nix, ...gnu]
    },
    dictionary: NARINFO_DICT,
    text: true,
    maxLength: 16 * 1024,
    structured: mutateFields,
    run: (input) => {
      // odd lengths: a Guix-style store directory
      const options = (input.length & 1) === 1 ? { storeDir: '/gnu/store' } : {}
      const info = parseNarInfo(input, options)
      // what is accepted renders to a document that parses to the same thing
      const text = renderNarInfo(info)
      let again
      try { again = parseNarInfo(text, options) } catch (err) { throw new FuzzInvariantError(`rendered narinfo does not parse: ${String(err)}`) }
      invariant(renderNarInfo(again) === text, 'render(parse(render(x))) differs from render(x)')
    }
  },
  {
    name: 'guix-narinfo',
    description: 'Guix narinfo parser and signature check (parseGuixNarInfo, verifyGuixNarInfo)',
    expected: [GuixNarInfoError, GuixSignatureError, GuixKeyError, SexpParseError],
    seeds: async () => [...await textSeeds(fixture('narinfo', 'guix'), n => n.endsWith('.narinfo')), ...signedGuixSeeds()],
    dictionary: GUIX_DICT,
    text: true,
    maxLength: 16 * 1024,
    structured: mutateFields,
    run: (input) => {
      guixKeys ??= guixTrustedKeys()
      const res = verifyGuixNarInfo(input, guixKeys)
      invariant(typeof res.ok === 'boolean', 'verifyGuixNarInfo returned no verdict')
      if (res.ok) validGuixSignatures++
      const info = parseGuixNarInfo(input)
      const text = renderGuixNarInfo(info)
      let again
      try { again = parseGuixNarInfo(text) } catch (err) { throw new FuzzInvariantError(`rendered Guix narinfo does not parse: ${String(err)}`) }
      invariant(equivalentGuixNarInfo(info, again) && renderGuixNarInfo(again) === text, 'Guix narinfo changes through render/parse')
    }
  },
  {
    name: 'sexp',
    description: 'S-expressions (advanced and canonical), Guix keys and signature fields',
    expected: [SexpParseError, GuixKeyError, GuixSignatureError],
    seeds: async () => [
      ...(await textSeeds(fixture('narinfo', 'guix'), n => n.endsWith('.sexp') || n.endsWith('.pub'))).map(b => concat([new Uint8Array([0]), b])),
      concat([new Uint8Array([1]), utf8.encode('(3:abc(1:x2:yz)[4:mime]5:hello)')])
    ],
    dictionary: GUIX_DICT,
    text: true,
    maxLength: 16 * 1024,
    run: (input) => {
      if (input.length === 0) return
      const body = input.subarray(1)
      const roundTrip = (x: Sexp): void => {
        let back: Sexp
        try { back = parseCanonicalSexp(encodeCanonicalSexp(x)) } catch (err) { throw new FuzzInvariantError(`canonical encoding does not parse: ${String(err)}`) }
        invariant(sexpEquals(x, back), 'canonical encoding changes the s-expression')
      }
      switch (input[0] % 5) {
        case 0: roundTrip(parseSexp(body)); break
        case 1: roundTrip(parseCanonicalSexp(body)); break
        case 2: parseGuixPublicKey(body); break
        case 3: parseGuixSignatureField(latin1(body)); break
        default: parseSexp(latin1(body))
      }
    }
  },
  {
    name: 'nix-text',
    description: 'Nix text fields: hashes, store paths, nix32, content addresses, keys, signatures, derived paths, realisations',
    expected: [InvalidHashError, InvalidStorePathError, InvalidNixBase32Error, InvalidContentAddressError, InvalidSigningKeyError, InvalidSignatureError, DaemonProtocolError],
    seeds: async () => NIX_TEXT_SEEDS.flatMap(s => NIX_TEXT_PARSERS.map((_, i) => concat([new Uint8Array([i]), utf8.encode(s)]))),
    dictionary: NARINFO_DICT,
    text: true,
    maxLength: 4096,
    structured: (rng, base) => {
      if (base.length === 0) return base
      let doc: unknown
      try { doc = JSON.parse(utf8d.decode(base.subarray(1))) } catch { return base }
      return concat([base.subarray(0, 1), utf8.encode(JSON.stringify(mutateJson(rng, doc)) ?? 'null')])
    },
    run: (input) => {
      if (input.length === 0) return
      NIX_TEXT_PARSERS[input[0] % NIX_TEXT_PARSERS.length](utf8d.decode(input.subarray(1)))
    }
  },
  {
    name: 'daemon-server',
    description: 'Worker protocol, server side: handshake (Nix/Guix), requests, framed and NAR payloads',
    expected: [DaemonProtocolError],
    seeds: daemonServerSeeds,
    dictionary: DAEMON_DICT,
    u64Fields: true,
    maxLength: 256 * 1024,
    run: daemonServer
  },
  {
    name: 'daemon-session',
    description: 'Whole daemon sessions (Nix, trusted Nix, Guix) against a server over an in-memory castore: handlers included',
    expected: SESSION_EXPECTED,
    seeds: async () => [...await daemonServerSeeds(), ...captureFiles('.c2s').map(c => concat([new Uint8Array([2]), c.bytes]))],
    dictionary: DAEMON_DICT,
    u64Fields: true,
    maxLength: 256 * 1024,
    run: daemonSession
  },
  {
    name: 'daemon-client',
    description: 'Worker protocol, client side: handshake, stderr messages, replies of every op, NARs',
    expected: [DaemonProtocolError, DaemonError],
    seeds: async () => {
      const out: Uint8Array[] = []
      const c2s = new Map(captureFiles('.c2s').map(c => [c.name, c.bytes]))
      for (const s of captureFiles('.s2c')) {
        const ops: number[] = []
        const req = c2s.get(s.name)
        if (req !== undefined) {
          try {
            const r = new WireReader(req)
            const hs = await serverHandshake(r, new NullSink())
            for (;;) {
              const q = await readRequest(r, hs.version)
              if (q === null) break
              ops.push(OP_NAMES.indexOf(q.op))
              if (opDefinition(Op[q.op]).argsPayload(hs.version) === 'framed') await new FramedSource(r).drain()
            }
          } catch {}
        }
        out.push(concat([new Uint8Array([ops.length, ...ops]), s.bytes]))
      }
      return [...out, ...await daemonClientSeeds()]
    },
    dictionary: DAEMON_DICT,
    u64Fields: true,
    maxLength: 256 * 1024,
    run: daemonClient
  },
  {
    name: 'daemon-codec',
    description: 'Worker-protocol value codecs at every version (path infos, build results, realisations, …)',
    expected: [DaemonProtocolError],
    seeds: daemonCodecSeeds,
    dictionary: DAEMON_DICT,
    u64Fields: true,
    maxLength: 16 * 1024,
    run: daemonCodec
  },
  {
    name: 'fetch-request',
    description: 'p2p fetch protocol: request frame (server side decodeRequest)',
    expected: [P2pProtocolError],
    seeds: async () => fetchRequestSeeds().map(p => frame(p)),
    dictionary: P2P_DICT,
    maxLength: 8192,
    run: async (input) => {
      await framedThen(input, 64 * 1024, (payload) => {
        const req = decodeRequest(payload)
        // varints need not be minimal on the wire, so compare meanings, not bytes
        const again = decodeRequest(strip(encodeRequest(req)))
        invariant(again.kind === req.kind && Buffer.compare(again.digest, req.digest) === 0 &&
          isDeepStrictEqual(again.ranges?.boundaries, req.ranges?.boundaries), 'fetch request changes through encode/decode')
      })
    }
  },
  {
    name: 'fetch-blob',
    description: 'p2p fetch protocol: verified blob response (receiveBlob)',
    expected: [P2pProtocolError, PeerMisbehavedError, NotHeldError],
    seeds: fetchBlobSeeds,
    dictionary: P2P_DICT,
    maxLength: 128 * 1024,
    run: fetchBlobResponse
  },
  {
    name: 'fetch-directories',
    description: 'p2p fetch protocol: directory-closure response (receiveDirectories)',
    expected: [P2pProtocolError, PeerMisbehavedError, NotHeldError],
    seeds: fetchDirsSeeds,
    dictionary: P2P_DICT,
    maxLength: 16 * 1024,
    run: fetchDirsResponse
  },
  {
    name: 'path-info',
    description: 'p2p path-info protocol: request frame and response (frame, JSON, pathInfoFromJSON)',
    expected: [P2pProtocolError, SyntaxError, CastoreValidationError, UntrustedPathInfoError],
    structured: mutateFramedJson,
    seeds: async () => [...pathInfoSeeds(), frame(utf8.encode('7h7qgvs4kgzsn8a6rb273saxyqh4jxlz'))],
    dictionary: tokensOf('"storePath"', '"node"', '"type"', '"file"', '"directory"', '"symlink"', '"digest"', '"size"', '"target"', '"narHash"', '"narSize"',
      '"references"', '"signatures"', '"deriver"', '"ca"', '"eris"', '"registrationTime"', 'null', 'true', '[]', '{}', '"toString"', '"valueOf"', '1e400', '-1', '"__proto__"'),
    text: true,
    maxLength: 16 * 1024,
    run: async (input) => {
      await framedThen(input, 1 << 20, (payload) => {
        const info = pathInfoFromJSON(JSON.parse(utf8d.decode(payload)))
        invariant(typeof info.storePath === 'string' && Number.isSafeInteger(info.narSize), 'accepted PathInfo has bad fields')
        invariant(Array.isArray(info.references) && info.references.every(r => typeof r === 'string'), 'accepted PathInfo has non-string references')
        invariant(info.signatures.every(r => typeof r === 'string'), 'accepted PathInfo has non-string signatures')
        splitStorePath(info.storePath)
        checkPathInfoTrust(info, nixKeys())
      })
    }
  },
  {
    name: 'p2p-streams',
    description: 'p2p handlers and clients over a scripted stream: path-info, ERIS-block and fetch servers; path-info and ERIS-block clients',
    expected: P2P_STREAM_EXPECTED,
    seeds: p2pStreamSeeds,
    dictionary: P2P_DICT,
    structured: (rng, base) => base.length > 0 && base[0] % 5 === 3 ? concat([base.subarray(0, 1), mutateFramedJson(rng, base.subarray(1))]) : base,
    maxLength: 80 * 1024,
    run: p2pStreams
  },
  {
    name: 'eris-block-request',
    description: 'p2p ERIS block protocol: request frame (decodeErisBlockRequest)',
    expected: [P2pProtocolError],
    seeds: async () => [encodeErisBlockRequest([new Uint8Array(32).fill(1)]), encodeErisBlockRequest(Array.from({ length: 32 }, (_, i) => new Uint8Array(32).fill(i)))],
    dictionary: P2P_DICT,
    maxLength: 4096,
    run: async (input) => { await framedThen(input, 32 * 32, decodeErisBlockRequest) }
  },
  {
    name: 'eris-urn',
    description: 'ERIS URNs and binary read capabilities (parseErisUrn, parseBlockUrn, decodeReadCapability)',
    expected: [ErisUrnError],
    seeds: erisUrnSeeds,
    dictionary: tokensOf('urn:eris:', 'urn:blake2b:', 'URN:ERIS:', 'A', 'B', '7', '=', '?', '#'),
    text: true,
    maxLength: 512,
    run: (input) => {
      if (input.length === 0) return
      const body = input.subarray(1)
      if (input[0] % 3 === 0) {
        const cap = parseErisUrn(latin1(body))
        invariant(formatErisUrn(cap).toLowerCase() === latin1(body).toLowerCase(), 'ERIS URN does not format back to itself')
      } else if (input[0] % 3 === 1) {
        const ref = parseBlockUrn(latin1(body))
        invariant(ref.length === 32, 'block reference is not 32 bytes')
      } else {
        const cap = decodeReadCapability(body)
        invariant(Buffer.compare(encodeReadCapability(cap), body) === 0, 'binary capability does not encode back to itself')
      }
    }
  },
  {
    name: 'eris-decode',
    description: 'ERIS decoder over hash-consistent blocks built from fuzzed plaintext (node structure, padding, levels)',
    expected: [ErisDecodeError],
    seeds: erisDecodeSeeds,
    maxLength: 24 * 1024,
    run: erisDecodeFuzzed
  },
  {
    name: 'castore-directory',
    description: 'castore Directory protobuf decoder (decodeDirectory)',
    expected: [CastoreDecodeError, CastoreValidationError],
    seeds: async () => directorySeeds(),
    dictionary: [new Uint8Array([0x0a]), new Uint8Array([0x12]), new Uint8Array([0x1a]), new Uint8Array([0x18]), new Uint8Array([0x20]), new Uint8Array([0x22]),
      new Uint8Array([0x20, 0x02]), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x10])],
    maxLength: 8192,
    run: (input) => {
      const dir = decodeDirectory(input)
      invariant(Buffer.compare(encodeDirectory(dir), input) === 0, 'accepted Directory is not canonical')
    }
  },
  {
    name: 'http-range',
    description: 'HTTP Range header (parseRange) with If-Range',
    expected: [RangeNotSatisfiableError],
    seeds: async () => RANGE_SEEDS.flatMap(s => [0, 1, 2, 3, 4, 5].map(i => concat([new Uint8Array([i, 0]), utf8.encode(s)]))),
    dictionary: tokensOf('bytes=', '-', ',', ' ', '\t', '0', '9007199254740993', '18446744073709551616'),
    text: true,
    maxLength: 256,
    run: httpRange
  }
]

/** Adds a target at runtime (the config parser registers itself when `node/config.ts` exports it). */
export async function loadTargets (): Promise<FuzzTarget[]> {
  const out = [...TARGETS]
  const config = await configTarget()
  if (config !== undefined) out.push(config)
  if (process.env.STORESWARM_FUZZ_SELFTEST === '1') out.push(...SELFTEST_TARGETS)
  return out
}

/**
 * Broken on purpose, to check the harness itself (only with STORESWARM_FUZZ_SELFTEST=1): an
 * input starting with 0x01 spins forever, 0x02 never settles, 0x03 throws a TypeError, 0x04
 * allocates without bound.
 */
const SELFTEST_TARGETS: FuzzTarget[] = [{
  name: 'selftest',
  description: 'a deliberately broken decoder (harness self-test)',
  expected: [SyntaxError],
  seeds: async () => [new Uint8Array([3, 0xee]), new Uint8Array([1, 0xee]), new Uint8Array([2, 0xee, 0]), new Uint8Array([0, 1])],
  run: async (input) => {
    if (input.length < 2 || input[1] !== 0xee) throw new SyntaxError('rejected')
    const hog: unknown[] = []
    switch (input[0]) {
      case 1: for (;;) { /* spin */ }
      case 2: await new Promise(() => {}); break
      case 3: throw new TypeError('boom')
      case 4: for (;;) hog.push(new Array(1 << 16).fill(hog.length))
    }
  }
}]

async function configTarget (): Promise<FuzzTarget | undefined> {
  let mod: any
  try {
    mod = await import('../../node/config.ts')
  } catch {
    return undefined
  }
  if (typeof mod.parseConfigText !== 'function' || typeof mod.ConfigError !== 'function') return undefined
  const parse = mod.parseConfigText as (text: string, source: string) => unknown
  const ConfigError = mod.ConfigError as ErrorClass
  const exampleDir = join(repoRoot, 'examples')
  return {
    name: 'config',
    description: 'node configuration file parser (parseConfigText)',
    expected: [ConfigError],
    seeds: async () => {
      const seeds = readDir(join(exampleDir, 'systemd'), n => n.endsWith('.toml'))
      // one line per known setting with a value of its type, as dotted keys
      const sample: Record<string, string> = {
        string: '"x"', path: '"/var/lib/x"', url: '"https://cache.nixos.org"', boolean: 'true', integer: '5', size: '"1G"', duration: '"3s"',
        listen: '"127.0.0.1:1"', multiaddrs: '["/ip4/0.0.0.0/tcp/0"]', 'public-keys': '["cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="]'
      }
      const settings = (Array.isArray(mod.SETTINGS) ? mod.SETTINGS : []) as Array<{ key: string, type: string, choices?: string[] }>
      const line = (st: { key: string, type: string, choices?: string[] }): string =>
        `${st.key} = ${st.type === 'enum' ? JSON.stringify(st.choices?.[0] ?? '') : sample[st.type] ?? '""'}`
      seeds.push(utf8.encode(settings.map(line).join('\n') + '\n'))
      for (const st of settings) seeds.push(utf8.encode(line(st) + '\n'))
      seeds.push(...tokensOf('[[upstream]]\nurl = "https://cache.nixos.org"\ntimeout = "3s"\nstore-dir = "/gnu/store"\n'))
      return seeds
    },
    dictionary: tokensOf('[', ']', '[[', ']]', '=', '"', "'", '"""', '\n', '#', 'true', 'false', '0x', '1e999', '-inf', 'nan', '{', '}', ',', '.'),
    text: true,
    maxLength: 8192,
    structured: mutateTomlValue,
    run: (input) => { parse(utf8d.decode(input), 'fuzz.toml') }
  }
}

/** Runs `target` on `input` with a time bound; resolves to the crash description or null. */
export async function runOne (target: FuzzTarget, input: Uint8Array, timeoutMs = 2000): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined
  try {
    const r = target.run(input)
    if (r instanceof Promise) {
      await Promise.race([r, new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new FuzzHangError(`no result after ${timeoutMs} ms`)) }, timeoutMs)
      })])
    }
    return null
  } catch (err) {
    return classifyError(target, err)
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

/** An input did not finish within the per-input time bound. */
export class FuzzHangError extends Error {
  static override name = 'FuzzHangError'
  override name = 'FuzzHangError'
}

