/**
 * Metrics: the registry and its Prometheus text exposition (format 0.0.4), then the counters of
 * a real node moving with real requests (HTTP narinfo hits and misses, NAR bytes, daemon ops).
 */
import { describe, it, expect } from 'vitest'
import { createRegistry, MetricError, EXPOSITION_CONTENT_TYPE } from '../src/metrics/index.ts'
import { DaemonClient } from '../src/daemon/index.ts'
import { startTestNode, get, narUrl, sample, TREE, TREE_HASH, TREE_NAR_SIZE, MISSING_HASH } from './status-node.ts'

describe('exposition format 0.0.4', () => {
  it('renders HELP/TYPE lines, labels in declared order, and escapes label values and help text', () => {
    const r = createRegistry()
    const c = r.counter({ name: 'x_requests_total', help: 'Requests\nby "kind" \\ path.', labelNames: ['kind', 'path'] })
    c.inc({ kind: 'a', path: 'C:\\dir "quoted"\nnext' })
    c.inc({ path: '/p', kind: 'b' }, 2.5)
    c.inc({ path: '/p', kind: 'b' })
    const text = r.expose()
    expect(text).toBe(
      '# HELP x_requests_total Requests\\nby "kind" \\\\ path.\n' +
      '# TYPE x_requests_total counter\n' +
      'x_requests_total{kind="a",path="C:\\\\dir \\"quoted\\"\\nnext"} 1\n' +
      'x_requests_total{kind="b",path="/p"} 3.5\n'
    )
    expect(c.get({ kind: 'b', path: '/p' })).toBe(3.5)
  })

  it('renders histograms as cumulative _bucket series with le, +Inf, _sum and _count', () => {
    const r = createRegistry()
    const h = r.histogram({ name: 'x_seconds', help: 'Durations.', labelNames: ['source'], buckets: [0.1, 1, 5] })
    for (const v of [0.05, 0.1, 0.7, 3, 42]) h.observe({ source: 'peer' }, v)
    expect(r.expose()).toBe([
      '# HELP x_seconds Durations.',
      '# TYPE x_seconds histogram',
      'x_seconds_bucket{source="peer",le="0.1"} 2',
      'x_seconds_bucket{source="peer",le="1.0"} 3',
      'x_seconds_bucket{source="peer",le="5.0"} 4',
      'x_seconds_bucket{source="peer",le="+Inf"} 5',
      'x_seconds_sum{source="peer"} 45.85',
      'x_seconds_count{source="peer"} 5',
      ''
    ].join('\n'))
  })

  it('computes collected gauges at scrape time, and formats special values', () => {
    const r = createRegistry()
    let peers = 3
    r.gauge({ name: 'x_peers', help: 'Peers.', collect: () => peers })
    r.gauge({ name: 'x_special', help: 'Special values.', labelNames: ['v'], collect: () => [{ labels: { v: 'inf' }, value: Infinity }, { labels: { v: 'nan' }, value: NaN }, { labels: { v: 'neg' }, value: -Infinity }] })
    r.gauge({ name: 'x_broken', help: 'A collector that throws.', collect: () => { throw new Error('boom') } })
    r.gauge({ name: 'x_absent', help: 'Nothing to report.', collect: () => [] })
    expect(r.expose()).toContain('\nx_peers 3\n')
    peers = 5
    const text = r.expose()
    expect(text).toContain('\nx_peers 5\n')
    expect(text).toContain('x_special{v="inf"} +Inf\nx_special{v="nan"} NaN\nx_special{v="neg"} -Inf\n')
    // a failing collector hides only its own samples
    expect(text).toContain('# TYPE x_broken gauge\n# HELP x_absent')
  })

  it('refuses bad names, undeclared labels, duplicate metrics and counters going down', () => {
    const r = createRegistry()
    expect(() => r.counter({ name: '1bad', help: '' })).toThrow(MetricError)
    expect(() => r.counter({ name: 'ok_total', help: '', labelNames: ['le'] })).toThrow(MetricError)
    expect(() => r.counter({ name: 'ok_total', help: '', labelNames: ['__x'] })).toThrow(MetricError)
    const c = r.counter({ name: 'ok_total', help: '', labelNames: ['a'] })
    expect(() => r.gauge({ name: 'ok_total', help: '' })).toThrow(MetricError)
    expect(() => c.inc({ b: 'x' })).toThrow(MetricError)
    expect(() => c.inc({ a: 'x' }, -1)).toThrow(MetricError)
    const plain = r.counter({ name: 'plain_total', help: 'No labels.' })
    expect(r.expose()).toContain('# TYPE plain_total counter\nplain_total 0\n')
    plain.inc()
    expect(r.expose()).toContain('\nplain_total 1\n')
    const g = r.gauge({ name: 'g', help: '' })
    g.inc(undefined, 4)
    g.dec(undefined, 1.5)
    expect(g.get()).toBe(2.5)
    expect(() => r.histogram({ name: 'h', help: '', buckets: [1, 1] })).toThrow(MetricError)
  })
})

describe('node metrics', () => {
  it('/metrics counts narinfo hits and misses, NAR bytes and local substitutions of a real node', async () => {
    const t = await startTestNode({ httpGuix: '127.0.0.1:0' })
    try {
      const first = await get(t.url, '/metrics')
      expect(first.status).toBe(200)
      expect(first.type).toBe(EXPOSITION_CONTENT_TYPE)
      expect(first.text).toContain('# TYPE storeswarm_http_requests_total counter\n')
      expect(sample(first.text, 'storeswarm_store_paths')).toBe(1)
      expect(sample(first.text, 'storeswarm_store_bytes')).toBeGreaterThan(0)
      expect(sample(first.text, 'storeswarm_narinfo_requests_total', { result: 'hit' })).toBeUndefined()

      // the binary cache answers exactly as before next to the new routes
      const info = await get(t.url, '/nix-cache-info')
      expect(info.status).toBe(200)
      expect(info.text).toContain('StoreDir: /nix/store\n')
      const hit = await get(t.url, `/${TREE_HASH}.narinfo`)
      expect(hit.status).toBe(200)
      expect(hit.text).toContain(`StorePath: ${TREE}\n`)
      await get(t.url, `/${TREE_HASH}.narinfo`) // second one: answered from memory (fast path)
      expect((await get(t.url, `/${MISSING_HASH}.narinfo`)).status).toBe(404)
      expect((await get(t.url, '/nothing-here')).status).toBe(404)
      const nar = await fetch(`${t.url}/${narUrl(hit.text)}`)
      expect(nar.status).toBe(200)
      expect((await nar.arrayBuffer()).byteLength).toBe(TREE_NAR_SIZE)
      const ranged = await fetch(`${t.url}/${narUrl(hit.text)}`, { headers: { range: 'bytes=0-99' } })
      expect(ranged.status).toBe(206)
      await ranged.arrayBuffer()
      // the Guix listener: counted as its own facade, and its home page is the plain one
      const guix = t.node.guix!.url!
      expect((await get(guix, `/${MISSING_HASH}.narinfo`)).status).toBe(404)
      const guixHome = await get(guix, '/')
      expect(guixHome.type).toMatch(/^text\/plain/)
      expect(guixHome.text).toContain('storeswarm binary cache (Guix)')
      expect((await get(guix, '/metrics')).status).toBe(404)

      // whether a served NAR was held already is looked up in the background: poll (bounded)
      let m = (await get(t.url, '/metrics')).text
      for (let i = 0; i < 50 && sample(m, 'storeswarm_fetched_bytes_total', { source: 'local' }) !== TREE_NAR_SIZE + 100; i++) {
        await new Promise(resolve => setTimeout(resolve, 20))
        m = (await get(t.url, '/metrics')).text
      }
      expect(sample(m, 'storeswarm_narinfo_requests_total', { result: 'hit' })).toBe(2)
      expect(sample(m, 'storeswarm_narinfo_requests_total', { result: 'miss' })).toBe(2)
      expect(sample(m, 'storeswarm_http_requests_total', { facade: 'guix', route: 'narinfo', status: '4xx' })).toBe(1)
      expect(sample(m, 'storeswarm_http_requests_total', { facade: 'guix', route: 'other', status: '2xx' })).toBe(1)
      expect(sample(m, 'storeswarm_http_requests_total', { facade: 'nix', route: 'narinfo', status: '2xx' })).toBe(2)
      expect(sample(m, 'storeswarm_http_requests_total', { facade: 'nix', route: 'narinfo', status: '4xx' })).toBe(1)
      expect(sample(m, 'storeswarm_http_requests_total', { facade: 'nix', route: 'nar', status: '2xx' })).toBe(2)
      expect(sample(m, 'storeswarm_http_requests_total', { facade: 'nix', route: 'other', status: '4xx' })).toBe(1)
      expect(sample(m, 'storeswarm_http_response_bytes_total', { facade: 'nix', route: 'nar' })).toBe(TREE_NAR_SIZE + 100)
      expect(sample(m, 'storeswarm_fetched_bytes_total', { source: 'local' })).toBe(TREE_NAR_SIZE + 100)
      // only the whole NAR is a substitution; the range request is a resumption
      expect(sample(m, 'storeswarm_substitutions_total', { source: 'local' })).toBe(1)
      expect(sample(m, 'storeswarm_peers_connected')).toBe(0)
      expect(sample(m, 'storeswarm_transfers_in_progress', { source: 'peer' })).toBe(0)
    } finally {
      await t.close()
    }
  })

  it('counts daemon operations and NAR bytes served on the daemon socket', async () => {
    const t = await startTestNode({ withDaemon: true })
    try {
      const client = await DaemonClient.connect({ socketPath: t.daemonSocket! })
      let got = 0
      try {
        expect(await client.isValidPath(TREE)).toBe(true)
        for await (const piece of client.narFromPath(TREE, { narSize: TREE_NAR_SIZE })) got += piece.byteLength
      } finally {
        await client.close()
      }
      expect(got).toBe(TREE_NAR_SIZE)
      const m = (await get(t.url, '/metrics')).text
      expect(sample(m, 'storeswarm_daemon_operations_total', { op: 'IsValidPath' })).toBe(1)
      expect(sample(m, 'storeswarm_daemon_operations_total', { op: 'NarFromPath' })).toBe(1)
      expect(sample(m, 'storeswarm_served_bytes_total', { via: 'daemon' })).toBe(TREE_NAR_SIZE)
      expect(sample(m, 'storeswarm_substitutions_total', { source: 'local' })).toBe(1)
      const snap = await t.node.metrics.snapshot()
      expect(snap.substitutions[0]).toMatchObject({ storePath: TREE, source: 'local', bytes: TREE_NAR_SIZE })
      expect(snap.identity.daemonSocket).toBe(t.daemonSocket)
    } finally {
      await t.close()
    }
  })
})
