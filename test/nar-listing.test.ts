/**
 * `.ls` listings compared byte-for-byte with what Nix 2.8 wrote
 * (shared/fixtures/real-nix/cache-none/*.ls).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import { bytes, chunked, collect, concat, sourceNode } from './nar-helpers.ts'
import type { MemNode } from './nar-helpers.ts'
import { listNar, narListing, parseNar, writeNar } from '../src/nar/index.ts'
import type { NarListing } from '../src/nar/index.ts'

const cache = fixture('real-nix', 'cache-none')

/** `<hash>.ls` → the NAR its narinfo points at. */
function listingCases (): Array<[string, string]> {
  return readdirSync(cache).filter(f => f.endsWith('.ls')).map(ls => {
    const narinfo = readFileSync(`${cache}/${ls.replace(/\.ls$/, '.narinfo')}`, 'utf8')
    const url = /^URL: (.*)$/m.exec(narinfo)?.[1]
    if (url === undefined) throw new Error(`no URL in narinfo for ${ls}`)
    return [ls, url]
  })
}

describe('NAR .ls listing', () => {
  it('real-nix tree.nar listing equals what Nix 2.8 wrote, byte for byte', async () => {
    const nar = new Uint8Array(readFileSync(fixture('real-nix', 'tree', 'tree.nar')))
    const expected = readFileSync(`${cache}/mbig2lb0l0g5haak3zgg7lkjsypn90pw.ls`)
    for (const size of [nar.length, 1, 7, 4096]) {
      const ls = await listNar(chunked(nar, size))
      expect(Buffer.from(ls).toString()).toBe(expected.toString())
    }
    const parsed = JSON.parse(expected.toString()) as NarListing
    expect(parsed.version).toBe(1)
  })

  it.each(listingCases())('%s equals the listing of %s', async (ls, url) => {
    const nar = new Uint8Array(readFileSync(`${cache}/${url}`))
    const got = await listNar(chunked(nar, 64))
    expect(Buffer.compare(got, readFileSync(`${cache}/${ls}`))).toBe(0)
  })

  it('narOffset points at the first content byte of each file', async () => {
    const nar = new Uint8Array(readFileSync(fixture('real-nix', 'tree', 'tree.nar')))
    const seen: string[] = []
    for await (const ev of parseNar(chunked(nar, 13))) {
      if (ev.type !== 'regular') continue
      const data = await collect(ev.contents)
      expect(Buffer.compare(nar.subarray(ev.offset, ev.offset + ev.size), data)).toBe(0)
      seen.push(`${Buffer.from(ev.path[ev.path.length - 1]).toString()}@${ev.offset}`)
    }
    expect(seen).toContain('B-upper@232')
    expect(seen).toContain('hello.sh@1000')
  })

  it('escapes names and targets like Nix 2.8 (json.cc toJSON) and keeps non-UTF-8 bytes', async () => {
    const weird = concat([bytes('q"b\\s\n\r\t'), Uint8Array.of(0x01, 0x1f, 0x7f, 0xff, 0xc3, 0xa9)])
    const tree: MemNode = {
      type: 'directory',
      entries: [
        [bytes('exe'), { type: 'regular', executable: true, contents: bytes('#!') }],
        [weird, { type: 'symlink', target: weird }]
      ]
    }
    const nar = await collect(writeNar(sourceNode(tree)))
    const ls = Buffer.from(await collect(narListing(parseNar(chunked(nar)))))
    const esc = concat([bytes('"q\\"b\\\\s\\n\\r\\t\\u0001\\u001f'), Uint8Array.of(0x7f, 0xff, 0xc3, 0xa9), bytes('"')])
    const expected = concat([
      bytes('{"version":1,"root":{"type":"directory","entries":{"exe":{"type":"regular","size":2,"executable":true,"narOffset":'),
      // 24 header + 56 '( type directory' + 80 'entry ( name "exe" node' + 104 '( type regular executable "" contents <len>'
      bytes(String(24 + 56 + 80 + 104)),
      bytes('},'), esc, bytes(':{"type":"symlink","target":'), esc, bytes('}}}}')
    ])
    expect(ls.toString('latin1')).toBe(Buffer.from(expected).toString('latin1'))
  })

  it('lists a root regular file and a root symlink', async () => {
    const file = await collect(writeNar(sourceNode({ type: 'regular', executable: false, contents: bytes('hello world') })))
    expect(Buffer.from(await listNar(chunked(file))).toString())
      .toBe('{"version":1,"root":{"type":"regular","size":11,"narOffset":96}}')
    const link = await collect(writeNar(sourceNode({ type: 'symlink', target: bytes('/nix/store/x') })))
    expect(JSON.parse(Buffer.from(await listNar(chunked(link))).toString()))
      .toEqual({ version: 1, root: { type: 'symlink', target: '/nix/store/x' } })
  })
})
