#!/usr/bin/env node
// End-to-end `run` benchmark: `berth run --rm --network none alpine true` (the built CLI) against
// `podman --runtime runc run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 alpine true`,
// image present for both, interleaved, medians of wall and CPU time.
//
//   npm run build && sudo node bench/run-e2e.mjs [--runs 15] [--timing-runs 9] [--no-cli-phases] [--no-write]
//
// Needs root, podman (Debian package podman, with runc), skopeo, ../shared/images/alpine
// and a built CLI (packages/cli/dist/bin.js). Alpine goes into podman's storage with
// `skopeo copy oci:../shared/images/alpine:latest containers-storage:docker.io/library/alpine:latest`
// (once; left there), and into a throwaway BERTH_ROOT with `berth load --repository`.
//
// CPU time is user + sys of every process each command started, daemonized ones
// included (podman's conmon, runc): each command runs under a small subreaper
// (PR_SET_CHILD_SUBREAPER) that reaps every orphan it inherits before reading
// getrusage(RUSAGE_CHILDREN). Wall time is the command's own, measured in that helper.
//
// Where berth's milliseconds go: BERTH_DEBUG_TIMING=1 runs, median per phase. The CLI
// itself marks nothing, so its phases (start, imports, image lookup, snapshot, rootfs
// copy, spec) come from an instrumented copy of its bundle that this script builds in a
// temp dir from packages/cli/src with esbuild, adding performance.mark('berth:…') calls
// (the runtime prints those marks with its own); --no-cli-phases skips it.
//
// Writes the "## run end to end" section of bench/RESULTS.md (replacing an older one).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadAlpineForBoth, loadavg, median, needPodmanPeer, writeResultsSection, benchSandbox } from './common.mjs';
import { PHASES } from './run-phases.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');

// ---- the measuring helper: `node run-e2e.mjs --measure CMD ARG...` ----
if (process.argv[2] === '--measure') {
  // libc through @berth/sys (built: packages/sys/dist), the one package that loads koffi.
  const { cfunc } = await import('@berth/sys');
  const prctl = cfunc('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
  const waitpid = cfunc('int waitpid(int pid, _Out_ int *status, int options)');
  const getrusage = cfunc('int getrusage(int who, _Out_ void *usage)');
  const PR_SET_CHILD_SUBREAPER = 36;
  const WNOHANG = 1;
  const RUSAGE_CHILDREN = -1;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) throw new Error('prctl(PR_SET_CHILD_SUBREAPER) failed');
  const [cmd, ...args] = process.argv.slice(3);
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const wall = performance.now() - t0;
  // Orphans (podman's conmon, runc) were reparented to us: reap them all (5 s at most).
  const status = [0];
  const deadline = Date.now() + 5000;
  for (;;) {
    const pid = waitpid(-1, status, WNOHANG);
    if (pid < 0) break; // ECHILD: nobody left
    if (pid === 0) {
      if (Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 2));
    }
  }
  const ru = new BigInt64Array(18);
  getrusage(RUSAGE_CHILDREN, ru);
  const cpu = (Number(ru[0]) + Number(ru[2])) * 1000 + (Number(ru[1]) + Number(ru[3])) / 1000;
  // ru_maxrss (KiB): the largest of the reaped processes.
  const rss = Number(ru[4]) / 1024;
  process.stdout.write(`${JSON.stringify({ status: r.status, wall, cpu, rss, stderr: r.stderr })}\n`);
  process.exit(0);
}

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    'timing-runs': { type: 'string', default: '9' },
    'no-cli-phases': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const runs = Math.max(1, Number(opts.runs) || 15);
const timingRuns = Math.max(1, Number(opts['timing-runs']) || 9);
const TARGET = 1.5;

const { images, cli } = needPodmanPeer('run-e2e');

const f1 = (x) => x.toFixed(1);

const { tmp, env } = benchSandbox('run');

function measure(argv, extraEnv = {}) {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', ...argv], {
    cwd: repo,
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
  });
  const r = JSON.parse(out.trim().split('\n').at(-1));
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

// Both without a network (berth's default is the bridge since it has one: bench/run-bridge.mjs times that).
const BERTH = [process.execPath, cli, 'run', '--rm', '--network', 'none', 'alpine', 'true'];
const PODMAN = ['podman', '--runtime', 'runc', 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', 'alpine', 'true'];

/** The instrumented CLI (see the header); undefined when it cannot be built. */
async function instrumentedCli() {
  const src = path.join(repo, 'packages/cli/src/actions/run.ts');
  const marks = [
    ['  const overrides = overridesFrom(flags, cmd);', 'cli-main', 'before'],
    ['  const runtime = new Runtime(', 'imports', 'before'],
    ['  const store = await ctx.store();', 'image-lookup', 'before'],
    ['    const debug = ', 'snapshot-ensure', 'before'],
    ['    const spec = buildSpec(', 'rootfs-copy', 'before'],
    ['    await warm;', 'spec', 'before'],
  ];
  const text = fs.readFileSync(src, 'utf8');
  const missing = marks.filter(([anchor]) => !text.includes(anchor));
  if (missing.length > 0) {
    console.warn(`bench/run-e2e: CLI phases skipped: packages/cli/src/actions/run.ts changed (no ${JSON.stringify(missing[0][0])})`);
    return undefined;
  }
  const esbuild = await import(pathToFileURL(path.join(repo, 'node_modules/esbuild/lib/main.js')).href);
  const { cliBuildOptions, withV8Flags } = await import(pathToFileURL(path.join(repo, 'packages/cli/scripts/bundle.mjs')).href);
  const root = path.join(tmp, 'cli');
  const out = path.join(root, 'packages/cli/dist');
  // node_modules next to the copy: koffi and zstd-napi stay external, as in the real bundle.
  fs.mkdirSync(path.join(root, 'packages/cli'), { recursive: true });
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(root, 'node_modules'));
  const plugin = {
    name: 'berth-bench-marks',
    setup(b) {
      b.onLoad({ filter: /packages[\\/]cli[\\/]src[\\/]actions[\\/]run\.ts$/ }, () => {
        let s = text;
        for (const [anchor, name] of marks) s = s.replace(anchor, `performance.mark('berth:${name}');\n${anchor}`);
        return { contents: s, loader: 'ts' };
      });
    },
  };
  // The real bundle's options and V8 flags (packages/cli/scripts/bundle.mjs), plus the marks.
  await esbuild.build({ ...cliBuildOptions({ outdir: out, extraPlugins: [plugin] }), sourcemap: false });
  const binFile = path.join(out, 'bin.js');
  fs.writeFileSync(binFile, withV8Flags(fs.readFileSync(binFile, 'utf8')));
  const { buildEntrypoints } = await import(pathToFileURL(path.join(repo, 'packages/runtime/build-entrypoints.mjs')).href);
  await buildEntrypoints(out);
  return path.join(out, 'bin.js');
}

/** One BERTH_DEBUG_TIMING=1 run: phase name → ms since the previous mark, and the total. */
function timedRun(bin) {
  const r = spawnSync(process.execPath, [bin, 'run', '--rm', '--network', 'none', 'alpine', 'true'], { cwd: repo, env: { ...env, BERTH_DEBUG_TIMING: '1' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`timed berth run exited ${r.status}: ${r.stderr}`);
  const line = r.stderr.split('\n').find((l) => l.startsWith('berth timing (ms):'));
  if (!line) throw new Error(`no timing line in: ${r.stderr}`);
  const phases = [];
  for (const part of line.slice('berth timing (ms):'.length).split('|')) {
    const m = /^\s*(\S+) \+?([\d.]+)\s*$/.exec(part);
    if (m) phases.push([m[1], Number(m[2])]);
  }
  return phases;
}

/** Median of each phase over several runs, in the order of the first run's timeline. */
function phaseMedians(all) {
  const byName = new Map();
  for (const run of all) for (const [name, ms] of run) if (name !== 'total') (byName.get(name) ?? byName.set(name, []).get(name)).push(ms);
  const order = all[0].map(([n]) => n).filter((n) => n !== 'total' && n !== 'node-start');
  return { rows: order.map((n) => [n, median(byName.get(n) ?? [0]), (byName.get(n) ?? []).length]), total: median(all.map((r) => r.find(([n]) => n === 'total')?.[1] ?? 0)) };
}


try {
  console.log('bench/run-e2e: loading alpine into a temp BERTH_ROOT and (if missing) into podman');
  loadAlpineForBoth({ cli, images, env });
  // Warm-up: berth's snapshot is built, caches (seccomp program, page cache) filled, both ways.
  for (let i = 0; i < 2; i++) {
    measure(BERTH);
    measure(PODMAN);
  }

  const loads = [loadavg()];
  const res = { berth: [], podman: [] };
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['berth', 'podman'] : ['podman', 'berth'];
    for (const who of order) res[who].push(measure(who === 'berth' ? BERTH : PODMAN));
    if (i === runs >> 1) loads.push(loadavg());
  }
  loads.push(loadavg());

  const summary = {};
  for (const who of ['berth', 'podman']) {
    summary[who] = { wall: median(res[who].map((r) => r.wall)), cpu: median(res[who].map((r) => r.cpu)), rss: Math.max(...res[who].map((r) => r.rss)) };
  }
  const ratio = summary.berth.wall / summary.podman.wall;
  const cpuRatio = summary.berth.cpu / summary.podman.cpu;

  // The breakdown: the real CLI (runtime marks only), and the instrumented copy (CLI phases too).
  const timed = [];
  for (let i = 0; i < timingRuns; i++) timed.push(timedRun(cli));
  const plain = phaseMedians(timed);
  let detailed;
  if (!opts['no-cli-phases']) {
    const bin = await instrumentedCli();
    if (bin) {
      const t = [];
      for (let i = 0; i < timingRuns; i++) t.push(timedRun(bin));
      detailed = phaseMedians(t);
    }
  }
  loads.push(loadavg());

  const podmanVersion = execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim();
  const runcVersion = execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  const lines = [];
  lines.push('## run end to end', '');
  lines.push(
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${os.cpus().length} CPUs (nproc), Linux ${os.release()}, Node ${process.version}, ${podmanVersion} with ${runcVersion}. Load average (1/5/15 min) at the start, middle and end: ${loads.join(' → ')}.`,
  );
  lines.push(
    `Produced by \`node bench/run-e2e.mjs\` (root): image present for both, ${runs} interleaved runs of each (the order alternating), medians. Wall time is the command's; CPU is user + sys of every process it started, daemonized ones included (each command runs under a subreaper that reaps its orphans, then reads RUSAGE_CHILDREN); peak RSS is the largest resident set of any one of those processes (ru_maxrss), the maximum over the runs.`,
    '',
  );
  lines.push('| command | wall | CPU | wall / podman | CPU / podman | peak RSS (largest process) |', '| --- | --- | --- | --- | --- | --- |');
  lines.push(`| \`${PODMAN.join(' ')}\` | ${f1(summary.podman.wall)} ms | ${f1(summary.podman.cpu)} ms | 1.00× | 1.00× | ${f1(summary.podman.rss)} MiB |`);
  lines.push(`| \`berth run --rm alpine true\` (packages/cli/dist/bin.js) | ${f1(summary.berth.wall)} ms | ${f1(summary.berth.cpu)} ms | **${ratio.toFixed(2)}×** | ${cpuRatio.toFixed(2)}× | ${f1(summary.berth.rss)} MiB |`);
  lines.push('');
  lines.push(
    `Target: ≤ ${TARGET}× podman (wall). ${ratio <= TARGET ? `**Met** (${ratio.toFixed(2)}×).` : `**Not met** (${ratio.toFixed(2)}×).`} All wall times: berth ${res.berth.map((r) => Math.round(r.wall)).join(', ')}; podman ${res.podman.map((r) => Math.round(r.wall)).join(', ')} ms.`,
    '',
  );
  const table = (pm, title) => {
    lines.push(title, '', '| phase (ends at this mark) | median | what happens |', '| --- | --- | --- |');
    for (const [name, ms] of pm.rows) lines.push(`| ${name} | ${f1(ms)} ms | ${PHASES[name] ?? ''} |`);
    lines.push(`| total | ${f1(pm.total)} ms | from the Node process's start to the end of the cleanup |`, '');
  };
  if (detailed) {
    table(
      detailed,
      `Where the milliseconds go (BERTH_DEBUG_TIMING=1, ${timingRuns} runs of the instrumented CLI copy, median per phase; each phase is the time since the previous mark on one timeline of the CLI process and its init child, so phases marked (init) overlap the CLI's work until \`go\`):`,
    );
  }
  table(plain, `The same with the real CLI (${timingRuns} runs; it marks nothing itself, so everything before \`park\` is one phase):`);
  const section = `${lines.join('\n')}\n`;
  console.log(`\n${section}`);

  if (!opts['no-write']) {
    writeResultsSection('run end to end', section);
    console.log('bench/run-e2e: wrote bench/RESULTS.md, section "run end to end"');
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
