/**
 * The storeswarm node's daemon socket as its own process, for bench/daemon.ts (the real
 * nix-daemon is a separate process too). Castore without fsync (bench data only); every
 * client is trusted so the bench can upload unsigned paths with dontCheckSigs.
 * Usage: node bench/helpers/daemon-node.ts DATA_DIR SOCKET [verify]   (prints "ready" when listening)
 */
import { loadKernel } from '../../src/blake3/index.ts'
import { openCastore } from '../../src/castore/index.ts'
import { startDaemonSocket } from '../../node/daemon.ts'

const [dataDir, socket, verify] = process.argv.slice(2)
await loadKernel()
const castore = await openCastore({ dataDir, fsync: false })
const handle = await startDaemonSocket(castore, { path: socket, trustClients: true, mode: 0o600, verifyOnServe: verify === 'verify' })
process.stdout.write('ready\n')
const stop = async (): Promise<void> => {
  await handle.close()
  await castore.close()
  process.exit(0)
}
process.on('SIGTERM', () => { void stop() })
process.on('SIGINT', () => { void stop() })
