#!/usr/bin/env node
// `run` with the default network: `berth run --rm alpine true` (the default bridge: netns,
// CNI loopback + bridge + host-local + portmap + firewall ADD, then DEL at exit) against
// `podman --runtime runc run --rm alpine true` (podman's default network; on Debian 12's
// podman 4.3 the CNI backend, the same plugins), image present for both, interleaved,
// medians of wall and CPU time (the measuring helper of run-e2e.mjs: a subreaper that
// counts every process each command started).
//
//   npm run build && sudo node bench/run-bridge.mjs [--runs 11] [--no-write]
//
// berth's default network is made in a throwaway BERTH_ROOT on its own bridge and subnet
// (BERTH_DEFAULT_BRIDGE, BERTH_DEFAULT_SUBNET 10.239.0.0/24) and removed at the end. podman's
// (cni-podman0, 10.88.0.0/16) is podman's own and stays, as after any podman run.
// Writes the "## run with the default network" section of bench/RESULTS.md.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadAlpineForBoth, loadavg, median, needPodmanPeer, writeResultsSection, benchSandbox } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '11' }, 'no-write': { type: 'boolean', default: false } } });
const runs = Math.max(1, Number(opts.runs) || 11);
const TARGET = 1.5;
const { images, cli } = needPodmanPeer('run-bridge');

const bridge = `btbench${process.pid % 10000}`;
const { tmp, env } = benchSandbox('bridge', { BERTH_DEFAULT_BRIDGE: bridge, BERTH_DEFAULT_SUBNET: '10.239.0.0/24' });

function measure(argv) {
  const out = execFileSync(process.execPath, [path.join(here, 'run-e2e.mjs'), '--measure', ...argv], { cwd: repo, env, encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').at(-1));
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

const BERTH = [process.execPath, cli, 'run', '--rm', 'alpine', 'true'];
const PODMAN = ['podman', '--runtime', 'runc', 'run', '--rm', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', 'alpine', 'true'];
const f1 = (x) => x.toFixed(1);

try {
  loadAlpineForBoth({ cli, images, env });
  for (let i = 0; i < 2; i++) {
    measure(BERTH);
    measure(PODMAN);
  }
  const loads = [loadavg()];
  const res = { berth: [], podman: [] };
  for (let i = 0; i < runs; i++) {
    for (const who of i % 2 === 0 ? ['berth', 'podman'] : ['podman', 'berth']) res[who].push(measure(who === 'berth' ? BERTH : PODMAN));
  }
  loads.push(loadavg());
  const s = {};
  for (const who of ['berth', 'podman']) s[who] = { wall: median(res[who].map((r) => r.wall)), cpu: median(res[who].map((r) => r.cpu)) };
  const ratio = s.berth.wall / s.podman.wall;
  const podmanNet = spawnSync('podman', ['info', '--format', '{{.Host.NetworkBackend}}'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
  const section = [
    '## run with the default network',
    '',
    `\`node bench/run-bridge.mjs --runs ${runs}\` (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, load ${loads.join(' → ')}): \`berth run --rm alpine true\``,
    `on berth's default bridge against \`podman --runtime runc run --rm alpine true\` on podman's default network (backend: ${podmanNet}), alpine present for both, interleaved, medians of ${runs}.`,
    '',
    '| | wall ms | CPU ms |',
    '| --- | ---: | ---: |',
    `| berth (bridge) | ${f1(s.berth.wall)} | ${f1(s.berth.cpu)} |`,
    `| podman (default network) | ${f1(s.podman.wall)} | ${f1(s.podman.cpu)} |`,
    '',
    `berth / podman wall: ${ratio.toFixed(2)} (target ≤ ${TARGET}: ${ratio <= TARGET ? 'met' : 'not met'}).`,
    '',
  ].join('\n');
  console.log(section);
  if (!opts['no-write']) writeResultsSection('run with the default network', section);
} finally {
  // berth's network: the sweep of one more command DELs what is left (nothing), then the bridge and the temp root go.
  spawnSync(process.execPath, [cli, 'ps', '-a'], { env, stdio: 'ignore' });
  for (const f of fs.existsSync(path.join(tmp, 'state', 'netns')) ? fs.readdirSync(path.join(tmp, 'state', 'netns')) : []) spawnSync('umount', ['-l', path.join(tmp, 'state', 'netns', f)]);
  spawnSync('ip', ['link', 'del', bridge]);
  fs.rmSync(tmp, { recursive: true, force: true });
}
