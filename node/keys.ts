/**
 * The node's signing keys, generated on first start into `<data dir>/keys/`:
 *
 *   nix-cache.secret / nix-cache.public   Nix binary-cache key pair, in the format of
 *                                         `nix-store --generate-binary-cache-key` (`<name>:<base64>`,
 *                                         no trailing newline); the name defaults to
 *                                         `storeswarm-<host>-1`
 *   guix-signing-key.sec / .pub           Guix key pair (libgcrypt s-expressions, like
 *                                         /etc/guix/signing-key.{sec,pub})
 *
 * Secret files are mode 0600 in a 0700 directory and written atomically (temp file + rename).
 * `--nix-secret-key-file FILE` uses an existing Nix key instead (e.g. the one a cache already
 * signs with).
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { formatPublicKey, formatSecretKey, generateSigningKey, parseSecretKey, toPublicKey } from '../src/nix/signing.ts'
import type { SecretKey } from '../src/nix/signing.ts'
import { formatGuixPublicKey, generateGuixKeyPair, parseGuixSecretKey } from '../src/nix/guix-signature.ts'
import type { GuixSecretKey } from '../src/nix/guix-signature.ts'

export interface NodeKeys {
  nix: SecretKey
  /** `name:base64`, for `trusted-public-keys` */
  nixPublic: string
  guix: GuixSecretKey
  /** the `(public-key …)` s-expression, for `guix archive --authorize` */
  guixPublic: string
  dir: string
  /** files created by this call */
  created: string[]
}

export interface KeyOptions {
  /** name of a newly generated Nix key (default `storeswarm-<host>-1`) */
  keyName?: string
  /** use this Nix secret key file instead of `<data dir>/keys/nix-cache.secret` */
  nixSecretKeyFile?: string
  /** only read: fail instead of generating missing keys */
  readOnly?: boolean
}

export function defaultKeyName (): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'node'
  return `storeswarm-${host}-1`
}

async function readIfExists (file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err: any) {
    if (err.code === 'ENOENT') return undefined
    throw err
  }
}

async function writeAtomic (file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  await writeFile(tmp, text, { mode, flag: 'wx' })
  await chmod(tmp, mode)
  await rename(tmp, file)
}

export async function loadOrCreateKeys (dataDir: string, options: KeyOptions = {}): Promise<NodeKeys> {
  const dir = join(dataDir, 'keys')
  const created: string[] = []
  if (options.readOnly !== true) await mkdir(dir, { recursive: true, mode: 0o700 })
  const missing = (what: string): Error => new Error(`no ${what} in ${dir} yet: run \`storeswarm serve\` once (it generates the keys)`)

  let nix: SecretKey
  const nixFile = options.nixSecretKeyFile ?? join(dir, 'nix-cache.secret')
  const nixText = await readIfExists(nixFile)
  if (nixText !== undefined) {
    try {
      nix = parseSecretKey(nixText)
    } catch (err: any) {
      throw new Error(`${nixFile}: ${err.message}`)
    }
  } else {
    if (options.nixSecretKeyFile !== undefined) throw new Error(`${nixFile} does not exist`)
    if (options.readOnly === true) throw missing('Nix key')
    nix = generateSigningKey(options.keyName ?? defaultKeyName())
    await writeAtomic(nixFile, formatSecretKey(nix), 0o600)
    await writeAtomic(join(dir, 'nix-cache.public'), formatPublicKey(toPublicKey(nix)), 0o644)
    created.push(nixFile)
  }

  let guix: GuixSecretKey
  const guixFile = join(dir, 'guix-signing-key.sec')
  const guixText = await readIfExists(guixFile)
  if (guixText !== undefined) {
    try {
      guix = parseGuixSecretKey(guixText)
    } catch (err: any) {
      throw new Error(`${guixFile}: ${err.message}`)
    }
  } else {
    if (options.readOnly === true) throw missing('Guix key')
    const pair = generateGuixKeyPair()
    await writeAtomic(guixFile, pair.secretKeyFile, 0o600)
    await writeAtomic(join(dir, 'guix-signing-key.pub'), pair.publicKeyFile, 0o644)
    guix = pair.secretKey
    created.push(guixFile)
  }

  return {
    nix,
    nixPublic: formatPublicKey(toPublicKey(nix)),
    guix,
    guixPublic: formatGuixPublicKey(guix.publicKey),
    dir,
    created
  }
}
