/**
 * A minimal HTTP/1.1 keep-alive client on raw sockets for the benchmarks: one request at a
 * time per connection, `Content-Length` framing only, body bytes counted and dropped (never
 * copied or concatenated). Node's fetch/http.get top out at 0.6–0.9 GB/s on loopback
 * (anchor-figures.md); this one is checked against nginx in the same run.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'

export interface RawResult {
  status: number
  bytes: number
  ms: number
}

const CRLFCRLF = Buffer.from('\r\n\r\n')

export class RawConnection {
  private socket?: Socket
  private readonly port: number
  private readonly host: string
  private head: Buffer = Buffer.alloc(0)
  private pending?: {
    resolve: (r: RawResult) => void
    reject: (e: Error) => void
    t0: number
    status: number
    length: number
    got: number
    inBody: boolean
    headOnly: boolean
  }

  constructor (port: number, host = '127.0.0.1') {
    this.port = port
    this.host = host
  }

  async connect (): Promise<void> {
    this.socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ port: this.port, host: this.host, noDelay: true }, () => resolve(s))
      s.once('error', reject)
    })
    this.socket.on('data', (d: Buffer) => this.onData(d))
    this.socket.on('error', (err) => this.fail(err))
    this.socket.on('close', () => this.fail(new Error('connection closed')))
  }

  private fail (err: Error): void {
    const p = this.pending
    this.pending = undefined
    p?.reject(err)
  }

  private onData (d: Buffer): void {
    let data = d
    while (data.length > 0) {
      const p = this.pending
      if (p === undefined) return
      if (!p.inBody) {
        this.head = this.head.length === 0 ? data : Buffer.concat([this.head, data])
        const end = this.head.indexOf(CRLFCRLF)
        if (end < 0) return
        const text = this.head.subarray(0, end).toString('latin1')
        p.status = Number(text.slice(9, 12))
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(text)
        p.length = p.headOnly || m === null ? 0 : Number(m[1])
        p.inBody = true
        data = this.head.subarray(end + 4)
        this.head = Buffer.alloc(0)
      }
      const take = Math.min(data.length, p.length - p.got)
      p.got += take
      data = data.subarray(take)
      if (p.got === p.length) {
        this.pending = undefined
        p.resolve({ status: p.status, bytes: p.got, ms: performance.now() - p.t0 })
      }
    }
  }

  async request (path: string, method = 'GET'): Promise<RawResult> {
    if (this.socket === undefined) await this.connect()
    return await new Promise((resolve, reject) => {
      this.pending = { resolve, reject, t0: performance.now(), status: 0, length: 0, got: 0, inBody: false, headOnly: method === 'HEAD' }
      this.socket!.write(`${method} ${path} HTTP/1.1\r\nHost: ${this.host}\r\n\r\n`)
    })
  }

  close (): void {
    this.socket?.destroy()
    this.socket = undefined
  }
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}
