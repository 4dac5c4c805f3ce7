#!/usr/bin/env node
// `storeswarm stdio` as its own executable, for Nix's `remote-program`:
//   nix copy --from 'ssh-ng://localhost?remote-program=/path/to/node/stdio-bin.ts' …
// Nix 2.8 runs `bash -c '<remote-program> --stdio'` for host `localhost` (no ssh involved);
// newer Nix also appends `--store X`. Both are accepted and ignored; the node's socket comes
// from --daemon-socket, $STORESWARM_DAEMON_SOCKET or the default location.
const { cmdStdio } = await import('./daemon.ts')
process.exitCode = await cmdStdio(process.argv.slice(2))
