#!/usr/bin/env node
// Benchmark: start a container running `true` on a prepared rootfs, berth vs `runc run`.
//
//   sudo node bench/runtime.mjs [--runs 15] [--no-write]
//
// Needs root, runc, skopeo, umoci, ../shared/images/alpine, and a built @berth/runtime
// (`npm run build`). Prepares one alpine bundle (skopeo + umoci unpack; config.json set to
// terminal=false, args ["true"]) and measures, interleaved:
//   runc         `runc run -b BUNDLE ID` (a fresh id each run)
//   berth cold   `node packages/runtime/dist/tools/run.js --rm --rootfs ROOTFS -- true`: a
//                whole Node process, as a CLI invocation pays it
//   berth warm   Runtime.run() in this (already running) process: what the CLI pays once
//                Node and the runtime are loaded
// and, from BERTH_DEBUG_TIMING=1 output of the cold runs, where berth's milliseconds go.
// Writes the "## runtime" section of bench/RESULTS.md (replacing an older one).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { alpineBundle, median, needFor, which } from './common.mjs';
import { PHASES } from './run-phases.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const images = path.resolve(repo, '../shared/images');
const runtimeDist = path.join(repo, 'packages/runtime/dist');
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] ?? 15) || 15;
const write = !args.includes('--no-write');

const need = needFor('runtime');
need(process.getuid?.() === 0, 'needs root');
for (const t of ['runc', 'skopeo', 'umoci']) need(which(t), `${t} is not installed`);
need(fs.existsSync(path.join(images, 'alpine/index.json')), `no images at ${images}`);
for (const f of ['index.js', 'init/main.cjs', 'tools/run.js']) need(fs.existsSync(path.join(runtimeDist, f)), `build @berth/runtime first (missing dist/${f})`);

const ms = (x) => `${x.toFixed(1)} ms`;

/** Runs a command under /usr/bin/time; returns wall ms (measured here), CPU ms (user+sys of the whole tree) and peak RSS (MiB, the largest process). */
function timed(cmd, argv, env = process.env) {
  const out = path.join(tmp, `time-${randomBytes(4).toString('hex')}`);
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', '-o', out, cmd, ...argv], { env, encoding: 'utf8' });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  const [u, s, kib] = fs.readFileSync(out, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
  fs.rmSync(out);
  return { wall, cpu: (u + s) * 1000, rss: kib / 1024, stderr: r.stderr };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-runtime-'));
const state = path.join(tmp, 'state');
try {
  // One bundle for both: runc reads bundle/config.json, berth gets bundle/rootfs.
  const bundle = alpineBundle(images, tmp);
  const imageConfig = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${tmp}/oci:latest`], { encoding: 'utf8' }));
  fs.writeFileSync(path.join(tmp, 'image-config.json'), JSON.stringify(imageConfig));
  const rootfs = path.join(bundle, 'rootfs');

  const runc = () => timed('runc', ['run', '-b', bundle, `bench-${randomBytes(6).toString('hex')}`]);
  const cold = (env) =>
    timed(process.execPath, [path.join(runtimeDist, 'tools/run.js'), '--rm', '--state', state, '--rootfs', rootfs, '--image-config', path.join(tmp, 'image-config.json'), '--', 'true'], env);

  const { Runtime, buildSpec } = await import(pathToFileURL(path.join(runtimeDist, 'index.js')).href);
  const runtime = new Runtime({ stateDir: state, debugTiming: false });
  const spec = buildSpec({ imageConfig, rootfs, overrides: { cmd: ['true'] }, hostEnv: {} });
  const warm = async () => {
    const t0 = performance.now();
    const r = await runtime.run({ rootfs, spec, stdio: 'pipe', remove: true });
    if (r.exitCode !== 0) throw new Error(`berth warm run exited ${r.exitCode}`);
    return { wall: performance.now() - t0 };
  };

  // Warm-up (page cache, seccomp cache, cgroup parents), not counted.
  runc();
  cold(process.env);
  await warm();

  const results = { runc: [], cold: [], warm: [], phases: [] };
  for (let i = 0; i < runs; i++) {
    results.runc.push(runc());
    const c = cold({ ...process.env, BERTH_DEBUG_TIMING: '1' });
    results.cold.push(c);
    const line = c.stderr.split('\n').find((l) => l.startsWith('berth timing (ms):'));
    if (line) results.phases.push(line);
    results.warm.push(await warm());
  }

  // Phase medians from "name +delta" pairs of the timing lines.
  const phases = new Map();
  for (const line of results.phases) {
    for (const part of line.replace('berth timing (ms): ', '').split(' | ')) {
      const m = /^(\S+) \+([\d.]+)$/.exec(part);
      if (m) phases.set(m[1], [...(phases.get(m[1]) ?? []), Number(m[2])]);
    }
  }

  const runcWall = median(results.runc.map((r) => r.wall));
  const runcCpu = median(results.runc.map((r) => r.cpu));
  const coldWall = median(results.cold.map((r) => r.wall));
  const coldCpu = median(results.cold.map((r) => r.cpu));
  const warmWall = median(results.warm.map((r) => r.wall));
  const mib = (rs) => `${Math.max(...rs.map((r) => r.rss)).toFixed(1)} MiB`;
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const runcVersion = execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0];

  const rows = [...phases.entries()].map(([k, v]) => `| ${k} | ${ms(median(v))} | ${PHASES[k] ?? ''} |`);

  const section = [
    '## runtime',
    '',
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${os.cpus().length} CPUs (nproc), Linux ${os.release()}, Node ${process.version}, ${runcVersion}; load average at the end ${load} (CPU time is steadier than wall time on a busy machine).`,
    `Produced by \`node bench/runtime.mjs\` (root): one alpine bundle (skopeo + umoci unpack), \`true\` as the command, ${runs} interleaved runs of each, medians. Wall time measured around the process; CPU = user + sys of the process tree, peak RSS = the largest process's, the maximum over the runs (/usr/bin/time).`,
    '',
    '| what | wall | CPU | wall / runc | peak RSS |',
    '| --- | --- | --- | --- | --- |',
    `| \`runc run\` | ${ms(runcWall)} | ${ms(runcCpu)} | 1.00× | ${mib(results.runc)} |`,
    `| berth, cold (\`node dist/tools/run.js --rm -- true\`: a whole Node process) | ${ms(coldWall)} | ${ms(coldCpu)} | **${(coldWall / runcWall).toFixed(2)}×** | ${mib(results.cold)} |`,
    `| berth, warm (\`Runtime.run()\` in a running process) | ${ms(warmWall)} | n/a | **${(warmWall / runcWall).toFixed(2)}×** | n/a |`,
    '',
    `Target: ≤ 5× runc. Cold: ${coldWall / runcWall <= 5 ? 'met' : 'MISSED'} (${(coldWall / runcWall).toFixed(2)}×); warm: ${warmWall / runcWall <= 5 ? 'met' : 'MISSED'} (${(warmWall / runcWall).toFixed(2)}×).`,
    '',
    'Where a cold run\'s milliseconds go (BERTH_DEBUG_TIMING=1, median of each phase; each phase is the time since the previous mark):',
    '',
    '| phase | median | what happens |',
    '| --- | --- | --- |',
    ...rows,
    '',
    'One timeline of the runner and its init child: phases marked (init) run in the child and overlap the runner\'s work until `go`.',
    '',
  ].join('\n');
  console.log(section);

  if (write) {
    const file = path.join(here, 'RESULTS.md');
    let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmark results\n\n';
    const start = text.search(/^## runtime\s*$/m);
    if (start >= 0) {
      const rest = text.slice(start + 1);
      const next = rest.search(/^## (?!runtime)/m);
      text = text.slice(0, start) + section + (next >= 0 ? `\n${rest.slice(next)}` : '');
    } else {
      text = `${text.trimEnd()}\n\n${section}`;
    }
    fs.writeFileSync(file, text);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
