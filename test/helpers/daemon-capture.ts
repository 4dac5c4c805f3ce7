/**
 * Reading the Nix 2.8.0 captures (shared/fixtures/nix-worker-protocol/captures-nix-2.8.0)
 * like the recorded client: the ops a `.c2s` stream sends (with the NARs it uploads), and a
 * daemon → client stream decoded op by op (stderr loop, then the reply body or NAR).
 */
import { expect } from 'vitest'
import {
  ClientHandshakeInfoCodec,
  FramedSource,
  Op,
  WireReader,
  opDefinition,
  protocolVersion,
  readPathsWithNars,
  readReply,
  readRequest,
  readServerHello,
  readStderrMessage,
  serverHandshake,
  walkNar
} from '../../src/daemon/index.ts'
import type { OpName, StderrMessage, ValidPathInfo } from '../../src/daemon/index.ts'
import { collect } from './daemon-harness.ts'

export const V134 = protocolVersion(1, 34)
const nullSink = { write (): void {} }

/** The ops of a recorded client stream, with the paths it uploads. */
export async function clientOps (c2s: Uint8Array): Promise<{ ops: OpName[], uploads: Array<{ info: ValidPathInfo, nar: Uint8Array }> }> {
  const r = new WireReader(c2s)
  await serverHandshake(r, nullSink, { version: V134 })
  const ops: OpName[] = []
  const uploads: Array<{ info: ValidPathInfo, nar: Uint8Array }> = []
  for (;;) {
    const req = await readRequest(r, V134)
    if (req == null) break
    ops.push(req.op)
    if (opDefinition(Op[req.op]).argsPayload(V134) === 'framed') {
      const framed = new FramedSource(r)
      if (req.op === 'AddMultipleToStore') {
        for await (const item of readPathsWithNars(new WireReader(framed))) uploads.push({ info: item.info, nar: await collect(item.nar) })
      }
      await framed.drain()
    }
  }
  return { ops, uploads }
}

export interface Reply { stderr: unknown[], error: string | null, body: unknown }

/** Reads a daemon → client stream the way Nix 2.8 does, op by op; every byte must be used. */
export async function readConversation (s2c: Uint8Array, ops: OpName[]): Promise<{ daemonVersion: number, nixVersion: string | null, replies: Reply[] }> {
  const r = new WireReader(s2c)
  const daemonVersion = await readServerHello(r)
  // a 2.8 client gates on the daemon's version, which is equivalent to min() (§1.3)
  const version = Math.min(daemonVersion, V134)
  const info = await ClientHandshakeInfoCodec.read(r, version)
  const first = await readStderrMessage(r, version)
  expect(first.type).toBe('last')
  const replies: Reply[] = []
  for (const op of ops) {
    const stderr: unknown[] = []
    let error: string | null = null
    for (;;) {
      const m: StderrMessage = await readStderrMessage(r, version)
      if (m.type === 'last') break
      if (m.type === 'error') { error = m.error.message; break }
      // activities and log lines are informational: record their kind only
      stderr.push(m.type === 'next' ? ['next', m.message] : [m.type])
    }
    let body: unknown = null
    if (error == null) {
      if (op === 'NarFromPath') {
        const start = r.position
        const size = await walkNar(r)
        body = { narSize: size, nar: s2c.subarray(start, start + size) }
      } else {
        body = await readReply(r, op, version)
      }
    }
    replies.push({ stderr, error, body })
  }
  expect(await r.atEnd(), 'no bytes after the last reply').toBe(true)
  return { daemonVersion, nixVersion: info.daemonNixVersion, replies }
}

/** Drops what is run-specific (registration times) and makes bodies comparable. */
export function normalise (body: unknown): unknown {
  if (body === undefined) return 'nothing'
  return JSON.parse(JSON.stringify(body, (k, v) => {
    if (k === 'registrationTime') return 0
    if (typeof v === 'bigint') return v.toString()
    if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
    if (v instanceof Map) return Object.fromEntries(v)
    return v
  }))
}
