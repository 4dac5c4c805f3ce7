/**
 * NAR import/export against real Nix, in the same run:
 *   import: `storeswarm import` (ingest into castore, fsync on) vs `nix-store --restore DIR`
 *   export: `storeswarm export` (castore → NAR, NarHash re-checked) vs `nix-store --dump DIR`
 * both writing into a pipe read by this process. Rounds alternate anchor and ours; each
 * import goes into a fresh data directory (no dedup help). Also reports peak RSS and dedup.
 *
 * Usage: node bench/castore.ts [--size 1G] [--rounds 3]
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, mkdir, writeFile, open, readFile } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { parseSize, median, fmtRate, requireCommand } from './helpers/common.ts'

const args = process.argv.slice(2)
const size = parseSize(args[args.indexOf('--size') + 1] ?? '', args.includes('--size') ? undefined : 1024 ** 3)
const rounds = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 3
const op = fileURLToPath(new URL('./helpers/castore-op.ts', import.meta.url))
requireCommand('nix-store', 'nix-bin')

/** A tree shaped like the anchor's 1 GiB NAR: ~1000 files of varied sizes in nested dirs. */
async function makeTree (root: string, total: number, seed: number, shareFrom?: string): Promise<number> {
  let made = 0; let i = 0
  let s = seed
  const rand = (): number => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31 }
  while (made < total) {
    const dir = join(root, `d${i % 37}`, `e${i % 11}`)
    await mkdir(dir, { recursive: true })
    const n = Math.min(total - made, Math.floor(rand() < 0.1 ? rand() * 12 * 1024 * 1024 : rand() * 1024 * 1024))
    const file = join(dir, `f${i}`)
    if (shareFrom !== undefined && rand() < 0.9) {
      try { await writeFile(file, await readFile(join(shareFrom, `d${i % 37}`, `e${i % 11}`, `f${i}`))); made += n; i++; continue } catch {}
    }
    await writeFile(file, randomBytes(n), { mode: rand() < 0.1 ? 0o755 : 0o644 })
    made += n; i++
  }
  return i
}

function run (cmd: string, argv: string[], stdinFile?: string): Promise<{ ms: number, bytesOut: number, stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const p = spawn(cmd, argv, { stdio: [stdinFile === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let bytesOut = 0; let stderr = ''
    p.stdout!.on('data', (d: Buffer) => { bytesOut += d.length })
    p.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    if (stdinFile !== undefined) createReadStream(stdinFile, { highWaterMark: 1024 * 1024 }).pipe(p.stdin!)
    p.on('error', reject)
    p.on('close', code => {
      if (code !== 0) reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${stderr}`))
      else resolve({ ms: performance.now() - t0, bytesOut, stderr })
    })
  })
}

const work = await mkdtemp(join(tmpdir(), 'storeswarm-bench-castore-'))
try {
  const tree = join(work, 'tree')
  const files = await makeTree(tree, size, 1)
  const nar = join(work, 'tree.nar')
  const fh = await open(nar, 'w')
  const dump = spawnSync('sh', ['-c', `nix-store --dump "${tree}" > "${nar}"`])
  await fh.close()
  if (dump.status !== 0) throw new Error('nix-store --dump failed: ' + dump.stderr.toString())
  const narSize = (await import('node:fs')).statSync(nar).size
  spawnSync('sh', ['-c', `cat "${nar}" > /dev/null`]) // warm the page cache
  const storePath = '/nix/store/' + '7'.repeat(32) + '-bench-tree'
  console.log(`NAR: ${(narSize / 1e6).toFixed(0)} MB, ${files} files; ${rounds} alternating rounds`)

  const res = { restore: [] as number[], importOurs: [] as number[], dumpNix: [] as number[], exportOurs: [] as number[], importRss: 0, exportRss: 0, importInner: [] as number[], exportInner: [] as number[] }
  const node = process.execPath
  let lastData = ''
  for (let r = 0; r < rounds; r++) {
    const out = join(work, `restore-${r}`)
    res.restore.push((await run('nix-store', ['--restore', out], nar)).ms)
    await rm(out, { recursive: true, force: true })
    const data = join(work, `data-${r}`)
    const imp = await run(node, [op, 'import', data, nar, storePath])
    const ji = JSON.parse(imp.stderr.trim().split('\n').pop()!)
    res.importOurs.push(imp.ms); res.importInner.push(ji.ms); res.importRss = Math.max(res.importRss, ji.maxRssMB)
    if (lastData !== '') await rm(lastData, { recursive: true, force: true })
    lastData = data
    spawnSync('sync')
    const d = await run('nix-store', ['--dump', tree])
    if (d.bytesOut !== narSize) throw new Error('nix-store --dump size changed')
    res.dumpNix.push(d.ms)
    const ex = await run(node, [op, 'export', data, storePath])
    if (ex.bytesOut !== narSize) throw new Error(`export wrote ${ex.bytesOut} bytes, expected ${narSize}`)
    const je = JSON.parse(ex.stderr.trim().split('\n').pop()!)
    res.exportOurs.push(ex.ms); res.exportInner.push(je.ms); res.exportRss = Math.max(res.exportRss, je.maxRssMB)
  }
  const rate = (ms: number): number => narSize / (ms / 1000)
  const line = (label: string, ours: number[], anchor: number[]): Record<string, number> => {
    const o = rate(median(ours)); const a = rate(median(anchor))
    const oBest = rate(Math.min(...ours)); const aBest = rate(Math.min(...anchor))
    console.log(`${label}: storeswarm ${fmtRate(o)} (best ${fmtRate(oBest)}) vs nix ${fmtRate(a)} (best ${fmtRate(aBest)}) → ratio ${(o / a).toFixed(2)} median, ${(oBest / aBest).toFixed(2)} best`)
    return { oursMBps: o / 1e6, nixMBps: a / 1e6, ratioMedian: o / a, ratioBest: oBest / aBest }
  }
  const imp = line('import  (wall, incl. process start)', res.importOurs, res.restore)
  const exp = line('export  (wall, incl. process start)', res.exportOurs, res.dumpNix)
  console.log(`import in-process ${fmtRate(rate(median(res.importInner)))}, export in-process ${fmtRate(rate(median(res.exportInner)))}`)
  console.log(`peak RSS: import ${res.importRss.toFixed(0)} MB, export ${res.exportRss.toFixed(0)} MB (limit 200 MB)`)

  // dedup: two trees, the second sharing ~90 % of its files with the first
  const treeA = join(work, 'treeA')
  await makeTree(treeA, Math.floor(size / 4), 2)
  const narA = join(work, 'treeA.nar')
  spawnSync('sh', ['-c', `nix-store --dump "${treeA}" > "${narA}"`])
  const tree2 = join(work, 'tree2')
  await makeTree(tree2, Math.floor(size / 4), 2, treeA)
  const nar2 = join(work, 'tree2.nar')
  spawnSync('sh', ['-c', `nix-store --dump "${tree2}" > "${nar2}"`])
  const dd = join(work, 'dedup')
  await run(node, [op, 'import', dd, narA, '/nix/store/' + '8'.repeat(32) + '-a'])
  await run(node, [op, 'import', dd, nar2, '/nix/store/' + '9'.repeat(32) + '-b'])
  const du = (p: string): number => Number(spawnSync('du', ['-sb', p]).stdout.toString().split('\t')[0])
  const narBytes = (await import('node:fs')).statSync(narA).size + (await import('node:fs')).statSync(nar2).size
  const blobBytes = du(join(dd, 'blobs'))
  console.log(`dedup: two NARs of ${(narBytes / 1e6).toFixed(0)} MB together (≈90 % shared files) → ${(blobBytes / 1e6).toFixed(0)} MB of blobs on disk (${(100 * blobBytes / narBytes).toFixed(0)} %), db ${(du(join(dd, 'db')) / 1e3).toFixed(0)} kB`)
  console.log(JSON.stringify({ bench: 'castore', narBytes: narSize, files, import: imp, export: exp, importInProcessMBps: rate(median(res.importInner)) / 1e6, exportInProcessMBps: rate(median(res.exportInner)) / 1e6, peakRssMB: { import: res.importRss, export: res.exportRss }, dedup: { narBytes, blobBytes } }))
} finally {
  await rm(work, { recursive: true, force: true })
}
