#!/usr/bin/env node
// Benchmark: berth-runtime (runc's command line over berth's runtime) as engines drive it.
//
//   npm run build && sudo node bench/runtime-cli.mjs [--runs 11] [--podman-runs 7] [--no-podman] [--no-write]
//
// 1. The OCI runtime command line on one alpine bundle (skopeo + umoci unpack; args ["true"],
//    terminal false), for `runc` and for `node_modules/.bin/berth-runtime`, interleaved, each
//    with a --root of its own: `create --bundle B --pid-file P ID`, `state ID`, `start ID`, wait
//    (poll /proc/PID until the process is gone or a zombie: whoever reaps it, as conmon or
//    containerd's shim would), `delete ID`. Median wall time of each subcommand and of
//    create + start + wait + delete: the sequence an engine runs per container (it also calls
//    `state`, timed on its own). Target: ≤ 4× runc.
// 2. `podman --runtime berth-runtime run --rm --network none alpine true` against
//    `podman --runtime runc …`, both with a private --root/--runroot (overlay), the cgroupfs
//    cgroup manager (berth-runtime refuses systemd's) and alpine copied in with skopeo.
//    Target: ≤ 1.3×. Skipped when podman is not installed (or with --no-podman).
//
// Needs root, runc, skopeo, umoci, ../shared/images/alpine and a built @berth/runtime.
// Writes the "## runtime-cli" section of bench/RESULTS.md (replacing an older one).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { alpineBundle, loadavg, median, needFor, which, writeResultsSection } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const images = path.resolve(repo, '../shared/images');
const BERTH = path.join(repo, 'node_modules/.bin/berth-runtime');

const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '11' },
    'podman-runs': { type: 'string', default: '7' },
    'no-podman': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const runs = Number(opt.runs) || 11;
const podmanRuns = Number(opt['podman-runs']) || 7;

const need = needFor('runtime-cli');
need(process.getuid?.() === 0, 'needs root');
for (const t of ['runc', 'skopeo', 'umoci']) need(which(t), `${t} is not installed`);
need(fs.existsSync(path.join(images, 'alpine/index.json')), `no images at ${images}`);
need(fs.existsSync(path.join(repo, 'packages/runtime/dist/oci/main.cjs')), 'build @berth/runtime first (missing dist/oci/main.cjs)');
const withPodman = !opt['no-podman'] && which('podman') !== undefined;

const ms = (x) => `${x.toFixed(1)} ms`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-runtime-cli-'));
const errLog = path.join(tmp, 'stderr.log');
const loads = [loadavg()];

/** Runs a command; its wall time in ms. stdio goes to /dev/null and a log file, never pipes (a container's init inherits create's fds). */
function timed(cmd, argv) {
  const err = fs.openSync(errLog, 'w');
  try {
    const t0 = performance.now();
    const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', err] });
    const wall = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status ?? r.signal}: ${fs.readFileSync(errLog, 'utf8').trim()}`);
    return wall;
  } finally {
    fs.closeSync(err);
  }
}

/** True once pid has exited (gone, or a zombie waiting for its reaper). */
function exited(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

async function lifecycle(bin, root, bundle, id) {
  const pidFile = path.join(tmp, `${id}.pid`);
  const t = {};
  t.create = timed(bin, ['--root', root, 'create', '--bundle', bundle, '--pid-file', pidFile, id]);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  t.state = timed(bin, ['--root', root, 'state', id]);
  t.start = timed(bin, ['--root', root, 'start', id]);
  const t0 = performance.now();
  while (!exited(pid)) await new Promise((r) => setTimeout(r, 1));
  t.wait = performance.now() - t0;
  t.delete = timed(bin, ['--root', root, 'delete', id]);
  t.total = t.create + t.start + t.wait + t.delete;
  return t;
}

try {
  // ---- 1. the command line on one bundle ----
  const bundle = alpineBundle(images, tmp);

  const tag = process.pid.toString(36);
  const who = { runc: 'runc', berth: BERTH };
  const res = { runc: [], berth: [] };
  let n = 0;
  // One uncounted warm-up each (page cache, cgroup parents).
  for (const [k, bin] of Object.entries(who)) await lifecycle(bin, path.join(tmp, `root-${k}`), bundle, `w${k}-${tag}`);
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['runc', 'berth'] : ['berth', 'runc'];
    for (const k of order) res[k].push(await lifecycle(who[k], path.join(tmp, `root-${k}`), bundle, `b${++n}-${tag}`));
  }
  loads.push(loadavg());
  const med = (k, f) => median(res[k].map((t) => t[f]));
  const fields = ['create', 'start', 'wait', 'delete', 'total', 'state'];
  const ratio = med('berth', 'total') / med('runc', 'total');
  console.log(`bench/runtime-cli: create+start+wait+delete median runc ${ms(med('runc', 'total'))}, berth-runtime ${ms(med('berth', 'total'))} (${ratio.toFixed(2)}×)`);

  // ---- 2. podman with either runtime ----
  let podman;
  if (withPodman) {
    const store = path.join(tmp, 'podman');
    const base = ['--root', path.join(store, 'root'), '--runroot', path.join(store, 'runroot'), '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
    execFileSync('skopeo', ['copy', '--quiet', `oci:${images}/alpine:latest`, `containers-storage:[overlay@${path.join(store, 'root')}+${path.join(store, 'runroot')}]docker.io/library/alpine:latest`]);
    const runWith = (runtime) => timed('podman', [...base, '--runtime', runtime, 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', 'docker.io/library/alpine:latest', 'true']);
    runWith('runc');
    runWith(BERTH);
    const p = { runc: [], berth: [] };
    for (let i = 0; i < podmanRuns; i++) {
      const order = i % 2 === 0 ? ['runc', 'berth'] : ['berth', 'runc'];
      for (const k of order) p[k].push(runWith(k === 'runc' ? 'runc' : BERTH));
    }
    spawnSync('podman', [...base, 'system', 'reset', '--force'], { stdio: 'ignore' });
    podman = { runc: median(p.runc), berth: median(p.berth), all: p };
    loads.push(loadavg());
  }

  const runcVersion = execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  const lines = [
    '## runtime-cli',
    '',
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${os.cpus().length} CPUs (nproc), Linux ${os.release()}, Node ${process.version}, ${runcVersion}${withPodman ? `, ${execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim()}` : ''}. Load average (1/5/15 min) at the start, after part 1 and at the end: ${loads.join(' → ')}${Number(loads[0].split(' ')[0]) > os.cpus().length ? ' (the machine was shared with other jobs and overloaded: wall times are inflated for both tools)' : ''}.`,
    `Produced by \`node bench/runtime-cli.mjs\` (root): one alpine bundle, \`true\` as the process, ${runs} interleaved runs per runtime after a warm-up, medians of wall time per subcommand.`,
    '',
    '| subcommand | runc | berth-runtime | berth / runc |',
    '| --- | --- | --- | --- |',
    ...fields.map((f) => {
      const label = f === 'total' ? '**create + start + wait + delete**' : f === 'state' ? '`state` (not in the total)' : `\`${f}\``;
      return `| ${label} | ${ms(med('runc', f))} | ${ms(med('berth', f))} | ${(med('berth', f) / med('runc', f)).toFixed(2)}× |`;
    }),
    '',
    `Target ≤ 4× runc: ${ratio <= 4 ? '**met**' : '**not met**'} (${ratio.toFixed(2)}×). \`wait\` is from \`start\`'s exit to the process's exit.`,
  ];
  if (podman !== undefined) {
    const pr = podman.berth / podman.runc;
    lines.push(
      '',
      '| command | wall | / runc |',
      '| --- | --- | --- |',
      `| \`podman --runtime runc run --rm --network none alpine true\` | ${ms(podman.runc)} | 1.00× |`,
      `| \`podman --runtime berth-runtime run --rm --network none alpine true\` | ${ms(podman.berth)} | ${pr.toFixed(2)}× |`,
      '',
      `Target ≤ 1.3×: ${pr <= 1.3 ? '**met**' : '**not met**'} (${pr.toFixed(2)}×). podman: private --root/--runroot (overlay), --cgroup-manager cgroupfs, ${podmanRuns} interleaved runs each after a warm-up. All wall times: runc ${podman.all.runc.map(Math.round).join(', ')}; berth-runtime ${podman.all.berth.map(Math.round).join(', ')} ms.`,
    );
  } else {
    lines.push('', 'podman: not measured (not installed, or --no-podman).');
  }
  lines.push('');
  const section = lines.join('\n');
  console.log(section);
  if (!opt['no-write']) writeResultsSection('runtime-cli', section);
} finally {
  // conmon starts `podman container cleanup` after a container exits, which mounts the store
  // again: wait for every process naming tmp to end, then unmount what is left, deepest first.
  const mine = () =>
    fs.readdirSync('/proc').filter((p) => {
      try {
        return /^\d+$/.test(p) && Number(p) !== process.pid && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(tmp);
      } catch {
        return false;
      }
    });
  for (const deadline = Date.now() + 20_000; mine().length > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${tmp}/`))
    .sort()
    .reverse();
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
}
