/**
 * Host factory: Noise preferred, TLS offered (see DEFAULT_ENCRYPTERS); identities
 * persist in the data directory.
 */
import { describe, it, expect } from 'vitest'
import { mkdtemp, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHost, DHT_PROTOCOL } from '../src/p2p/index.ts'
import { openCastore } from '../src/castore/index.ts'
import { startP2P } from '../node/p2p.ts'
import { removeDir } from './helpers/p2p.ts'

describe('host', () => {
  it('offers Noise (preferred, measured faster) and TLS; a TLS-only peer gets TLS; runs the private DHT', async () => {
    const a = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], nat: false })
    const b = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], nat: false })
    const n = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], nat: false, encrypters: ['tls'] })
    try {
      const c1 = await a.dial(b.getMultiaddrs()[0])
      expect(c1.encryption).toBe('/noise')
      const c2 = await n.dial(b.getMultiaddrs()[0])
      expect(c2.encryption).toBe('/tls/1.0.0')
      expect(a.getProtocols()).toContain(DHT_PROTOCOL)
      expect(a.getProtocols()).not.toContain('/ipfs/kad/1.0.0')
    } finally {
      await a.stop(); await b.stop(); await n.stop()
    }
  })

  it('startP2P keeps the peer identity in the data directory and prints /p2p/ addresses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ss-id-'))
    try {
      const ids: string[] = []
      for (let i = 0; i < 2; i++) {
        const castore = await openCastore({ dataDir: dir, fsync: false })
        const lines: string[] = []
        const p2p = await startP2P(castore, { dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], nat: false, log: (l) => lines.push(l) })
        ids.push(p2p!.peerId)
        expect(lines.some(l => l.includes(`/p2p/${p2p!.peerId}`))).toBe(true)
        await p2p!.close()
        await castore.close()
      }
      expect(ids[0]).toBe(ids[1])
      expect((await stat(join(dir, 'p2p', 'identity.key'))).mode & 0o077).toBe(0)
      const castore = await openCastore({ dataDir: dir, fsync: false })
      expect(await startP2P(castore, { dataDir: dir, disabled: true })).toBeUndefined()
      await castore.close()
    } finally {
      await removeDir(dir)
    }
  })
})
