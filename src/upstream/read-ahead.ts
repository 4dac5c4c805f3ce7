/**
 * Reads a byte stream ahead of its consumer, up to a bound. An upstream download is consumed
 * at ingest speed, which can be far slower than the network; HTTP servers that consider a
 * response done once it is in their socket buffers then start their keep-alive (or send)
 * timer and close the connection under a slow reader, and fetch reports the body as cut
 * ("other side closed") even when every byte has arrived. Draining up to `maxBytes` ahead
 * keeps the socket read and the server's view of the transfer true. Memory: at most
 * `maxBytes` plus one piece.
 */
export async function * readAhead (source: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]()
  const queue: Uint8Array[] = []
  let queued = 0
  let ended = false
  let error: unknown
  let failed = false
  let stopped = false
  let wakeConsumer: (() => void) | undefined
  let wakeProducer: (() => void) | undefined
  const producer = (async () => {
    try {
      while (!stopped) {
        if (queued >= maxBytes) {
          await new Promise<void>(resolve => { wakeProducer = resolve })
          continue
        }
        const r = await it.next()
        if (r.done === true) break
        queue.push(r.value)
        queued += r.value.byteLength
        wakeConsumer?.()
      }
    } catch (err) {
      error = err
      failed = true
    } finally {
      ended = true
      wakeConsumer?.()
    }
  })()
  try {
    for (;;) {
      const piece = queue.shift()
      if (piece !== undefined) {
        queued -= piece.byteLength
        wakeProducer?.()
        yield piece
        continue
      }
      if (ended) {
        if (failed) throw error
        return
      }
      await new Promise<void>(resolve => { wakeConsumer = resolve })
      wakeConsumer = undefined
    }
  } finally {
    stopped = true
    wakeProducer?.()
    // an early stop: release the source (its return runs once a pending read settles)
    if (!ended) void Promise.resolve(it.return?.(undefined)).catch(() => {})
    void producer
  }
}
