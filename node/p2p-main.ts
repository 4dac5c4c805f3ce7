/**
 * Stand-alone entry for the p2p commands until they are wired into node/cli.ts:
 *   node node/p2p-main.ts p2p|fetch|peers|announce [flags]
 */
import { cmdAnnounce, cmdFetch, cmdP2P, cmdPeers } from './p2p.ts'

const [command, ...rest] = process.argv.slice(2)
const commands: Record<string, (args: string[]) => Promise<number>> = { p2p: cmdP2P, fetch: cmdFetch, peers: cmdPeers, announce: cmdAnnounce }
const fn = command === undefined ? undefined : commands[command]
if (fn === undefined) {
  process.stderr.write('usage: p2p-main.ts p2p|fetch|peers|announce [--data-dir DIR] [--listen MA]... [--bootstrap MA]... [--mdns] [--upnp] [--no-p2p] [--trusted-public-key KEY]...\n')
  process.exit(2)
}
try {
  process.exitCode = await fn(rest)
} catch (err: any) {
  process.stderr.write(`storeswarm: ${err?.name !== undefined && err.name !== 'Error' ? `${err.name}: ` : ''}${err?.message ?? String(err)}\n`)
  process.exitCode = err?.name === 'UsageError' || err?.code?.startsWith?.('ERR_PARSE_ARGS') === true ? 2 : 1
}
