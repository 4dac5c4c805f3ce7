/**
 * Command-line side of the daemon-protocol facade (issue 4): where the sockets live and
 * with which permissions, the `daemon`, `stdio` and `import --from-daemon` commands, and
 * `startDaemonSocket` for `serve`. The protocol itself is in src/daemon/.
 *
 * Commands return an exit code like the others in cli.ts; usage errors print a message and
 * return 2.
 */
import { parseArgs } from 'node:util'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { tmpdir } from 'node:os'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import {
  DEFAULT_NIX_DAEMON_SOCKET,
  DaemonClient,
  GUIX_STORE_DIR,
  createDaemonServer,
  importFromDaemon,
  validateStorePath
} from '../src/daemon/index.ts'
import type { DaemonServer, DaemonServerEvent, DaemonServerLimits, ImportProgress } from '../src/daemon/index.ts'
import { parsePublicKey } from '../src/nix/index.ts'
import type { PublicKey } from '../src/nix/index.ts'
import { ConfigError, commandDataDir, resolveConfig } from './config.ts'

export const DAEMON_USAGE = `  storeswarm daemon [--daemon-socket PATH] [--guix-daemon-socket PATH] [--socket-mode 660]
                 [--trusted-public-keys 'NAME:KEY …'] [--no-require-sigs] [--trust-clients]
                                               serve the Nix daemon protocol on a Unix socket
                                               (default $XDG_RUNTIME_DIR/storeswarm/daemon.sock);
                                               uploads need a signature by a trusted key (default
                                               cache.nixos.org-1), or --trust-clients + --no-check-sigs
  storeswarm stdio [--daemon-socket PATH]       bridge stdin/stdout to the daemon socket; use as
                                               ssh-ng://localhost?remote-program=storeswarm%20stdio
  storeswarm import --from-daemon [SOCKET] STORE-PATH... [--closure | --all]
                                               copy paths (with signatures) from a running
                                               nix-daemon (default /nix/var/nix/daemon-socket/socket)
`

class DaemonUsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

type OptionSpec = Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }>

function parse (args: string[], options: OptionSpec): { values: Record<string, any>, positionals: string[] } {
  try {
    return parseArgs({ args, options: { 'data-dir': { type: 'string' }, config: { type: 'string' }, ...options }, allowPositionals: true, strict: true })
  } catch (err: any) {
    throw new DaemonUsageError(err.message)
  }
}

async function guarded (command: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn()
  } catch (err: any) {
    if (err?.code === 'EPIPE') return 0
    const name = err?.name !== undefined && err.name !== 'Error' && err.name !== 'UsageError' ? `${err.name}: ` : ''
    process.stderr.write(`storeswarm ${command}: ${name}${err?.message ?? String(err)}\n`)
    if (err instanceof ConfigError) return err.origin === 'flag' ? 2 : 3
    return err instanceof DaemonUsageError ? 2 : 1
  }
}

/* ------------------------------------------------------------------------ */
/* Socket locations                                                          */
/* ------------------------------------------------------------------------ */

function uidSuffix (): string {
  return typeof process.getuid === 'function' ? String(process.getuid()) : 'user'
}

/**
 * The node's daemon socket: `--daemon-socket` > `$STORESWARM_DAEMON_SOCKET` >
 * `$XDG_RUNTIME_DIR/storeswarm/daemon.sock` > `$TMPDIR/storeswarm-<uid>/daemon.sock`.
 */
export function resolveDaemonSocket (flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return resolve(flag)
  if (env.STORESWARM_DAEMON_SOCKET !== undefined && env.STORESWARM_DAEMON_SOCKET !== '') return resolve(env.STORESWARM_DAEMON_SOCKET)
  if (env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== '') return join(env.XDG_RUNTIME_DIR, 'storeswarm', 'daemon.sock')
  return join(tmpdir(), `storeswarm-${uidSuffix()}`, 'daemon.sock')
}

/** The nix-daemon socket to read from: argument > `$NIX_DAEMON_SOCKET_PATH` > the system default. */
export function resolveNixDaemonSocket (arg?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (arg !== undefined && arg !== '') return resolve(arg)
  if (env.NIX_DAEMON_SOCKET_PATH !== undefined && env.NIX_DAEMON_SOCKET_PATH !== '') return env.NIX_DAEMON_SOCKET_PATH
  return DEFAULT_NIX_DAEMON_SOCKET
}

/** Options of {@link startDaemonSocket}. */
export interface DaemonSocketOptions {
  /** Socket path (see {@link resolveDaemonSocket}). */
  path: string
  /** `nix` (default) or `guix` (store dir `/gnu/store`). */
  dialect?: 'nix' | 'guix'
  /** Permissions of the socket file (default 0o660: owner and group). */
  mode?: number
  trustedPublicKeys?: readonly PublicKey[]
  /** Default true. */
  requireSigs?: boolean
  /** Everyone who can open the socket is a trusted user (default false). */
  trustClients?: boolean
  storeDir?: string
  limits?: DaemonServerLimits
  /** Re-hash NARs served by NarFromPath against their NarHash (default false, see DaemonServerInit). */
  verifyOnServe?: boolean
  onEvent?: (event: DaemonServerEvent) => void
  onNarServed?: (event: { storePath: string, bytes: number }) => void
}

export interface DaemonSocketHandle {
  path: string
  server: DaemonServer
  /** Stops listening, closes connections and removes the socket file. */
  close: () => Promise<void>
}

/** Removes a socket file left by a previous run; refuses to touch a live socket or another file. */
async function removeStaleSocket (path: string): Promise<void> {
  let st
  try {
    st = await lstat(path)
  } catch (err: any) {
    if (err.code === 'ENOENT') return
    throw err
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`)
  const live = await new Promise<boolean>((resolve) => {
    const s = connect({ path })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
  if (live) throw new Error(`${path} is in use by another process`)
  await unlink(path)
}

/**
 * Starts serving the daemon protocol on a Unix socket for an open castore (for `serve`
 * and `daemon`). Creates the parent directory (mode 0700) if needed and applies `mode`.
 */
export async function startDaemonSocket (castore: Castore, options: DaemonSocketOptions): Promise<DaemonSocketHandle> {
  const dialect = options.dialect ?? 'nix'
  const path = resolve(options.path)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await removeStaleSocket(path)
  const server = createDaemonServer({
    castore,
    dialect,
    storeDir: options.storeDir ?? (dialect === 'guix' ? GUIX_STORE_DIR : undefined),
    trustedPublicKeys: options.trustedPublicKeys,
    requireSigs: options.requireSigs,
    trustClients: options.trustClients,
    limits: options.limits,
    verifyOnServe: options.verifyOnServe,
    onEvent: options.onEvent,
    onNarServed: options.onNarServed
  })
  await server.start()
  await server.listen(path)
  await chmod(path, options.mode ?? 0o660)
  return {
    path,
    server,
    close: async () => {
      await server.stop()
      await unlink(path).catch(() => {})
    }
  }
}

function parseMode (text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (!/^[0-7]{3,4}$/.test(text)) throw new DaemonUsageError(`--socket-mode must be octal like 660, not ${JSON.stringify(text)}`)
  return parseInt(text, 8)
}

/**
 * The daemon settings of the configuration (node/config.ts): `--config FILE`, `STORESWARM_*` and
 * the flags of the command (which win). Flags the schema does not know are left alone.
 */
function daemonConfig (values: Record<string, unknown>): { dataDir: string, socket: string, guixSocket?: string, trustedPublicKeys: PublicKey[], trustClients: boolean } {
  const cfg = resolveConfig({ flags: values })
  const get = <T>(key: string): T => cfg.settings.get(key)!.value as T
  // like `serve`: the keys trusted for peers' path infos make daemon uploads valid too
  const keys = [...new Set([...get<string[]>('daemon.trusted-public-keys'), ...get<string[]>('p2p.trusted-public-keys')])]
  return {
    dataDir: get('data-dir'),
    socket: get('daemon.socket'),
    guixSocket: get('daemon.guix-socket'),
    trustedPublicKeys: keys.map(k => parsePublicKey(k)),
    trustClients: get('daemon.trust-clients')
  }
}

/* ------------------------------------------------------------------------ */
/* storeswarm daemon                                                         */
/* ------------------------------------------------------------------------ */

/** `storeswarm daemon …`: serve the daemon socket(s) until SIGINT/SIGTERM. */
export async function cmdDaemon (args: string[]): Promise<number> {
  return await guarded('daemon', async () => {
    const { values, positionals } = parse(args, {
      'daemon-socket': { type: 'string' },
      'guix-daemon-socket': { type: 'string' },
      'socket-mode': { type: 'string' },
      'trusted-public-keys': { type: 'string', multiple: true },
      'no-require-sigs': { type: 'boolean' },
      'trust-clients': { type: 'boolean' }
    })
    if (positionals.length > 0) throw new DaemonUsageError('daemon takes no arguments')
    const mode = parseMode(values['socket-mode'])
    // flags > STORESWARM_* > config file > defaults (daemon.trusted-public-keys: cache.nixos.org-1, like Nix)
    const cfg = daemonConfig(values)
    const common = {
      mode,
      trustedPublicKeys: cfg.trustedPublicKeys,
      requireSigs: values['no-require-sigs'] !== true,
      trustClients: cfg.trustClients
    }
    await loadKernel()
    const castore = await openCastore({ dataDir: cfg.dataDir })
    const handles: DaemonSocketHandle[] = []
    try {
      handles.push(await startDaemonSocket(castore, { ...common, path: cfg.socket }))
      if (cfg.guixSocket !== undefined) {
        handles.push(await startDaemonSocket(castore, { ...common, dialect: 'guix', path: cfg.guixSocket }))
      }
      for (const h of handles) process.stderr.write(`storeswarm: ${h.server.context.dialect} daemon protocol on ${h.path}\n`)
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          resolve()
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      return 0
    } finally {
      for (const h of handles) await h.close()
      await castore.close()
    }
  })
}

/* ------------------------------------------------------------------------ */
/* storeswarm stdio                                                          */
/* ------------------------------------------------------------------------ */

/**
 * `storeswarm stdio`: splices stdin/stdout to the node's daemon socket, so that
 * `ssh-ng://localhost?remote-program=…` reaches the node (Nix runs the remote program
 * with `--stdio` and, on newer versions, `--store X`; both are accepted and ignored).
 */
export async function cmdStdio (args: string[], io: { stdin: NodeJS.ReadableStream, stdout: NodeJS.WritableStream } = { stdin: process.stdin, stdout: process.stdout }): Promise<number> {
  return await guarded('stdio', async () => {
    const { values } = parse(args, {
      stdio: { type: 'boolean' },
      store: { type: 'string' },
      'daemon-socket': { type: 'string' }
    })
    // the socket of the configuration: --daemon-socket > $STORESWARM_DAEMON_SOCKET > daemon.socket of the file > default
    const path = resolveConfig({ flags: { config: values.config, 'daemon-socket': values['daemon-socket'] } }).settings.get('daemon.socket')!.value as string
    const socket: Socket = connect({ path })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', (err) => {
        reject(new Error(`cannot connect to the node's daemon socket ${path} (${err.message}); is \`storeswarm daemon\` running?`))
      })
    })
    socket.on('error', () => {})
    return await new Promise<number>((resolve) => {
      socket.once('close', (hadError) => {
        io.stdin.unpipe(socket)
        ;(io.stdin as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.()
        resolve(hadError ? 1 : 0)
      })
      io.stdin.pipe(socket)
      socket.pipe(io.stdout as NodeJS.WritableStream)
    })
  })
}

/* ------------------------------------------------------------------------ */
/* storeswarm import --from-daemon                                           */
/* ------------------------------------------------------------------------ */

function isStorePath (s: string): boolean {
  try {
    validateStorePath(s)
    return true
  } catch {
    return false
  }
}

function mib (n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`
}

function progressLine (p: ImportProgress): string {
  const width = 30
  const frac = p.bytes === 0 ? 1 : Math.min(1, p.bytesDone / p.bytes)
  const filled = Math.round(frac * width)
  return `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${p.imported}/${p.paths - p.skipped} paths, ${mib(p.bytesDone)}/${mib(p.bytes)}`
}

/**
 * `storeswarm import --from-daemon [SOCKET] STORE-PATH… [--closure | --all]`: copies paths
 * from a running nix-daemon into the node, keeping their signatures. SOCKET is the first
 * argument when it is not a store path.
 */
export async function cmdImportFromDaemon (args: string[]): Promise<number> {
  return await guarded('import', async () => {
    const { values, positionals } = parse(args, {
      'from-daemon': { type: 'boolean' },
      closure: { type: 'boolean' },
      all: { type: 'boolean' }
    })
    if (values['from-daemon'] !== true) throw new DaemonUsageError('import --from-daemon: the flag is missing')
    if (values.closure === true && values.all === true) throw new DaemonUsageError('--closure and --all exclude each other')
    const rest = [...positionals]
    const socketArg = rest.length > 0 && !isStorePath(rest[0]) ? rest.shift() : undefined
    for (const p of rest) if (!isStorePath(p)) throw new DaemonUsageError(`not a store path: ${p}`)
    if (rest.length === 0 && values.all !== true) throw new DaemonUsageError('import --from-daemon needs store paths (or --all)')
    const socketPath = resolveNixDaemonSocket(socketArg)
    await loadKernel()
    const castore = await openCastore({ dataDir: commandDataDir(values) })
    const controller = new AbortController()
    const onSignal = (): void => { controller.abort(new Error('interrupted')) }
    process.once('SIGINT', onSignal)
    let client: DaemonClient | undefined
    const tty = process.stderr.isTTY === true
    try {
      client = await DaemonClient.connect({ socketPath, signal: controller.signal })
      const result = await importFromDaemon(client, castore, rest, {
        closure: values.closure === true,
        all: values.all === true,
        signal: controller.signal,
        onProgress: tty ? (p) => { process.stderr.write(`\r${progressLine(p)}`) } : undefined
      })
      if (tty) process.stderr.write('\n')
      for (const p of result.imported) process.stdout.write(`${p}\n`)
      process.stderr.write(`imported ${result.imported.length} paths from ${socketPath}, ${result.skipped.length} already present\n`)
      return 0
    } finally {
      process.off('SIGINT', onSignal)
      await client?.close()
      await castore.close()
    }
  })
}
