/**
 * `storeswarm serve` and `storeswarm keys show`, run as a user runs them (separate processes):
 * embedded defaults, keys generated once on first start (Nix key-file format, Guix key pair,
 * 0600), the listen address and key to trust logged, a Guix listener only on request,
 * uploads only when enabled, clean exit on SIGTERM and SIGINT.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseSecretKey, formatPublicKey, toPublicKey, generateSigningKey, formatSecretKey } from '../src/nix/signing.ts'
import { parseGuixSecretKey, parseGuixPublicKey } from '../src/nix/guix-signature.ts'
import { parseListen } from '../node/serve.ts'
import { rawRequest } from './helpers/http.ts'

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
let work: string

beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'storeswarm-serve-')) })
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

interface Serving { child: ChildProcess, log: string[], port: number, guixPort?: number, key: string, exited: Promise<number | null> }

async function serve (dataDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<Serving> {
  const child = spawn(process.execPath, [bin, 'serve', '--data-dir', dataDir, '--http', '127.0.0.1:0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const log: string[] = []
  const exited = new Promise<number | null>(resolve => child.once('exit', (code) => resolve(code)))
  let buffered = ''
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      buffered += d.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      log.push(...lines)
      if (log.some(l => l.includes('trusted-public-keys ='))) resolve()
    })
    void exited.then(code => reject(new Error(`serve exited ${String(code)}: ${log.join('\n')}${buffered}`)))
  })
  await ready
  const port = Number(/Nix binary cache on http:\/\/127\.0\.0\.1:(\d+)/.exec(log.join('\n'))![1])
  const guix = /Guix substitutes on http:\/\/127\.0\.0\.1:(\d+)/.exec(log.join('\n'))
  const key = /trusted-public-keys = (\S+)/.exec(log.join('\n'))![1]
  return { child, log, port, guixPort: guix === null ? undefined : Number(guix[1]), key, exited }
}

function cli (args: string[]): { status: number, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args])
  return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
}

describe('storeswarm serve', () => {
  it('generates keys on first start, logs where it listens and the key, and stops cleanly on SIGTERM', async () => {
    const dataDir = join(work, 'a')
    expect(cli(['keys', 'show', '--data-dir', dataDir]).status).toBe(1)
    const s = await serve(dataDir)
    try {
      expect(s.log.filter(l => l.includes('generated'))).toHaveLength(2)
      expect(s.guixPort).toBeUndefined()
      const info = await rawRequest(s.port, 'GET', '/nix-cache-info')
      expect(info.body.toString()).toBe('StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n')
      const put = await rawRequest(s.port, 'PUT', `/${'0'.repeat(32)}.narinfo`, {}, Buffer.from('x'))
      expect(put.status).toBe(405)
      // the key files: Nix format, 0600 secret, and keys show agrees with the log
      const secretText = await readFile(join(dataDir, 'keys', 'nix-cache.secret'), 'utf8')
      expect(secretText.endsWith('\n')).toBe(false)
      const secret = parseSecretKey(secretText)
      expect(formatPublicKey(toPublicKey(secret))).toBe(s.key)
      expect(await readFile(join(dataDir, 'keys', 'nix-cache.public'), 'utf8')).toBe(s.key)
      expect((await stat(join(dataDir, 'keys', 'nix-cache.secret'))).mode & 0o777).toBe(0o600)
      expect((await stat(join(dataDir, 'keys', 'guix-signing-key.sec'))).mode & 0o777).toBe(0o600)
      const guixSecret = parseGuixSecretKey(await readFile(join(dataDir, 'keys', 'guix-signing-key.sec'), 'utf8'))
      expect(cli(['keys', 'show', '--nix', '--data-dir', dataDir]).stdout).toBe(s.key + '\n')
      const guixShown = cli(['keys', 'show', '--guix', '--data-dir', dataDir]).stdout
      expect(parseGuixPublicKey(guixShown).q).toEqual(guixSecret.publicKey.q)
      const all = cli(['keys', 'show', '--data-dir', dataDir])
      expect(all.stdout).toContain(`extra-trusted-public-keys = ${s.key}`)
      expect(all.stdout).toContain('guix archive --authorize')
    } finally {
      s.child.kill('SIGTERM')
    }
    expect(await s.exited).toBe(0)
    expect(s.log.join('\n')).toContain('storeswarm: stopped')
    // a second start reuses the keys
    const again = await serve(dataDir)
    expect(again.key).toBe(s.key)
    expect(again.log.some(l => l.includes('generated'))).toBe(false)
    again.child.kill('SIGINT')
    expect(await again.exited).toBe(0)
  })

  it('runs a Guix listener with --http-guix, zstd NARs with --compression zstd, uploads with --allow-uploads and a token', async () => {
    const dataDir = join(work, 'b')
    const tokenFile = join(work, 'token')
    await writeFile(tokenFile, 'tok-123\n')
    const s = await serve(dataDir, ['--http-guix', '127.0.0.1:0', '--compression', 'zstd', '--priority', '20', '--allow-uploads', '--upload-token-file', tokenFile, '--no-loopback-uploads', '--key-name', 'my-node-1'])
    try {
      expect(s.key.startsWith('my-node-1:')).toBe(true)
      expect(s.guixPort).toBeDefined()
      expect((await rawRequest(s.guixPort!, 'GET', '/nix-cache-info')).body.toString()).toContain('StoreDir: /gnu/store')
      expect((await rawRequest(s.port, 'GET', '/nix-cache-info')).body.toString()).toContain('Priority: 20')
      expect((await rawRequest(s.port, 'PUT', `/${'0'.repeat(32)}.narinfo`, {}, Buffer.from('x'))).status).toBe(401)
      expect((await rawRequest(s.port, 'PUT', `/${'0'.repeat(32)}.narinfo`, { Authorization: 'Bearer tok-123' }, Buffer.from('x'))).status).toBe(400)
      expect(s.log.join('\n')).toContain('uploads: token holders')
    } finally {
      s.child.kill('SIGTERM')
    }
    expect(await s.exited).toBe(0)
  })

  it('uses an existing Nix key file, and rejects bad flags with usage errors', async () => {
    const dataDir = join(work, 'c')
    const keyFile = join(work, 'existing.secret')
    const key = generateSigningKey('existing-cache-1')
    await writeFile(keyFile, formatSecretKey(key))
    const s = await serve(dataDir, ['--nix-secret-key-file', keyFile])
    expect(s.key).toBe(formatPublicKey(toPublicKey(key)))
    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    for (const args of [['serve', '--compression', 'lzma'], ['serve', '--sign', 'sometimes'], ['serve', '--priority', '-1'], ['serve', '--upload-token', 'x'], ['serve', 'extra'], ['keys'], ['keys', 'rotate']]) {
      expect(cli([...args, '--data-dir', dataDir]).status, args.join(' ')).toBe(2)
    }
    const busy = await serve(join(work, 'd'))
    const clash = cli(['serve', '--data-dir', join(work, 'e'), '--http', `127.0.0.1:${busy.port}`])
    expect(clash.status).toBe(1)
    expect(clash.stderr).toMatch(/EADDRINUSE/)
    busy.child.kill('SIGTERM')
    expect(await busy.exited).toBe(0)
  })

  it('parses listen addresses', () => {
    expect(parseListen('127.0.0.1:37515')).toEqual({ host: '127.0.0.1', port: 37515 })
    expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 })
    expect(parseListen(':8080')).toEqual({ host: '127.0.0.1', port: 8080 })
    expect(parseListen('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 })
    expect(() => parseListen('nope')).toThrow()
    expect(() => parseListen('1.2.3.4:99999')).toThrow()
  })
})
