/**
 * Verification of uploads (AddToStoreNar 39, AddMultipleToStore 44, AddToStore 7,
 * AddTextToStore 8) before anything becomes valid, following what the C++ daemon
 * does (spec §2 notes: "Daemon-side trust", §3.1 signatures):
 *
 * - **NarHash / NarSize**: enforced by the castore while it ingests the NAR.
 * - **Signatures** (`require-sigs`): a path is accepted when the client is trusted
 *   and asked for `dontCheckSigs`, or its content address recomputes the store path
 *   (Nix `ValidPathInfo::isContentAddressed`), or one of its signatures verifies
 *   against `trusted-public-keys` over the fingerprint `1;path;narHash;narSize;refs`.
 * - **Content address**: when a path claims one, the content must hash to it (Nix
 *   2.4+ "ca hash mismatch importing path"); checked while the NAR streams through.
 * - **References**: must be in the same store directory and already valid (or
 *   earlier in the same upload) so the node never holds a path without its closure.
 */
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import {
  StorePath,
  fingerprintPath,
  isContentAddressed,
  parseContentAddress,
  parseNixHash,
  verifySignature
} from '../nix/index.ts'
import type { ContentAddress, PublicKey } from '../nix/index.ts'
import { DaemonOpError, UploadRejectedError } from './errors.ts'
import type { UnkeyedValidPathInfo, ValidPathInfo } from './types.ts'
import { WireWriter } from './wire.ts'
import type { WireReader } from './wire.ts'
import { walkNar } from './nar.ts'
import type { AbortOptions } from '../abort.ts'

/** Who may add what (the daemon's `require-sigs` / `trusted-public-keys` / trusted-users). */
export interface UploadPolicy {
  /** Refuse unsigned, non-content-addressed uploads (Nix `require-sigs`, default true). */
  requireSigs: boolean
  /** Keys whose signatures make an upload acceptable. */
  trustedPublicKeys: readonly PublicKey[]
}

/** How an upload came to be trusted (for logs and tests). */
export type UploadTrust = 'unchecked' | 'trusted-client' | 'content-address' | 'signature'

/** Result of {@link checkUploadTrust}. */
export interface UploadCheck {
  trust: UploadTrust
  /** Parsed content address whose hash must be verified against the content, if any. */
  ca: ContentAddress | null
}

const LACKS_SIGNATURE = (path: string): string => `cannot add path '${path}' because it lacks a valid signature`

/** Parses the wire narHash (bare base16, or anything Nix's `Hash::parseAny(s, sha256)` takes). */
export function parseWireNarHash (text: string): Uint8Array {
  try {
    return parseNixHash(text, { algorithm: 'sha256' }).digest
  } catch (err: any) {
    throw new UploadRejectedError(`invalid NAR hash '${text.slice(0, 100)}': ${err.message}`)
  }
}

/** The narinfo fingerprint of a wire path info (signatures cover it, §3.1). */
export function wireFingerprint (info: ValidPathInfo, storeDir: string): string {
  const path = StorePath.parse(info.path, storeDir)
  const refs = info.references.map((r) => r.slice(r.lastIndexOf('/') + 1))
  return fingerprintPath(path, { algorithm: 'sha256', digest: parseWireNarHash(info.narHash) }, info.narSize, refs)
}

/**
 * Decides whether an upload may be added (see the module comment). Throws
 * {@link UploadRejectedError} when it may not. Does not look at the content: the
 * returned `ca` must then be checked with {@link verifyContentAddress} while the NAR
 * is ingested.
 */
export function checkUploadTrust (
  info: ValidPathInfo, storeDir: string, policy: UploadPolicy, client: { trusted: boolean, dontCheckSigs: boolean }
): UploadCheck {
  let path: StorePath
  let refs: StorePath[]
  try {
    path = StorePath.parse(info.path, storeDir)
    refs = info.references.map((r) => StorePath.parse(r, storeDir))
  } catch (err: any) {
    throw new UploadRejectedError(`cannot add path '${info.path}': ${err.message}`)
  }
  let ca: ContentAddress | null = null
  if (info.ca != null) {
    try {
      ca = parseContentAddress(info.ca)
    } catch {
      // e.g. fixed:git:sha1 — valid on the wire but not verifiable here; never a basis for trust
      ca = null
    }
  }
  const narHash = parseWireNarHash(info.narHash)
  if (ca?.method === 'recursive' && ca.hash.algorithm === 'sha256' && Buffer.compare(ca.hash.digest, narHash) !== 0) {
    throw new UploadRejectedError(`ca hash mismatch importing path '${info.path}': the content address does not match the NAR hash`)
  }
  if (!policy.requireSigs) return { trust: 'unchecked', ca }
  if (client.trusted && client.dontCheckSigs) return { trust: 'trusted-client', ca }
  if (ca != null && isContentAddressed(path, ca, refs)) return { trust: 'content-address', ca }
  if (info.signatures.length > 0 && policy.trustedPublicKeys.length > 0 && info.narSize > 0) {
    const fp = wireFingerprint(info, storeDir)
    for (const sig of info.signatures) {
      if (verifySignature(fp, sig, policy.trustedPublicKeys)) return { trust: 'signature', ca }
    }
  }
  throw new UploadRejectedError(LACKS_SIGNATURE(info.path))
}

/* ------------------------------------------------------------------------ */
/* Content-address verification while the NAR streams                      */
/* ------------------------------------------------------------------------ */

const enc = new TextEncoder()
const REGULAR_HEADER = new WireWriter()
  .writeBytes(enc.encode('nix-archive-1')).writeBytes(enc.encode('(')).writeBytes(enc.encode('type'))
  .writeBytes(enc.encode('regular')).take()
const CONTENTS = new WireWriter().writeBytes(enc.encode('contents')).take()
const EXECUTABLE = new WireWriter().writeBytes(enc.encode('executable')).writeBytes(new Uint8Array(0)).take()
/** Header of a single-file NAR up to its contents is at most this long (with "executable"). */
const MAX_FILE_HEADER = REGULAR_HEADER.byteLength + EXECUTABLE.byteLength + CONTENTS.byteLength + 8

function startsWithAt (haystack: Uint8Array, needle: Uint8Array, at: number): boolean {
  if (haystack.byteLength < at + needle.byteLength) return false
  for (let i = 0; i < needle.byteLength; i++) if (haystack[at + i] !== needle[i]) return false
  return true
}

/**
 * Where the contents of a single-regular-file NAR start and how long they are, from
 * its first bytes; null when `head` is not such a NAR's header.
 */
export function singleFileLayout (head: Uint8Array): { start: number, size: number, executable: boolean } | null {
  if (!startsWithAt(head, REGULAR_HEADER, 0)) return null
  let at = REGULAR_HEADER.byteLength
  let executable = false
  if (startsWithAt(head, EXECUTABLE, at)) {
    executable = true
    at += EXECUTABLE.byteLength
  }
  if (!startsWithAt(head, CONTENTS, at)) return null
  at += CONTENTS.byteLength
  if (head.byteLength < at + 8) return null
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const size = Number(view.getBigUint64(at, true))
  return { start: at + 8, size, executable }
}

/**
 * Passes a NAR through unchanged while hashing what a content address covers: the
 * whole NAR (`fixed:r:`) or the single file's contents (`fixed:`/`text:`). At the end
 * of the stream, before the consumer sees it end, a mismatch throws
 * {@link UploadRejectedError} — so the castore never commits the path.
 */
export async function * verifyContentAddress (
  source: AsyncIterable<Uint8Array>, ca: ContentAddress, storePath: string
): AsyncGenerator<Uint8Array, void, undefined> {
  const hash: Hash = createHash(ca.hash.algorithm)
  if (ca.method === 'recursive') {
    for await (const piece of source) {
      hash.update(piece)
      yield piece
    }
  } else {
    const head = new Uint8Array(MAX_FILE_HEADER)
    let headFill = 0
    let offset = 0
    let layout: { start: number, size: number } | null = null
    const decide = (): void => {
      const l = singleFileLayout(head.subarray(0, headFill))
      if (l == null || (ca.method === 'text' && l.executable)) {
        throw new UploadRejectedError(`cannot add path '${storePath}': content address '${ca.method}' needs a single ${ca.method === 'text' ? 'non-executable ' : ''}regular file`)
      }
      layout = l
      const end = Math.min(headFill, l.start + l.size)
      if (end > l.start) hash.update(head.subarray(l.start, end))
    }
    for await (const piece of source) {
      let p = 0
      if (headFill < head.byteLength) {
        const n = Math.min(piece.byteLength, head.byteLength - headFill)
        head.set(piece.subarray(0, n), headFill)
        headFill += n
        p = n
        if (headFill === head.byteLength) decide()
      }
      if (layout != null && p < piece.byteLength) {
        const l = layout as { start: number, size: number }
        const from = Math.max(offset + p, l.start)
        const to = Math.min(offset + piece.byteLength, l.start + l.size)
        if (to > from) hash.update(piece.subarray(from - offset, to - offset))
      }
      offset += piece.byteLength
      yield piece
    }
    if (layout == null) decide()
  }
  const digest = hash.digest()
  if (Buffer.compare(digest, ca.hash.digest) !== 0) {
    throw new UploadRejectedError(`ca hash mismatch importing path '${storePath}': the content does not match its content address`)
  }
}

/* ------------------------------------------------------------------------ */
/* NAR payload sources                                                       */
/* ------------------------------------------------------------------------ */

/**
 * Reads one unframed NAR (AddToStore < 1.25, AddToStoreNar < 1.21, §1.5) by walking
 * its grammar, into memory (bounded by `maxSize`).
 */
export async function readRawNar (reader: WireReader, maxSize: number, options?: AbortOptions): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = []
  await walkNar(reader, {
    maxSize,
    signal: options?.signal,
    onData: (chunk) => { parts.push(chunk.slice()) }
  })
  return parts
}

/** Total length of byte chunks. */
export function totalLength (parts: readonly Uint8Array[]): number {
  let n = 0
  for (const p of parts) n += p.byteLength
  return n
}

/** Copies the path-info fields the castore records from a wire path info. */
export function importOptionsFromWire (info: ValidPathInfo | (UnkeyedValidPathInfo & { path: string })): {
  storePath: string
  references: string[]
  deriver?: string
  signatures: string[]
  ca?: string
  narHash: Uint8Array
  narSize: number
} {
  const out: ReturnType<typeof importOptionsFromWire> = {
    storePath: info.path,
    references: [...new Set(info.references)],
    signatures: info.signatures.filter((s) => /^[^:\s]+:[A-Za-z0-9+/]+=*$/.test(s)),
    narHash: parseWireNarHash(info.narHash),
    narSize: info.narSize
  }
  if (info.deriver != null) out.deriver = info.deriver
  if (info.ca != null) out.ca = info.ca
  return out
}

/** True when `path` is a top-level path directly in `storeDir`. */
export function inStoreDir (path: string, storeDir: string): boolean {
  return path.startsWith(storeDir + '/') && path.indexOf('/', storeDir.length + 1) < 0
}

/** Throws {@link DaemonOpError} (Nix's wording) unless every path lives in `storeDir`. */
export function checkStoreDir (paths: Iterable<string>, storeDir: string): void {
  for (const p of paths) {
    if (!inStoreDir(p, storeDir)) throw new DaemonOpError(`path '${p}' is not in the Nix store`)
  }
}
