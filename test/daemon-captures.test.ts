/**
 * Real Nix 2.8.0 connections (shared/fixtures/nix-worker-protocol/captures-nix-2.8.0):
 * both byte streams of every capture are parsed with the codec — handshake, each
 * op's arguments and payload on the client side; stderr loop and reply on the
 * daemon side — every byte must be consumed, the values must match the decoded
 * transcript, and re-encoding the parsed conversation must reproduce both
 * streams exactly.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import {
  FramedSource,
  OPS,
  Op,
  WireReader,
  WireWriter,
  clientHandshake,
  concatBytes,
  opDefinition,
  protocolVersion,
  readPathsWithNars,
  readReply,
  readRequest,
  readStderrLoop,
  renderDerivedPath,
  serverHandshake,
  walkNar,
  writeFramed,
  writePathInfoForTransfer,
  writeReply,
  writeRequest,
  writeStderrMessage
} from '../src/daemon/index.ts'
import type { ByteSink, OpRequest, StderrMessage } from '../src/daemon/index.ts'

const DIR = fixture('nix-worker-protocol', 'captures-nix-2.8.0')
const V134 = protocolVersion(1, 34)

/* ------------------------------------------------------------------------ */
/* A tiny parser for the Python literals in the transcripts                  */
/* ------------------------------------------------------------------------ */

function parsePy (src: string): unknown {
  let i = 0
  const ws = (): void => { while (src[i] === ' ') i++ }
  const value = (): unknown => {
    ws()
    const c = src[i]
    if (c === '\'') {
      const end = src.indexOf('\'', i + 1)
      const s = src.slice(i + 1, end)
      i = end + 1
      return s
    }
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')'
      i++
      const out: unknown[] = []
      ws()
      while (src[i] !== close) {
        out.push(value())
        ws()
        if (src[i] === ',') i++
        ws()
      }
      i++
      return out
    }
    if (c === '{') {
      i++
      const out: Record<string, unknown> = {}
      ws()
      while (src[i] !== '}') {
        const k = value() as string
        ws()
        i++ // ':'
        out[k] = value()
        ws()
        if (src[i] === ',') i++
        ws()
      }
      i++
      return out
    }
    const m = /^-?\d+/.exec(src.slice(i))
    if (m == null) throw new Error(`cannot parse ${JSON.stringify(src.slice(i, i + 20))}`)
    i += m[0].length
    return Number(m[0])
  }
  const v = value()
  ws()
  if (i !== src.length) throw new Error(`trailing input in ${src}`)
  return v
}

/* ------------------------------------------------------------------------ */
/* Transcript model                                                          */
/* ------------------------------------------------------------------------ */

interface TranscriptOp {
  code: number
  name: string
  args: string
  server: string[]
}

interface Transcript {
  clientBytes: number
  serverBytes: number
  serverVersion: number
  clientVersion: number
  cpuAffinityFlag: number
  reserveSpace: number
  daemonNixVersion: string
  ops: TranscriptOp[]
}

function readTranscript (text: string): Transcript {
  const t: Partial<Transcript> & { ops: TranscriptOp[] } = { ops: [] }
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null
    if ((m = /^# client bytes=(\d+) server bytes=(\d+)/.exec(line)) != null) {
      t.clientBytes = Number(m[1])
      t.serverBytes = Number(m[2])
    } else if ((m = /^S magic2=0x6478696f serverVersion=(0x[0-9a-f]+)/.exec(line)) != null) {
      t.serverVersion = Number(m[1])
    } else if ((m = /^C clientVersion=(0x[0-9a-f]+)/.exec(line)) != null) {
      t.clientVersion = Number(m[1])
    } else if ((m = /^C cpuAffinityFlag=(\d+)/.exec(line)) != null) {
      t.cpuAffinityFlag = Number(m[1])
    } else if ((m = /^C reserveSpace=(\d+)/.exec(line)) != null) {
      t.reserveSpace = Number(m[1])
    } else if ((m = /^S daemonNixVersion='(.*)'/.exec(line)) != null) {
      t.daemonNixVersion = m[1]
    } else if ((m = /^C op (\d+) (\w+) args=(.*)$/.exec(line)) != null) {
      t.ops.push({ code: Number(m[1]), name: m[2], args: m[3], server: [] })
    } else if (line.startsWith('S ') && t.ops.length > 0) {
      t.ops[t.ops.length - 1].server.push(line.slice(2))
    } else if ((m = /^# leftover client (\d+) server (\d+)/.exec(line)) != null) {
      expect([Number(m[1]), Number(m[2])]).toEqual([0, 0])
    }
  }
  return t as Transcript
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/** Splits a buffer into uneven chunks so values straddle chunk boundaries. */
function chunked (bytes: Uint8Array): AsyncIterable<Uint8Array> {
  return (async function * () {
    let i = 0
    let n = 1
    while (i < bytes.length) {
      yield bytes.subarray(i, i + n)
      i += n
      n = (n * 7 + 3) % 61 + 1
    }
  })()
}

class CollectSink implements ByteSink {
  chunks: Uint8Array[] = []
  write (chunk: Uint8Array): void { this.chunks.push(chunk.slice()) }
  bytes (): Uint8Array { return concatBytes(this.chunks) }
}

function stderrToPy (m: StderrMessage): unknown {
  if (m.type === 'start-activity') return ['START', Number(m.id), m.level, m.activityType, m.text, m.fields, Number(m.parent)]
  if (m.type === 'stop-activity') return ['STOP', Number(m.id)]
  if (m.type === 'next') return ['NEXT', m.message]
  throw new Error(`unexpected stderr message ${m.type}`)
}

function pathInfoToPy (info: any): unknown {
  return {
    deriver: info.deriver ?? '',
    narHash: info.narHash,
    refs: info.references,
    regTime: info.registrationTime,
    narSize: info.narSize,
    ultimate: info.ultimate ? 1 : 0,
    sigs: info.signatures,
    ca: info.ca ?? ''
  }
}

/** The client-side arguments of a request as the transcript prints them. */
function argsToPy (req: OpRequest, framed: { bytes: number, frames: number } | null): unknown {
  switch (req.op) {
    case 'SetOptions': {
      const a = req.args
      return [[a.keepFailed, a.keepGoing, a.tryFallback, a.verbosity, a.maxBuildJobs, a.maxSilentTime,
        a.useBuildHook, a.verboseBuild, a.logType, a.printBuildTrace, a.buildCores, a.useSubstitutes],
      Object.fromEntries(a.overrides)]
    }
    case 'BuildPaths':
    case 'BuildPathsWithResults':
      return [req.args.paths.map((p) => renderDerivedPath(p, V134)), req.args.mode]
    case 'QueryMissing':
      return req.args.targets.map((p) => renderDerivedPath(p, V134))
    case 'QueryValidPaths':
      return [req.args.paths, req.args.substitute ? 1 : 0]
    case 'IsValidPath':
    case 'QueryPathInfo':
    case 'NarFromPath':
      return req.args.path
    case 'AddMultipleToStore':
      return { repair: req.args.repair ? 1 : 0, dontCheckSigs: req.args.dontCheckSigs ? 1 : 0, framedBytes: framed?.bytes, nFrames: framed?.frames }
    default:
      throw new Error(`no transcript mapping for ${req.op}`)
  }
}

/* ------------------------------------------------------------------------ */
/* The test                                                                  */
/* ------------------------------------------------------------------------ */

const cases = readdirSync(DIR).filter((f) => f.endsWith('.c2s')).map((f) => f.slice(0, -4)).sort()

describe('Nix 2.8.0 captures', () => {
  it('has all captures listed in the README', () => {
    expect(cases).toEqual([
      'copy-from-ssh-ng', 'copy-from-unix', 'copy-to-unix', 'copy-to-unix-all-valid', 'nix-build-opaque',
      'nix-store-q-references', 'nix-store-realise', 'path-info', 'path-info-invalid-1', 'path-info-invalid-2',
      'path-info-json-recursive', 'store-cat', 'substituter-ssh-ng', 'substituter-unix'
    ])
  })

  for (const name of cases) {
    it(`${name}: both directions parse exactly and match the transcript`, async () => {
      const c2s = new Uint8Array(readFileSync(`${DIR}/${name}.c2s`))
      const s2c = new Uint8Array(readFileSync(`${DIR}/${name}.s2c`))
      const t = readTranscript(readFileSync(`${DIR}/${name}.decoded.txt`, 'utf8'))
      expect([c2s.length, s2c.length]).toEqual([t.clientBytes, t.serverBytes])

      /* ---- client → server: our server handshake reads it ---- */
      const cr = new WireReader(chunked(c2s))
      const serverOut = new CollectSink()
      const sh = await serverHandshake(cr, serverOut, { version: t.serverVersion, daemonNixVersion: t.daemonNixVersion })
      expect(sh.clientVersion).toBe(t.clientVersion)
      expect(sh.version).toBe(V134)
      expect(sh.cpuAffinity == null ? 0 : 1).toBe(t.cpuAffinityFlag)
      expect(sh.reserveSpace ? 1 : 0).toBe(t.reserveSpace)

      const requests: Array<{ req: OpRequest, payload: Uint8Array | null }> = []
      const reEncodedC2s = new WireWriter()
      const clientHello = new CollectSink()
      for (;;) {
        const req = await readRequest(cr, V134)
        if (req == null) break
        const def = opDefinition(Op[req.op])
        let payload: Uint8Array | null = null
        let framedInfo: { bytes: number, frames: number } | null = null
        if (def.argsPayload(V134) === 'framed') {
          const framed = new FramedSource(cr)
          const seen: Uint8Array[] = []
          const tee = (async function * () { for await (const chunk of framed) { seen.push(chunk.slice()); yield chunk } })()
          const inner = new WireReader(tee)
          if (req.op === 'AddMultipleToStore') {
            for await (const item of readPathsWithNars(inner)) {
              const narReader = new WireReader(item.nar)
              expect(await walkNar(narReader)).toBe(item.info.narSize)
              expect(await narReader.atEnd()).toBe(true)
            }
          }
          expect(await inner.atEnd()).toBe(true)
          await framed.drain()
          payload = concatBytes(seen)
          framedInfo = { bytes: framed.totalLength, frames: framed.frameCount }
        } else {
          expect(def.argsPayload(V134)).toBe('none')
        }
        const top = t.ops[requests.length]
        expect(top, `transcript has op #${requests.length}`).toBeDefined()
        expect([Op[req.op], req.op]).toEqual([top.code, top.name])
        const wantArgs = top.args.startsWith('/') ? top.args : parsePy(top.args)
        expect(argsToPy(req, framedInfo)).toEqual(wantArgs)
        requests.push({ req, payload })
        writeRequest(reEncodedC2s, req.op, req.args as never, V134)
        if (payload != null) writeFramed(reEncodedC2s, payload, Math.max(1, payload.length))
      }
      expect(requests.length).toBe(t.ops.length)
      expect(cr.position).toBe(c2s.length)

      /* ---- server → client: our client handshake reads it ---- */
      const sr = new WireReader(chunked(s2c))
      const ch = await clientHandshake(sr, clientHello, { version: t.clientVersion })
      expect(ch.daemonVersion).toBe(t.serverVersion)
      expect(ch.version).toBe(V134)
      expect(ch.daemonNixVersion).toBe(t.daemonNixVersion)
      expect(ch.trusted).toBe(null)
      expect(ch.features.size).toBe(0)

      const reEncodedS2c = new WireWriter()
      for (const [index, { req }] of requests.entries()) {
        const top = t.ops[index]
        const messages: StderrMessage[] = []
        const error = await readStderrLoop(sr, V134, { onMessage: (m) => { messages.push(m) } })
        expect(error).toBe(null)
        const stderrLine = top.server.find((l) => l.startsWith('stderr: '))
        expect(stderrLine).toBeDefined()
        const wantStderr = parsePy(stderrLine?.slice('stderr: '.length) ?? '[]') as unknown[]
        expect([...messages.map(stderrToPy), 'LAST']).toEqual(wantStderr)
        for (const m of messages) writeStderrMessage(reEncodedS2c, m, V134)
        writeStderrMessage(reEncodedS2c, { type: 'last' }, V134)

        const body = top.server.filter((l) => !l.startsWith('stderr: '))
        if (OPS[req.op].replyPayload === 'nar') {
          const nar = new CollectSink()
          const size = await walkNar(sr, { onData: (c) => { nar.write(c) } })
          expect(body).toEqual([`NAR bytes ${size}`])
          reEncodedS2c.writeRaw(nar.bytes())
          continue
        }
        const reply = await readReply(sr, req.op, V134)
        writeReply(reEncodedS2c, req.op, reply as never, V134)
        switch (req.op) {
          case 'SetOptions':
          case 'AddMultipleToStore':
            expect(body).toEqual(['(no reply body)'])
            break
          case 'IsValidPath':
          case 'BuildPaths':
            expect(body).toEqual([`reply int ${reply === true ? 1 : reply === false ? 0 : String(reply)}`])
            break
          case 'QueryValidPaths':
            expect(body.length).toBe(1)
            expect(reply).toEqual(parsePy(body[0].slice('reply '.length)))
            break
          case 'QueryPathInfo': {
            expect(body[0]).toBe(`valid ${reply == null ? 0 : 1}`)
            if (reply != null) expect(pathInfoToPy(reply)).toEqual(parsePy(body[1]))
            else expect(body.length).toBe(1)
            break
          }
          case 'QueryMissing': {
            const r = reply as { willBuild: string[], willSubstitute: string[], unknown: string[], downloadSize: bigint, narSize: bigint }
            const m = /^willBuild (.*) willSubst (.*) unknown (.*) dl (\d+) nar (\d+)$/.exec(body[0])
            expect(m).not.toBe(null)
            expect([r.willBuild, r.willSubstitute, r.unknown, Number(r.downloadSize), Number(r.narSize)])
              .toEqual([parsePy(m?.[1] ?? ''), parsePy(m?.[2] ?? ''), parsePy(m?.[3] ?? ''), Number(m?.[4]), Number(m?.[5])])
            break
          }
          case 'BuildPathsWithResults': {
            const results = reply as Array<{ path: any, status: number, errorMsg: string, timesBuilt: number, isNonDeterministic: boolean, startTime: number, stopTime: number, builtOutputs: Map<string, unknown> }>
            expect(body.length).toBe(results.length)
            results.forEach((r, i) => {
              expect({
                path: renderDerivedPath(r.path, V134),
                status: r.status,
                errorMsg: r.errorMsg,
                timesBuilt: r.timesBuilt,
                nondet: r.isNonDeterministic ? 1 : 0,
                start: r.startTime,
                stop: r.stopTime,
                builtOutputs: Object.fromEntries(r.builtOutputs)
              }).toEqual(parsePy(body[i].slice('buildresult '.length)))
            })
            break
          }
          default:
            throw new Error(`unhandled op ${req.op}`)
        }
      }
      expect(await sr.atEnd()).toBe(true)
      expect(sr.position).toBe(s2c.length)

      /* ---- re-encoding reproduces both streams byte for byte ---- */
      const c2sAll = concatBytes([clientHello.bytes(), reEncodedC2s.take()])
      const s2cAll = concatBytes([serverOut.bytes(), reEncodedS2c.take()])
      expect(Buffer.from(c2sAll).equals(Buffer.from(c2s))).toBe(true)
      expect(Buffer.from(s2cAll).equals(Buffer.from(s2c))).toBe(true)
    })
  }

  it('AddMultipleToStore payload of copy-to-unix holds dep then top, re-encodable', async () => {
    const c2s = new Uint8Array(readFileSync(`${DIR}/copy-to-unix.c2s`))
    const r = new WireReader(c2s)
    await serverHandshake(r, new CollectSink(), { version: V134 })
    const ops: string[] = []
    for (let req = await readRequest(r, V134); req != null; req = await readRequest(r, V134)) {
      ops.push(req.op)
      if (req.op !== 'AddMultipleToStore') continue
      const framed = new FramedSource(r)
      const inner = new WireReader(framed)
      const w = new WireWriter()
      const paths: string[] = []
      let count = 0
      for await (const item of readPathsWithNars(inner)) {
        paths.push(item.info.path)
        expect(item.info.ultimate).toBe(false)
        expect(item.info.ca).toBe(null)
        count++
        writePathInfoForTransfer(w, item.info)
        for await (const piece of item.nar) w.writeRaw(piece)
      }
      await framed.drain()
      expect(paths).toEqual([
        '/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z-dep',
        '/nix/store/avvy63mk3y5bjx9mv34pna61c0rkd1ml-top'
      ])
      const rebuilt = new WireWriter().writeU64(count)
      rebuilt.writeRaw(w.take())
      expect(rebuilt.length).toBe(framed.totalLength)
    }
    expect(ops).toEqual(['SetOptions', 'QueryValidPaths', 'AddMultipleToStore'])
  })
})
