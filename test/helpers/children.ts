/** Stopping the node processes a test spawned: SIGTERM, then SIGKILL after a grace period. */
import type { ChildProcess } from 'node:child_process'

export async function stopChildren (children: Iterable<ChildProcess>, graceMs = 10_000): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(t)
  }
}
