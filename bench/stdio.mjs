#!/usr/bin/env node
// stdio relay benchmark: `berth run --rm -v DIR:/data:ro alpine cat /data/256MiB | wc -c` (the built CLI)
// against `podman --runtime runc run --rm --network none --ulimit … -v DIR:/data:ro alpine cat /data/256MiB | wc -c`
// (the --ulimit flags as in run-e2e.mjs: without them runc fails here setting RLIMIT_NOFILE),
// the same bind-mounted file of random bytes, interleaved runs, median wall time, and the ratio.
// Without -t the container's stdout is a pipe that berth (or podman's conmon) copies to its own
// stdout, here a pipe into wc: this is the cost of that copy, plus each tool's start-up.
//
//   npm run build && sudo node bench/stdio.mjs [--runs 7] [--mib 256] [--no-write]
//
// Needs root, podman (with runc), skopeo, ../shared/images/alpine and a built CLI. Alpine goes into
// podman's storage with skopeo (once; left there) and into a throwaway BERTH_ROOT with `berth load`.
// Each run checks that wc counted every byte. A start-up baseline (`true` instead of `cat`) is timed
// too, so the relay's own share can be told apart from the start-up difference run-e2e.mjs measures.
//
// Writes the "## stdio relay" section of bench/RESULTS.md (replacing an older one).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadAlpineForBoth, loadavg, median, needPodmanPeer, writeResultsSection, benchSandbox } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    mib: { type: 'string', default: '256' },
    'no-write': { type: 'boolean', default: false },
  },
});
const runs = Math.max(1, Number(opts.runs) || 7);
const mib = Math.max(1, Number(opts.mib) || 256);
const TARGET = 1.5;

const { images, cli } = needPodmanPeer('stdio');

const { tmp, env } = benchSandbox('stdio');

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const data = path.join(tmp, 'data');
const file = `${mib}MiB`;
const size = mib * 1024 * 1024;
const berthCmd = (...cmd) => [process.execPath, cli, 'run', '--rm', '--network', 'none', '-v', `${data}:/data:ro`, 'alpine', ...cmd];
const podmanCmd = (...cmd) => ['podman', '--runtime', 'runc', 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '-v', `${data}:/data:ro`, 'alpine', ...cmd];
const tools = {
  berth: { relay: berthCmd('cat', `/data/${file}`), startup: berthCmd('true') },
  podman: { relay: podmanCmd('cat', `/data/${file}`), startup: podmanCmd('true') },
};

/** Wall ms of `argv | wc -c`; checks that every byte arrived (and nothing went to stderr). */
function timePipeline(argv, expected) {
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', `${argv.map(q).join(' ')} | wc -c`], { env, encoding: 'utf8', maxBuffer: 1 << 20 });
  const wall = performance.now() - t0;
  if (r.status !== 0 || Number(r.stdout.trim()) !== expected || r.stderr !== '') {
    throw new Error(`${argv.join(' ')} | wc -c: status ${r.status}, counted ${r.stdout.trim()} (expected ${expected}), stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
  }
  return wall;
}

try {
  console.log(`bench/stdio: ${mib} MiB of random bytes in ${data}; loading alpine into a temp BERTH_ROOT and (if missing) into podman`);
  fs.mkdirSync(data);
  const fd = fs.openSync(path.join(data, file), 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i++) fs.writeSync(fd, randomFillSync(chunk));
  fs.closeSync(fd);
  loadAlpineForBoth({ cli, images, env });
  // Warm-up: berth's snapshot, the page cache (the file, both tools' binaries).
  for (const who of ['berth', 'podman']) {
    timePipeline(tools[who].relay, size);
    timePipeline(tools[who].startup, 0);
  }

  const loads = [loadavg()];
  const res = { berth: { relay: [], startup: [] }, podman: { relay: [], startup: [] } };
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['berth', 'podman'] : ['podman', 'berth'];
    for (const who of order) {
      res[who].relay.push(timePipeline(tools[who].relay, size));
      res[who].startup.push(timePipeline(tools[who].startup, 0));
    }
    if (i === runs >> 1) loads.push(loadavg());
  }
  loads.push(loadavg());

  const m = {};
  for (const who of ['berth', 'podman']) m[who] = { relay: median(res[who].relay), startup: median(res[who].startup) };
  const ratio = m.berth.relay / m.podman.relay;
  const copy = (who) => Math.max(1, m[who].relay - m[who].startup);
  const rate = (who) => (mib / (copy(who) / 1000)).toFixed(0);
  const f0 = (x) => x.toFixed(0);

  const podmanVersion = execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim();
  const runcVersion = execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  const lines = ['## stdio relay', ''];
  lines.push(
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${os.cpus().length} CPUs (nproc), ${os.cpus()[0]?.model ?? 'unknown CPU'}, Linux ${os.release()}, Node ${process.version}, ${podmanVersion} with ${runcVersion}. Load average (1/5/15 min) at the start, middle and end: ${loads.join(' → ')}.`,
    `Produced by \`node bench/stdio.mjs\` (root): the same ${mib} MiB file of random bytes bind-mounted read-only into both, image present for both, ${runs} interleaved runs of each (the order alternating), median wall time of the whole shell pipeline; every run checked that wc counted all ${size} bytes. \`true\` in place of \`cat\` gives each tool's start-up; the difference is the copy.`,
    '',
    '| command | wall (cat) | wall (true) | copy (difference) | copy rate | wall / podman |',
    '| --- | --- | --- | --- | --- | --- |',
    `| \`podman --runtime runc run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -v …:/data:ro alpine cat /data/${file} \\| wc -c\` | ${f0(m.podman.relay)} ms | ${f0(m.podman.startup)} ms | ${f0(copy('podman'))} ms | ${rate('podman')} MiB/s | 1.00× |`,
    `| \`berth run --rm -v …:/data:ro alpine cat /data/${file} \\| wc -c\` | ${f0(m.berth.relay)} ms | ${f0(m.berth.startup)} ms | ${f0(copy('berth'))} ms | ${rate('berth')} MiB/s | **${ratio.toFixed(2)}×** |`,
    '',
    `Target: ≤ ${TARGET}× podman (wall, \`cat\`). ${ratio <= TARGET ? `**Met** (${ratio.toFixed(2)}×).` : `**Not met** (${ratio.toFixed(2)}×).`} All wall times (cat): berth ${res.berth.relay.map(Math.round).join(', ')}; podman ${res.podman.relay.map(Math.round).join(', ')} ms.`,
    '',
  );
  const section = `${lines.join('\n')}\n`;
  console.log(`\n${section}`);
  if (!opts['no-write']) {
    writeResultsSection('stdio relay', section);
    console.log('bench/stdio: wrote bench/RESULTS.md, section "stdio relay"');
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
