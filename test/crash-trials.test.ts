/**
 * The crash-safety trials (scripts/crash-trials.ts) in small: a `storeswarm serve` child process
 * under HTTP and daemon-socket uploads (and GC when available) is SIGKILLed 8 times at seeded
 * random moments; after each kill verify (the `storeswarm verify` command every 4th kill, the
 * same check in-process otherwise) finds no damage and every path the node had
 * reported valid is still valid with its NarHash.
 */
import { describe, it, expect } from 'vitest'
import { runCrashTrials } from '../scripts/crash-trials.ts'

describe('crash trials (small)', () => {
  it('8 kills: no corrupt store, no lost path', async () => {
    const log: string[] = []
    const r = await runCrashTrials({ kills: 8, seed: 7, p2p: false, rotate: 100, cliVerifyEvery: 4, minMs: 300, maxMs: 1500, log: (line) => log.push(line) })
    expect(r.kills).toBe(8)
    expect(r.corruptStores, log.join('\n')).toBe(0)
    expect(r.lostPaths, log.join('\n')).toBe(0)
    expect(r.failures).toEqual([])
    // the workload really ran through both upload paths
    expect(r.httpUploads).toBeGreaterThan(0)
    expect(r.daemonUploads).toBeGreaterThan(0)
    expect(r.reportedValid).toBe(r.httpUploads + r.daemonUploads + r.p2pFetches)
  }, 240_000)
})
