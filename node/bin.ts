#!/usr/bin/env node
// Entry point of the `storeswarm` command. Runs on the Node 24 runtime that `npm install`
// puts in node_modules/.bin (package "node"), which npm and npx put first on PATH.
const [major] = process.versions.node.split('.').map(Number)
if (major < 22) {
  process.stderr.write(`storeswarm needs Node >= 22 (running ${process.version}).\n` +
    'Run it through npm so the project\'s own Node 24 is used: `npx storeswarm …` after `npm install`.\n')
  process.exit(1)
}
// Cache compiled (type-stripped) modules on disk: halves start-up time and memory.
const { enableCompileCache } = await import('node:module')
enableCompileCache?.()
const { main } = await import('./cli.ts')
process.exitCode = await main(process.argv.slice(2))
