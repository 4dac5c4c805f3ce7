/**
 * Spawns `storeswarm p2p …` (node/bin.ts) swarm nodes as child processes (loopback only) and
 * waits for their listen addresses.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** the real command line: `storeswarm p2p|fetch|peers|announce …` */
export const P2P_MAIN = fileURLToPath(new URL('../../node/bin.ts', import.meta.url))

export interface ProcNode {
  proc: ChildProcess
  addr: string
  peerId: string
  stderr: () => string
  stop: () => Promise<void>
}

/**
 * `flags` may hold its own `--listen` (default `/ip4/127.0.0.1/tcp/0`); `wrapper` prefixes the
 * command (e.g. `ip netns exec NS`).
 */
export async function spawnNode (dataDir: string, flags: string[] = [], wrapper: string[] = []): Promise<ProcNode> {
  const listen = flags.includes('--listen') ? [] : ['--listen', '/ip4/127.0.0.1/tcp/0']
  const argv = [process.execPath, P2P_MAIN, 'p2p', '--data-dir', dataDir, ...listen, ...flags]
  const cmd = [...wrapper, ...argv]
  const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STORESWARM_DEBUG: '1' } })
  let out = ''
  let err = ''
  proc.stderr?.on('data', (d) => { err += String(d) })
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`node did not start: ${err}`)) }, 30_000)
    proc.stdout?.on('data', (d) => {
      out += String(d)
      const m = /listening on (\S+\/p2p\/\S+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1]) }
    })
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`node exited with ${code}: ${err}`)) })
  })
  return {
    proc,
    addr,
    peerId: addr.slice(addr.lastIndexOf('/') + 1),
    stderr: () => err,
    stop: async () => {
      if (proc.exitCode !== null) return
      const exited = new Promise<void>(resolve => proc.once('exit', () => { resolve() }))
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    }
  }
}
