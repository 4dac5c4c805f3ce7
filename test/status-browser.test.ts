/**
 * The status page in a real browser: headless Chromium (playwright-core, the system's chromium)
 * opens `GET /` of a running node, sees live data (the node's key, its store size), then sees
 * the page update without a reload after a client fetched a narinfo and a NAR. Leaves a
 * screenshot in test-output/status-page.png.
 */
import { describe, it, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { requireTool } from './helpers/tools.ts'
import { startTestNode, get, narUrl, TREE, TREE_HASH } from './status-node.ts'

const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url))

function chromiumPath (): string {
  return spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim()
}

describe('status page in Chromium', () => {
  it('shows the node\'s key and store size, and updates live after requests', async () => {
    if (!requireTool('chromium', 'chromium')) return
    const t = await startTestNode()
    const profile = await mkdtemp(join(tmpdir(), 'storeswarm-chromium-'))
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 }
    })
    try {
      const page = context.pages()[0] ?? await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (err) => { errors.push(err.message) })
      page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })
      let navigations = 0
      page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations++ })
      await page.goto(`${t.url}/`)
      const field = (name: string): ReturnType<typeof page.locator> => page.locator(`[data-field="${name}"]`)

      // live data from /status.json
      await expect.poll(async () => await field('nix-key').textContent(), { timeout: 15_000 }).toBe(`trusted-public-keys = ${t.node.nix.publicKey!}`)
      // the page shows what /status.json says (bytes on disk once the GC measured them)
      expect(await field('store-bytes').textContent()).toMatch(/^\d+(\.\d+)? (B|KiB)$/)
      expect(await field('store-paths').textContent()).toBe('1 path')
      expect(await field('guix-key').textContent()).toMatch(/^\(public-key \(ecc \(curve Ed25519\) \(q #[0-9A-F]{64}#\)\)\)$/)
      expect(await field('substitutions-count').textContent()).toBe('0')
      expect(await field('narinfo-hit').textContent()).toBe('–')
      expect(await page.locator('#recent').textContent()).toContain('no substitutions yet')

      // a client substitutes the path: narinfo then NAR
      const narinfo = await get(t.url, `/${TREE_HASH}.narinfo`)
      expect(narinfo.status).toBe(200)
      expect((await get(t.url, `/${narUrl(narinfo.text)}`)).status).toBe(200)

      // the page follows without a reload
      await expect.poll(async () => await field('substitutions-count').textContent(), { timeout: 15_000 }).toBe('1')
      await expect.poll(async () => await page.locator('#recent').textContent(), { timeout: 15_000 }).toContain(TREE)
      expect(await field('narinfo-hit').textContent()).toBe('100.0 %')
      expect(await page.locator('#recent .badge.local').count()).toBe(1)
      expect(navigations).toBe(1)
      expect(errors).toEqual([])

      await mkdir(OUTPUT, { recursive: true })
      const shot = join(OUTPUT, 'status-page.png')
      await page.screenshot({ path: shot, fullPage: true })
      expect((await stat(shot)).size).toBeGreaterThan(10_000)
      process.stdout.write(`status page screenshot: ${shot}\n`)
    } finally {
      await context.close()
      await rm(profile, { recursive: true, force: true })
      await t.close()
    }
  }, 60_000)
})
