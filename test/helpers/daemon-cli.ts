/**
 * Test-only entry for the daemon commands of node/daemon.ts, run as a child process:
 *   node test/helpers/daemon-cli.ts daemon|stdio|import ARGS…
 * (node/cli.ts wires the same functions for users.)
 */
import { cmdDaemon, cmdImportFromDaemon, cmdStdio } from '../../node/daemon.ts'

const [command, ...args] = process.argv.slice(2)
const commands: Record<string, (args: string[]) => Promise<number>> = {
  daemon: cmdDaemon,
  stdio: cmdStdio,
  import: cmdImportFromDaemon
}
const run = commands[command ?? '']
if (run === undefined) {
  process.stderr.write('usage: daemon-cli.ts daemon|stdio|import ARGS…\n')
  process.exitCode = 2
} else {
  process.exitCode = await run(args)
}
