/**
 * Every NAR in shared/fixtures/nar/manifest.json: valid ones parse and re-serialise
 * byte-identically; invalid ones are rejected with the expected reason.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import { chunked, collect, drain, rejection, sha256hex, sourceNode, treeFromNar } from './nar-helpers.ts'
import { NarParseError, narSize, writeNar } from '../src/nar/index.ts'

interface ManifestEntry {
  file: string
  size: number
  sha256_hex: string
  root_type: 'regular' | 'symlink' | 'directory'
  nix_2_8_restore_ok: boolean
  roundtrip_identical_nix_2_8: boolean | null
}

const manifest: ManifestEntry[] = JSON.parse(readFileSync(fixture('nar', 'manifest.json'), 'utf8'))

/** The README's rule: valid = restores with 2.8 and re-dumps identically, plus the case-hack files. */
function isValid (m: ManifestEntry): boolean {
  return (m.nix_2_8_restore_ok && m.roundtrip_identical_nix_2_8 === true) ||
    m.file === 'nixos-nix/case.nar' || m.file === 'nixos-nix/case-collision.nar'
}

/** Why each invalid fixture must be rejected (matched against the NarParseError message). */
const expectedReason: Record<string, RegExp> = {
  'nixos-nix/dot.nar': /invalid file name '\.'/,
  'nixos-nix/dotdot.nar': /invalid file name '\.\.'/,
  'nixos-nix/slash.nar': /invalid file name 'x\/y'/,
  'nixos-nix/empty.nar': /invalid file name ''/,
  'nixos-nix/nul-character.nar': /invalid file name 'f\\x00o'/,
  'nixos-nix/name-after-node.nar': /expected tag 'name', got 'node'/,
  'nixos-nix/invalid-tag-instead-of-contents.nar': /expected tag 'contents', got 'AAAAAAAA'/,
  'nixos-nix/regular-one-byte-non-zero-padding.nar': /non-zero padding/,
  'nixos-nix/regular-truncated-large-contents.nar': /file size 18446744073709551615 exceeds/,
  'nixos-nix/regular-truncated-padding.nar': /unexpected end of NAR \(truncated\)/,
  'nixos-nix/executable-after-contents.nar': /expected tag '\)', got 'executable'/,
  'nixos-nix/duplicate.nar': /not sorted: duplicate entry 'a'/,
  'synthetic/dupfile.nar': /not sorted: duplicate entry 'a'/,
  'synthetic/unsorted.nar': /not sorted: entry 'a' after 'b'/,
  'synthetic/emptytarget.nar': /invalid symlink target '' \(empty\)/,
  'synthetic/exec-nonempty.nar': /executable marker has non-empty value/,
  'synthetic/trailing.nar': /trailing data after the end of the NAR/
}

const valid = manifest.filter(isValid)
const invalid = manifest.filter(m => !isValid(m))

describe('NAR fixtures', () => {
  it('manifest lists every .nar on disk; compressed .nar.xz is out of scope here', () => {
    const onDisk: string[] = []
    for (const dir of ['attic', 'go-nix', 'harmonia', 'nixos-nix', 'synthetic', 'tvix']) {
      for (const f of readdirSync(fixture('nar', dir))) {
        // The go-nix `.nar.xz` is the same NAR xz-compressed; decompression is the
        // binary-cache layer's job, so the NAR reader tests skip it on purpose.
        if (f.endsWith('.nar')) onDisk.push(`${dir}/${f}`)
      }
    }
    expect(manifest.map(m => m.file).sort()).toEqual(onDisk.sort())
    expect(valid.length).toBe(18)
    expect(invalid.map(m => m.file).sort()).toEqual(Object.keys(expectedReason).sort())
  })

  it('the xz-compressed go-nix NAR is not a NAR (decompression belongs to the cache layer)', async () => {
    const xz = new Uint8Array(readFileSync(fixture('nar', 'go-nix', '00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432.nar.xz')))
    const err = await rejection(async () => await drain(chunked(xz)))
    expect(err).toBeInstanceOf(NarParseError)
    expect(err.message).toMatch(/doesn't look like a Nix archive/)
  })

  describe.each(valid.map(m => [m.file, m]))('valid %s', (_file, m) => {
    const data = new Uint8Array(readFileSync(fixture('nar', m.file)))

    it('matches the manifest', () => {
      expect(data.length).toBe(m.size)
      expect(sha256hex(data)).toBe(m.sha256_hex)
    })

    it('parses and re-serialises byte-identically', async () => {
      const tree = await treeFromNar(chunked(data, 4096))
      expect(tree.type).toBe(m.root_type)
      const out = await collect(writeNar(sourceNode(tree)))
      expect(out.length).toBe(m.size)
      expect(sha256hex(out)).toBe(m.sha256_hex)
      expect(Buffer.compare(out, data)).toBe(0)
    })

    it('size formula equals the actual length', async () => {
      const tree = await treeFromNar(chunked(data))
      expect(await narSize(sourceNode(tree))).toBe(m.size)
    })
  })

  describe.each(invalid.map(m => [m.file, m]))('invalid %s', (file, m) => {
    const data = new Uint8Array(readFileSync(fixture('nar', m.file)))

    it('is rejected with a NarParseError stating the reason', async () => {
      expect(sha256hex(data)).toBe(m.sha256_hex)
      for (const size of [data.length, 1, 7]) {
        const err = await rejection(async () => await drain(chunked(data, size)))
        expect(err).toBeInstanceOf(NarParseError)
        expect(err.message).toMatch(expectedReason[file])
        expect((err as NarParseError).offset).toBeGreaterThanOrEqual(0)
        expect((err as NarParseError).offset).toBeLessThanOrEqual(data.length)
      }
    })
  })

  it('reports the byte offset of the problem', async () => {
    const offsets: Record<string, number> = {}
    for (const file of ['nixos-nix/regular-one-byte-non-zero-padding.nar', 'synthetic/trailing.nar', 'nixos-nix/dot.nar']) {
      const data = new Uint8Array(readFileSync(fixture('nar', file)))
      offsets[file] = ((await rejection(async () => await drain(chunked(data)))) as NarParseError).offset
    }
    expect(offsets).toEqual({
      // 96 = first content byte; its 1 content byte is followed by the bad padding.
      'nixos-nix/regular-one-byte-non-zero-padding.nar': 97,
      // trailing.nar is a 120-byte NAR plus 8 bytes of garbage.
      'synthetic/trailing.nar': 120,
      // The name's length field: 24 header + 72 directory + entry ( name = 128.
      'nixos-nix/dot.nar': 128
    })
  })
})
