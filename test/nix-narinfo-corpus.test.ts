import { readFileSync } from 'node:fs'
import { zstdDecompressSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import { CACHE_NIXOS_ORG_KEY } from '../src/nix/constants.ts'
import { parseNarInfo, renderNarInfo } from '../src/nix/narinfo.ts'
import { parsePublicKey, validSignatures, verifyNarInfo } from '../src/nix/signing.ts'

/** tvix `nix-compat/testdata/narinfo.zst`: 978 real narinfos, each followed by one blank line. */
function loadCorpus (): string[] {
  const text = zstdDecompressSync(readFileSync(fixture('narinfo', 'nixos-cache', 'tvix_corpus_narinfo.zst'))).toString('utf8')
  expect(text.endsWith('\n\n')).toBe(true)
  return text.slice(0, -2).split('\n\n').map(record => `${record}\n`)
}

describe('978-narinfo cache.nixos.org corpus', () => {
  const corpus = loadCorpus()
  const key = parsePublicKey(CACHE_NIXOS_ORG_KEY)

  it('has 978 documents', () => {
    expect(corpus).toHaveLength(978)
  })

  it('every document parses, re-renders byte-for-byte and its cache.nixos.org-1 signature verifies', () => {
    const compressions = new Map<string, number>()
    let withCa = 0
    let withSystem = 0
    for (const text of corpus) {
      const info = parseNarInfo(text)
      expect(renderNarInfo(info)).toBe(text)
      expect(validSignatures(info, [key])).toEqual(info.signatures)
      expect(info.signatures).toHaveLength(1)
      expect(verifyNarInfo(info, [key])).toBe(true)
      compressions.set(info.compression, (compressions.get(info.compression) ?? 0) + 1)
      if (info.ca != null) withCa++
      if (info.system != null) withSystem++
    }
    expect(Object.fromEntries(compressions)).toEqual({ xz: 977, bzip2: 1 })
    expect(withCa).toBe(8)
    expect(withSystem).toBe(8)
  })

  it('no signature verifies once NarSize or a reference is changed', () => {
    for (const text of corpus.slice(0, 50)) {
      // without CA, so acceptance rests on the signature alone
      const info = { ...parseNarInfo(text), ca: undefined }
      expect(verifyNarInfo(info, [key])).toBe(true)
      expect(verifyNarInfo({ ...info, narSize: info.narSize + 1 }, [key])).toBe(false)
      if (info.references.length > 0) {
        expect(verifyNarInfo({ ...info, references: info.references.slice(1) }, [key])).toBe(false)
      }
    }
  })
})
