/**
 * The deployment examples that cannot run here as a whole: the NixOS module, the Guix service,
 * the systemd unit and the config files.
 *
 * - every examples/ .nix file parses (`nix-instantiate --parse`); the nix.conf examples are read
 *   by `nix show-config` without a warning (an unknown setting would be one);
 * - every shell script has a shebang, is executable and parses (`dash -n` for /bin/sh ones);
 * - examples/nixos/module.nix is evaluated (`nix-instantiate --eval --strict --json`) against a
 *   stub `lib` / `pkgs` written here: the stub hands the module its own option defaults plus a
 *   few overrides, as the module system would, so an option the module reads but does not declare
 *   fails. Checked: the unit's ExecStart, firewall ports, nix.settings, LoadCredential, and the
 *   generated config.toml, which the real `storeswarm config show` must accept;
 * - examples/guix/storeswarm-service.scm is a well-formed sequence of s-expressions (a reader
 *   written here; `guile` reads it too when installed) with the expected forms in it;
 * - examples/systemd/storeswarm.service parses as a unit with known keys and the hardening the
 *   example promises; `systemd-analyze verify` (when present) has nothing to say about it;
 * - examples/systemd/config.toml is accepted by `storeswarm config show`.
 */
import { describe, it, expect, afterAll } from 'vitest'
import type { TestContext } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify as toToml } from 'smol-toml'
import { requireTool, hasTool } from './helpers/tools.ts'
import { rawRequest } from './helpers/http.ts'
import { stopChildren } from './helpers/children.ts'

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url))
const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
const T = mkdtempSync(join(tmpdir(), 'storeswarm-examples-static-'))
const haveNix = requireTool('nix-instantiate', 'nix-bin')

const nodes: ChildProcess[] = []

afterAll(async () => {
  await stopChildren(nodes)
  rmSync(T, { recursive: true, force: true })
})

function filesUnder (dir: string, suffix: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, suffix))
    else if (name.endsWith(suffix)) out.push(p)
  }
  return out.sort()
}

/** `storeswarm config show --json --config FILE` (no environment of ours leaking in). */
function configShow (file: string): { status: number | null, stderr: string, values: any } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: T, XDG_CONFIG_HOME: join(T, 'xdg-config'), XDG_DATA_HOME: join(T, 'xdg-data') }
  const r = spawnSync(process.execPath, [bin, 'config', 'show', '--json', '--config', file], { encoding: 'utf8', env, timeout: 30_000 })
  let values: any
  try { values = JSON.parse(r.stdout).values } catch { values = undefined }
  return { status: r.status, stderr: r.stderr, values }
}

describe('Nix files', () => {
  it('every examples/**/*.nix parses', (ctx) => {
    if (!haveNix) ctx.skip()
    const files = filesUnder(EXAMPLES, '.nix')
    expect(files.map(f => relative(EXAMPLES, f))).toEqual(expect.arrayContaining(['nixos.nix', 'nixos/module.nix']))
    for (const f of files) {
      const r = spawnSync('nix-instantiate', ['--parse', f], { encoding: 'utf8', timeout: 30_000 })
      expect(r.status, `${f}: ${r.stderr}`).toBe(0)
    }
  })
})

describe('shell scripts', () => {
  it('every examples/**/*.sh has a shebang, is executable, and parses with its shell', () => {
    const files = filesUnder(EXAMPLES, '.sh')
    expect(files.map(f => relative(EXAMPLES, f))).toEqual(expect.arrayContaining(['lan-demo.sh', 'build-farm/post-build-hook.sh']))
    for (const f of files) {
      const shebang = /^#!(\S+)(?: (\S+))?/.exec(readFileSync(f, 'utf8'))
      expect(shebang, f).not.toBe(null)
      expect(statSync(f).mode & 0o111, `${f} is executable`).not.toBe(0)
      const shell = shebang![1].endsWith('/env') ? shebang![2] : shebang![1]
      // /bin/sh scripts must not lean on bash: check them with dash (Debian's /bin/sh) when present
      const checker = shell === '/bin/sh' && hasTool('dash') ? 'dash' : shell
      const r = spawnSync(checker, ['-n', f], { encoding: 'utf8', timeout: 10_000 })
      expect(r.status, `${checker} -n ${f}: ${r.stderr}`).toBe(0)
    }
  })
})

describe('nix.conf files', () => {
  /** `nix show-config` with only `file` as nix.conf: its warnings and the effective settings. */
  function showConfig (file: string): { stderr: string, settings: Map<string, string> } {
    const dir = mkdtempSync(join(T, 'nixconf-'))
    writeFileSync(join(dir, 'nix.conf'), readFileSync(file))
    const r = spawnSync('nix', ['--extra-experimental-features', 'nix-command', 'show-config'],
      { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, HOME: dir, NIX_CONF_DIR: dir, XDG_CONFIG_HOME: join(dir, 'none'), NIX_REMOTE: '' } })
    expect(r.status, r.stderr).toBe(0)
    const settings = new Map<string, string>()
    for (const line of r.stdout.split('\n')) {
      const m = /^(\S+) = (.*)$/.exec(line)
      if (m !== null) settings.set(m[1], m[2])
    }
    return { stderr: r.stderr, settings }
  }

  it('Nix reads examples/nix.conf and examples/build-farm/nix.conf without a warning', (ctx) => {
    if (!requireTool('nix', 'nix-bin')) ctx.skip()
    const local = showConfig(join(EXAMPLES, 'nix.conf'))
    expect(local.stderr).toBe('')
    expect(local.settings.get('substituters')!.split(' ')).toContain('http://127.0.0.1:37515')
    expect(local.settings.get('trusted-public-keys')).toMatch(/ storeswarm-myhost-1:/)
    const farm = showConfig(join(EXAMPLES, 'build-farm', 'nix.conf'))
    expect(farm.stderr).toBe('')
    expect(farm.settings.get('post-build-hook')).toBe('/etc/nix/storeswarm-post-build-hook.sh')
    expect(farm.settings.get('secret-key-files')).toBe('/etc/nix/farm.secret')
  })
})

/** The module applied to stub lib/pkgs; `overrides` are the user's option values. */
const STUB = (module: string, overrides: string): string => `
let
  lib = rec {
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = name: { _type = "option"; type = types.bool; default = false; description = "Whether to enable " + name + "."; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    types = {
      bool = { name = "bool"; check = builtins.isBool; };
      str = { name = "str"; check = builtins.isString; };
      port = { name = "port"; check = x: builtins.isInt x && x >= 0 && x <= 65535; };
      package = { name = "package"; check = x: builtins.isAttrs x && x ? outPath; };
      nullOr = t: { name = "nullOr"; check = x: x == null || t.check x; };
    };
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: xs: if c then xs else [ ];
    optionalAttrs = c: a: if c then a else { };
    recursiveUpdate = lhs: rhs: lhs // builtins.mapAttrs (n: v:
      if builtins.isAttrs v && builtins.isAttrs (lhs.\${n} or null) then recursiveUpdate lhs.\${n} v else v) rhs;
    getExe' = pkg: exe: "\${pkg}/bin/\${exe}";
  };
  pkgs = {
    formats.toml = { }: {
      type = { name = "toml"; check = builtins.isAttrs; };
      generate = name: value: { outPath = "/nix/store/gggggggggggggggggggggggggggggggg-" + name; inherit value; };
    };
  };
  overrides = ${overrides};
  result = import ${JSON.stringify(module)} { inherit config lib pkgs; };
  opts = result.options.services.storeswarm;
  # what the module system hands the module: every declared option, its default unless overridden
  cfg = builtins.mapAttrs (n: o:
    let v = overrides.\${n} or o.default; in
    if o._type == "option" && o.type.check v then v else throw "option \${n}: bad value") opts;
  config = { services.storeswarm = cfg; };
  undeclared = builtins.filter (n: !(opts ? \${n})) (builtins.attrNames overrides);
  c = result.config.content;
  svc = c.systemd.services.storeswarm.serviceConfig;
in
  if undeclared != [ ] then throw "undeclared options: \${toString undeclared}" else {
    enabled = result.config.condition;
    options = builtins.attrNames opts;
    execStart = svc.ExecStart;
    loadCredential = svc.LoadCredential or null;
    dynamicUser = svc.DynamicUser;
    stateDirectory = svc.StateDirectory;
    protectSystem = svc.ProtectSystem;
    restrictAddressFamilies = svc.RestrictAddressFamilies;
    restart = svc.Restart;
    tcp = c.networking.firewall.allowedTCPPorts;
    udp = c.networking.firewall.allowedUDPPorts;
    substituters = c.nix.settings.substituters;
    trustedPublicKeys = c.nix.settings.trusted-public-keys;
    warnings = c.warnings;
    etcConfig = c.environment.etc."storeswarm/config.toml".source.outPath;
    settings = c.environment.etc."storeswarm/config.toml".source.value;
  }
`

function evalModule (overrides: string): any {
  const file = join(T, `eval-${Math.random().toString(36).slice(2)}.nix`)
  writeFileSync(file, STUB(join(EXAMPLES, 'nixos', 'module.nix'), overrides))
  const r = spawnSync('nix-instantiate', ['--eval', '--strict', '--json', file], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, HOME: T, NIX_REMOTE: '', NIX_CONF_DIR: T } })
  if (r.status !== 0) throw new Error(`nix-instantiate --eval: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

const PKG = `{ outPath = "/nix/store/${'p'.repeat(32)}-storeswarm-0.1.0"; }`
const KEY = 'storeswarm-test-1:DfIyZm/G+c0FMJ0wvDujkh2JdaixHy0ji902rrBB4ok='

describe('examples/nixos/module.nix (stub evaluation)', () => {
  function need (ctx: TestContext): void {
    if (!haveNix) ctx.skip()
  }

  it('defaults: a hardened unit running `serve --config <generated toml>`, loopback cache, nothing opened', (ctx) => {
    need(ctx)
    const r = evalModule(`{ enable = true; package = ${PKG}; }`)
    expect(r.enabled).toBe(true)
    expect(r.options).toEqual(expect.arrayContaining(['enable', 'package', 'settings', 'openFirewall', 'publicKey', 'secretKeyFile']))
    expect(r.execStart).toBe(`/nix/store/${'p'.repeat(32)}-storeswarm-0.1.0/bin/storeswarm serve --config /nix/store/${'g'.repeat(32)}-storeswarm.toml`)
    expect(r.etcConfig).toBe(`/nix/store/${'g'.repeat(32)}-storeswarm.toml`)
    expect([r.dynamicUser, r.stateDirectory, r.protectSystem, r.restart]).toEqual([true, 'storeswarm', 'strict', 'on-failure'])
    expect(r.restrictAddressFamilies).toEqual(['AF_UNIX', 'AF_INET', 'AF_INET6', 'AF_NETLINK'])
    expect(r.tcp).toEqual([])
    expect(r.udp).toEqual([])
    expect(r.loadCredential).toBe(null)
    expect(r.substituters).toEqual(['http://127.0.0.1:37515'])
    expect(r.trustedPublicKeys).toEqual([])
    expect(r.warnings.join('\n')).toMatch(/publicKey is not set/)
    expect(r.settings).toEqual({
      'data-dir': '/var/lib/storeswarm',
      http: { listen: '127.0.0.1:37515' },
      daemon: { socket: '/run/storeswarm/daemon.sock' },
      p2p: { listen: ['/ip4/0.0.0.0/tcp/4001'] }
    })
  })

  it('openFirewall, mDNS, a pinned key and a secret key file; the generated TOML passes `storeswarm config show`', (ctx) => {
    need(ctx)
    const r = evalModule(`{
      enable = true; package = ${PKG};
      openFirewall = true; openHttpFirewall = true; httpListenAddress = "0.0.0.0"; httpPort = 8080; p2pPort = 4242;
      publicKey = "${KEY}"; secretKeyFile = "/etc/storeswarm/nix-cache.secret";
      settings = { p2p.mdns = true; gc.max-size = "20G"; http.priority = 20;
        upstream = [ { url = "https://cache.nixos.org"; public-keys = [ "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" ]; } ]; };
    }`)
    expect(r.tcp).toEqual([4242, 8080])
    expect(r.udp).toEqual([5353])
    expect(r.substituters).toEqual(['http://127.0.0.1:8080'])
    expect(r.trustedPublicKeys).toEqual([KEY])
    expect(r.warnings).toEqual([])
    expect(r.loadCredential).toEqual(['nix-cache.secret:/etc/storeswarm/nix-cache.secret'])
    expect(r.settings.http).toEqual({ listen: '0.0.0.0:8080', 'secret-key-file': '/run/credentials/storeswarm.service/nix-cache.secret', priority: 20 })
    expect(r.settings.p2p).toEqual({ listen: ['/ip4/0.0.0.0/tcp/4242'], mdns: true })

    // the file NixOS would write (pkgs.formats.toml), read by the real config loader
    const file = join(T, 'module.toml')
    writeFileSync(file, toToml(r.settings))
    const shown = configShow(file)
    expect(shown.status, shown.stderr).toBe(0)
    expect(shown.values.http.listen).toBe('0.0.0.0:8080')
    expect(shown.values.http['secret-key-file']).toBe('/run/credentials/storeswarm.service/nix-cache.secret')
    expect(shown.values.daemon.socket).toBe('/run/storeswarm/daemon.sock')
    expect(shown.values.p2p.mdns).toBe(true)
    expect(shown.values.gc['max-size']).toBe('20G')
  })

  it('user settings win over the derived ones; disabled, the module sets nothing', (ctx) => {
    need(ctx)
    const r = evalModule(`{ enable = false; package = ${PKG}; settings.http.listen = "[::1]:9999"; useAsSubstituter = false; }`)
    expect(r.enabled).toBe(false)
    expect(r.settings.http.listen).toBe('[::1]:9999')
    expect(r.substituters).toEqual([])
    expect(r.warnings).toEqual([])
    expect(() => evalModule(`{ enable = true; package = ${PKG}; noSuchOption = 1; }`)).toThrow(/undeclared options: noSuchOption/)
  })
})

/** A reader for the Scheme the example uses: lists, strings, comments (`;`, `#|…|#`, `#;`), quotes, chars. */
function readSexps (text: string): unknown[] {
  let i = 0
  const forms: unknown[] = []
  const fail = (msg: string): never => {
    const line = text.slice(0, i).split('\n').length
    throw new Error(`line ${line}: ${msg}`)
  }
  function skip (): void {
    for (;;) {
      while (i < text.length && /\s/.test(text[i])) i++
      if (text[i] === ';') { while (i < text.length && text[i] !== '\n') i++; continue }
      if (text.startsWith('#|', i)) {
        const end = text.indexOf('|#', i + 2)
        if (end < 0) fail('unterminated #| comment')
        i = end + 2
        continue
      }
      if (text.startsWith('#;', i)) { i += 2; read(); continue }
      return
    }
  }
  function read (): unknown {
    skip()
    if (i >= text.length) fail('unexpected end of input')
    const c = text[i]
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']'
      i++
      const list: unknown[] = []
      for (;;) {
        skip()
        if (i >= text.length) fail(`unclosed ${c}`)
        if (text[i] === ')' || text[i] === ']') {
          if (text[i] !== close) fail(`${c} closed by ${text[i]}`)
          i++
          return list
        }
        list.push(read())
      }
    }
    if (c === ')' || c === ']') fail(`unexpected ${c}`)
    if (c === '"') {
      i++
      let s = ''
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\') i++
        s += text[i++]
      }
      if (i >= text.length) fail('unterminated string')
      i++
      return { string: s }
    }
    if (c === "'" || c === '`' || c === ',') {
      i += text.startsWith(',@', i) ? 2 : 1
      return ['quote', read()]
    }
    if (text.startsWith('#\\', i)) {
      i += 3
      while (i < text.length && /[a-z]/i.test(text[i])) i++
      return { char: true }
    }
    let atom = ''
    while (i < text.length && !/[\s()[\]";]/.test(text[i])) atom += text[i++]
    return atom
  }
  for (;;) {
    skip()
    if (i >= text.length) return forms
    forms.push(read())
  }
}

function atoms (form: unknown, out: Set<string> = new Set()): Set<string> {
  if (typeof form === 'string') out.add(form)
  else if (Array.isArray(form)) for (const f of form) atoms(f, out)
  return out
}

describe('examples/guix/storeswarm-service.scm', () => {
  const file = join(EXAMPLES, 'guix', 'storeswarm-service.scm')

  it('is a well-formed sequence of s-expressions defining a Shepherd service and the OS snippet', () => {
    const forms = readSexps(readFileSync(file, 'utf8'))
    const heads = forms.map(f => Array.isArray(f) ? f[0] : f)
    expect(heads).toContain('use-modules')
    const used = atoms(forms)
    for (const name of ['shepherd-service', 'make-forkexec-constructor', 'make-kill-destructor', 'service-type', 'shepherd-root-service-type',
      'guix-service-type', 'guix-configuration', 'substitute-urls', 'authorized-keys', 'modify-services', 'operating-system']) {
      expect(used, name).toContain(name)
    }
  })

  it('the reader written here rejects what guile would (so the check above can fail)', () => {
    expect(() => readSexps('(define x (list 1 2)')).toThrow(/unclosed/)
    expect(() => readSexps('(a))')).toThrow(/unexpected \)/)
    expect(() => readSexps('(a "b)')).toThrow(/unterminated string/)
    expect(() => readSexps('(a [b)]')).toThrow(/closed by/)
    expect(readSexps('(a #;(b c) "d\\"e" #\\x) ; c\n#| x |# (f)')).toHaveLength(2)
  })

  it('guile reads every form (when guile is installed)', (ctx) => {
    if (!hasTool('guile')) ctx.skip()
    const expr = `(call-with-input-file ${JSON.stringify(file)} (lambda (p) (let loop ((n 0)) (if (eof-object? (read p)) (begin (display n) (newline)) (loop (+ n 1))))))`
    const r = spawnSync('guile', ['--no-auto-compile', '-c', expr], { encoding: 'utf8', timeout: 30_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(Number(r.stdout.trim())).toBe(readSexps(readFileSync(file, 'utf8')).length)
  })
})

/** Sections → [key, value][] of a systemd unit file (continuation lines joined). */
function parseUnit (text: string): Map<string, Array<[string, string]>> {
  const sections = new Map<string, Array<[string, string]>>()
  let current: Array<[string, string]> | undefined
  const lines = text.replace(/\\\n/g, ' ').split('\n')
  lines.forEach((raw, n) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return
    const header = /^\[([A-Za-z]+)\]$/.exec(line)
    if (header !== null) {
      current = []
      sections.set(header[1], current)
      return
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line)
    if (kv === null || current === undefined) throw new Error(`line ${n + 1}: not a unit line: ${raw}`)
    current.push([kv[1], kv[2]])
  })
  return sections
}

describe('examples/systemd', () => {
  const unitFile = join(EXAMPLES, 'systemd', 'storeswarm.service')
  const KNOWN: Record<string, string[]> = {
    Unit: ['Description', 'Documentation', 'Wants', 'After', 'Requires', 'Before'],
    Service: ['Type', 'ExecStart', 'Restart', 'RestartSec', 'TimeoutStopSec', 'DynamicUser', 'User', 'Group', 'StateDirectory', 'StateDirectoryMode',
      'RuntimeDirectory', 'RuntimeDirectoryMode', 'ConfigurationDirectory', 'UMask', 'WorkingDirectory', 'Environment', 'LimitNOFILE',
      'NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectKernelModules',
      'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectClock', 'ProtectHostname', 'ProtectProc', 'RestrictNamespaces', 'RestrictRealtime',
      'RestrictSUIDSGID', 'LockPersonality', 'RemoveIPC', 'RestrictAddressFamilies', 'SystemCallArchitectures', 'SystemCallFilter',
      'CapabilityBoundingSet', 'AmbientCapabilities', 'LoadCredential'],
    Install: ['WantedBy']
  }

  it('the unit parses, uses known keys only, and has the promised hardening', () => {
    const unit = parseUnit(readFileSync(unitFile, 'utf8'))
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install'])
    for (const [section, entries] of unit) {
      for (const [key] of entries) expect(KNOWN[section], `${section}.${key}`).toContain(key)
    }
    const svc = new Map(unit.get('Service')!)
    expect(svc.get('ExecStart')).toMatch(/^\S*storeswarm serve --config \/etc\/storeswarm\/config\.toml$/)
    expect(svc.get('DynamicUser')).toBe('yes')
    expect(svc.get('StateDirectory')).toBe('storeswarm')
    expect(svc.get('ProtectSystem')).toBe('strict')
    expect(svc.get('NoNewPrivileges')).toBe('yes')
    expect(svc.get('Restart')).toBe('on-failure')
    expect(svc.get('RestrictAddressFamilies')!.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX'])
    expect(svc.has('MemoryDenyWriteExecute')).toBe(false) // V8's JIT needs W+X pages
    expect(new Map(unit.get('Install')!).get('WantedBy')).toBe('multi-user.target')
  })

  it('systemd-analyze verify finds nothing to report (when installed)', (ctx) => {
    if (!hasTool('systemd-analyze')) ctx.skip()
    // the example's binary does not exist here: point ExecStart at one that does
    const copy = join(T, 'storeswarm.service')
    writeFileSync(copy, readFileSync(unitFile, 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`))
    const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr.split('\n').filter(l => l.includes(copy))).toEqual([])
  })

  it('config.toml is accepted by `storeswarm config show` and says what the unit expects', () => {
    const shown = configShow(join(EXAMPLES, 'systemd', 'config.toml'))
    expect(shown.status, shown.stderr).toBe(0)
    expect(shown.values['data-dir']).toBe('/var/lib/storeswarm')
    expect(shown.values.daemon.socket).toBe('/run/storeswarm/daemon.sock')
    expect(shown.values.p2p.listen).toEqual(['/ip4/0.0.0.0/tcp/4001'])
  })

  it('`storeswarm serve --config config.toml` runs it (machine paths overridden by flags) and serves the cache', async () => {
    const log: string[] = []
    const child = spawn(process.execPath, [bin, 'serve', '--config', join(EXAMPLES, 'systemd', 'config.toml'),
      '--data-dir', join(T, 'systemd-node'), '--http', '127.0.0.1:0', '--daemon-socket', join(T, 'systemd-node.sock'), '--listen', '/ip4/127.0.0.1/tcp/0'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, HOME: T } })
    nodes.push(child)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`serve did not start: ${log.join('')}`)) }, 30_000)
      child.stderr!.on('data', (d: Buffer) => {
        log.push(d.toString())
        if (log.join('').includes('trusted-public-keys =')) { clearTimeout(timer); resolve() }
      })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited ${String(code)}: ${log.join('')}`)) })
    })
    const text = log.join('')
    expect(text).toContain('configuration from ')
    const port = Number(/Nix binary cache on http:\/\/127\.0\.0\.1:(\d+)/.exec(text)![1])
    const info = await rawRequest(port, 'GET', '/nix-cache-info')
    expect(info.status).toBe(200)
    expect(info.body.toString()).toContain('Priority: 30')
  }, 60_000)
})
