/**
 * Read capabilities and block references, binary and URN forms (spec §4.2 step 6, §4.3).
 *
 * Binary read capability, 66 bytes:
 *   `[log2(block size)] [level] [root reference (32)] [root key (32)]`
 * URN: `urn:eris:` + base32(capability) (106 characters of RFC 4648 uppercase unpadded base32).
 * Block URN: `urn:blake2b:` + base32(reference) (52 characters).
 */
import { base32Decode, base32Encode } from './base32.ts'
import {
  BLAKE2B_URN_PREFIX,
  BLOCK_SIZE_BYTE_1KIB,
  BLOCK_SIZE_BYTE_32KIB,
  ERIS_BLOCK_SIZE_1KIB,
  ERIS_BLOCK_SIZE_32KIB,
  ERIS_URN_PREFIX,
  KEY_LENGTH,
  READ_CAPABILITY_BASE32_LENGTH,
  READ_CAPABILITY_LENGTH,
  REFERENCE_BASE32_LENGTH,
  REFERENCE_LENGTH
} from './constants.ts'
import type { ErisBlockSize } from './constants.ts'
import { ErisUrnError } from './errors.ts'

/** Everything needed to fetch and decrypt content (and nothing that allows changing it). */
export interface ErisReadCapability {
  blockSize: ErisBlockSize
  /** Tree level of the root: 0 if the padded content is a single block. 0–255. */
  level: number
  /** BLAKE2b-256 of the encrypted root block, 32 bytes. */
  rootReference: Uint8Array
  /** ChaCha20 key of the root block, 32 bytes. */
  rootKey: Uint8Array
}

/** Capability byte 0 for a block size. */
export function blockSizeToByte (blockSize: ErisBlockSize): number {
  if (blockSize === ERIS_BLOCK_SIZE_1KIB) return BLOCK_SIZE_BYTE_1KIB
  if (blockSize === ERIS_BLOCK_SIZE_32KIB) return BLOCK_SIZE_BYTE_32KIB
  throw new ErisUrnError(`invalid ERIS block size ${String(blockSize)} (must be 1024 or 32768)`)
}

/** Block size for capability byte 0, or `undefined` for anything but 0x0a / 0x0f. */
export function blockSizeFromByte (byte: number): ErisBlockSize | undefined {
  if (byte === BLOCK_SIZE_BYTE_1KIB) return ERIS_BLOCK_SIZE_1KIB
  if (byte === BLOCK_SIZE_BYTE_32KIB) return ERIS_BLOCK_SIZE_32KIB
  return undefined
}

/** True for 1024 and 32768. */
export function isErisBlockSize (value: unknown): value is ErisBlockSize {
  return value === ERIS_BLOCK_SIZE_1KIB || value === ERIS_BLOCK_SIZE_32KIB
}

function checkCapability (cap: ErisReadCapability): void {
  blockSizeToByte(cap.blockSize)
  if (!Number.isInteger(cap.level) || cap.level < 0 || cap.level > 255) {
    throw new ErisUrnError(`invalid ERIS level ${String(cap.level)} (must be 0–255)`)
  }
  if (!(cap.rootReference instanceof Uint8Array) || cap.rootReference.length !== REFERENCE_LENGTH) {
    throw new ErisUrnError(`root reference must be ${REFERENCE_LENGTH} bytes`)
  }
  if (!(cap.rootKey instanceof Uint8Array) || cap.rootKey.length !== KEY_LENGTH) {
    throw new ErisUrnError(`root key must be ${KEY_LENGTH} bytes`)
  }
}

/** The 66-byte binary read capability. */
export function encodeReadCapability (cap: ErisReadCapability): Uint8Array {
  checkCapability(cap)
  const bytes = new Uint8Array(READ_CAPABILITY_LENGTH)
  bytes[0] = blockSizeToByte(cap.blockSize)
  bytes[1] = cap.level
  bytes.set(cap.rootReference, 2)
  bytes.set(cap.rootKey, 2 + REFERENCE_LENGTH)
  return bytes
}

/**
 * Parses a 66-byte binary read capability (copies; the result shares no memory with `bytes`).
 *
 * @throws {ErisUrnError} wrong length or block-size byte not 0x0a / 0x0f
 */
export function decodeReadCapability (bytes: Uint8Array): ErisReadCapability {
  if (!(bytes instanceof Uint8Array) || bytes.length !== READ_CAPABILITY_LENGTH) {
    throw new ErisUrnError(`ERIS read capability must be ${READ_CAPABILITY_LENGTH} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`)
  }
  const blockSize = blockSizeFromByte(bytes[0])
  if (blockSize == null) {
    throw new ErisUrnError(`unknown ERIS block-size byte 0x${bytes[0].toString(16).padStart(2, '0')} (must be 0x0a or 0x0f)`)
  }
  return {
    blockSize,
    level: bytes[1],
    rootReference: bytes.slice(2, 2 + REFERENCE_LENGTH),
    rootKey: bytes.slice(2 + REFERENCE_LENGTH, READ_CAPABILITY_LENGTH)
  }
}

/** `urn:eris:<106 base32 characters>`. */
export function formatErisUrn (cap: ErisReadCapability | Uint8Array): string {
  const bytes = cap instanceof Uint8Array ? encodeReadCapability(decodeReadCapability(cap)) : encodeReadCapability(cap)
  return ERIS_URN_PREFIX + base32Encode(bytes)
}

/** Checks the `urn:<nid>:` prefix; per RFC 8141 the scheme and NID compare case-insensitively. */
function stripPrefix (urn: unknown, prefix: string, bodyLength: number, what: string): string {
  if (typeof urn !== 'string') {
    throw new ErisUrnError(`${what} must be a string`)
  }
  if (urn.length !== prefix.length + bodyLength) {
    throw new ErisUrnError(`${what} must be ${prefix.length + bodyLength} characters (${prefix}<${bodyLength} base32 characters>), got ${urn.length}`)
  }
  if (urn.slice(0, prefix.length).toLowerCase() !== prefix) {
    throw new ErisUrnError(`${what} must start with ${JSON.stringify(prefix)}`)
  }
  return urn.slice(prefix.length)
}

/**
 * Strictly parses `urn:eris:<base32>`: exact length, uppercase unpadded base32 with zero trailing
 * bits, block-size byte 0x0a / 0x0f, no query or fragment.
 *
 * @throws {ErisUrnError}
 */
export function parseErisUrn (urn: string): ErisReadCapability {
  const body = stripPrefix(urn, ERIS_URN_PREFIX, READ_CAPABILITY_BASE32_LENGTH, 'ERIS URN')
  return decodeReadCapability(base32Decode(body))
}

/** `urn:blake2b:<52 base32 characters>` for a 32-byte block reference. */
export function formatBlockUrn (reference: Uint8Array): string {
  if (!(reference instanceof Uint8Array) || reference.length !== REFERENCE_LENGTH) {
    throw new ErisUrnError(`block reference must be ${REFERENCE_LENGTH} bytes`)
  }
  return BLAKE2B_URN_PREFIX + base32Encode(reference)
}

/**
 * Strictly parses `urn:blake2b:<base32>` into a 32-byte reference.
 *
 * @throws {ErisUrnError}
 */
export function parseBlockUrn (urn: string): Uint8Array {
  const body = stripPrefix(urn, BLAKE2B_URN_PREFIX, REFERENCE_BASE32_LENGTH, 'block URN')
  return base32Decode(body)
}

/** Accepts a URN, a binary capability or a capability object; validates and normalises it. */
export function toReadCapability (cap: string | Uint8Array | ErisReadCapability): ErisReadCapability {
  if (typeof cap === 'string') return parseErisUrn(cap)
  if (cap instanceof Uint8Array) return decodeReadCapability(cap)
  checkCapability(cap)
  return cap
}
