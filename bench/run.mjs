#!/usr/bin/env node
// Runs the benchmarks one after another (each writes its section of bench/RESULTS.md).
//
//   npm run build && npm run bench                 # every benchmark
//   npm run bench -- unpack copy                   # just these
//   npm run bench -- pull -- --runs 3 --no-write   # arguments after `--` go to each script
//
// The scripts run in sequence, never side by side: each one times peers against berth on
// this machine, and a second benchmark running at the same time would skew both.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** In the order of the pipeline: start-up, registry → store (and archives) → rootfs → runtime → network → build. */
const all = ['startup', 'pull', 'transfer', 'unpack', 'copy', 'runtime', 'runtime-cli', 'run-e2e', 'exec', 'stdio', 'stdio-log', 'run-bridge', 'throughput', 'dns', 'build'];

const args = process.argv.slice(2);
const sep = args.indexOf('--');
const names = sep < 0 ? args : args.slice(0, sep);
const passOn = sep < 0 ? [] : args.slice(sep + 1);
const unknown = names.filter((n) => !all.includes(n));
if (unknown.length > 0) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')} (have: ${all.join(', ')})`);
  process.exit(2);
}

const failed = [];
for (const name of names.length > 0 ? names : all) {
  console.log(`\n== ${name} ==`);
  const r = spawnSync(process.execPath, [join(here, `${name}.mjs`), ...passOn], { stdio: 'inherit' });
  if (r.status !== 0) failed.push(`${name} (${r.signal ?? `exit ${r.status}`})`);
}
if (failed.length > 0) {
  console.error(`\nbench: failed: ${failed.join(', ')}`);
  process.exit(1);
}
