/**
 * Small versions of the five swarm simulations (simulations/): 12 nodes, a 30-path closure.
 * Each runs the real src/p2p code over the simulated network in a child process (the
 * simulation replaces the process's timers with a virtual clock) and asserts the properties
 * that do not depend on timing: integrity (honest stores re-hashed), completion, dedup bytes,
 * WAN crossings.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
let out: string

async function sim (scenario: string, ...extra: string[]): Promise<any> {
  const args = [join(root, 'simulations/run.ts'), scenario, '--nodes', '12', '--paths', '30', '--total-mib', '120', '--no-solo', '--json', '--out', out, ...extra]
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root, maxBuffer: 64 * 1024 * 1024, timeout: 170_000 }, (err, so, se) => {
      if (err !== null) reject(new Error(`${scenario}: ${err.message}\n${se}`))
      else resolve(so)
    })
  })
  return JSON.parse(stdout.trim().split('\n').pop() as string)
}

function figure (rep: any, prefix: string): any {
  return rep.figures.find((f: any) => f.name.startsWith(prefix))?.value
}

beforeAll(async () => { out = await mkdtemp(join(tmpdir(), 'ss-sim-')) })
afterAll(async () => { await rm(out, { recursive: true, force: true }) })

describe('swarm simulations (small)', () => {
  it('flash crowd: every node completes, nothing corrupt; writes JSON, SVG, markdown', async () => {
    const rep = await sim('flash-crowd')
    expect(rep.main.completion.completed).toBe(12)
    expect(rep.main.completion.expected).toBe(12)
    expect(rep.main.integrity.checkedNodes).toBe(12)
    expect(rep.main.integrity.missingPaths).toBe(0)
    expect(rep.main.integrity.corruptBytesAccepted).toBe(0)
    // the seeder uploaded at least one closure, and its upload is accounted
    expect(rep.main.seeder.uploadPerClosure).toBeGreaterThanOrEqual(1)
    // swarm effect: the seeder sends each piece about twice (referrals), the peers the rest
    expect(rep.main.seeder.uploadPerClosure).toBeLessThanOrEqual(3)
    const by = rep.main.network.verifiedBySource
    expect(by['internet → internet']).toBeGreaterThan(by['seeder → internet'])
    expect(rep.main.network.downloader.referrals).toBeGreaterThan(0)
    const svg = await readFile(join(out, 'flash-crowd.svg'), 'utf8')
    expect(svg.startsWith('<svg')).toBe(true)
    expect(await readFile(join(out, 'SUMMARY.md'), 'utf8')).toContain('flash-crowd')
  }, 180_000)

  it('churn: every node that stays completes', async () => {
    const rep = await sim('churn')
    expect(rep.main.churn.left + rep.main.churn.returned).toBeGreaterThan(0)
    expect(rep.main.churn.stayersCompleted).toBe(rep.main.churn.stayers)
    expect(rep.main.churn.returnersCompleted).toBe(rep.main.churn.returners)
    expect(rep.main.integrity.corruptBytesAccepted).toBe(0)
  }, 180_000)

  it('liars: they are met and rejected, honest stores hold 0 corrupt bytes, every honest node completes', async () => {
    const rep = await sim('liars', '--no-baseline')
    expect(rep.main.liars.count).toBeGreaterThan(0)
    // liars were met: bad data or forged path infos got them banned
    expect(rep.main.liars.peersBanned).toBeGreaterThan(0)
    expect(rep.main.integrity.badBlobs).toBe(0)
    expect(rep.main.integrity.badPaths).toBe(0)
    expect(rep.main.integrity.corruptBytesAccepted).toBe(0)
    expect(rep.main.completion.completed).toBe(12)
  }, 180_000)

  it('update: bytes moved for the second closure are ≤ 30 % of its NAR size (dedup across store paths)', async () => {
    const rep = await sim('update')
    expect(rep.main.update.sharedFiles).toBeGreaterThan(0.75)
    expect(rep.main.completion.completed).toBe(12)
    expect(rep.main.update.ratioMax).toBeLessThanOrEqual(0.3)
    // and the changed files did move: more than their share of the NAR would be impossible to skip
    expect(rep.main.update.ratioMean).toBeGreaterThan(1 - rep.main.update.sharedBytes - 0.05)
    expect(rep.main.integrity.corruptBytesAccepted).toBe(0)
  }, 180_000)

  it('LAN + WAN: every node completes; each file crosses the WAN about once for the far site', async () => {
    const rep = await sim('lan-wan')
    expect(rep.main.completion.completed).toBe(12)
    expect(rep.main.integrity.corruptBytesAccepted).toBe(0)
    const wan = rep.main.wan
    // site b needs the closure once: at least that crossed the WAN link
    expect(wan.factor).toBeGreaterThanOrEqual(1)
    expect(wan.perFileMean).toBeGreaterThanOrEqual(1)
    expect(figure(rep, 'WAN bytes')).toBe(Math.round(wan.factor * 100) / 100)
    // …and little more: files cross about once for the whole far site (not once per node, 6×
    // here): each blob or piece has a gateway in the site that fetches it from afar while the
    // others wait for its copy; the far site's nodes get most of their bytes from each other
    expect(wan.factor).toBeLessThanOrEqual(1.3)
    expect(rep.main.network.downloader.gatewayWaits).toBeGreaterThan(0)
    const by = rep.main.network.verifiedBySource
    expect(by['b → b']).toBeGreaterThan((by['seeder → b'] ?? 0) + (by['a → b'] ?? 0))
  }, 180_000)
})
