/**
 * A short, seeded mutation-fuzz pass over every decoder that sees outside bytes (the same
 * targets, corpus and mutator as `npm run fuzz`, a few thousand inputs each): every input must
 * end in the target's typed rejection or be accepted, within the per-input time bound, and
 * must not leave a large amount of memory behind. The long runs are `npm run fuzz -- all`.
 */
import { describe, expect, it } from 'vitest'
import { Mutator, Rng } from './fuzz/mutators.ts'
import { loadTargets, runOne } from './fuzz/targets.ts'

const targets = await loadTargets()
/** Inputs per target on top of its seeds (keeps the whole file to a few seconds per target). */
const INPUTS = Number(process.env.STORESWARM_PROPERTY_FUZZ_INPUTS ?? 3000)

describe('mutation fuzz (short, seeded)', () => {
  it('covers every decoder named by the hardening issue', () => {
    const names = targets.map(t => t.name)
    for (const n of ['nar', 'narinfo', 'guix-narinfo', 'daemon-server', 'daemon-client', 'daemon-codec', 'fetch-request', 'fetch-blob',
      'fetch-directories', 'path-info', 'eris-block-request', 'eris-urn', 'eris-decode', 'castore-directory', 'http-range']) {
      expect(names).toContain(n)
    }
  })

  it('the mutator is deterministic for a seed and changes its input', () => {
    const corpus = [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])]
    const a = new Mutator(new Rng(42), corpus)
    const b = new Mutator(new Rng(42), corpus)
    const xs = Array.from({ length: 200 }, () => a.next())
    const ys = Array.from({ length: 200 }, () => b.next())
    expect(xs).toEqual(ys)
    expect(xs.filter(x => Buffer.compare(x, corpus[0]) !== 0).length).toBeGreaterThan(150)
  })

  for (const target of targets) {
    it(`${target.name}: seeds and ${INPUTS} mutated inputs end in ${target.expected.map(e => e.name).join(' / ')} or are accepted`, async () => {
      const seeds = await target.seeds()
      expect(seeds.length).toBeGreaterThan(0)
      const rng = new Rng(0xfa22 ^ target.name.length)
      const mutator = new Mutator(rng, seeds, { dictionary: target.dictionary, maxLength: Math.min(target.maxLength ?? 65536, 32 * 1024), text: target.text, u64Fields: target.u64Fields })
      const crashes: string[] = []
      const before = process.memoryUsage().arrayBuffers
      let accepted = 0
      for (const input of seeds) {
        let threw = false
        const probe = { ...target, run: async (i: Uint8Array) => { try { await target.run(i) } catch (err) { threw = true; throw err } } }
        const r = await runOne(probe, input, 2000)
        if (r !== null) crashes.push(`seed (${input.length} bytes): ${r}`)
        if (!threw) accepted++
      }
      // the corpus starts past the decoder's first checks: some seeds are accepted whole
      // (path-info's seeds carry made-up signatures: parsed, then refused by the trust check)
      if (target.name !== 'path-info') expect(accepted, 'seeds accepted').toBeGreaterThan(0)
      for (let i = 0; i < INPUTS && crashes.length < 5; i++) {
        const input = target.structured !== undefined && rng.chance(0.3) ? target.structured(rng, mutator.next()) : mutator.next()
        const r = await runOne(target, input, 2000)
        if (r !== null) crashes.push(`${Buffer.from(input).toString('base64').slice(0, 200)}: ${r}`)
      }
      expect(crashes).toEqual([])
      // nothing retained: what is left after the run is garbage or small
      globalThis.gc?.()
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(256 * 1024 * 1024)
    })
  }
})
