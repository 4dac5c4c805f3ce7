/**
 * Help texts of every `storeswarm` command: a synopsis, options and examples each, shown by
 * `storeswarm <cmd> --help`, `storeswarm <cmd> -h` and `storeswarm help <cmd>`. The serve
 * options come from the configuration schema (node/config.ts), so they cannot drift from it.
 */
import { SETTINGS, UPSTREAM_FIELDS, formatSize, formatDuration } from './config.ts'
import type { Setting } from './config.ts'

export interface CommandHelp {
  name: string
  summary: string
  synopsis: string[]
  options: Array<[string, string]>
  examples: string[]
  /** free text after the options */
  notes?: string
}

const DATA_DIR: [string, string] = ['--data-dir DIR', 'data directory (default: see `storeswarm config reference`)']
const CONFIG: [string, string] = ['--config FILE', 'config file (default $XDG_CONFIG_HOME/storeswarm/config.toml)']
const COMMON: Array<[string, string]> = [DATA_DIR, CONFIG]
const P2P: Array<[string, string]> = [
  ['--listen MULTIADDR', 'where the swarm listens (repeatable; default /ip4/0.0.0.0/tcp/0)'],
  ['--bootstrap MULTIADDR', 'peers to join through (repeatable; default none)'],
  ['--mdns', 'find peers on the LAN with mDNS (off by default)'],
  ['--upnp', 'ask the router to forward the listen port (off by default)'],
  ['--trusted-public-key NAME:KEY', 'accept path infos from peers signed by this key (repeatable)'],
  ['--no-p2p', 'no swarm at all']
]

function settingOption (s: Setting): Array<[string, string]> {
  const def = s.defaultText ?? (s.default === undefined ? undefined : Array.isArray(s.default) ? (s.default.length === 0 ? 'none' : s.default.join(' ')) : s.type === 'size' ? formatSize(s.default as number) : s.type === 'duration' ? formatDuration(s.default as number) : String(s.default))
  const out: Array<[string, string]> = []
  if (s.flag !== undefined) {
    const multi = s.type === 'multiaddrs' || s.type === 'public-keys' || s.key === 'url'
    out.push([`--${s.flag}${s.type === 'boolean' ? '' : ' ' + (s.flagArg ?? 'VALUE')}`, `${s.description}${multi ? ' (repeatable)' : ''}${def !== undefined && s.type !== 'boolean' ? ` [${def}]` : ''}`])
  }
  if (s.negFlag !== undefined) out.push([`--${s.negFlag}`, `turn off: ${s.description}`])
  return out
}

function serveOptions (): Array<[string, string]> {
  const out: Array<[string, string]> = [CONFIG]
  for (const s of SETTINGS) out.push(...settingOption(s))
  out.push(['--upload-token TOKEN', 'token for remote uploads (Bearer, or netrc password); also $STORESWARM_UPLOAD_TOKEN'])
  for (const s of UPSTREAM_FIELDS) out.push(...settingOption(s))
  return out
}

export const COMMANDS: readonly CommandHelp[] = [
  {
    name: 'hash',
    summary: 'BLAKE3 digests of files, printed like b3sum',
    synopsis: ['storeswarm hash [--outboard] [FILE...]'],
    options: [['--outboard', 'also write FILE.obao (16 KiB-group pre-order outboard)']],
    examples: ['storeswarm hash hello.nar', 'cat big.iso | storeswarm hash']
  },
  {
    name: 'import',
    summary: 'ingest a NAR, or import paths from a binary cache or a nix-daemon',
    synopsis: [
      'storeswarm import [FILE.nar|-] --store-path /nix/store/<hash>-<name> [--reference PATH]... [--deriver PATH] [--sig KEY:SIG]... [--ca CA] [--nar-hash sha256:…]',
      'storeswarm import --from-cache URL STORE-PATH... [--closure] [--trusted-public-key NAME:KEY]... [--no-check-sigs]',
      'storeswarm import --from-daemon [SOCKET] STORE-PATH... [--closure | --all]'
    ],
    options: [
      ['--store-path PATH', 'the store path the NAR is the serialisation of'],
      ['--reference PATH', 'a reference of the path (repeatable)'],
      ['--deriver PATH', 'its deriver'],
      ['--sig KEY:SIG', 'a signature to keep (repeatable)'],
      ['--ca CA', 'content address'],
      ['--nar-hash sha256:…', 'expected NAR hash (checked)'],
      ['--from-cache URL', 'import from a Nix binary cache (file://, http://, https://)'],
      ['--closure', 'with the closure of the paths'],
      ['--trusted-public-key NAME:KEY', 'keys narinfo signatures are checked against (default cache.nixos.org-1)'],
      ['--no-check-sigs', 'accept unsigned narinfos'],
      ['--from-daemon [SOCKET]', 'copy from a running nix-daemon (default /nix/var/nix/daemon-socket/socket)'],
      ['--all', 'every valid path of the daemon'],
      ...COMMON
    ],
    examples: [
      'nix-store --dump ./result | storeswarm import - --store-path $(readlink ./result)',
      'storeswarm import --from-cache https://cache.nixos.org /nix/store/<hash>-hello-2.12 --closure',
      'storeswarm import --from-daemon $(readlink ./result) --closure'
    ]
  },
  {
    name: 'export',
    summary: "write a path's NAR to stdout",
    synopsis: ['storeswarm export STORE-PATH'],
    options: [...COMMON],
    examples: ['storeswarm export /nix/store/<hash>-hello-2.12 | nix-store --restore ./out']
  },
  {
    name: 'info',
    summary: 'narinfo fields and the castore root of a path',
    synopsis: ['storeswarm info STORE-PATH [--json]'],
    options: [['--json', 'print JSON'], ...COMMON],
    examples: ['storeswarm info /nix/store/<hash>-hello-2.12', 'storeswarm info /nix/store/<hash>-hello-2.12 --json | jq .narSize']
  },
  {
    name: 'list',
    summary: 'the store paths the node holds',
    synopsis: ['storeswarm list [--json]'],
    options: [['--json', 'print a JSON array'], ...COMMON],
    examples: ['storeswarm list', 'storeswarm list --json | jq length']
  },
  {
    name: 'serve',
    summary: 'run the node: Nix (and Guix) binary cache, daemon socket, swarm, upstreams, GC',
    synopsis: ['storeswarm serve [--config FILE] [OPTIONS]'],
    options: serveOptions(),
    examples: [
      'storeswarm serve',
      'storeswarm serve --http 0.0.0.0:37515 --mdns --max-size 50G',
      'storeswarm serve --upstream https://cache.nixos.org --upstream-public-key cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY= --log-format json'
    ],
    notes: 'Every option is also a config file key and a STORESWARM_* variable: see `storeswarm config reference`.'
  },
  {
    name: 'keys',
    summary: 'the public keys to trust',
    synopsis: ['storeswarm keys show [--nix|--guix|--json]'],
    options: [['--nix', 'only the Nix public key (for trusted-public-keys)'], ['--guix', 'only the Guix key (for guix archive --authorize)'], ['--json', 'print JSON'], ['--nix-secret-key-file FILE', 'the Nix key in use instead of the generated one'], ...COMMON],
    examples: ['storeswarm keys show', 'storeswarm keys show --guix | sudo guix archive --authorize']
  },
  {
    name: 'daemon',
    summary: 'serve the Nix daemon protocol on a Unix socket (without HTTP)',
    synopsis: ["storeswarm daemon [--daemon-socket PATH] [--guix-daemon-socket PATH] [--socket-mode 660] [--trusted-public-keys 'NAME:KEY …'] [--no-require-sigs] [--trust-clients]"],
    options: [
      ['--daemon-socket PATH', 'socket path (default $XDG_RUNTIME_DIR/storeswarm/daemon.sock)'],
      ['--guix-daemon-socket PATH', 'also a Guix-dialect socket'],
      ['--socket-mode MODE', 'octal socket permissions (default 660)'],
      ['--trusted-public-keys KEYS', 'keys whose signatures make uploads valid (default cache.nixos.org-1)'],
      ['--no-require-sigs', 'accept unsigned uploads from trusted clients'],
      ['--trust-clients', 'every client is a trusted user'],
      ...COMMON
    ],
    notes: 'The socket, Guix socket, trusted keys and --trust-clients are also config file keys ([daemon]).',
    examples: ['storeswarm daemon', 'nix copy --to unix://$XDG_RUNTIME_DIR/storeswarm/daemon.sock ./result']
  },
  {
    name: 'stdio',
    summary: 'bridge stdin/stdout to the daemon socket (for ssh-ng://)',
    synopsis: ['storeswarm stdio [--daemon-socket PATH]'],
    options: [['--daemon-socket PATH', 'the socket to bridge to (default: daemon.socket of the config)'], ['--stdio, --store X', 'accepted and ignored (Nix passes them)'], CONFIG],
    examples: ["nix copy --to 'ssh-ng://host?remote-program=storeswarm%20stdio' ./result"]
  },
  {
    name: 'eris',
    summary: 'ERIS URNs: encode a file, decode a URN',
    synopsis: ['storeswarm eris encode FILE [--block-size 1K|32K]', 'storeswarm eris decode URN [--eris-store URL]'],
    options: [['--block-size 1K|32K', 'ERIS block size (default 32K)'], ['--eris-store URL', 'an HTTP ERIS block store to read from'], ...COMMON],
    examples: ['storeswarm eris encode hello.nar', 'storeswarm eris decode urn:eris:B4A… > hello.nar']
  },
  {
    name: 'fetch',
    summary: 'fetch a path, blob or ERIS URN from peers through the running node',
    synopsis: ['storeswarm fetch STORE-PATH|BLAKE3-DIGEST', 'storeswarm fetch urn:eris:… --store-path PATH [--eris-store URL] [--nar-hash sha256:…]'],
    options: [['--store-path PATH', 'the path an ERIS URN holds the NAR of'], ['--eris-store URL', 'an HTTP ERIS block store'], ['--nar-hash sha256:…', 'expected NAR hash'], ...P2P, ...COMMON],
    examples: ['storeswarm fetch /nix/store/<hash>-hello-2.12', 'storeswarm fetch urn:eris:B4A… --store-path /nix/store/<hash>-hello-2.12']
  },
  {
    name: 'peers',
    summary: 'the peers the running node is connected to',
    synopsis: ['storeswarm peers [--json]'],
    options: [['--json', 'print JSON'], ...COMMON],
    examples: ['storeswarm peers']
  },
  {
    name: 'announce',
    summary: 'tell the swarm the running node holds these paths',
    synopsis: ['storeswarm announce STORE-PATH...'],
    options: [...P2P, ...COMMON],
    examples: ['storeswarm announce $(storeswarm list)']
  },
  {
    name: 'p2p',
    summary: 'a swarm node without the HTTP cache',
    synopsis: ['storeswarm p2p [--listen MULTIADDR]... [--bootstrap MULTIADDR]... [--mdns] [--upnp]'],
    options: [...P2P, ...COMMON],
    notes: 'The p2p options are also config file keys ([p2p] listen, bootstrap, mdns, upnp, trusted-public-keys, enabled).',
    examples: ['storeswarm p2p --mdns', 'storeswarm p2p --listen /ip4/0.0.0.0/tcp/4001 --bootstrap /ip4/192.0.2.1/tcp/4001/p2p/12D3…']
  },
  {
    name: 'gc',
    summary: 'delete least recently used unpinned paths until the store fits',
    synopsis: ['storeswarm gc [--max-size SIZE] [--dry-run] [--json]'],
    options: [['--max-size SIZE', 'target store size (default: gc.max-size of the config)'], ['--dry-run', 'only say what would be deleted'], ['--json', 'print JSON'], ...COMMON],
    examples: ['storeswarm gc --max-size 50G', 'storeswarm gc --max-size 10G --dry-run --json']
  },
  {
    name: 'pin',
    summary: 'keep paths from being garbage-collected',
    synopsis: ['storeswarm pin STORE-PATH... [--closure]'],
    options: [['--closure', 'pin the closure of the paths too'], ...COMMON],
    examples: ['storeswarm pin /nix/store/<hash>-hello-2.12 --closure']
  },
  {
    name: 'unpin',
    summary: 'let paths be garbage-collected again',
    synopsis: ['storeswarm unpin STORE-PATH...'],
    options: [...COMMON],
    examples: ['storeswarm unpin /nix/store/<hash>-hello-2.12']
  },
  {
    name: 'pins',
    summary: 'the pinned paths',
    synopsis: ['storeswarm pins [--json]'],
    options: [['--json', 'print JSON'], ...COMMON],
    examples: ['storeswarm pins']
  },
  {
    name: 'watch',
    summary: 'import new paths from a nix-daemon as they appear',
    synopsis: ['storeswarm watch --from-daemon [SOCKET] [--interval SECONDS] [--once] [--closure]'],
    options: [
      ['--from-daemon [SOCKET]', 'the nix-daemon to watch (default /nix/var/nix/daemon-socket/socket)'],
      ['--interval SECONDS', 'how often to look for new paths'],
      ['--once', 'one pass, then exit'],
      ['--closure', 'import the closures of new paths'],
      ...COMMON
    ],
    examples: ['storeswarm watch --from-daemon', 'storeswarm watch --from-daemon --once --closure']
  },
  {
    name: 'status',
    summary: 'what the running node is doing: listeners, peers, store size, counters',
    synopsis: ['storeswarm status [--json]'],
    options: [['--json', 'print JSON'], ...COMMON],
    examples: ['storeswarm status', 'storeswarm status --json | jq .store']
  },
  {
    name: 'verify',
    summary: 're-hash the store and report (or repair) damaged data',
    synopsis: ['storeswarm verify [--repair] [--json]'],
    options: [['--repair', 'drop damaged paths so they can be fetched again'], ['--json', 'print JSON'], ...COMMON],
    examples: ['storeswarm verify', 'storeswarm verify --repair --json']
  },
  {
    name: 'config',
    summary: 'the effective configuration, and the reference of every key',
    synopsis: ['storeswarm config show [--json] [--config FILE] [SERVE OPTIONS]', 'storeswarm config reference [--markdown]'],
    options: [['--json', 'show: print JSON ({file, values, sources})'], ['--markdown', 'reference: print the Markdown table of the README'], CONFIG],
    examples: ['storeswarm config show', 'STORESWARM_HTTP_LISTEN=0.0.0.0:37515 storeswarm config show --json', 'storeswarm config reference'],
    notes: 'show prints the configuration serve would run with, each value commented with where it came from\n(default, FILE:LINE, $STORESWARM_…, --flag); it takes the serve options too.'
  }
]

const BY_NAME = new Map(COMMANDS.map(c => [c.name, c]))

function optionLines (options: Array<[string, string]>): string[] {
  const width = Math.min(30, Math.max(...options.map(([o]) => o.length)))
  return options.map(([o, d]) => o.length > width ? `  ${o}\n  ${' '.repeat(width)}  ${d}` : `  ${o.padEnd(width)}  ${d}`)
}

/** The help of one command, or undefined for an unknown one. */
export function commandHelp (name: string): string | undefined {
  const c = BY_NAME.get(name)
  if (c === undefined) return undefined
  return [
    `storeswarm ${c.name} — ${c.summary}`,
    '',
    'Usage:',
    ...c.synopsis.map(s => `  ${s}`),
    '', 'Options:', ...optionLines([...c.options, ['-h, --help', 'this text']]),
    ...(c.notes !== undefined ? ['', c.notes] : []),
    '',
    'Examples:',
    ...c.examples.map(e => `  ${e}`),
    ''
  ].join('\n')
}

export const EXIT_CODES: ReadonlyArray<[number, string]> = [
  [0, 'success'],
  [1, 'failure'],
  [2, 'usage error (unknown command or flag, bad flag value)'],
  [3, 'configuration error (config file or STORESWARM_* environment)'],
  [130, 'interrupted (SIGINT; serve, p2p and daemon stop cleanly and exit 0)']
]

export function topLevelHelp (version: string): string {
  const width = Math.max(...COMMANDS.map(c => c.name.length))
  return [
    `storeswarm ${version} — peer-to-peer substitution node for Nix and Guix`,
    '',
    'Usage: storeswarm COMMAND [OPTIONS]',
    '',
    'Commands:',
    ...COMMANDS.map(c => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `storeswarm COMMAND --help` (or `storeswarm help COMMAND`) for its options and examples.',
    'Configuration: flags > STORESWARM_* environment > config file > defaults; see `storeswarm config reference`.',
    '',
    'Options:',
    '  -h, --help   this text',
    '  --version    print the version',
    '',
    'Exit codes:',
    ...EXIT_CODES.map(([code, what]) => `  ${String(code).padEnd(4)} ${what}`),
    ''
  ].join('\n')
}
