import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import { NarInfoParseError } from '../src/nix/errors.ts'
import { fingerprint } from '../src/nix/fingerprint.ts'
import { formatNixHash } from '../src/nix/hash.ts'
import { parseNarInfo, renderNarInfo } from '../src/nix/narinfo.ts'
import type { NarInfo } from '../src/nix/narinfo.ts'
import { parsePublicKey, validSignatures, verifyNarInfo } from '../src/nix/signing.ts'
import { StorePath } from '../src/nix/store-path.ts'

const readText = (...parts: string[]): string => readFileSync(fixture(...parts), 'utf8')
const nixosCache = (name: string): string => readText('narinfo', 'nixos-cache', `${name}.narinfo`)
const removeLine = (text: string, line: string): string => {
  expect(text).toContain(`${line}\n`)
  return text.replace(`${line}\n`, '')
}

/** Re-rendering must be stable: parse(render(x)) renders to the same text. */
function expectStable (info: NarInfo): string {
  const rendered = renderNarInfo(info)
  expect(renderNarInfo(parseNarInfo(rendered, { storeDir: info.storePath.storeDir }))).toBe(rendered)
  return rendered
}

describe('narinfo fixtures: canonical documents re-render byte-for-byte', () => {
  it.each([
    'nixos-cache/attic_hello-2.10',
    'nixos-cache/go-nix_big-texlive',
    'nixos-cache/go-nix_curl-7.82.0-bin_multirefs',
    'nixos-cache/go-nix_net-tools',
    'nixos-cache/go-nix_net-tools_no-deriver',
    'nixos-cache/go-nix_net-tools_no-file-fields',
    'nixos-cache/go-nix_net-tools_uncompressed_FAKE-SIGS',
    'nixos-cache/go-nix_net-tools_uncompressed_no-file-fields_FAKE-SIGS',
    'nixos-cache/tvix_perl-HTTP-Cookies_unsigned_for-sign-test',
    'nixos-cache/tvix_texlive-hyphenex_ca-fixed-r-sha1',
    'nix-manual/manual-example_FAKE-SIGS'
  ])('%s', name => {
    const text = readText('narinfo', `${name}.narinfo`)
    const info = parseNarInfo(text)
    expect(renderNarInfo(info)).toBe(text)
    expect(renderNarInfo(parseNarInfo(Buffer.from(text)))).toBe(text)
    expectStable(info)
  })

  it('exposes typed fields (go-nix net-tools)', () => {
    const info = parseNarInfo(nixosCache('go-nix_net-tools'))
    expect(info.storePath.toString()).toBe('/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432')
    expect(info.storePath.hashPart).toBe('00bgd045z0d4icpbc2yyz4gx48ak44la')
    expect(info.url).toBe('nar/1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar.xz')
    expect(info.compression).toBe('xz')
    expect(formatNixHash(info.fileHash!)).toBe('sha256:1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d')
    expect(info.fileSize).toBe(114980)
    expect(formatNixHash(info.narHash)).toBe('sha256:0lxjvvpr59c2mdram7ympy5ay741f180kv3349hvfc3f8nrmbqf6')
    expect(info.narSize).toBe(464152)
    expect(info.references).toEqual(['7gx4kiv5m0i7d7qkixq2cwzbr10lvxwc-glibc-2.27'])
    expect(info.deriver).toBe('10dx1q4ivjb115y3h90mipaaz533nr0d-net-tools-1.60_p20170221182432.drv')
    expect(info.system).toBeUndefined()
    expect(info.signatures.map(s => s.split(':')[0])).toEqual(['cache.nixos.org-1', 'hydra.other.net-1'])
    expect(info.ca).toBeUndefined()
    expect(info.unknownFields).toEqual([])
  })

  it('parses CA, empty References and self-references', () => {
    const ca = parseNarInfo(nixosCache('tvix_texlive-hyphenex_ca-fixed-r-sha1'))
    expect(ca.references).toEqual([])
    expect(ca.ca?.method).toBe('recursive')
    expect(ca.ca?.hash.algorithm).toBe('sha1')
    const attic = parseNarInfo(nixosCache('attic_hello-2.10'))
    expect(attic.references).toContain(attic.storePath.baseName)
  })

  it('rejects a store path outside the configured store dir', () => {
    expect(() => parseNarInfo(nixosCache('go-nix_net-tools'), { storeDir: '/gnu/store' })).toThrow(NarInfoParseError)
  })
})

describe('narinfo fixtures: non-canonical documents are normalised as Nix 2.8 does', () => {
  // Nix 2.8 parses into a NarInfo object (refs and sigs in std::sets, hashes as bytes,
  // missing Compression = "bzip2", "unknown-deriver" = no deriver) and writes it back
  // with NarInfo::to_string; we assert exactly that output.

  it('Deriver: unknown-deriver means no deriver; the line is dropped', () => {
    for (const name of ['go-nix_net-tools_unknown-deriver', 'attic_hello-2.10_unknown-deriver_unsigned']) {
      const text = nixosCache(name)
      const info = parseNarInfo(text)
      expect(info.deriver).toBeUndefined()
      expect(expectStable(info)).toBe(removeLine(text, 'Deriver: unknown-deriver'))
    }
  })

  it('a base16 FileHash is parsed and re-rendered in nix32 (then equals the original document)', () => {
    const info = parseNarInfo(nixosCache('go-nix_net-tools_filehash-base16'))
    expect(expectStable(info)).toBe(nixosCache('go-nix_net-tools'))
  })

  it('a base16 NarHash is re-rendered in nix32, and the fingerprint uses nix32', () => {
    const text = nixosCache('tvix_perl-HTTP-Cookies_narhash-base16')
    const info = parseNarInfo(text)
    const nix32 = 'sha256:1wsgz5cbawm6ifh59ccixw4n717wng5n6wp4sxyav0ad78lzvbb0'
    expect(formatNixHash(info.narHash)).toBe(nix32)
    expect(expectStable(info)).toBe(text.replace('NarHash: sha256:60adfd293a4d81ad7cd7e47263cbb3fc846309ef91b154a08ba672b558f94ff3', `NarHash: ${nix32}`))
    expect(fingerprint(info)).toContain(`;${nix32};`)
  })

  it('a missing Compression line means bzip2 and is written out', () => {
    const text = nixosCache('tvix_digikam_no-compression-field')
    const info = parseNarInfo(text)
    expect(info.compression).toBe('bzip2')
    expect(info.system).toBe('i686-linux')
    const urlLine = text.split('\n')[1]
    expect(expectStable(info)).toBe(text.replace(`${urlLine}\n`, `${urlLine}\nCompression: bzip2\n`))
  })

  it('out-of-order references keep their order in the object and are written sorted', () => {
    const text = nixosCache('tvix_gcc-3.4.6_references-out-of-order')
    const info = parseNarInfo(text)
    const refsLine = text.split('\n').find(l => l.startsWith('References: '))!
    const fileOrder = refsLine.slice('References: '.length).split(' ')
    expect(info.references).toEqual(fileOrder)
    const sorted = [...fileOrder].sort()
    expect(sorted).not.toEqual(fileOrder)
    expect(expectStable(info)).toBe(text.replace(refsLine, `References: ${sorted.join(' ')}`))
  })

  it('an empty Compression value means bzip2, an empty System or CA means none', () => {
    const base = nixosCache('go-nix_net-tools_no-file-fields')
    const info = parseNarInfo(base.replace('Compression: xz', 'Compression: ').replace('Sig:', 'System: \nCA: \nSig:'))
    expect(info.compression).toBe('bzip2')
    expect(info.system).toBeUndefined()
    expect(info.ca).toBeUndefined()
    expect(renderNarInfo(info)).toBe(base.replace('Compression: xz', 'Compression: bzip2'))
  })

  it('signatures keep document order in the object and are written sorted and de-duplicated (std::set)', () => {
    const text = nixosCache('go-nix_net-tools')
    const sigLines = text.split('\n').filter(l => l.startsWith('Sig: '))
    const swapped = text.replace(`${sigLines[0]}\n${sigLines[1]}\n`, `${sigLines[1]}\n${sigLines[0]}\n${sigLines[1]}\n`)
    const info = parseNarInfo(swapped)
    expect(info.signatures).toEqual([sigLines[1], sigLines[0], sigLines[1]].map(l => l.slice(5)))
    expect(renderNarInfo(info)).toBe(text)
  })

  it('unknown fields are kept in order and rendered last (or dropped, like Nix, on request)', () => {
    const text = nixosCache('go-nix_net-tools')
    const withUnknown = text.replace('URL:', 'X-First: 1\nURL:') + 'X-Last: two words\n'
    const info = parseNarInfo(withUnknown)
    expect(info.unknownFields).toEqual([{ key: 'X-First', value: '1' }, { key: 'X-Last', value: 'two words' }])
    expect(renderNarInfo(info)).toBe(`${text}X-First: 1\nX-Last: two words\n`)
    expect(renderNarInfo(info, { unknownFields: false })).toBe(text)
  })
})

describe('real-nix caches written by Nix 2.8 (nix copy --to file://)', () => {
  const key = parsePublicKey(readText('real-nix', 'keys', 'test-cache-1.public'))
  const caches = readdirSync(fixture('real-nix')).filter(d => d.startsWith('cache-'))

  it('finds all 8 caches', () => {
    expect(caches.sort()).toEqual(['cache-br', 'cache-bzip2', 'cache-gzip', 'cache-lz4', 'cache-lzip', 'cache-none', 'cache-xz', 'cache-zstd'])
  })

  it.each(caches)('%s: every narinfo parses, renders identically and verifies', cache => {
    const files = readdirSync(fixture('real-nix', cache)).filter(f => f.endsWith('.narinfo'))
    expect(files.length).toBeGreaterThanOrEqual(2)
    for (const file of files) {
      const text = readText('real-nix', cache, file)
      const info = parseNarInfo(text)
      expect(`${info.storePath.hashPart}.narinfo`).toBe(file)
      expect(info.compression).toBe(cache.slice('cache-'.length))
      expect(renderNarInfo(info)).toBe(text)
      expect(validSignatures(info, [key])).toEqual(info.signatures)
      expect(verifyNarInfo(info, [key])).toBe(true)
    }
  })
})

describe('real-nix client cases: our parser agrees with what Nix 2.8 did', () => {
  interface Case { case: string, substituter_url_suffix: string, extra_nix_options: string[], substituted: boolean, nix_output: string[] }
  const results: Case[] = JSON.parse(readText('real-nix', 'client-cases', 'results.json'))
  const key = parsePublicKey(readText('real-nix', 'keys', 'test-cache-1.public'))
  const narinfoOf = (name: string): string => {
    const files = readdirSync(fixture('real-nix', 'client-cases', name)).filter(f => f.endsWith('.narinfo'))
    expect(files).toHaveLength(1)
    return readText('real-nix', 'client-cases', name, files[0])
  }
  const said = (c: Case, text: string): boolean => c.nix_output.some(l => l.includes(text))

  it('covers all 45 cases', () => {
    expect(results).toHaveLength(45)
  })

  it('rejects exactly the narinfos Nix 2.8 found corrupt (no final newline, "References:" without space, CRLF)', () => {
    const rejectedByNix = results.filter(c => said(c, 'is corrupt') || said(c, 'illegal character'))
    expect(rejectedByNix.map(c => c.case).sort()).toEqual(['crlf-lines', 'no-final-newline', 'references-colon-no-space', 'sig-last-no-final-newline'])
    for (const c of results) {
      const text = narinfoOf(c.case)
      if (rejectedByNix.includes(c)) {
        expect(() => parseNarInfo(text), c.case).toThrow(NarInfoParseError)
      } else {
        const info = parseNarInfo(text)
        expect(renderNarInfo(parseNarInfo(renderNarInfo(info)))).toBe(renderNarInfo(info))
      }
    }
  })

  it('signature verdicts match: "not signed" ⇒ false; substituted under default trust ⇒ true', () => {
    let negatives = 0
    let positives = 0
    for (const c of results) {
      if (said(c, 'is corrupt') || said(c, 'illegal character')) continue
      const info = parseNarInfo(narinfoOf(c.case))
      if (said(c, 'not signed by any of the keys')) {
        expect(verifyNarInfo(info, [key]), c.case).toBe(false)
        negatives++
      } else if (c.substituted && c.substituter_url_suffix === '' && !c.extra_nix_options.includes('require-sigs')) {
        expect(verifyNarInfo(info, [key]), c.case).toBe(true)
        positives++
      }
    }
    expect(negatives).toBe(5)
    expect(positives).toBeGreaterThanOrEqual(15)
  })

  it('CA-only acceptance: the tree path with a correct CA verifies without any signature', () => {
    const good = parseNarInfo(narinfoOf('ca-unsigned'))
    expect(good.signatures).toEqual([])
    expect(verifyNarInfo(good, [])).toBe(true)
    expect(verifyNarInfo(parseNarInfo(narinfoOf('ca-unsigned-wrong-ca')), [key])).toBe(false)
  })

  it('normalises the odd-but-accepted cases like Nix', () => {
    const sri = parseNarInfo(narinfoOf('narhash-sri'))
    const base16 = parseNarInfo(narinfoOf('narhash-base16'))
    for (const info of [sri, base16]) {
      expect(renderNarInfo(info)).toMatch(/\nNarHash: sha256:[0-9a-z]{52}\n/)
    }
    const noRefs = parseNarInfo(narinfoOf('no-references-line'))
    expect(noRefs.references).toEqual([])
    expect(renderNarInfo(noRefs)).toContain('\nNarSize: 896\nReferences: \nSig: ')
    const reversed = narinfoOf('fields-reversed')
    const rendered = renderNarInfo(parseNarInfo(reversed))
    expect(rendered.split('\n').sort()).toEqual(reversed.split('\n').sort())
    expect(rendered.startsWith('StorePath: ')).toBe(true)
    const unknown = parseNarInfo(narinfoOf('unknown-field-and-unknown-deriver'))
    expect(unknown.deriver).toBeUndefined()
    expect(unknown.system).toBe('x86_64-linux')
    expect(unknown.unknownFields).toEqual([{ key: 'X-Unknown', value: 'whatever' }])
    expect(renderNarInfo(unknown, { unknownFields: false })).toMatch(/\nReferences: \nSystem: x86_64-linux\nSig: [^\n]+\n$/)
    const mismatch = parseNarInfo(narinfoOf('storepath-name-mismatch'))
    expect(mismatch.storePath.name).toBe('synth-storepath-name-mismatch-renamed')
  })
})

describe('renderNarInfo on constructed objects', () => {
  const base = (): NarInfo => parseNarInfo(readText('real-nix', 'cache-none', 'mqnj02vvb8zdsnliwssxa74kkysaraal.narinfo'))

  it('writes "References: " with a trailing space when there are none, and Compression always', () => {
    const info = base()
    info.signatures = []
    delete info.deriver
    delete info.unknownFields
    expect(renderNarInfo(info)).toBe([
      'StorePath: /nix/store/mqnj02vvb8zdsnliwssxa74kkysaraal-dep-1.0',
      'URL: nar/13w19wwvpfqyfq1fixzqjphj7dil4vlv9gada02f9kpl04qnmkw4.nar',
      'Compression: none',
      'FileHash: sha256:13w19wwvpfqyfq1fixzqjphj7dil4vlv9gada02f9kpl04qnmkw4',
      'FileSize: 128',
      'NarHash: sha256:13w19wwvpfqyfq1fixzqjphj7dil4vlv9gada02f9kpl04qnmkw4',
      'NarSize: 128',
      'References: ',
      ''
    ].join('\n'))
  })

  it.each<[string, (i: NarInfo) => void]>([
    ['newline in URL', i => { i.url = 'nar/x.nar\nSig: evil:AAAA' }],
    ['empty URL', i => { i.url = '' }],
    ['CR in System', i => { i.system = 'x86_64-linux\r' }],
    ['bad reference', i => { i.references = ['not-a-base-name'] }],
    ['bad deriver', i => { i.deriver = 'x' }],
    ['NarSize 0', i => { i.narSize = 0 }],
    ['NarSize 2^53', i => { i.narSize = 2 ** 53 }],
    ['negative FileSize', i => { i.fileSize = -1 }],
    ['sha1 NarHash', i => { i.narHash = { algorithm: 'sha1', digest: new Uint8Array(20) } }],
    ['short digest', i => { i.narHash = { algorithm: 'sha256', digest: new Uint8Array(31) } }],
    ['unknown compression', i => { (i as any).compression = 'rar' }],
    ['malformed Sig', i => { i.signatures = ['nocolon'] }],
    ['unknown field with a known key', i => { i.unknownFields = [{ key: 'Sig', value: 'x:y' }] }],
    ['unknown field with a bad key', i => { i.unknownFields = [{ key: 'a b', value: 'x' }] }],
    ['store path not a StorePath', i => { (i as any).storePath = '/nix/store/mqnj02vvb8zdsnliwssxa74kkysaraal-dep-1.0' }]
  ])('refuses to write a corrupt document: %s', (_label, mutate) => {
    const info = base()
    mutate(info)
    expect(() => renderNarInfo(info)).toThrow(/./)
    try {
      renderNarInfo(info)
    } catch (err: any) {
      expect(err.name).toBe('InvalidNarInfoError')
    }
  })

  it('renders a /gnu/store narinfo with /gnu/store references in the fingerprint', () => {
    const info = base()
    info.storePath = StorePath.fromBaseName(info.storePath.baseName, '/gnu/store')
    info.references = [info.storePath.baseName]
    const text = renderNarInfo(info)
    expect(text.startsWith('StorePath: /gnu/store/mqnj02vvb8zdsnliwssxa74kkysaraal-dep-1.0\n')).toBe(true)
    expect(fingerprint(parseNarInfo(text, { storeDir: '/gnu/store' })))
      .toBe('1;/gnu/store/mqnj02vvb8zdsnliwssxa74kkysaraal-dep-1.0;sha256:13w19wwvpfqyfq1fixzqjphj7dil4vlv9gada02f9kpl04qnmkw4;128;/gnu/store/mqnj02vvb8zdsnliwssxa74kkysaraal-dep-1.0')
  })
})
