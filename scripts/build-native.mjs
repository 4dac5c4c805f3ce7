#!/usr/bin/env node
/**
 * Builds the optional native BLAKE3 kernel (binding.gyp → build/Release/blake3_native.node)
 * with node-gyp. Runs as the package's `install` script, which also replaces npm's default
 * `node-gyp rebuild` for packages with a root binding.gyp.
 *
 * It never fails the install: on any problem (no compiler, no Node headers, no node-gyp,
 * unsupported platform) it prints one line saying the WASM kernel will be used and exits 0.
 *
 *   node scripts/build-native.mjs            build quietly (node-gyp's output only on request)
 *   STORESWARM_NATIVE_VERBOSE=1              show node-gyp's output
 *   STORESWARM_SKIP_NATIVE=1                 don't build at all
 *
 * Node-API is ABI-stable, so the headers of any Node ≥ 12.17 work: `nodedir` from the npm
 * configuration (e.g. the system Node's headers) is passed on when set.
 *
 * Compiler: when CC is not set and `clang` is on PATH, clang is tried first (its code for this
 * kernel measured 5–25 % faster than GCC 12's on the AVX2/AVX-512/SSE2 paths), then the default
 * compiler. Set CC to choose one.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const addon = join(root, 'build', 'Release', 'blake3_native.node')
const verbose = process.env.STORESWARM_NATIVE_VERBOSE === '1'
const FALLBACK = 'the WASM BLAKE3 kernel will be used'

function fallback (reason) {
  console.log(`storeswarm: native BLAKE3 kernel not built (${reason}); ${FALLBACK}`)
  process.exit(0)
}

/** `name` on PATH, resolved through symlinks, or undefined. */
function onPath (name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, process.platform === 'win32' ? `${name}.cmd` : name)
    if (existsSync(candidate)) {
      try { return realpathSync(candidate) } catch { return candidate }
    }
  }
  return undefined
}

const npmOnPath = () => onPath('npm')

/** node-gyp's JS entry point: npm's own (set for lifecycle scripts, or bundled beside npm), else a local one. */
function findNodeGyp () {
  const candidates = []
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp)
  for (const npmFile of [process.env.npm_execpath, npmOnPath()]) {
    if (!npmFile) continue
    // <npm>/bin/npm-cli.js or <npm>/bin/npm → <npm>/node_modules/node-gyp/bin/node-gyp.js
    candidates.push(join(dirname(npmFile), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  }
  for (const c of candidates) {
    if (c.endsWith('.js') && existsSync(c)) return c
  }
  try {
    return createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js')
  } catch {
    return undefined
  }
}

/** The configured headers directory: npm passes it as npm_config_nodedir; outside npm ask npm. */
function findNodedir () {
  const fromEnv = process.env.npm_config_nodedir
  if (fromEnv) return fromEnv
  const npm = npmOnPath()
  if (npm === undefined) return undefined
  const [cmd, args] = npm.endsWith('.js') ? [process.execPath, [npm]] : [npm, []]
  const r = spawnSync(cmd, [...args, 'config', 'get', 'nodedir'], {
    encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'], shell: process.platform === 'win32'
  })
  const value = r.status === 0 ? r.stdout.trim() : ''
  return value !== '' && value !== 'undefined' && value !== 'null' ? value : undefined
}

function main () {
  if (process.env.STORESWARM_SKIP_NATIVE === '1') fallback('STORESWARM_SKIP_NATIVE=1')
  if (!existsSync(join(root, 'binding.gyp'))) fallback('binding.gyp missing')
  const nodeGyp = findNodeGyp()
  if (nodeGyp === undefined) fallback('node-gyp not found')

  const args = [nodeGyp, 'rebuild']
  const nodedir = findNodedir()
  if (nodedir !== undefined) args.push(`--nodedir=${nodedir}`)
  const compilers = process.env.CC === undefined && process.platform !== 'win32' && onPath('clang') !== undefined
    ? ['clang', undefined]
    : [undefined]
  let why = 'node-gyp failed'
  let built
  for (const cc of compilers) {
    const env = { ...process.env, JOBS: process.env.JOBS ?? '1' }
    if (cc !== undefined) env.CC = cc
    const r = spawnSync(process.execPath, args, {
      cwd: root,
      encoding: 'utf8',
      timeout: 10 * 60_000,
      stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
      env
    })
    if (r.error === undefined && r.status === 0 && existsSync(addon)) {
      built = cc ?? process.env.CC ?? 'the default C compiler'
      break
    }
    const output = `${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).filter((l) => /error/i.test(l))
    why = r.error?.message ?? output[0] ?? (r.status === 0 ? 'node-gyp produced no build/Release/blake3_native.node' : `node-gyp exited with ${r.status ?? r.signal}`)
  }
  if (built === undefined) {
    fallback(`${why.slice(0, 160)}${verbose ? '' : '; STORESWARM_NATIVE_VERBOSE=1 shows the build log'}`)
  }

  // Load it once here so a broken binary is reported now (the runtime self-test would reject it anyway).
  try {
    const mod = createRequire(import.meta.url)(addon)
    if (typeof mod.groupCVs !== 'function') throw new Error('no groupCVs export')
    const out = new Uint8Array(32)
    mod.groupCVs(new Uint8Array(16384), 0, out)
    const names = ['portable', 'portable', 'avx2', 'avx512']
    console.log(`storeswarm: native BLAKE3 kernel built with ${built} (native-${names[mod.maxLevel] ?? 'portable'} on this CPU)`)
  } catch (err) {
    fallback(`built addon does not load: ${err instanceof Error ? err.message : String(err)}`)
  }
}

try {
  main()
} catch (err) {
  fallback(err instanceof Error ? err.message : String(err))
}
