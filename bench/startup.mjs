#!/usr/bin/env node
// Start-up benchmark (issue #14): the fixed cost of a berth command next to Node's own start.
//
//   npm run build && node bench/startup.mjs [--runs 21] [--no-registry] [--no-write]
//
// Times, in one run and interleaved (every round runs each command once, the order rotating
// from round to round, one uncounted warm-up round first):
//   - `node -e 0`, the yardstick;
//   - `berth --version`, `berth images` (one image in the store), `berth ps` (one stopped
//     container's record is not needed: an empty state directory);
//   - `berth pull -q <loopback>/library/alpine:latest` of an image already present and up to
//     date (one manifest request; needs docker-registry and skopeo, else --no-registry).
// The commands run the installed bin (`node packages/cli/bin/berth.js`: images and ps from their
// CommonJS files, the rest through dist/bin.js) on a private BERTH_ROOT,
// BERTH_STATE and BERTH_CONFIG (bench/common.mjs benchSandbox), under /usr/bin/time for CPU
// time and minor page faults. Prints the medians and the ratio of each to `node -e 0`, checks
// the targets (≤ 1.25× for --version, images, ps; ≤ 1.5× for the present pull) and writes
// section "start-up" of bench/RESULTS.md.
//
// The cold pull into an empty store (vs skopeo), unpack (vs umoci) and run --rm (vs podman)
// are in bench/pull.mjs, bench/unpack.mjs and bench/run-e2e.mjs.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchSandbox, loadavg, median, needFor, which, writeResultsSection } from './common.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '21' },
    'no-registry': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const runs = Number(args.runs);

const need = needFor('startup');
const cli = path.join(repo, 'packages/cli/bin/berth.js');
need(existsSync(path.join(repo, 'packages/cli/dist/direct/ps.cjs')), 'packages/cli/dist is not built (or predates dist/direct/): run `npm run build` first');
need(existsSync('/usr/bin/time'), '/usr/bin/time not found (Debian package time)');
const withRegistry = !args['no-registry'];
if (withRegistry) {
  need(which('docker-registry'), 'docker-registry not found (Debian package docker-registry; or --no-registry)');
  need(which('skopeo'), 'skopeo not found (Debian package skopeo; or --no-registry)');
}

/** One run of argv under /usr/bin/time: wall seconds (measured here), CPU seconds, minor faults. */
function measure(argv, env) {
  return new Promise((resolve, reject) => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-startup-time-'));
    const out = path.join(tmp, 'time');
    const start = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%U %S %R', '-o', out, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const [user, sys, faults] = readFileSync(out, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
      rmSync(tmp, { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited with ${code}: ${stderr.trim().split('\n').at(-1)}`));
      resolve({ seconds, cpu: user + sys, faults });
    });
  });
}

const { tmp, env } = benchSandbox('startup');
writeFileSync(env.BERTH_CONFIG, '');
env.DOCKER_CONFIG = path.join(tmp, 'docker');
const berth = (...a) => [process.execPath, cli, ...a];

let registry;
const cases = [
  { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { name: 'berth --version', argv: berth('--version'), target: 1.25 },
  { name: 'berth images', argv: berth('images'), target: 1.25 },
  { name: 'berth ps', argv: berth('ps'), target: 1.25 },
];
try {
  if (withRegistry) {
    const { startRegistry, seedImage, sharedImagesDir } = await import('@berth/testing');
    const shared = sharedImagesDir();
    need(shared, 'no OCI layouts in ../shared/images');
    registry = await startRegistry();
    const { reference } = await seedImage({ registry, layout: path.join(shared, 'alpine'), repository: 'library/alpine', tag: 'latest' });
    await measure(berth('pull', '-q', reference), env);
    cases.push({ name: 'berth pull (present, up to date)', argv: berth('pull', '-q', reference), target: 1.5 });
  } else {
    await measure(berth('load', '-q', '-i', path.join(repo, '../shared/images/alpine'), '--repository', 'docker.io/library/alpine'), env);
  }

  const results = new Map(cases.map((c) => [c.name, []]));
  const loads = [loadavg()];
  for (let round = -1; round < runs; round++) {
    const order = cases.map((_, i) => cases[(i + Math.max(round, 0)) % cases.length]);
    for (const c of order) {
      const r = await measure(c.argv, env);
      if (round >= 0) results.get(c.name).push(r);
    }
    if (round === Math.floor(runs / 2)) loads.push(loadavg());
  }
  loads.push(loadavg());

  const base = results.get('node -e 0');
  const baseWall = median(base.map((r) => r.seconds));
  const baseCpu = median(base.map((r) => r.cpu));
  const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
  const rows = [];
  const verdicts = [];
  for (const c of cases) {
    const rs = results.get(c.name);
    const wall = median(rs.map((r) => r.seconds));
    const cpu = median(rs.map((r) => r.cpu));
    // The ratio pair by pair (round i of this command against round i of node -e 0), then its median.
    const ratio = median(rs.map((r, i) => r.seconds / base[i].seconds));
    rows.push(`| ${c.name} | ${ms(wall)} | ${ms(Math.min(...rs.map((r) => r.seconds)))} | ${ms(cpu)} | ${median(rs.map((r) => r.faults))} | ${ratio.toFixed(2)}× | ${(cpu / baseCpu).toFixed(2)}× | ${c.target ? `≤ ${c.target}×` : ''} |`);
    if (c.target) verdicts.push(`- ${c.name}: ${ratio.toFixed(2)}× \`node -e 0\` wall (target ≤ ${c.target}×): ${ratio <= c.target ? 'met' : 'MISSED'}`);
  }
  const table = [
    '| command | median wall | fastest | median CPU (user+sys) | minor faults | wall / node -e 0 (median of pairs) | CPU / node -e 0 | target |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
  const machine = `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Linux ${os.release()}, Node ${process.version}`;
  const section = [
    '## start-up',
    '',
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${machine}. Load average (1/5/15 min) at the start, middle and end: ${loads.join(' → ')} (the machine is shared: wall times are noisy, CPU time is steadier).`,
    `Produced by \`node bench/startup.mjs --runs ${runs}\`: ${runs} interleaved rounds (each command once a round, the order rotating, one warm-up round not counted), the installed bin (\`node packages/cli/bin/berth.js\`) on a private store; CPU time and faults from /usr/bin/time (10 ms resolution). Node's own start: ${ms(baseWall)} wall, ${ms(baseCpu)} CPU.`,
    '',
    table,
    '',
    ...verdicts,
    '',
  ].join('\n');
  console.log(section);
  if (!args['no-write']) writeResultsSection('start-up', section);
} finally {
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
}
