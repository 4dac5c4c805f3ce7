/**
 * Where the node keeps its data, from flags, environment and XDG defaults — the only place
 * (with the rest of node/) that reads the environment.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** `--data-dir` > `STORESWARM_DATA_DIR` > `$XDG_DATA_HOME/storeswarm` > `~/.local/share/storeswarm`. */
export function resolveDataDir (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return resolve(flag)
  if (env.STORESWARM_DATA_DIR !== undefined && env.STORESWARM_DATA_DIR !== '') return resolve(env.STORESWARM_DATA_DIR)
  const xdg = env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== '' ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share')
  return join(xdg, 'storeswarm')
}
