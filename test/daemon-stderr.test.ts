/**
 * Stderr-loop messages (§1.4): both error formats, activities and results,
 * downgrades for old and Guix clients, malformed input.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  ActivityType,
  DaemonError,
  GUIX_PROTOCOL_VERSION,
  ProtocolError,
  ResultType,
  STDERR_ERROR,
  STDERR_LAST,
  STDERR_NEXT,
  STDERR_READ,
  STDERR_RESULT,
  STDERR_START_ACTIVITY,
  STDERR_STOP_ACTIVITY,
  STDERR_WRITE,
  WireReader,
  WireWriter,
  expectStderrLast,
  protocolVersion,
  readStderrLoop,
  readStderrMessage,
  supportsActivities,
  usesStructuredErrors,
  writeStderrMessage
} from '../src/daemon/index.ts'
import type { StderrMessage } from '../src/daemon/index.ts'

const W = (minor: number): number => protocolVersion(1, minor)
const SEED = 0x5eed

async function roundTrip (msg: StderrMessage, version: number): Promise<{ bytes: Uint8Array, back: StderrMessage }> {
  const w = new WireWriter()
  expect(writeStderrMessage(w, msg, version)).toBe(true)
  const bytes = w.take()
  const r = new WireReader(bytes)
  const back = await readStderrMessage(r, version)
  expect(await r.atEnd()).toBe(true)
  return { bytes, back }
}

describe('stderr messages', () => {
  it('codes are the ASCII words of the spec', () => {
    expect([STDERR_NEXT, STDERR_READ, STDERR_WRITE, STDERR_LAST, STDERR_ERROR, STDERR_START_ACTIVITY, STDERR_STOP_ACTIVITY, STDERR_RESULT])
      .toEqual([0x6f6c6d67, 0x64617461, 0x64617416, 0x616c7473, 0x63787470, 0x53545254, 0x53544f50, 0x52534c54])
    expect(usesStructuredErrors(W(25))).toBe(false)
    expect(usesStructuredErrors(W(26))).toBe(true)
    expect(usesStructuredErrors(GUIX_PROTOCOL_VERSION)).toBe(false)
    expect(supportsActivities(W(19))).toBe(false)
    expect(supportsActivities(W(20))).toBe(true)
    expect(supportsActivities(GUIX_PROTOCOL_VERSION)).toBe(false)
  })

  it('every message type round-trips (activity ids beyond 2^53 stay exact)', async () => {
    const msgs: StderrMessage[] = [
      { type: 'next', message: '\x1b[35;1mwarning\x1b[0m: something\n' },
      { type: 'read', length: 32768 },
      { type: 'write', data: new Uint8Array([0, 1, 2, 255]) },
      { type: 'last' },
      {
        type: 'start-activity', id: (83262236n << 32n) | 7n, level: 6, activityType: ActivityType.Realise, text: 'querying',
        fields: [1n << 63n, 'a string', 0n], parent: (1n << 64n) - 1n
      },
      { type: 'stop-activity', id: 83262236000256n },
      { type: 'result', id: 1n, resultType: ResultType.Progress, fields: [1n, 2n, 0n, 0n] }
    ]
    for (const m of msgs) expect((await roundTrip(m, W(34))).back).toEqual(m)
  })

  it('old error format below 1.26: message + status', async () => {
    const err = { message: "path '/nix/store/x' is not valid", status: 1, level: 0, traces: [] }
    const { bytes, back } = await roundTrip({ type: 'error', error: err }, W(25))
    expect(back).toEqual({ type: 'error', error: err })
    const expected = new WireWriter().writeU64(STDERR_ERROR).writeString(err.message).writeU64(1).take()
    expect(bytes).toEqual(expected)
  })

  it('structured error at ≥ 1.26: "Error", level, "Error", msg, 0, traces', async () => {
    const err = { message: 'boom', status: 1, level: 0, traces: ['while doing a', 'while doing b'] }
    const { bytes, back } = await roundTrip({ type: 'error', error: err }, W(26))
    expect(back).toEqual({ type: 'error', error: err })
    const expected = new WireWriter().writeU64(STDERR_ERROR).writeString('Error').writeU64(0).writeString('Error').writeString('boom')
      .writeU64(0).writeU64(2).writeU64(0).writeString('while doing a').writeU64(0).writeString('while doing b').take()
    expect(bytes).toEqual(expected)
  })

  it('Guix gets old-format errors and never activities', async () => {
    const w = new WireWriter()
    expect(writeStderrMessage(w, { type: 'stop-activity', id: 1n }, GUIX_PROTOCOL_VERSION)).toBe(false)
    expect(writeStderrMessage(w, { type: 'result', id: 1n, resultType: 101, fields: ['x'] }, GUIX_PROTOCOL_VERSION)).toBe(false)
    expect(writeStderrMessage(w, { type: 'start-activity', id: 1n, level: 0, activityType: 0, text: '', fields: [], parent: 0n }, GUIX_PROTOCOL_VERSION)).toBe(false)
    expect(w.length).toBe(0)
    const { bytes } = await roundTrip({ type: 'error', error: { message: 'm', status: 1, level: 0, traces: [] } }, GUIX_PROTOCOL_VERSION)
    expect(bytes.length).toBe(8 + 16 + 8)
  })

  it('activities become "text..." log lines below 1.20', async () => {
    const w = new WireWriter()
    writeStderrMessage(w, { type: 'start-activity', id: 1n, level: 3, activityType: 105, text: 'building foo', fields: [], parent: 0n }, W(19))
    expect(writeStderrMessage(w, { type: 'stop-activity', id: 1n }, W(19))).toBe(false)
    const r = new WireReader(w.take())
    expect(await readStderrMessage(r, W(19))).toEqual({ type: 'next', message: 'building foo...\n' })
    expect(await r.atEnd()).toBe(true)
  })

  it('the loop ends at LAST (null) or ERROR (the error); expectStderrLast throws DaemonError', async () => {
    const w = new WireWriter()
    writeStderrMessage(w, { type: 'next', message: 'a' }, W(34))
    writeStderrMessage(w, { type: 'stop-activity', id: 3n }, W(34))
    writeStderrMessage(w, { type: 'last' }, W(34))
    writeStderrMessage(w, { type: 'error', error: { message: 'nope', status: 1, level: 0, traces: [] } }, W(34))
    const r = new WireReader(w.take())
    const seen: StderrMessage[] = []
    expect(await readStderrLoop(r, W(34), { onMessage: (m) => { seen.push(m) } })).toBe(null)
    expect(seen.map((m) => m.type)).toEqual(['next', 'stop-activity'])
    const err = await expectStderrLast(r, W(34)).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(DaemonError)
    expect((err as DaemonError).message).toBe('nope')
    expect((err as DaemonError).status).toBe(1)

    const read = new WireWriter().writeU64(STDERR_READ).writeU64(10).take()
    await expect(readStderrLoop(new WireReader(read), W(34))).rejects.toBeInstanceOf(ProtocolError)
  })

  it('malformed messages are ProtocolErrors', async () => {
    const cases: Array<[Uint8Array, string]> = [
      [new WireWriter().writeU64(0x12345678).take(), 'ERR_UNKNOWN_MESSAGE'],
      [new WireWriter().writeU64(STDERR_ERROR).writeString('NotError').take(), 'ERR_BAD_VALUE'],
      [new WireWriter().writeU64(STDERR_ERROR).writeString('Error').writeU64(0).writeString('Error').writeString('m').writeU64(1).take(), 'ERR_BAD_VALUE'],
      [new WireWriter().writeU64(STDERR_ERROR).writeString('Error').writeU64(0).writeString('Error').writeString('m').writeU64(0).writeU64(1).writeU64(5).take(), 'ERR_BAD_VALUE'],
      [new WireWriter().writeU64(STDERR_RESULT).writeU64(1).writeU64(101).writeU64(1).writeU64(2).take(), 'ERR_BAD_VALUE'],
      [new WireWriter().writeU64(STDERR_RESULT).writeU64(1).writeU64(101).writeU64(1n << 40n).take(), 'ERR_TOO_LARGE'],
      [new WireWriter().writeU64(STDERR_NEXT).writeU64(1n << 63n).take(), 'ERR_TOO_LARGE'],
      [new WireWriter().writeU64(STDERR_START_ACTIVITY).writeU64(1).writeU64(1n << 33n).take(), 'ERR_TOO_LARGE']
    ]
    for (const [bytes, code] of cases) {
      const err = await readStderrMessage(new WireReader(bytes), W(34)).then(() => null, (e: unknown) => e)
      expect(err).toBeInstanceOf(ProtocolError)
      expect((err as ProtocolError).code).toBe(code)
    }
  })

  it('random messages round-trip (fast-check)', async () => {
    const field = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.string({ unit: 'grapheme', maxLength: 20 }))
    const msg: fc.Arbitrary<StderrMessage> = fc.oneof(
      fc.record({ type: fc.constant('next' as const), message: fc.string({ unit: 'grapheme' }) }),
      fc.record({ type: fc.constant('start-activity' as const), id: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), level: fc.nat(7), activityType: fc.nat(200), text: fc.string({ unit: 'grapheme' }), fields: fc.array(field, { maxLength: 5 }), parent: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
      fc.record({ type: fc.constant('result' as const), id: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), resultType: fc.nat(200), fields: fc.array(field, { maxLength: 5 }) }),
      fc.record({ type: fc.constant('error' as const), error: fc.record({ message: fc.string({ unit: 'grapheme' }), status: fc.constant(1), level: fc.nat(7), traces: fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 3 }) }) })
    )
    await fc.assert(fc.asyncProperty(msg, async (m) => {
      expect((await roundTrip(m, W(38))).back).toEqual(m)
    }), { seed: SEED, numRuns: 200 })
  })
})
