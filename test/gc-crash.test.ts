/**
 * A process killed (SIGKILL) at random points while it imports and collects garbage leaves the
 * store consistent: after reopening, it verifies clean (every kept path renders to its
 * NarHash), the pinned path is still there, and a further pass removes what the kills left.
 */
import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore, verifyCastore, createGarbageCollector, toHex } from '../src/castore/index.ts'
import { collect, dirNarBytes, fakeStorePath } from './helpers/daemon-harness.ts'

const child = fileURLToPath(new URL('./helpers/gc-loop.ts', import.meta.url))

describe('crash safety of gc', () => {
  it('survives SIGKILL at 10 random points during GC passes (seeded)', async () => {
    await loadKernel()
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-gc-crash-'))
    let seed = 4242
    const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    const pinned = fakeStorePath('gc-crash-pinned', 'pinned')
    const pinnedNar = await dirNarBytes({ a: 'pinned '.repeat(5000), b: 'x' })
    try {
      {
        const store = await openCastore({ dataDir: dir, fsync: false })
        await store.importNar([pinnedNar], { storePath: pinned, narHash: createHash('sha256').update(pinnedNar).digest(), narSize: pinnedNar.byteLength })
        await createGarbageCollector({ castore: store }).pin([pinned])
        await store.close()
      }
      let rounds = 0
      for (let kill = 0; kill < 10; kill++) {
        const proc = spawn(process.execPath, [child, dir, String(kill + 1), pinned], { stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        let err = ''
        proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
        proc.stderr.on('data', (d: Buffer) => { err += d.toString() })
        // once it has done a round (start-up time varies with the load), kill it at a random point
        for (let i = 0; i < 300 && !out.includes('round') && proc.exitCode === null; i++) await new Promise(resolve => setTimeout(resolve, 100))
        await new Promise(resolve => setTimeout(resolve, Math.floor(rand() * 500)))
        proc.kill('SIGKILL')
        await new Promise(resolve => proc.on('close', resolve))
        expect(err).toBe('')
        rounds += out.split('\n').filter(l => l.startsWith('round')).length
        const store = await openCastore({ dataDir: dir, fsync: false })
        try {
          const report = await verifyCastore(store)
          expect(report.problems).toEqual([])
          expect(toHex(await collect(store.exportNar(pinned)))).toBe(toHex(pinnedNar))
        } finally {
          await store.close()
        }
      }
      // every child got going before its kill
      expect(rounds).toBeGreaterThanOrEqual(10)
      // leftovers of the kills (orphans) go with the next pass; the store ends under the limit
      const store = await openCastore({ dataDir: dir, fsync: false })
      try {
        const gc = createGarbageCollector({ castore: store })
        const r = await gc.run({ maxSize: 300_000 })
        expect(r.storeBytes).toBeLessThanOrEqual(300_000)
        const again = await gc.run({ maxSize: 300_000 })
        expect(again.objectsRemoved).toBe(0)
        expect(await createGarbageCollector({ castore: store }).measure()).toBe(again.storeBytes)
        expect((await verifyCastore(store)).problems).toEqual([])
      } finally {
        await store.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
