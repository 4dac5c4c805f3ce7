/**
 * Arguments and replies of every worker operation round-trip at every protocol
 * version where they exist; version gates and unrepresentable values are typed
 * errors.
 */
import { describe, expect, it } from 'vitest'
import {
  BuildMode,
  FEATURE_DELETE_DEAD_SPECIFIC_REFERRERS,
  FEATURE_REALISATION_WITH_PATH,
  GUIX_PROTOCOL_VERSION,
  OPS,
  OP_NAMES,
  Op,
  ProtocolError,
  QueryPathInfoReplyCodec,
  UnkeyedValidPathInfoCodec,
  DerivedPathCodec,
  WireReader,
  WireWriter,
  makeBuildResult,
  opDefinition,
  protocolVersion,
  readReply,
  readRequest,
  writeReply,
  writeRequest
} from '../src/daemon/index.ts'
import type {
  BuildResult,
  OpArgs,
  OpName,
  OpReply,
  UnkeyedValidPathInfo,
  WireVersion
} from '../src/daemon/index.ts'

const W = (minor: number): number => protocolVersion(1, minor)
const FEATURES = { version: W(38), features: [FEATURE_REALISATION_WITH_PATH, FEATURE_DELETE_DEAD_SPECIFIC_REFERRERS] }
const VERSIONS: WireVersion[] = [10, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 23, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 37, 38].map(W)
VERSIONS.push(FEATURES)

const minorOf = (v: WireVersion): number => (typeof v === 'number' ? v : v.version) & 0xff
const feat = (v: WireVersion): boolean => typeof v !== 'number'

const P1 = '/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z-dep'
const P2 = '/nix/store/avvy63mk3y5bjx9mv34pna61c0rkd1ml-top'
const DRV = '/nix/store/lc6dqsqr46zsfbqf7khkqkqk2z44rz4z-top.drv'
const HASH = '06062ec4c9e8c428bef70bac7ec4ec8bd26838f84c4c2b2932db8d28117d86d7'
const CA = 'fixed:r:sha256:1lr187v6dck1rjh2j6svpikcfz53wyl3qrlcbb405zlh13x0khhh'

function infoAt (v: WireVersion): UnkeyedValidPathInfo {
  const modern = minorOf(v) >= 16
  return {
    deriver: DRV,
    narHash: HASH,
    references: [P1, P2],
    registrationTime: 1795260877,
    narSize: 712,
    ultimate: modern,
    signatures: modern ? ['cache.example-1:AAAA', 'z:sig'] : [],
    ca: modern ? CA : null
  }
}

function resultAt (v: WireVersion): BuildResult {
  const m = minorOf(v)
  const r = makeBuildResult(0)
  if (m >= 29) Object.assign(r, { timesBuilt: 1, startTime: 30, stopTime: 50 })
  if (m >= 37) Object.assign(r, { cpuUser: 5n, cpuSystem: null })
  if (m >= 28) r.builtOutputs.set('out', { outPath: P2, signatures: feat(v) ? ['k:s'] : [] })
  return r
}

/** A sample (args, reply) for each op at version v, or null when the op has no form there. */
function sample (op: OpName, v: WireVersion): { args: unknown, reply: unknown } | null {
  const m = minorOf(v)
  const path = { path: P2 }
  const targets = [
    { type: 'opaque' as const, path: P1 },
    { type: 'built' as const, drvPath: DRV, outputs: '*' as const },
    { type: 'built' as const, drvPath: DRV, outputs: ['dev', 'out'] }
  ]
  switch (op) {
    case 'IsValidPath': return { args: path, reply: true }
    case 'HasSubstitutes': return { args: path, reply: false }
    case 'QueryPathHash': return { args: path, reply: HASH }
    case 'QueryReferences':
    case 'QueryReferrers':
    case 'QueryDerivationOutputs':
    case 'QueryValidDerivers': return { args: path, reply: [P1, P2] }
    case 'AddToStore':
      return m >= 25
        ? { args: { form: 'framed', name: 'foo', camStr: 'fixed:r:sha256', references: [P1], repair: false }, reply: { path: P2, ...infoAt(v) } }
        : { args: { form: 'legacy', name: 'foo', fixed: true, recursive: true, hashAlgo: 'sha256' }, reply: P2 }
    case 'AddTextToStore': return { args: { name: 'x.drv', text: 'Derive([])', references: [P1, P2] }, reply: P2 }
    case 'BuildPaths': return { args: { paths: targets, mode: m >= 15 ? BuildMode.Check : BuildMode.Normal }, reply: 1 }
    case 'EnsurePath':
    case 'AddTempRoot': return { args: path, reply: 1 }
    case 'AddIndirectRoot': return { args: { path: '/home/u/result' }, reply: 1 }
    case 'SyncWithGC':
    case 'OptimiseStore': return { args: undefined, reply: 1 }
    case 'FindRoots': return { args: undefined, reply: [['/run/current-system', P2], ['/home/u/result', P1]] }
    case 'ExportPath': return { args: { path: P2, sign: false }, reply: 1 }
    case 'QueryDeriver': return { args: path, reply: DRV }
    case 'SetOptions':
      return {
        args: {
          keepFailed: 0, keepGoing: 1, tryFallback: 0, verbosity: 3, maxBuildJobs: 1, maxSilentTime: 0, useBuildHook: 1,
          verboseBuild: 7, logType: 0, printBuildTrace: 0, buildCores: 2, useSubstitutes: 1,
          overrides: m >= 12 ? [['substituters', ''], ['require-sigs', 'false']] : []
        },
        reply: undefined
      }
    case 'CollectGarbage':
      return {
        args: feat(v)
          ? { action: 2, paths: [P1], wholeStore: false, deleteReferrers: true, ignoreLiveness: false, maxFreed: (1n << 64n) - 1n }
          : { action: 3, paths: [P1, P2], wholeStore: false, deleteReferrers: false, ignoreLiveness: false, maxFreed: 1000n },
        reply: { paths: [P1, P2], bytesFreed: 12345678901234567890n }
      }
    case 'QuerySubstitutablePathInfo': return { args: path, reply: { deriver: null, references: [P1], downloadSize: 10, narSize: 20 } }
    case 'QueryAllValidPaths': return { args: undefined, reply: [P1, P2, DRV] }
    case 'QueryFailedPaths': return { args: undefined, reply: [P1] }
    case 'ClearFailedPaths': return { args: { paths: [P1, P2] }, reply: 1 }
    case 'QueryPathInfo': return { args: path, reply: infoAt(v) }
    case 'ImportPaths': return { args: undefined, reply: [P2, P1] }
    case 'QueryDerivationOutputNames': return { args: path, reply: ['dev', 'out'] }
    case 'QueryPathFromHashPart': return { args: { hashPart: 'avvy63mk3y5bjx9mv34pna61c0rkd1ml' }, reply: P2 }
    case 'QuerySubstitutablePathInfos':
      return {
        args: { paths: [[P1, m >= 22 ? CA : null], [P2, null]] },
        reply: [[P1, { deriver: DRV, references: [], downloadSize: 1, narSize: 2 }], [P2, { deriver: null, references: [P1], downloadSize: 3, narSize: 4 }]]
      }
    case 'QueryValidPaths': return { args: { paths: [P1, P2], substitute: m >= 27 }, reply: [P2] }
    case 'QuerySubstitutablePaths': return { args: { paths: [P1, P2] }, reply: [P1] }
    case 'VerifyStore': return { args: { checkContents: true, repair: false }, reply: false }
    case 'BuildDerivation':
      return {
        args: {
          drvPath: DRV,
          derivation: {
            outputs: [{ name: 'out', path: P2, hashAlgo: '', hash: '' }],
            inputSrcs: [P1],
            platform: 'x86_64-linux',
            builder: '/bin/sh',
            args: ['-c', 'echo'],
            env: [['out', P2], ['system', 'x86_64-linux']]
          },
          mode: BuildMode.Normal
        },
        reply: resultAt(v)
      }
    case 'AddSignatures': return { args: { path: P2, signatures: ['a:1', 'b:2'] }, reply: 1 }
    case 'NarFromPath': return { args: path, reply: undefined }
    case 'AddToStoreNar': return { args: { info: { path: P2, ...infoAt(W(16)) }, repair: false, dontCheckSigs: true }, reply: undefined }
    case 'QueryMissing':
      return { args: { targets }, reply: { willBuild: [DRV], willSubstitute: [P1], unknown: [P2], downloadSize: 1n, narSize: 2n } }
    case 'QueryDerivationOutputMap': return { args: path, reply: [['dev', null], ['out', P2]] }
    case 'RegisterDrvOutput':
      if (feat(v)) return { args: { form: 'binary', realisation: { id: { drvPath: DRV, outputName: 'out' }, outPath: P2, signatures: ['k:s'] } }, reply: undefined }
      if (m >= 31) return { args: { form: 'json', json: '{"id":"sha256:00!out","outPath":"avvy63mk3y5bjx9mv34pna61c0rkd1ml-top"}' }, reply: undefined }
      return { args: { form: 'legacy', id: 'sha256:00!out', outPath: P2 }, reply: undefined }
    case 'QueryRealisation':
      if (feat(v)) return { args: { form: 'binary', id: { drvPath: DRV, outputName: 'out' } }, reply: { form: 'binary', realisation: { outPath: P2, signatures: [] } } }
      if (m >= 31) return { args: { form: 'legacy', id: 'sha256:00!out' }, reply: { form: 'json', realisations: ['{"id":"sha256:00!out","outPath":"avvy63mk3y5bjx9mv34pna61c0rkd1ml-top"}'] } }
      return { args: { form: 'legacy', id: 'sha256:00!out' }, reply: { form: 'paths', outPaths: [P2] } }
    case 'AddMultipleToStore': return { args: { repair: false, dontCheckSigs: true }, reply: undefined }
    case 'AddBuildLog': return { args: { drvBaseName: 'lc6dqsqr46zsfbqf7khkqkqk2z44rz4z-top.drv' }, reply: 1 }
    case 'BuildPathsWithResults':
      return {
        args: { paths: targets, mode: m >= 15 ? BuildMode.Repair : BuildMode.Normal },
        reply: [{ path: targets[0], ...resultAt(v) }, { path: targets[2], ...makeBuildResult(14, { errorMsg: 'no substituter' }) }]
      }
    case 'AddPermRoot': return { args: { path: P2, gcRoot: '/home/u/result' }, reply: '/home/u/result' }
    case 'BuiltinBuilders': return { args: undefined, reply: ['download', 'git-download'] }
    case 'SubstituteURLs': return { args: undefined, reply: ['https://ci.guix.gnu.org'] }
    case 'SubmitOutput':
      return { args: { path: { type: 'built', drvPath: { type: 'opaque', path: DRV }, output: 'out' }, output: 'dev' }, reply: 1 }
    case 'AddToStoreScanning': return { args: { name: 'foo', camStr: 'fixed:r:sha256' }, reply: { path: P2, ...infoAt(v) } }
  }
}

/** Drops the legacy raw forms a decoder keeps for byte-exact re-encoding. */
function normalise (x: unknown): unknown {
  if (x instanceof Map) return new Map([...x].map(([k, v]) => [k, normalise(v)]))
  if (Array.isArray(x)) return x.map(normalise)
  if (x != null && typeof x === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(x)) if (k !== 'legacy') out[k] = normalise(v)
    return out
  }
  return x
}

describe('every op round-trips at every version', () => {
  it('covers every op code', () => {
    const names = Object.keys(OPS).sort()
    expect(names).toEqual(Object.keys(Op).sort())
    for (const name of names) expect(sample(name as OpName, W(34))).not.toBe(null)
    for (const [code, name] of Object.entries(OP_NAMES)) expect(opDefinition(Number(code)).name).toBe(name)
  })

  for (const name of Object.keys(OPS) as OpName[]) {
    it(name, async () => {
      for (const v of VERSIONS) {
        const s = sample(name, v)
        if (s == null) continue
        const w = new WireWriter()
        writeRequest(w, name, s.args as never, v)
        const reqBytes = w.take()
        const r = new WireReader(reqBytes)
        const req = await readRequest(r, v)
        expect(req?.op).toBe(name)
        expect(await r.atEnd()).toBe(true)
        expect(normalise(req?.args)).toEqual(normalise(s.args))
        const again = new WireWriter()
        writeRequest(again, name, req?.args as never, v)
        expect(again.take()).toEqual(reqBytes)

        writeReply(w, name, s.reply as never, v)
        const replyBytes = w.take()
        const rr = new WireReader(replyBytes)
        const reply = await readReply(rr, name, v)
        expect(await rr.atEnd()).toBe(true)
        expect(normalise(reply)).toEqual(normalise(s.reply))
        writeReply(w, name, reply, v)
        expect(w.take()).toEqual(replyBytes)
      }
    })
  }
})

describe('version gates', () => {
  it('payload kinds per version', () => {
    expect(OPS.AddToStoreNar.argsPayload(W(20))).toBe('nar')
    expect(OPS.AddToStoreNar.argsPayload(W(21))).toBe('stderr-read')
    expect(OPS.AddToStoreNar.argsPayload(W(22))).toBe('stderr-read')
    expect(OPS.AddToStoreNar.argsPayload(W(23))).toBe('framed')
    expect(OPS.AddToStore.argsPayload(W(24))).toBe('nar')
    expect(OPS.AddToStore.argsPayload(W(25))).toBe('framed')
    expect(OPS.AddMultipleToStore.argsPayload(W(34))).toBe('framed')
    expect(OPS.AddBuildLog.argsPayload(W(34))).toBe('framed')
    expect(OPS.ImportPaths.argsPayload(W(17))).toBe('stderr-read')
    expect(OPS.NarFromPath.replyPayload).toBe('nar')
    expect(OPS.ExportPath.replyPayload).toBe('stderr-write')
    expect(OPS.QueryPathInfo.argsPayload(W(34))).toBe('none')
  })

  it('QueryPathInfo: valid flag from 1.17; "invalid" is not representable below', async () => {
    const w = new WireWriter()
    QueryPathInfoReplyCodec.write(w, null, W(17))
    expect(w.take()).toEqual(new WireWriter().writeU64(0).take())
    expect(() => { QueryPathInfoReplyCodec.write(w, null, W(16)) }).toThrow(ProtocolError)
    const info = infoAt(W(16))
    QueryPathInfoReplyCodec.write(w, info, W(16))
    const direct = new WireWriter()
    UnkeyedValidPathInfoCodec.write(direct, info, W(16))
    expect(w.take()).toEqual(direct.take())
  })

  it('AddToStoreNar always sends path info in the 1.16 layout', async () => {
    const args = { info: { path: P2, ...infoAt(W(16)) }, repair: true, dontCheckSigs: false }
    const a = new WireWriter()
    writeRequest(a, 'AddToStoreNar', args, W(34))
    const b = new WireWriter()
    writeRequest(b, 'AddToStoreNar', args, W(17))
    expect(a.take()).toEqual(b.take())
  })

  it('unrepresentable values are typed errors', () => {
    const w = new WireWriter()
    expect(() => { DerivedPathCodec.write(w, { type: 'opaque', path: DRV }, W(29)) }).toThrow(ProtocolError)
    expect(() => { writeRequest(w, 'AddToStore', { form: 'legacy', name: 'x', fixed: true, recursive: false, hashAlgo: 'sha256' }, W(25)) }).toThrow(ProtocolError)
    expect(() => { writeRequest(w, 'BuildPaths', { paths: [], mode: BuildMode.Repair }, W(14)) }).toThrow(ProtocolError)
    expect(() => { writeRequest(w, 'QueryRealisation', { form: 'legacy', id: 'sha256:00!out' }, FEATURES) }).toThrow(ProtocolError)
    expect(() => { writeReply(w, 'QueryRealisation', { form: 'paths', outPaths: [] }, W(31)) }).toThrow(ProtocolError)
    expect(() => { writeReply(w, 'BuildPathsWithResults', [{ path: { type: 'opaque', path: P1 }, ...makeBuildResult(99) }], W(34)) }).toThrow(ProtocolError)
  })

  it('unknown ops and Guix versions on Nix-layout codecs are rejected', async () => {
    const err = await readRequest(new WireReader(new WireWriter().writeU64(999).take()), W(34)).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as ProtocolError).code).toBe('ERR_UNKNOWN_OP')
    const bytes = new WireWriter().writeU64(Op.QueryPathInfo).writeString(P2).take()
    const req = await readRequest(new WireReader(bytes), GUIX_PROTOCOL_VERSION)
    expect(req).toEqual({ op: 'QueryPathInfo', args: { path: P2 } })
    const e2 = await readReply(new WireReader(new Uint8Array(8)), 'QueryPathInfo', GUIX_PROTOCOL_VERSION).then(() => null, (e: unknown) => e)
    expect((e2 as ProtocolError).code).toBe('ERR_UNSUPPORTED_VERSION')
  })

  it('store paths, derived paths and output names are validated on read', async () => {
    const bad = ['nix/store/x', '/nix/store/short', '/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x', '/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z_x',
      '/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z-a b', '/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z-..']
    for (const p of bad) {
      const bytes = new WireWriter().writeU64(Op.IsValidPath).writeString(p).take()
      const err = await readRequest(new WireReader(bytes), W(34)).then(() => null, (e: unknown) => e)
      expect(err, p).toBeInstanceOf(ProtocolError)
    }
    for (const s of [`${DRV}!`, `${DRV}!a b`, `${DRV}!out!dev`]) {
      const err = await DerivedPathCodec.read(new WireReader(new WireWriter().writeString(s).take()), W(34)).then(() => null, (e: unknown) => e)
      expect(err, s).toBeInstanceOf(ProtocolError)
    }
    // < 1.30: a bare .drv means all outputs, `!*` too
    const old = await DerivedPathCodec.read(new WireReader(new WireWriter().writeString(DRV).take()), W(29))
    expect(old).toEqual({ type: 'built', drvPath: DRV, outputs: '*' })
  })

  it('typed OpArgs/OpReply line up with the definitions', () => {
    const args: OpArgs['QueryValidPaths'] = { paths: [P1], substitute: false }
    const reply: OpReply['QueryMissing'] = { willBuild: [], willSubstitute: [], unknown: [], downloadSize: 0n, narSize: 0n }
    expect(args.paths.length + reply.willBuild.length).toBe(1)
  })
})
