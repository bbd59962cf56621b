#!/usr/bin/env node
// `exec` benchmark: `berth exec CONTAINER true` (the installed bin, packages/cli/bin/berth.js, run as
// a program as a user's `berth` is) against `podman exec CONTAINER true`,
// each on a running alpine container (`sleep` as PID 1, no network; podman with run-e2e.mjs's --ulimit
// nofile/nproc, which this host's limits need for runc), interleaved, median wall time.
//
//   npm run build && sudo node bench/exec.mjs [--runs 15] [--no-write]
//
// Needs root, podman (with runc), skopeo, ../shared/images/alpine and a built CLI. podman runs
// with its own --root/--runroot in a temp dir (alpine copied in with skopeo), so nothing of the
// host's podman storage is used or left; berth with a throwaway BERTH_ROOT/BERTH_STATE.
// Both containers are removed at the end, and the temp dirs with them.
//
// Writes the "## exec" section of bench/RESULTS.md (replacing an older one).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchSandbox, loadavg, median, needPodmanPeer, writeResultsSection } from './common.mjs';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    'no-write': { type: 'boolean', default: false },
  },
});
const runs = Math.max(1, Number(opts.runs) || 15);
const { images, cli } = needPodmanPeer('exec');
const { tmp, env } = benchSandbox('exec');
const podmanDir = fs.mkdtempSync(join(os.tmpdir(), 'berth-bench-exec-podman-'));
const podman = ['--root', join(podmanDir, 'root'), '--runroot', join(podmanDir, 'runroot'), '--tmpdir', join(podmanDir, 'tmp'), '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
const name = `bench-exec-${process.pid}`;
// What `berth` is once installed: the bin's shell line picks the direct command's CommonJS file.
const bin = join(path.dirname(cli), '..', 'bin', 'berth.js');

function timed(cmd, args, e) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env: e, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return ms;
}

const berth = (args) => execFileSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' });
try {
  berth(['load', '-q', '-i', join(images, 'alpine'), '--repository', 'docker.io/library/alpine']);
  execFileSync('skopeo', ['copy', '--quiet', `oci:${join(images, 'alpine')}:latest`, `containers-storage:[overlay@${join(podmanDir, 'root')}+${join(podmanDir, 'runroot')}]docker.io/library/alpine:latest`], { stdio: 'inherit' });
  berth(['run', '-d', '--network', 'none', '--name', name, 'alpine', 'sleep', '3600']);
  execFileSync('podman', [...podman, 'run', '-d', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--name', name, 'docker.io/library/alpine:latest', 'sleep', '3600'], { stdio: ['ignore', 'ignore', 'inherit'] });

  const b = [];
  const p = [];
  // One warm-up each (page cache), then interleaved.
  timed(bin, ['exec', name, 'true'], env);
  timed('podman', [...podman, 'exec', name, 'true'], process.env);
  const loadBefore = loadavg();
  for (let i = 0; i < runs; i++) {
    b.push(timed(bin, ['exec', name, 'true'], env));
    p.push(timed('podman', [...podman, 'exec', name, 'true'], process.env));
  }
  const loadAfter = loadavg();
  const mb = median(b);
  const mp = median(p);
  const ratio = mb / mp;
  console.log(`berth exec ${name} true:  median ${mb.toFixed(0)} ms (${runs} runs)`);
  console.log(`podman exec ${name} true: median ${mp.toFixed(0)} ms`);
  console.log(`ratio ${ratio.toFixed(2)}× (target ≤ 1.0×); load average ${loadBefore} → ${loadAfter}`);
  if (!opts['no-write']) {
    const cpus = os.cpus();
    writeResultsSection(
      'exec',
      `## exec

\`node bench/exec.mjs --runs ${runs}\`, ${new Date().toISOString().slice(0, 10)}, ${cpus.length}× ${cpus[0]?.model ?? 'CPU'}, Node ${process.version}; load average ${loadBefore} → ${loadAfter}.
\`berth exec C true\` vs \`podman --runtime runc exec C true\` on a running alpine container (\`sleep\`, \`--network none\`), interleaved, median wall time.

| command | median wall |
|---|---|
| berth exec | ${mb.toFixed(0)} ms |
| podman exec | ${mp.toFixed(0)} ms |
| ratio | ${ratio.toFixed(2)}× (target ≤ 1.0×) |
`,
    );
  }
} finally {
  spawnSync(process.execPath, [cli, 'rm', '-f', name], { env, stdio: 'ignore' });
  spawnSync('podman', [...podman, 'rm', '-f', '-t', '0', name], { stdio: 'ignore' });
  // containers/storage may leave its home mounted (overlay), and conmon's `podman container
  // cleanup` may still be starting (and mounting it again) when `rm` returns: wait for every
  // process of this storage to be gone (10 s at most), then nothing under the temp dir stays mounted.
  for (let i = 0; i < 50 && spawnSync('pgrep', ['-f', podmanDir]).status === 0; i++) spawnSync('sleep', ['0.2']);
  for (let pass = 0; pass < 10; pass++) {
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(podmanDir));
    if (mounts.length === 0) break;
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    spawnSync('sleep', ['0.2']);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(podmanDir, { recursive: true, force: true });
}
