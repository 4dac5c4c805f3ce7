/**
 * A minimal stand-in for a libp2p v3 `Stream`, enough for the protocol handlers and clients in
 * src/p2p: what is sent is collected; once our side closes its write end (or at once, for a
 * server), the scripted remote bytes arrive as `message` events followed by `remoteCloseWrite`.
 * `abort(err)` records the error the code aborted the stream with.
 */
import type { Stream } from '@libp2p/interface'

class MessageEvent extends Event {
  readonly data: Uint8Array
  constructor (data: Uint8Array) {
    super('message')
    this.data = data
  }
}

export class FakeStream extends EventTarget {
  readonly sent: Uint8Array[] = []
  aborted: Error | undefined
  status: 'open' | 'closed' | 'aborted' = 'open'
  readStatus: 'readable' | 'paused' | 'closed' = 'readable'
  writeStatus: 'writable' | 'closed' = 'writable'
  remoteWriteStatus: 'writable' | 'closed' = 'writable'
  readBufferLength = 0
  maxReadBufferLength = 4 * 1024 * 1024
  private readonly remote: Uint8Array[]
  private delivered = false

  /** `remote`: the bytes the other side sends, in pieces; `deliverNow`: send them without waiting for our close. */
  constructor (remote: Uint8Array[], deliverNow: boolean) {
    super()
    this.remote = remote
    if (deliverNow) this.deliver()
  }

  private deliver (): void {
    if (this.delivered) return
    this.delivered = true
    setImmediate(() => {
      for (const piece of this.remote) {
        if (this.status !== 'open') return
        this.dispatchEvent(new MessageEvent(piece))
      }
      this.remoteWriteStatus = 'closed'
      this.dispatchEvent(new Event('remoteCloseWrite'))
    })
  }

  send (data: Uint8Array): boolean {
    this.sent.push(data.slice())
    return true
  }

  async onDrain (): Promise<void> {}

  async close (): Promise<void> {
    this.writeStatus = 'closed'
    this.deliver()
  }

  abort (err: Error): void {
    this.aborted ??= err
    this.status = 'aborted'
    this.dispatchEvent(new Event('close'))
  }

  pause (): void { this.readStatus = 'paused' }
  resume (): void { this.readStatus = 'readable' }

  asStream (): Stream {
    return this as unknown as Stream
  }
}
