/**
 * Replays every input the fuzzer ever saved under test/regressions/<target>/ (crashes, hangs,
 * out-of-memory inputs): each must now end in the target's typed rejection or be accepted, within
 * the per-input time bound. A sibling `.txt` holds what the input did when it was found.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from './fixtures.ts'
import { FuzzInvariantError, classifyError, loadTargets, runOne } from './fuzz/targets.ts'
import type { FuzzTarget } from './fuzz/targets.ts'

const DIR = join(repoRoot, 'test', 'regressions')
const targets = await loadTargets()
const byName = new Map(targets.map(t => [t.name, t]))
const targetDirs = existsSync(DIR) ? readdirSync(DIR).filter(d => statSync(join(DIR, d)).isDirectory()).sort() : []
const saved = targetDirs.flatMap(target => readdirSync(join(DIR, target)).filter(f => f.endsWith('.bin')).sort().map(file => ({ target, file })))

describe('fuzz regressions', () => {
  it('every regression directory names a registered target', () => {
    for (const d of targetDirs) expect(byName.has(d), `test/regressions/${d}`).toBe(true)
    expect(saved.length).toBeGreaterThan(0)
  })

  it.each(saved)('$target/$file', async ({ target, file }) => {
    const t = byName.get(target) as FuzzTarget
    const input = new Uint8Array(readFileSync(join(DIR, target, file)))
    expect(await runOne(t, input, 2000)).toBe(null)
  })

  it('the replay can fail: an untyped error, a broken invariant and a hang are crashes', async () => {
    const base = byName.get('castore-directory') as FuzzTarget
    expect(classifyError(base, new TypeError('x'))).toMatch(/^TypeError/)
    expect(classifyError(base, new Error('x'))).toMatch(/^Error/)
    expect(classifyError(base, new FuzzInvariantError('y'))).toMatch(/^FuzzInvariantError/)
    expect(classifyError(base, 'a string')).toMatch(/^non-Error/)
    const hangs: FuzzTarget = { ...base, run: async () => await new Promise(() => {}) }
    expect(await runOne(hangs, new Uint8Array(0), 50)).toMatch(/^FuzzHangError/)
    const throws: FuzzTarget = { ...base, run: () => { throw new RangeError('boom') } }
    expect(await runOne(throws, new Uint8Array(0))).toMatch(/^RangeError: boom/)
  })
})
