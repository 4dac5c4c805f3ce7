/**
 * Seeder process for bench/p2p.ts: holds one deterministic blob in a castore, serves it over the
 * fetch protocol (optionally rate-limited) and over plain node:http (the baseline), and prints
 * one JSON line `{ addr, peerId, digest, size, httpPort }`. Runs until stdin closes.
 * Usage: node p2p-seeder.ts DATA_DIR SIZE SEED [RATE_BYTES_PER_S] [validate|no-validate]
 */
import { createServer } from 'node:http'
import { createReadStream } from 'node:fs'
import { loadKernel } from '../../src/blake3/index.ts'
import { openCastore, FsBlobStore, toHex } from '../../src/castore/index.ts'
import { PartialBlobStore } from '../../src/castore/partial-blob.ts'
import { plaintext } from '@libp2p/plaintext'
import { createHost, createSwarm, createRateLimiter } from '../../src/p2p/index.ts'

const [dataDir, sizeText, seedText, rateText, validateText] = process.argv.slice(2)
const size = Number(sizeText)
const seed = Number(seedText)
const rate = Number(rateText ?? '0')

/** Deterministic 1 MiB xorshift pattern repeated, with the seed mixed into the first bytes of each MiB. */
function * blob (): Generator<Uint8Array> {
  const unit = new Uint8Array(1024 * 1024)
  let x = (seed >>> 0) || 0x9e3779b9
  for (let i = 0; i < unit.length; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    unit[i] = x; unit[i + 1] = x >>> 8; unit[i + 2] = x >>> 16; unit[i + 3] = x >>> 24
  }
  for (let off = 0, n = 0; off < size; off += unit.length, n++) {
    const piece = unit.slice(0, Math.min(unit.length, size - off))
    new DataView(piece.buffer).setUint32(0, n)
    yield piece
  }
}

await loadKernel()
const castore = await openCastore({ dataDir, fsync: false })
const { digest } = await castore.blobs.put(blob(), { size })
// plaintext is offered last (never chosen by a normal node) so the bench can isolate the cost of Noise
const host = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], nat: false, allow: ['/ip4/127.0.0.0/ipcidr/8'], dht: { initialQuerySelfInterval: 0 }, extraEncrypters: [plaintext()] })
const swarm = createSwarm({ host, castore, partials: new PartialBlobStore({ root: dataDir, fsync: false }) }, {
  fetchServer: { validate: validateText !== 'no-validate', ...(rate > 0 ? { rateLimiter: createRateLimiter(rate) } : {}) }
})
await swarm.start()
const file = (castore.blobs as FsBlobStore).dataPath(digest)
const http = createServer((req, res) => {
  res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' })
  createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res)
})
await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
const port = (http.address() as { port: number }).port
process.stdout.write(JSON.stringify({ addr: host.getMultiaddrs()[0].toString(), peerId: host.peerId.toString(), digest: toHex(digest), size, httpPort: port }) + '\n')
process.stdin.resume()
await new Promise<void>(resolve => process.stdin.once('end', resolve))
http.close()
await swarm.stop()
await host.stop()
await castore.close()
