/**
 * castore Directory: the Merkle DAG node for a directory, byte-compatible with tvix/snix
 * (`snix.castore.v1.Directory`, §1.2–1.5 of shared/specs/content-addressing.md).
 *
 * Names are raw bytes (NAR names need not be UTF-8). The digest of a directory is BLAKE3 of its
 * canonical protobuf encoding, so the encoder below is the definition of identity.
 */
import { blake3 } from '../blake3/index.ts'
import { DIGEST_LEN, MAX_NAME_LEN, MAX_TARGET_LEN, MAX_DIRECTORY_MESSAGE_LEN } from './constants.ts'
import { CastoreDecodeError, CastoreValidationError } from './errors.ts'
import { ProtoWriter, readFields, WIRE_LEN, WIRE_VARINT } from './proto.ts'
import { toHex } from './digest.ts'
import type { B3Digest } from './digest.ts'

export interface DirectoryEntry {
  name: Uint8Array
  digest: B3Digest
  /** element count below the child, see DIRECTORY_SIZE_FORMULA */
  size: number
}

export interface FileEntry {
  name: Uint8Array
  digest: B3Digest
  size: number
  executable: boolean
}

export interface SymlinkEntry {
  name: Uint8Array
  target: Uint8Array
}

export interface Directory {
  directories: DirectoryEntry[]
  files: FileEntry[]
  symlinks: SymlinkEntry[]
}

/** An unnamed node: what a name in a Directory, or a store path's root, points at. */
export type CastoreNode =
  | { type: 'directory', digest: B3Digest, size: number }
  | { type: 'file', digest: B3Digest, size: number, executable: boolean }
  | { type: 'symlink', target: Uint8Array }

export function emptyDirectory (): Directory {
  return { directories: [], files: [], symlinks: [] }
}

/** Byte-wise comparison of names (NAR and castore order). */
export function compareNames (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i]
  }
  return a.length - b.length
}

export function encodeDirectory (dir: Directory): Uint8Array {
  const w = new ProtoWriter()
  for (const d of dir.directories) {
    const e = new ProtoWriter(64 + d.name.length)
    e.bytesField(1, d.name)
    e.bytesField(2, d.digest)
    e.uintField(3, d.size)
    w.bytesField(1, e.finish(), true)
  }
  for (const f of dir.files) {
    const e = new ProtoWriter(64 + f.name.length)
    e.bytesField(1, f.name)
    e.bytesField(2, f.digest)
    e.uintField(3, f.size)
    e.boolField(4, f.executable)
    w.bytesField(2, e.finish(), true)
  }
  for (const s of dir.symlinks) {
    const e = new ProtoWriter(16 + s.name.length + s.target.length)
    e.bytesField(1, s.name)
    e.bytesField(2, s.target)
    w.bytesField(3, e.finish(), true)
  }
  return w.finish()
}

/** Digest of a directory = BLAKE3 of its canonical encoding. */
export function directoryDigest (dir: Directory): B3Digest {
  return blake3(encodeDirectory(dir))
}

/**
 * Decodes a Directory message and validates it. The bytes must be the canonical encoding
 * (re-encoding gives the same bytes): otherwise two encodings could share a meaning but not a
 * digest.
 */
export function decodeDirectory (bytes: Uint8Array): Directory {
  if (bytes.byteLength > MAX_DIRECTORY_MESSAGE_LEN) {
    throw new CastoreDecodeError(`directory message of ${bytes.byteLength} bytes exceeds ${MAX_DIRECTORY_MESSAGE_LEN}`)
  }
  const dir = emptyDirectory()
  for (const f of readFields(bytes)) {
    if (f.wireType !== WIRE_LEN || f.field > 3) throw new CastoreDecodeError(`unexpected field ${f.field} in Directory`)
    const entry = { name: new Uint8Array(0), digest: new Uint8Array(0), target: new Uint8Array(0), size: 0, executable: false }
    for (const g of readFields(f.bytes)) {
      if (g.field === 1 && g.wireType === WIRE_LEN) entry.name = new Uint8Array(g.bytes)
      else if (g.field === 2 && g.wireType === WIRE_LEN) {
        if (f.field === 3) entry.target = new Uint8Array(g.bytes)
        else entry.digest = new Uint8Array(g.bytes)
      } else if (g.field === 3 && g.wireType === WIRE_VARINT && f.field !== 3) entry.size = g.value
      else if (g.field === 4 && g.wireType === WIRE_VARINT && f.field === 2) {
        if (g.value > 1) throw new CastoreDecodeError('bool field holds a value other than 0 or 1')
        entry.executable = g.value === 1
      } else throw new CastoreDecodeError(`unexpected field ${g.field} in ${['', 'DirectoryEntry', 'FileEntry', 'SymlinkEntry'][f.field]}`)
    }
    if (f.field === 1) dir.directories.push({ name: entry.name, digest: entry.digest, size: entry.size })
    else if (f.field === 2) dir.files.push({ name: entry.name, digest: entry.digest, size: entry.size, executable: entry.executable })
    else dir.symlinks.push({ name: entry.name, target: entry.target })
  }
  validateDirectory(dir)
  const again = encodeDirectory(dir)
  if (Buffer.compare(again, bytes) !== 0) throw new CastoreDecodeError('directory message is not in canonical encoding')
  return dir
}

export function validateName (name: Uint8Array): void {
  if (name.length === 0) throw new CastoreValidationError('empty name')
  if (name.length > MAX_NAME_LEN) throw new CastoreValidationError(`name longer than ${MAX_NAME_LEN} bytes`)
  if (name.length === 1 && name[0] === 0x2e) throw new CastoreValidationError('name "." is not allowed')
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) throw new CastoreValidationError('name ".." is not allowed')
  for (const b of name) {
    if (b === 0x2f) throw new CastoreValidationError(`name ${showName(name)} contains "/"`)
    if (b === 0) throw new CastoreValidationError(`name ${showName(name)} contains NUL`)
  }
}

export function validateSymlinkTarget (target: Uint8Array): void {
  if (target.length === 0) throw new CastoreValidationError('empty symlink target')
  if (target.length > MAX_TARGET_LEN) throw new CastoreValidationError(`symlink target longer than ${MAX_TARGET_LEN} bytes`)
  if (target.includes(0)) throw new CastoreValidationError('symlink target contains NUL')
}

export function validateNode (node: CastoreNode): void {
  if (node.type === 'symlink') validateSymlinkTarget(node.target)
  else {
    if (node.digest.byteLength !== DIGEST_LEN) throw new CastoreValidationError(`digest must be ${DIGEST_LEN} bytes`)
    if (!Number.isSafeInteger(node.size) || node.size < 0) throw new CastoreValidationError(`bad size ${node.size}`)
  }
}

/**
 * Checks names, digests, symlink targets, strict ascending order within each list and
 * uniqueness across the three lists (§1.4).
 */
export function validateDirectory (dir: Directory): void {
  const check = (list: Array<{ name: Uint8Array }>, kind: string): void => {
    for (let i = 0; i < list.length; i++) {
      validateName(list[i].name)
      if (i > 0) {
        const c = compareNames(list[i - 1].name, list[i].name)
        if (c === 0) throw new CastoreValidationError(`duplicate name ${showName(list[i].name)}`)
        if (c > 0) throw new CastoreValidationError(`${kind} not sorted: ${showName(list[i - 1].name)} before ${showName(list[i].name)}`)
      }
    }
  }
  check(dir.directories, 'directories')
  check(dir.files, 'files')
  check(dir.symlinks, 'symlinks')
  for (const d of dir.directories) validateNode({ type: 'directory', digest: d.digest, size: d.size })
  for (const f of dir.files) validateNode({ type: 'file', digest: f.digest, size: f.size, executable: f.executable })
  for (const s of dir.symlinks) validateSymlinkTarget(s.target)
  // uniqueness across lists: merge the three sorted lists
  const seen = [...dir.directories, ...dir.files, ...dir.symlinks].map(e => e.name).sort(compareNames)
  for (let i = 1; i < seen.length; i++) {
    if (compareNames(seen[i - 1], seen[i]) === 0) throw new CastoreValidationError(`duplicate name ${showName(seen[i])}`)
  }
}

/** `DirectoryEntry.size` of this directory under DIRECTORY_SIZE_FORMULA (`snix-2024`). */
export function directorySize (dir: Directory): number {
  let size = 2 * (dir.directories.length + dir.files.length + dir.symlinks.length)
  for (const d of dir.directories) size += d.size
  return size
}

/** The smallest size any known formula gives (proto comment); received sizes below it are rejected. */
export function directoryMinimumSize (dir: Directory): number {
  let size = dir.directories.length + dir.files.length + dir.symlinks.length
  for (const d of dir.directories) size += d.size
  return size
}

/** Entries of a directory merged into name order, as NAR renders them. */
export function * directoryEntries (dir: Directory): Generator<{ name: Uint8Array, node: CastoreNode }> {
  let i = 0; let j = 0; let k = 0
  const { directories: ds, files: fs, symlinks: ss } = dir
  while (i < ds.length || j < fs.length || k < ss.length) {
    let pick = -1
    let best: Uint8Array | undefined
    if (i < ds.length) { best = ds[i].name; pick = 0 }
    if (j < fs.length && (best === undefined || compareNames(fs[j].name, best) < 0)) { best = fs[j].name; pick = 1 }
    if (k < ss.length && (best === undefined || compareNames(ss[k].name, best) < 0)) { best = ss[k].name; pick = 2 }
    if (pick === 0) { const d = ds[i++]; yield { name: d.name, node: { type: 'directory', digest: d.digest, size: d.size } } } else if (pick === 1) { const f = fs[j++]; yield { name: f.name, node: { type: 'file', digest: f.digest, size: f.size, executable: f.executable } } } else { const s = ss[k++]; yield { name: s.name, node: { type: 'symlink', target: s.target } } }
  }
}

/** Adds a named node to the right list of a directory being built (caller keeps names ascending). */
export function addEntry (dir: Directory, name: Uint8Array, node: CastoreNode): void {
  if (node.type === 'directory') dir.directories.push({ name, digest: node.digest, size: node.size })
  else if (node.type === 'file') dir.files.push({ name, digest: node.digest, size: node.size, executable: node.executable })
  else dir.symlinks.push({ name, target: node.target })
}

/** Encodes a root node as a snix `Entry` message with the given name (PathInfo field 1). */
export function encodeEntry (name: Uint8Array, node: CastoreNode): Uint8Array {
  const e = new ProtoWriter(64 + name.length)
  e.bytesField(1, name)
  if (node.type === 'directory') { e.bytesField(2, node.digest); e.uintField(3, node.size) } else if (node.type === 'file') { e.bytesField(2, node.digest); e.uintField(3, node.size); e.boolField(4, node.executable) } else e.bytesField(2, node.target)
  const w = new ProtoWriter(e.finish().length + 4)
  w.bytesField(node.type === 'directory' ? 1 : node.type === 'file' ? 2 : 3, e.finish(), true)
  return w.finish()
}

export function decodeEntry (bytes: Uint8Array): { name: Uint8Array, node: CastoreNode } {
  const fields = [...readFields(bytes)]
  if (fields.length !== 1 || fields[0].wireType !== WIRE_LEN || fields[0].field > 3) throw new CastoreDecodeError('Entry must hold exactly one of directory, file, symlink')
  const kind = fields[0].field
  let name = new Uint8Array(0); let second = new Uint8Array(0); let size = 0; let executable = false
  for (const g of readFields(fields[0].bytes)) {
    if (g.field === 1 && g.wireType === WIRE_LEN) name = new Uint8Array(g.bytes)
    else if (g.field === 2 && g.wireType === WIRE_LEN) second = new Uint8Array(g.bytes)
    else if (g.field === 3 && g.wireType === WIRE_VARINT && kind !== 3) size = g.value
    else if (g.field === 4 && g.wireType === WIRE_VARINT && kind === 2 && g.value <= 1) executable = g.value === 1
    else throw new CastoreDecodeError(`unexpected field ${g.field} in Entry`)
  }
  const node: CastoreNode = kind === 1
    ? { type: 'directory', digest: second, size }
    : kind === 2 ? { type: 'file', digest: second, size, executable } : { type: 'symlink', target: second }
  validateNode(node)
  return { name, node }
}

export function showName (name: Uint8Array): string {
  return JSON.stringify(Buffer.from(name).toString('latin1'))
}

export function nodeToJSON (node: CastoreNode): Record<string, unknown> {
  if (node.type === 'symlink') return { type: 'symlink', target: Buffer.from(node.target).toString('base64') }
  if (node.type === 'file') return { type: 'file', digest: toHex(node.digest), size: node.size, executable: node.executable }
  return { type: 'directory', digest: toHex(node.digest), size: node.size }
}
