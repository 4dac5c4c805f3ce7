/**
 * A process killed (SIGKILL) at random points during imports leaves the store consistent:
 * after reopening, the store verifies clean and every path reported as imported is valid.
 */
import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openCastore, verifyCastore } from '../src/castore/index.ts'

const child = fileURLToPath(new URL('./helpers/import-loop.ts', import.meta.url))

describe('crash safety of import', () => {
  it('survives SIGKILL at 8 random points (seeded)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-crash-'))
    let seed = 12345
    const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    const reported = new Set<string>()
    try {
      for (let round = 0; round < 8; round++) {
        const proc = spawn(process.execPath, [child, dir, String(round + 1)], { stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        let err = ''
        proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
        proc.stderr.on('data', (d: Buffer) => { err += d.toString() })
        // let it get going (startup + a few imports), then kill it mid-flight
        await new Promise(resolve => setTimeout(resolve, 700 + Math.floor(rand() * 900)))
        proc.kill('SIGKILL')
        await new Promise(resolve => proc.on('close', resolve))
        expect(err).toBe('')
        for (const line of out.split('\n')) if (line !== '') reported.add(line)
        const store = await openCastore({ dataDir: dir })
        try {
          const report = await verifyCastore(store)
          expect(report.problems).toEqual([])
          for (const path of reported) expect(await store.getPathInfo(path), path).toBeDefined()
        } finally {
          await store.close()
        }
      }
      expect(reported.size).toBeGreaterThan(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
