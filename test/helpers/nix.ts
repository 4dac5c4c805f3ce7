/**
 * Running the real Nix 2.8 client in tests, without root-wide setup (shared/fixtures/real-nix
 * README): chroot stores in temp dirs, an isolated HOME/XDG_CACHE_HOME per client (Nix caches
 * narinfos on disk), builds with `build-users-group ''` and host tools bind-mounted into the
 * sandbox. Always asynchronous: the binary cache under test runs in the same process.
 */
import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface NixRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a Nix command with HOME and XDG_CACHE_HOME under `home`. */
export async function nixRun (command: string, args: string[], home: string, timeoutMs = 120_000): Promise<NixRun> {
  await mkdir(join(home, 'cache'), { recursive: true })
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_CACHE_HOME: join(home, 'cache'), NIX_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

export const NIX_CMD = ['--extra-experimental-features', 'nix-command']
/** Options every chroot-store Nix call here needs. */
export const CHROOT_OPTS = ['--option', 'build-users-group', '']

/** Builds `expr` (a Nix expression) into the chroot store `store`; returns the output paths. */
export async function nixBuild (store: string, expr: string, home: string): Promise<string[]> {
  await mkdir(home, { recursive: true })
  const file = join(home, `build-${Date.now()}-${Math.random().toString(36).slice(2)}.nix`)
  await writeFile(file, expr)
  const r = await nixRun('nix-build', ['--store', store, ...CHROOT_OPTS, '--option', 'sandbox-paths', '/bin /lib /lib64 /usr', '--option', 'substituters', '', '--no-out-link', file], home, 300_000)
  if (r.code !== 0) throw new Error(`nix-build failed (${String(r.code)}): ${r.stderr}`)
  return r.stdout.trim().split('\n').filter(l => l.startsWith('/nix/store/'))
}

/** A small closure: a library with a binary blob, an app referring to it, a self-referring tool. */
export function closureExpr (tag: string, blobBytes = 100_000): string {
  return `
let
  lib = derivation { name = "lib-${tag}"; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/lib $out/share/empty; echo ${tag} > $out/lib/a.so; /usr/bin/head -c ${blobBytes} /dev/urandom > $out/lib/blob; /bin/ln -s a.so $out/lib/link.so" ]; };
  tool = derivation { name = "tool-${tag}"; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/bin; printf '#!/bin/sh\\\\necho %s\\\\n' $out > $out/bin/tool; /bin/chmod +x $out/bin/tool" ]; };
in derivation { name = "app-${tag}"; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" "/bin/mkdir -p $out/bin; echo ${'$'}{lib} ${'$'}{tool} > $out/bin/app; /bin/chmod +x $out/bin/app; : > $out/empty" ]; }
`
}
