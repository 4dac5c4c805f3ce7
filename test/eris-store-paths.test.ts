/**
 * ERIS as an alternate address of store paths: the URN of the uncompressed NAR (32 KiB blocks)
 * is recorded in the PathInfo, and every block is answered from local data (internal nodes
 * stored, leaves regenerated from castore and checked against their reference).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { fixture } from './fixtures.ts'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { ErisPathIndex, encodeErisBytes, decodeEris, base32Decode } from '../src/eris/index.ts'

await loadKernel()

let dir: string
let store: Castore
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storeswarm-eris-paths-'))
  store = await openCastore({ dataDir: dir })
})
afterAll(async () => {
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

async function collect (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

function treeOf (files: Uint8Array[]): NarSourceNode {
  return {
    type: 'directory',
    entries: async function * () {
      for (const [i, data] of files.entries()) {
        yield { name: Buffer.from(`f${String(i).padStart(3, '0')}`), node: { type: 'regular', executable: i % 3 === 0, size: data.length, contents: async function * () { yield data } } }
      }
      yield { name: Buffer.from('link'), node: { type: 'symlink', target: Buffer.from('f000') } }
    }
  }
}

const cases: Array<[string, () => Promise<Buffer>]> = [
  ['the tiny real-nix tree', async () => await readFile(fixture('real-nix', 'tree', 'tree.nar'))],
  ['a 3 MiB tree (two tree levels)', async () => await collect(writeNar(treeOf([randomBytes(1_000_000), randomBytes(2_000_000), randomBytes(77)])))],
  ['a 17 MiB tree (three tree levels)', async () => await collect(writeNar(treeOf([randomBytes(9_000_000), randomBytes(8_000_000)])))]
]

describe('ERIS read capabilities of store paths', () => {
  for (const [i, [label, make]] of cases.entries()) {
    it(`${label}: URN recorded, every block served from local data, decodes to the NAR`, async () => {
      const nar = await make()
      const storePath = `/nix/store/${String(i).repeat(32)}-eris-case`
      const { info } = await store.importNar([nar], { storePath })
      const index = new ErisPathIndex(store)
      const encoded = await index.encodePath(info)
      const expected = await encodeErisBytes(nar, { blockSize: 32768 })
      expect(encoded.urn).toBe(expected.urn)
      expect((await store.getPathInfo(storePath))?.eris).toBe(expected.urn)
      // every block of the reference encoding is answered identically
      for (const [ref, block] of expected.blocks) {
        const reference = base32Decode(ref)
        const got = await index.getBlock(reference)
        expect(got, ref).toBeDefined()
        expect(Buffer.compare(Buffer.from(got!), Buffer.from(block))).toBe(0)
      }
      expect(encoded.leaves + encoded.nodes).toBe(expected.blockCount)
      // and a decoder fed only by the index reproduces the NAR (NarHash matches)
      const decoded = await collect(decodeEris(encoded.urn, async (ref) => await index.getBlock(ref)))
      expect(createHash('sha256').update(decoded).digest('hex')).toBe(Buffer.from(info.narHash).toString('hex'))
    })
  }

  it('answers undefined for unknown references and for paths that are gone', async () => {
    const index = new ErisPathIndex(store)
    expect(await index.getBlock(randomBytes(32))).toBeUndefined()
    const nar = await collect(writeNar(treeOf([randomBytes(100_000)])))
    const storePath = `/nix/store/${'z'.repeat(32)}-eris-gone`
    const { info } = await store.importNar([nar], { storePath })
    const encoded = await index.encodePath(info)
    const { blocks } = await encodeErisBytes(nar, { blockSize: 32768 })
    const leafRef = base32Decode([...blocks.keys()][0])
    expect(await index.getBlock(leafRef)).toBeDefined()
    await store.pathInfos.delete('z'.repeat(32))
    expect(await index.getBlock(leafRef)).toBeUndefined()
    expect(encoded.urn).toMatch(/^urn:eris:[A-Z2-7]{106}$/)
  })
})
