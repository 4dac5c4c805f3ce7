/**
 * ERIS failure modes: corrupted and missing blocks name the right `urn:blake2b:` reference,
 * hostile URNs and capabilities, invalid encoder use.
 */
import { createCipheriv } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  ErisDecodeError,
  ErisEncodeError,
  ErisEncoder,
  ErisUrnError,
  MemoryBlockStore,
  base32Decode,
  base32Encode,
  decodeEris,
  decodeErisBytes,
  decodeReadCapability,
  encodeEris,
  encodeErisBytes,
  encodeReadCapability,
  formatBlockUrn,
  formatErisUrn,
  parseBlockUrn,
  parseErisUrn
} from '../src/eris/index.ts'
import type { ErisBlockSize } from '../src/eris/index.ts'
import { chacha20, unkeyedBlake2b256 } from '../src/eris/crypto.ts'

function randomBytes (length: number, seed = 1): Uint8Array {
  const key = new Uint8Array(32)
  new DataView(key.buffer).setUint32(0, seed, true)
  const out = createCipheriv('chacha20', key, new Uint8Array(16)).update(new Uint8Array(length))
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

/** Encodes, then records the order in which a clean decode fetches blocks. */
async function setup (size: number, blockSize: ErisBlockSize) {
  const content = randomBytes(size, size)
  const result = await encodeErisBytes(content, { blockSize })
  const order: string[] = []
  await decodeErisBytes(result.urn, async r => {
    order.push(base32Encode(r))
    return result.blocks.get(base32Encode(r))
  })
  return { content, result, order }
}

/** Decodes until failure; returns the error and the content yielded before it. */
async function decodeUntilError (urn: string, blocks: Map<string, Uint8Array>, prefetch = 1): Promise<{ error: unknown, prefix: Uint8Array }> {
  const chunks: Uint8Array[] = []
  try {
    for await (const chunk of decodeEris(urn, async r => blocks.get(base32Encode(r)), { prefetch })) chunks.push(chunk)
  } catch (error) {
    return { error, prefix: Buffer.concat(chunks) }
  }
  return { error: undefined, prefix: Buffer.concat(chunks) }
}

describe('ERIS decoding names the offending block', () => {
  // 40 KiB in 1 KiB blocks: level 2; fetch order = root, node, 16 leaves, node, 16 leaves, node, 9 leaves
  for (const prefetch of [1, 5]) {
    for (const position of [0, 1, 2, 9, 18, 19, 30, 44]) {
      it(`corrupted block #${position} in fetch order (prefetch ${prefetch})`, async () => {
        const { content, result, order } = await setup(40 * 1024, 1024)
        expect(order.length).toBe(1 + 3 + 41)
        const victim = order[position]
        const blocks = new Map(result.blocks)
        const corrupted = (blocks.get(victim) as Uint8Array).slice()
        corrupted[position * 7 % 1024] ^= 0x01
        blocks.set(victim, corrupted)
        const { error, prefix } = await decodeUntilError(result.urn, blocks, prefetch)
        expect(error).toBeInstanceOf(ErisDecodeError)
        expect((error as ErisDecodeError).reason).toBe('reference-mismatch')
        expect((error as ErisDecodeError).reference).toBe('urn:blake2b:' + victim)
        // everything before the bad block was delivered, nothing after it
        const leavesBefore = order.slice(0, position).filter(ref => order.indexOf(ref) >= 0 && !isInternal(order, ref)).length
        expect(prefix.length).toBe(leavesBefore * 1024)
        expect(sameBytes(prefix, content.subarray(0, prefix.length))).toBe(true)
      })

      it(`missing block #${position} in fetch order (prefetch ${prefetch})`, async () => {
        const { result, order } = await setup(40 * 1024, 1024)
        const victim = order[position]
        const blocks = new Map(result.blocks)
        blocks.delete(victim)
        const { error } = await decodeUntilError(result.urn, blocks, prefetch)
        expect(error).toBeInstanceOf(ErisDecodeError)
        expect((error as ErisDecodeError).reason).toBe('block-missing')
        expect((error as ErisDecodeError).reference).toBe('urn:blake2b:' + victim)
        expect((error as Error).message).toContain('urn:blake2b:' + victim)
      })
    }
  }

  it('a truncated block is rejected as the wrong size, naming it', async () => {
    const { result, order } = await setup(5000, 1024)
    const blocks = new Map(result.blocks)
    blocks.set(order[2], (blocks.get(order[2]) as Uint8Array).subarray(0, 1000))
    const { error } = await decodeUntilError(result.urn, blocks)
    expect((error as ErisDecodeError).reason).toBe('block-size')
    expect((error as ErisDecodeError).reference).toBe('urn:blake2b:' + order[2])
  })

  it('a wrong key in a (re-encrypted, correctly referenced) internal node is caught by key verification', async () => {
    // Build a level-1 tree by hand whose root points at a valid leaf with a wrong key
    const hasher = await unkeyedBlake2b256()
    const { result } = await setup(3000, 1024)
    const cap = parseErisUrn(result.urn)
    const root = chacha20(cap.rootKey, 1, result.blocks.get(base32Encode(cap.rootReference)) as Uint8Array)
    root[32] ^= 0xff // key of the first leaf
    const rootKey = hasher.digest(root) // a consistent root: passes key verification itself
    const rootBlock = chacha20(rootKey, 1, root)
    const rootRef = hasher.digest(rootBlock)
    const blocks = new Map(result.blocks)
    blocks.set(base32Encode(rootRef), rootBlock)
    const forged = formatErisUrn({ blockSize: 1024, level: 1, rootReference: rootRef, rootKey })
    // the leaf decrypts to garbage; leaves cannot be verified, but it is not the last leaf, so the
    // last leaf's padding still holds — decoding succeeds with wrong first 1 KiB
    const decoded = await decodeErisBytes(forged, async r => blocks.get(base32Encode(r)))
    expect(decoded.length).toBe(3000)
    // the same trick on the last leaf is caught by the padding check, naming that leaf
    root[32] ^= 0xff
    root[2 * 64 + 32] ^= 0xff
    const rootKey2 = hasher.digest(root)
    const rootBlock2 = chacha20(rootKey2, 1, root)
    const rootRef2 = hasher.digest(rootBlock2)
    blocks.set(base32Encode(rootRef2), rootBlock2)
    const forged2 = formatErisUrn({ blockSize: 1024, level: 1, rootReference: rootRef2, rootKey: rootKey2 })
    const { error } = await decodeUntilError(forged2, blocks)
    expect((error as ErisDecodeError).reason).toBe('invalid-padding')
    expect((error as ErisDecodeError).reference).toBe(formatBlockUrn(root.subarray(2 * 64, 2 * 64 + 32)))
  })

  it('an internal node without any pair is invalid', async () => {
    const hasher = await unkeyedBlake2b256()
    const node = new Uint8Array(1024)
    const key = hasher.digest(node)
    const block = chacha20(key, 1, node)
    const ref = hasher.digest(block)
    const store = new MemoryBlockStore()
    await store.put(ref, block)
    const urn = formatErisUrn({ blockSize: 1024, level: 1, rootReference: ref, rootKey: key })
    const err = await decodeErisBytes(urn, async r => await store.get(r)).then(() => undefined, (e: unknown) => e)
    expect((err as ErisDecodeError).reason).toBe('invalid-node')
    expect((err as ErisDecodeError).reference).toBe(formatBlockUrn(ref))
  })

  it('errors from getBlock propagate unchanged', async () => {
    const { result } = await setup(100, 1024)
    const boom = new Error('network down')
    await expect(decodeErisBytes(result.urn, async () => { throw boom })).rejects.toBe(boom)
  })
})

function isInternal (order: string[], ref: string): boolean {
  // in the 40 KiB / 1 KiB tree the internal nodes are fetched at positions 0, 1, 18, 35
  return [0, 1, 18, 35].includes(order.indexOf(ref))
}

describe('hostile URNs and capabilities → ErisUrnError', () => {
  const goodUrn = 'urn:eris:BIAD77QDJMFAKZYH2DXBUZYAP3MXZ3DJZVFYQ5DFWC6T65WSFCU5S2IT4YZGJ7AC4SYQMP2DM2ANS2ZTCP3DJJIRV733CRAAHOSWIYZM3M'
  const body = goodUrn.slice('urn:eris:'.length)

  it('accepts the good URN and round-trips it', () => {
    const cap = parseErisUrn(goodUrn)
    expect(cap.blockSize).toBe(1024)
    expect(cap.level).toBe(0)
    expect(formatErisUrn(cap)).toBe(goodUrn)
    expect(formatErisUrn(encodeReadCapability(cap))).toBe(goodUrn)
    expect(decodeReadCapability(encodeReadCapability(cap))).toEqual(cap)
    expect(parseErisUrn('URN:ERIS:' + body)).toEqual(cap) // RFC 8141: scheme and NID are case-insensitive
  })

  const hostile: Array<[string, unknown]> = [
    ['empty', ''],
    ['prefix only', 'urn:eris:'],
    ['one character short', goodUrn.slice(0, -1)],
    ['one character long', goodUrn + 'A'],
    ['padded', goodUrn + '======'],
    ['lowercase base32', 'urn:eris:' + body.toLowerCase()],
    ['digit 1 (not in the alphabet)', 'urn:eris:' + '1' + body.slice(1)],
    ['digit 0', 'urn:eris:' + body.slice(0, 50) + '0' + body.slice(51)],
    ['digit 8', 'urn:eris:' + body.slice(0, 50) + '8' + body.slice(51)],
    ['whitespace', 'urn:eris:' + body.slice(0, 50) + ' ' + body.slice(51)],
    ['non-ASCII', 'urn:eris:' + body.slice(0, 50) + 'É' + body.slice(51)],
    ['non-zero trailing bits', 'urn:eris:' + body.slice(0, -1) + 'N'],
    ['query component', goodUrn.slice(0, -2) + '?='],
    ['pre-1.0 urn:erisx2', 'urn:erisx2:' + body.slice(2)],
    ['block URN instead of ERIS URN', 'urn:blake2b:' + 'A'.repeat(52)],
    ['not a string', 42],
    ['unknown block-size byte 0x0b', formatErisUrnRaw(withByte0(goodUrn, 0x0b))],
    ['unknown block-size byte 0x00', formatErisUrnRaw(withByte0(goodUrn, 0x00))],
    ['unknown block-size byte 0xff', formatErisUrnRaw(withByte0(goodUrn, 0xff))]
  ]
  for (const [name, urn] of hostile) {
    it(name, () => {
      expect(() => parseErisUrn(urn as string)).toThrow(ErisUrnError)
      expect(() => decodeEris(urn as string, async () => undefined)).toThrow(ErisUrnError)
    })
  }

  it('binary capabilities of the wrong length or block-size byte', () => {
    const cap = base32Decode(body)
    expect(() => decodeReadCapability(cap.subarray(0, 65))).toThrow(ErisUrnError)
    expect(() => decodeReadCapability(new Uint8Array(67))).toThrow(ErisUrnError)
    expect(() => decodeReadCapability(withByte0(goodUrn, 0x10))).toThrow(ErisUrnError)
    expect(() => decodeEris(cap.subarray(1), async () => undefined)).toThrow(ErisUrnError)
    expect(() => encodeReadCapability({ ...decodeReadCapability(cap), level: 256 })).toThrow(ErisUrnError)
    expect(() => encodeReadCapability({ ...decodeReadCapability(cap), rootKey: new Uint8Array(31) })).toThrow(ErisUrnError)
    expect(() => encodeReadCapability({ ...decodeReadCapability(cap), blockSize: 4096 as ErisBlockSize })).toThrow(ErisUrnError)
  })

  it('fuzz: random strings never parse unless they are a canonical URN', () => {
    fc.assert(fc.property(fc.string({ maxLength: 130 }), s => {
      let parsed = false
      try { parseErisUrn('urn:eris:' + s); parsed = true } catch (e) { expect(e).toBeInstanceOf(ErisUrnError) }
      if (parsed) expect(formatErisUrn(parseErisUrn('urn:eris:' + s))).toBe('urn:eris:' + s)
    }), { numRuns: 500 })
    fc.assert(fc.property(fc.uint8Array({ minLength: 66, maxLength: 66 }), bytes => {
      bytes[0] = bytes[0] % 2 === 0 ? 0x0a : 0x0f
      const urn = formatErisUrn(bytes)
      expect(urn.length).toBe(115)
      expect(encodeReadCapability(parseErisUrn(urn))).toEqual(bytes)
    }), { numRuns: 200 })
  })

  it('block URNs', () => {
    const ref = randomBytes(32, 4)
    const urn = formatBlockUrn(ref)
    expect(urn).toMatch(/^urn:blake2b:[A-Z2-7]{52}$/)
    expect(parseBlockUrn(urn)).toEqual(ref)
    for (const bad of [urn.slice(0, -1), urn + 'A', urn.toLowerCase().replace('urn:blake2b:', 'urn:blake2b:'), 'urn:eris:' + urn.slice(12), urn.slice(0, -1) + 'B']) {
      expect(() => parseBlockUrn(bad)).toThrow(ErisUrnError)
    }
    expect(() => formatBlockUrn(new Uint8Array(31))).toThrow(ErisUrnError)
  })
})

function withByte0 (urn: string, byte: number): Uint8Array {
  const cap = base32Decode(urn.slice('urn:eris:'.length))
  cap[0] = byte
  return cap
}

function formatErisUrnRaw (cap: Uint8Array): string {
  return 'urn:eris:' + base32Encode(cap)
}

describe('invalid encoder use → ErisEncodeError', () => {
  it('rejects bad block sizes, secrets, chunks and reuse', async () => {
    await expect(encodeEris([], { blockSize: 4096 as ErisBlockSize })).rejects.toBeInstanceOf(ErisEncodeError)
    await expect(encodeEris([], { blockSize: 1024, convergenceSecret: new Uint8Array(31) })).rejects.toBeInstanceOf(ErisEncodeError)
    await expect(encodeEris(['text' as unknown as Uint8Array], { blockSize: 1024 })).rejects.toBeInstanceOf(ErisEncodeError)
    const encoder = await ErisEncoder.create({ blockSize: 1024 })
    await encoder.finish()
    await expect(encoder.update(new Uint8Array(1))).rejects.toBeInstanceOf(ErisEncodeError)
    await expect(encoder.finish()).rejects.toBeInstanceOf(ErisEncodeError)
    const busy = await ErisEncoder.create({ blockSize: 1024, onBlock: async () => { await new Promise(resolve => setImmediate(resolve)) } })
    const first = busy.update(new Uint8Array(4096))
    await expect(busy.update(new Uint8Array(1))).rejects.toBeInstanceOf(ErisEncodeError)
    await first
  })

  it('an onBlock failure aborts encoding with that error', async () => {
    const boom = new Error('disk full')
    await expect(encodeEris([new Uint8Array(5000)], { blockSize: 1024, onBlock: () => { throw boom } })).rejects.toBe(boom)
    await expect(encodeEris([new Uint8Array(5000)], { blockSize: 1024, onBlock: async () => { throw boom } })).rejects.toBe(boom)
  })

  it('block store rejects impossible references and blocks', async () => {
    const store = new MemoryBlockStore()
    await expect(store.put(new Uint8Array(31), new Uint8Array(1024))).rejects.toBeInstanceOf(RangeError)
    await expect(store.put(new Uint8Array(32), new Uint8Array(1000))).rejects.toBeInstanceOf(RangeError)
    await store.put(new Uint8Array(32), new Uint8Array(1024))
    await store.put(new Uint8Array(32), new Uint8Array(1024))
    expect(store.size).toBe(1)
    expect(store.byteLength).toBe(1024)
    expect(await store.has(new Uint8Array(32))).toBe(true)
    expect(store.delete(new Uint8Array(32))).toBe(true)
    expect(await store.get(new Uint8Array(32))).toBeUndefined()
    expect(store.byteLength).toBe(0)
  })
})

describe('encoder after a failure', () => {
  it('refuses further use once a block sink failed', async () => {
    let calls = 0
    const encoder = await ErisEncoder.create({ blockSize: 1024, onBlock: () => { if (++calls === 2) throw new Error('sink failed') } })
    await expect(encoder.update(new Uint8Array(4096))).rejects.toThrow('sink failed')
    await expect(encoder.update(new Uint8Array(1))).rejects.toBeInstanceOf(ErisEncodeError)
    await expect(encoder.finish()).rejects.toBeInstanceOf(ErisEncodeError)
  })
})
