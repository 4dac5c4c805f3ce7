import { describe, it, expect, vi } from 'vitest'
import { withIdleTimeout } from '../src/p2p/fetch-protocol.ts'
import { PeerTimeoutError } from '../src/p2p/errors.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Yields `n` one-byte pieces, waiting `gapMs` before each. */
async function * drip (n: number, gapMs: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < n; i++) {
    await sleep(gapMs)
    yield new Uint8Array([i])
  }
}

async function collect (source: AsyncIterable<Uint8Array>, perPieceMs = 0): Promise<number[]> {
  const out: number[] = []
  for await (const piece of source) {
    out.push(piece[0])
    if (perPieceMs > 0) await sleep(perPieceMs)
  }
  return out
}

describe('withIdleTimeout', () => {
  it('passes a source whose pieces come within the idle time, however long it runs in total', async () => {
    // 12 pieces 20 ms apart: 240 ms in all, four times the 60 ms idle time
    expect(await collect(withIdleTimeout(drip(12, 20), 60))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
  })

  it('fails with PeerTimeoutError when no piece comes for the idle time', async () => {
    let fired = 0
    const t0 = performance.now()
    const err = await collect(withIdleTimeout(drip(3, 200), 50, () => { fired++ })).catch(e => e)
    expect(err).toBeInstanceOf(PeerTimeoutError)
    expect(err.message).toContain('no data for 50 ms')
    expect(fired).toBe(1)
    // it fails near the idle time, not at the first piece
    expect(performance.now() - t0).toBeLessThan(190)
  })

  it('fails when a stream stalls after some pieces', async () => {
    async function * stall (): AsyncGenerator<Uint8Array> {
      yield new Uint8Array([1])
      yield new Uint8Array([2])
      await sleep(300)
      yield new Uint8Array([3])
    }
    const got: number[] = []
    const err = await (async () => { for await (const p of withIdleTimeout(stall(), 60)) got.push(p[0]) })().catch(e => e)
    expect(err).toBeInstanceOf(PeerTimeoutError)
    expect(got).toEqual([1, 2])
  })

  it('does not count the time the consumer spends on a piece', async () => {
    // the consumer takes 80 ms per piece, longer than the 40 ms idle time; the source is quick
    expect(await collect(withIdleTimeout(drip(4, 5), 40), 80)).toEqual([0, 1, 2, 3])
  })

  it('passes errors of the source through and stops its timer', async () => {
    async function * broken (): AsyncGenerator<Uint8Array> {
      yield new Uint8Array([7])
      throw new Error('reset by peer')
    }
    let fired = 0
    await expect(collect(withIdleTimeout(broken(), 30, () => { fired++ }))).rejects.toThrow('reset by peer')
    await sleep(80)
    expect(fired).toBe(0)
  })

  it('leaves no timer behind when the reader stops without closing it', async () => {
    vi.useFakeTimers()
    try {
      let fired = 0
      const src = withIdleTimeout(drip(5, 10), 100, () => { fired++ })
      const first = src.next()
      await vi.advanceTimersByTimeAsync(10)
      expect((await first).value?.[0]).toBe(0)
      // the reader keeps the generator but never asks again (never calls return())
      await vi.advanceTimersByTimeAsync(1000)
      expect(vi.getTimerCount()).toBe(0)
      expect(fired).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})
