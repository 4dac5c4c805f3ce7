/**
 * Upstream characterisation ("golden") files of the worker, serve and common
 * protocols (shared/fixtures/nix-worker-protocol/{worker,serve,common}-protocol):
 * every `.bin` is decoded at the version its name says, re-encoded byte-for-byte,
 * and compared with the `.json` beside it. A `.bin` without a mapping fails.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import {
  BUILD_STATUS_NAMES,
  BuildModeCodec,
  BuildResultCodec,
  ClientHandshakeInfoCodec,
  ContentAddressCodec,
  DerivedPathCodec,
  DrvOutputCodec,
  FEATURE_REALISATION_WITH_PATH,
  KeyedBuildResultCodec,
  LegacyDrvOutputCodec,
  LegacyRealisationCodec,
  OptContentAddressCodec,
  OptStorePathCodec,
  OptTrustedFlagCodec,
  RealisationCodec,
  SERVE_MAGIC_2,
  ServeBuildOptionsCodec,
  ServeBuildResultCodec,
  ServeDrvOutputCodec,
  ServeRealisationCodec,
  ServeUnkeyedRealisationCodec,
  ServeUnkeyedValidPathInfoCodec,
  StorePathCodec,
  StringCodec,
  StringListCodec,
  StringSetCodec,
  UnkeyedRealisationCodec,
  UnkeyedValidPathInfoCodec,
  ValidPathInfoCodec,
  WORKER_MAGIC_2,
  WireReader,
  WireWriter,
  ProtocolError,
  compareStringArrays,
  isSuccessStatus,
  listCodec,
  parseContentAddress,
  protocolVersion,
  readServeHandshakeToClient,
  readServerHello,
  setCodec,
  storePathBaseName,
  writeServeHandshakeToClient,
  writeServerHello
} from '../src/daemon/index.ts'
import type {
  BuildResult,
  Codec,
  DerivedPath,
  KeyedBuildResult,
  ServeUnkeyedValidPathInfo,
  UnkeyedValidPathInfo,
  ValidPathInfo,
  WireVersion
} from '../src/daemon/index.ts'

const DIR = fixture('nix-worker-protocol')

/* ------------------------------------------------------------------------ */
/* Helpers: Nix's JSON forms                                                 */
/* ------------------------------------------------------------------------ */

const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'

/** nixbase32 → bytes (Nix `hash.cc` order: last character = lowest bits). */
function nix32Decode (s: string): Uint8Array {
  const size = Math.floor((s.length * 5) / 8)
  const out = new Uint8Array(size)
  for (let k = 0; k < s.length; k++) {
    const d = NIX32.indexOf(s[k])
    if (d < 0) throw new Error(`bad nix32 char ${s[k]}`)
    const n = s.length - 1 - k
    const b = n * 5
    const i = b >> 3
    const j = b & 7
    out[i] |= (d << j) & 0xff
    if (i + 1 < size) out[i + 1] |= d >> (8 - j)
    else if ((d >> (8 - j)) !== 0) throw new Error('nix32 overflow')
  }
  return out
}

const sri = (algo: string, bytes: Uint8Array): string => `${algo}-${Buffer.from(bytes).toString('base64')}`
const hexToSri = (hex: string): string => sri('sha256', Buffer.from(hex, 'hex'))

function caToJson (ca: string | null): unknown {
  if (ca == null) return null
  const p = parseContentAddress(ca)
  return { hash: sri(p.algo, nix32Decode(p.hash)), method: p.method }
}

function sigToJson (sig: string): unknown {
  const i = sig.indexOf(':')
  return { keyName: sig.slice(0, i), sig: sig.slice(i + 1) }
}

function derivedPathToJson (p: DerivedPath): unknown {
  if (p.type === 'opaque') return storePathBaseName(p.path)
  return { drvPath: storePathBaseName(p.drvPath), outputs: p.outputs === '*' ? ['*'] : p.outputs }
}

function pathInfoToJson (info: UnkeyedValidPathInfo | ValidPathInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ca: caToJson(info.ca),
    deriver: info.deriver == null ? null : storePathBaseName(info.deriver),
    narHash: hexToSri(info.narHash),
    narSize: info.narSize,
    references: info.references.map(storePathBaseName),
    registrationTime: info.registrationTime,
    signatures: info.signatures.map(sigToJson),
    storeDir: '/nix/store',
    ultimate: info.ultimate,
    version: 3
  }
  if ('path' in info) out.path = storePathBaseName(info.path)
  return out
}

function servePathInfoToJson (info: ServeUnkeyedValidPathInfo): unknown {
  const narHash = info.narHash == null
    ? sri('sha256', new Uint8Array(32))
    : sri('sha256', nix32Decode(info.narHash.slice('sha256:'.length)))
  return {
    ca: caToJson(info.ca),
    deriver: info.deriver == null ? null : storePathBaseName(info.deriver),
    narHash,
    narSize: info.narSize,
    references: info.references.map(storePathBaseName),
    registrationTime: null,
    signatures: info.signatures.map(sigToJson),
    storeDir: '/nix/store',
    ultimate: false,
    version: 3
  }
}

/**
 * Compares a decoded BuildResult with Nix's JSON. Read-only fixtures
 * (1.28/1.29/1.37, serve 2.6) were generated when builtOutputs held full
 * realisations: those entries are compared with the realisation JSON received.
 */
function expectBuildResult (r: BuildResult | KeyedBuildResult, j: Record<string, unknown>): void {
  expect(BUILD_STATUS_NAMES[r.status]).toBe(j.status)
  expect(isSuccessStatus(r.status)).toBe(j.success)
  expect(r.timesBuilt).toBe(j.timesBuilt)
  expect(r.startTime).toBe(j.startTime)
  expect(r.stopTime).toBe(j.stopTime)
  expect(r.cpuUser == null ? undefined : Number(r.cpuUser)).toBe(j.cpuUser)
  expect(r.cpuSystem == null ? undefined : Number(r.cpuSystem)).toBe(j.cpuSystem)
  if ('path' in r) expect(derivedPathToJson(r.path)).toEqual(j.path)
  if (j.success === true) {
    expect(r.errorMsg).toBe('')
    const outputs = j.builtOutputs as Record<string, Record<string, unknown>>
    expect([...r.builtOutputs.keys()].sort()).toEqual(Object.keys(outputs).sort())
    for (const [name, out] of r.builtOutputs) {
      const want = outputs[name]
      if ('id' in want) {
        expect(out.legacy).toBeDefined()
        expect(JSON.parse(out.legacy?.json ?? 'null')).toEqual(want)
      } else {
        expect({ outPath: storePathBaseName(out.outPath), signatures: out.signatures.map(sigToJson) }).toEqual(want)
      }
    }
  } else {
    expect(r.errorMsg).toBe(j.errorMsg)
    expect(r.isNonDeterministic).toBe(j.isNonDeterministic)
    expect(r.builtOutputs.size).toBe(0)
  }
}

/* ------------------------------------------------------------------------ */
/* The mapping: directory/stem → codec(s), version, JSON comparison          */
/* ------------------------------------------------------------------------ */

interface Case {
  /** One codec per value (or one codec repeated `count` times). */
  codecs: Array<Codec<any>>
  version: WireVersion
  /** Number of values when there is no JSON array to count. */
  count?: number
  /** Maps a decoded value to its Nix JSON, or asserts it against the JSON. */
  json?: (value: any, expected: any) => void
}

const W = (minor: number): number => protocolVersion(1, minor)
const S = (minor: number): number => protocolVersion(2, minor)
const WORKER_DEFAULT = W(10)
const SERVE_DEFAULT = S(5)
const FEATURE_V = { version: W(38), features: [FEATURE_REALISATION_WITH_PATH] }

const same = (v: unknown, e: unknown): void => { expect(v).toEqual(e) }
const basename = (v: string | null, e: unknown): void => { expect(v == null ? null : storePathBaseName(v)).toEqual(e) }

const HELLO: Codec<number> = {
  async read (reader) { return await readServerHello(reader) },
  write (writer, v) { writeServerHello(writer, v) }
}
const SERVE_HELLO: Codec<number> = {
  async read (reader) { return await readServeHandshakeToClient(reader) },
  write (writer, v) { writeServeHandshakeToClient(writer, v) }
}

/** Stems identical in all three directories (version-independent encodings). */
function commonCases (version: number): Record<string, Case> {
  return {
    string: { codecs: [StringCodec], version, json: same },
    'store-path': { codecs: [StorePathCodec], version, json: basename },
    'content-address': { codecs: [ContentAddressCodec], version, json: (v, e) => { expect(caToJson(v)).toEqual(e) } },
    'optional-store-path': { codecs: [OptStorePathCodec], version, json: basename },
    'optional-content-address': { codecs: [OptContentAddressCodec], version, json: (v, e) => { expect(caToJson(v)).toEqual(e) } },
    vector: { codecs: [StringListCodec, StringListCodec, StringListCodec, listCodec(StringListCodec)], version, json: same },
    set: {
      codecs: [StringSetCodec, StringSetCodec, StringSetCodec, setCodec(StringSetCodec, compareStringArrays)],
      version,
      json: same
    },
    'drv-output': { codecs: [LegacyDrvOutputCodec], version, json: same },
    realisation: { codecs: [LegacyRealisationCodec], version, json: (v, e) => { expect(JSON.parse(v)).toEqual(e) } },
    'realisation-with-deps': { codecs: [LegacyRealisationCodec], version, json: (v, e) => { expect(JSON.parse(v)).toEqual(e) } }
  }
}

const unkeyedRealisationJson = (v: { outPath: string, signatures: string[] }): unknown =>
  ({ outPath: storePathBaseName(v.outPath), signatures: v.signatures.map(sigToJson) })
const drvOutputJson = (v: { drvPath: string, outputName: string }): unknown =>
  ({ drvPath: storePathBaseName(v.drvPath), outputName: v.outputName })

const CASES: Record<string, Record<string, Case>> = {
  'worker-protocol': {
    ...commonCases(WORKER_DEFAULT),
    'build-mode': { codecs: [BuildModeCodec], version: WORKER_DEFAULT, json: same },
    'build-result-1.27': { codecs: [BuildResultCodec], version: W(27), json: expectBuildResult },
    'build-result-1.28': { codecs: [BuildResultCodec], version: W(28), json: expectBuildResult },
    'build-result-1.29': { codecs: [BuildResultCodec], version: W(29), json: expectBuildResult },
    'build-result-1.29-compat': { codecs: [BuildResultCodec], version: W(29), json: expectBuildResult },
    'build-result-1.37': { codecs: [BuildResultCodec], version: W(37), json: expectBuildResult },
    'build-result-realisation-with-path-not-hash': { codecs: [BuildResultCodec], version: FEATURE_V, json: expectBuildResult },
    'client-handshake-info_1_30': { codecs: [ClientHandshakeInfoCodec], version: W(30), count: 1 },
    'client-handshake-info_1_33': { codecs: [ClientHandshakeInfoCodec], version: W(33), count: 2 },
    'client-handshake-info_1_35': { codecs: [ClientHandshakeInfoCodec], version: W(35), count: 2 },
    'derived-path-1.29': { codecs: [DerivedPathCodec], version: W(29), json: (v, e) => { expect(derivedPathToJson(v)).toEqual(e) } },
    'derived-path-1.30': { codecs: [DerivedPathCodec], version: W(30), json: (v, e) => { expect(derivedPathToJson(v)).toEqual(e) } },
    'drv-output-realisation-with-path-not-hash': { codecs: [DrvOutputCodec], version: FEATURE_V, json: (v, e) => { expect(drvOutputJson(v)).toEqual(e) } },
    'handshake-to-client': { codecs: [HELLO], version: WORKER_DEFAULT, count: 1 },
    'keyed-build-result-1.29': { codecs: [KeyedBuildResultCodec], version: W(29), json: expectBuildResult },
    'optional-trusted-flag': { codecs: [OptTrustedFlagCodec], version: WORKER_DEFAULT, json: same },
    'realisation-realisation-with-path-not-hash': {
      codecs: [RealisationCodec],
      version: FEATURE_V,
      json: (v, e) => { expect({ key: drvOutputJson(v.id), value: unkeyedRealisationJson(v) }).toEqual(e) }
    },
    'unkeyed-realisation-realisation-with-path-not-hash': {
      codecs: [UnkeyedRealisationCodec], version: FEATURE_V, json: (v, e) => { expect(unkeyedRealisationJson(v)).toEqual(e) }
    },
    'unkeyed-valid-path-info-1.15': { codecs: [UnkeyedValidPathInfoCodec], version: W(15), json: (v, e) => { expect(pathInfoToJson(v)).toEqual(e) } },
    'valid-path-info-1.15': { codecs: [ValidPathInfoCodec], version: W(15), json: (v, e) => { expect(pathInfoToJson(v)).toEqual(e) } },
    'valid-path-info-1.16': { codecs: [ValidPathInfoCodec], version: W(16), json: (v, e) => { expect(pathInfoToJson(v)).toEqual(e) } }
  },
  'serve-protocol': {
    ...commonCases(SERVE_DEFAULT),
    'build-options-2.1': { codecs: [ServeBuildOptionsCodec], version: S(1), count: 1 },
    'build-options-2.2': { codecs: [ServeBuildOptionsCodec], version: S(2), count: 1 },
    'build-options-2.3': { codecs: [ServeBuildOptionsCodec], version: S(3), count: 1 },
    'build-options-2.7': { codecs: [ServeBuildOptionsCodec], version: S(7), count: 1 },
    'build-result-2.2': { codecs: [ServeBuildResultCodec], version: S(2), json: expectBuildResult },
    'build-result-2.3': { codecs: [ServeBuildResultCodec], version: S(3), json: expectBuildResult },
    'build-result-2.6': { codecs: [ServeBuildResultCodec], version: S(6), json: expectBuildResult },
    'build-result-2.7-compat': { codecs: [ServeBuildResultCodec], version: S(7), json: expectBuildResult },
    'build-result-2.8': { codecs: [ServeBuildResultCodec], version: S(8), json: expectBuildResult },
    'drv-output-2.8': { codecs: [ServeDrvOutputCodec], version: S(8), json: (v, e) => { expect(drvOutputJson(v)).toEqual(e) } },
    'handshake-to-client': { codecs: [SERVE_HELLO], version: SERVE_DEFAULT, count: 1 },
    'realisation-2.8': {
      codecs: [ServeRealisationCodec],
      version: S(8),
      json: (v, e) => { expect({ key: drvOutputJson(v.id), value: unkeyedRealisationJson(v) }).toEqual(e) }
    },
    'unkeyed-realisation-2.8': { codecs: [ServeUnkeyedRealisationCodec], version: S(8), json: (v, e) => { expect(unkeyedRealisationJson(v)).toEqual(e) } },
    'unkeyed-valid-path-info-2.3': { codecs: [ServeUnkeyedValidPathInfoCodec], version: S(3), json: (v, e) => { expect(servePathInfoToJson(v)).toEqual(e) } },
    'unkeyed-valid-path-info-2.4': { codecs: [ServeUnkeyedValidPathInfoCodec], version: S(4), json: (v, e) => { expect(servePathInfoToJson(v)).toEqual(e) } }
  },
  'common-protocol': commonCases(0)
}

/* ------------------------------------------------------------------------ */
/* The tests                                                                 */
/* ------------------------------------------------------------------------ */

async function decodeAll (bytes: Uint8Array, c: Case, count: number): Promise<{ values: unknown[], reader: WireReader }> {
  // Feed in 3-byte chunks so every value straddles chunk boundaries.
  const chunks: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.subarray(i, i + 3))
  const reader = new WireReader((async function * () { yield * chunks })())
  const values: unknown[] = []
  for (let i = 0; i < count; i++) {
    const codec = c.codecs[Math.min(i, c.codecs.length - 1)]
    values.push(await codec.read(reader, c.version))
  }
  return { values, reader }
}

function encodeAll (values: unknown[], c: Case): Uint8Array {
  const w = new WireWriter()
  values.forEach((v, i) => { c.codecs[Math.min(i, c.codecs.length - 1)].write(w, v, c.version) })
  return w.take()
}

describe('golden protocol files', () => {
  for (const dir of Object.keys(CASES)) {
    describe(dir, () => {
      const files = readdirSync(`${DIR}/${dir}`)
      const stems = files.filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4)).sort()

      it('has a decoder mapping for every .bin file (nothing skipped)', () => {
        expect(stems.length).toBeGreaterThan(0)
        const unmapped = stems.filter((s) => CASES[dir][s] == null)
        expect(unmapped).toEqual([])
        const stale = Object.keys(CASES[dir]).filter((s) => !stems.includes(s))
        expect(stale).toEqual([])
        // every .json has a .bin and a JSON comparison
        for (const f of files.filter((x) => x.endsWith('.json'))) {
          const stem = f.slice(0, -5)
          expect(stems).toContain(stem)
          expect(CASES[dir][stem].json, `${stem} needs a JSON comparison`).toBeDefined()
        }
      })

      for (const stem of stems) {
        it(`${stem}.bin decodes, re-encodes byte-identically and matches its JSON`, async () => {
          const c = CASES[dir][stem]
          expect(c).toBeDefined()
          const bytes = new Uint8Array(readFileSync(`${DIR}/${dir}/${stem}.bin`))
          const jsonPath = `${DIR}/${dir}/${stem}.json`
          let expected: unknown[] | null = null
          if (existsSync(jsonPath)) {
            const j = JSON.parse(readFileSync(jsonPath, 'utf8'))
            expected = isSingleValue(stem) ? [j] : j
          }
          const count = expected?.length ?? c.count
          expect(count, `${stem}: value count`).toBeDefined()
          const { values, reader } = await decodeAll(bytes, c, count as number)
          expect(await reader.atEnd(), `${stem}: all bytes consumed`).toBe(true)
          expect(reader.position).toBe(bytes.length)
          expect(Buffer.from(encodeAll(values, c)).equals(Buffer.from(bytes)), `${stem}: re-encoding differs`).toBe(true)
          if (expected != null) {
            expect(values.length).toBe(expected.length)
            values.forEach((v, i) => { c.json?.(v, expected?.[i]) })
          }
        })
      }
    })
  }
})

/** Stems whose JSON is a single value rather than an array of values. */
function isSingleValue (stem: string): boolean {
  return stem.startsWith('realisation-realisation-') || stem.startsWith('unkeyed-realisation-') || stem === 'realisation-2.8'
}

describe('golden values of files without JSON', () => {
  const read = async (dir: string, stem: string, c: Case, n: number): Promise<unknown[]> =>
    (await decodeAll(new Uint8Array(readFileSync(`${DIR}/${dir}/${stem}.bin`)), c, n)).values

  it('client handshake info', async () => {
    expect(await read('worker-protocol', 'client-handshake-info_1_30', CASES['worker-protocol']['client-handshake-info_1_30'], 1))
      .toEqual([{ daemonNixVersion: null, trusted: null }])
    expect(await read('worker-protocol', 'client-handshake-info_1_33', CASES['worker-protocol']['client-handshake-info_1_33'], 2))
      .toEqual([{ daemonNixVersion: 'foo', trusted: null }, { daemonNixVersion: 'bar', trusted: null }])
    expect(await read('worker-protocol', 'client-handshake-info_1_35', CASES['worker-protocol']['client-handshake-info_1_35'], 2))
      .toEqual([{ daemonNixVersion: 'foo', trusted: false }, { daemonNixVersion: 'bar', trusted: true }])
  })

  it('handshake-to-client greetings', async () => {
    expect(await read('worker-protocol', 'handshake-to-client', CASES['worker-protocol']['handshake-to-client'], 1)).toEqual([W(10)])
    expect(await read('serve-protocol', 'handshake-to-client', CASES['serve-protocol']['handshake-to-client'], 1)).toEqual([S(5)])
    expect(WORKER_MAGIC_2).toBe(0x6478696f)
    expect(SERVE_MAGIC_2).toBe(0x5452eecb)
  })

  it('serve build options', async () => {
    const base = { maxSilentTime: 5, buildTimeout: 6, maxLogSize: 0, nrRepeats: 0, enforceDeterminism: false, keepFailed: false }
    const get = async (stem: string): Promise<unknown> => (await read('serve-protocol', stem, CASES['serve-protocol'][stem], 1))[0]
    expect(await get('build-options-2.1')).toEqual(base)
    expect(await get('build-options-2.2')).toEqual({ ...base, maxLogSize: 7 })
    expect(await get('build-options-2.3')).toEqual({ ...base, maxLogSize: 7, nrRepeats: 8, enforceDeterminism: true })
    expect(await get('build-options-2.7')).toEqual({ ...base, maxLogSize: 7, nrRepeats: 8, keepFailed: true })
  })
})

describe('golden files as hostile input', () => {
  const all: Array<{ dir: string, stem: string, bytes: Uint8Array, count: number }> = []
  for (const dir of Object.keys(CASES)) {
    for (const f of readdirSync(`${DIR}/${dir}`).filter((x) => x.endsWith('.bin'))) {
      const stem = f.slice(0, -4)
      const jsonPath = `${DIR}/${dir}/${stem}.json`
      const count = existsSync(jsonPath)
        ? (isSingleValue(stem) ? 1 : (JSON.parse(readFileSync(jsonPath, 'utf8')) as unknown[]).length)
        : CASES[dir][stem].count as number
      all.push({ dir, stem, bytes: new Uint8Array(readFileSync(`${DIR}/${dir}/${stem}.bin`)), count })
    }
  }

  async function decodeStrict (bytes: Uint8Array, c: Case, count: number): Promise<void> {
    const reader = new WireReader(bytes)
    for (let i = 0; i < count; i++) await c.codecs[Math.min(i, c.codecs.length - 1)].read(reader, c.version)
  }

  it('every golden file truncated at every offset fails with ERR_TRUNCATED only', async () => {
    let checked = 0
    for (const { dir, stem, bytes, count } of all) {
      const c = CASES[dir][stem]
      for (let cut = 0; cut < bytes.length; cut++) {
        const err = await decodeStrict(bytes.subarray(0, cut), c, count).then(() => null, (e: unknown) => e)
        expect(err, `${dir}/${stem} cut at ${cut}`).toBeInstanceOf(ProtocolError)
        expect((err as ProtocolError).code, `${dir}/${stem} cut at ${cut}`).toBe('ERR_TRUNCATED')
        checked++
      }
    }
    expect(checked).toBe(all.reduce((n, f) => n + f.bytes.length, 0))
    expect(checked).toBeGreaterThan(15_000)
  })

  it('non-zero padding anywhere in a golden file is ERR_BAD_PADDING', async () => {
    let checked = 0
    for (const { dir, stem, bytes, count } of all) {
      const c = CASES[dir][stem]
      // Find padding bytes by walking the strings the codec reads: a byte is
      // padding when zeroing it is a no-op and setting it breaks with BAD_PADDING.
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] !== 0 || i % 8 === 0) continue
        const word = bytes.subarray(i - (i % 8), i - (i % 8) + 8)
        if (word.every((b) => b === 0)) continue // a zero word, not trailing padding
        const bad = bytes.slice()
        bad[i] = 0x20
        const err = await decodeStrict(bad, c, count).then(() => null, (e: unknown) => e)
        if (err instanceof ProtocolError && err.code === 'ERR_BAD_PADDING') checked++
        else if (err != null) expect(err, `${dir}/${stem} byte ${i}`).toBeInstanceOf(ProtocolError)
      }
    }
    expect(checked).toBeGreaterThan(200)
  })

  it('random corruption of golden files only ever raises ProtocolError (fast-check, seeded)', async () => {
    const fc = (await import('fast-check')).default
    await fc.assert(fc.asyncProperty(
      fc.nat(all.length - 1),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.option(fc.constantFrom(0x80, 0xff), { nil: undefined }),
      async (which, flips, hiByte) => {
        const { dir, stem, bytes, count } = all[which]
        const c = CASES[dir][stem]
        const bad = bytes.slice()
        for (const [pos, val] of flips) if (bad.length > 0) bad[pos % bad.length] = val
        if (hiByte != null && bad.length >= 8) bad[7] = hiByte // huge first word
        const err = await decodeStrict(bad, c, count).then(() => null, (e: unknown) => e)
        if (err != null) expect(err, `${dir}/${stem}`).toBeInstanceOf(ProtocolError)
      }), { seed: 0x5eed, numRuns: 2000 })
  })
})
