#!/usr/bin/env node
// Build benchmark: `berth build` vs `buildah bud --layers --isolation chroot` of
// the same recipe / Containerfile (alpine:3.20.3 base from ../shared/images,
// two run steps, a copy of a small tree, config steps), side by side:
//   cold:   every step executed (berth: noCache; buildah: --no-cache)
//   cached: nothing changed since the previous build (every step from the cache)
//
//   npm run build && sudo node bench/build.mjs [--runs 5] [--no-write]
//
// Each build is one process (berth through bench/build.berth.mjs on the built
// packages, as the CLI runs it), tools alternate, medians of wall and CPU time
// (/usr/bin/time). buildah uses a private storage root (overlay driver) and its
// chroot isolation; berth uses its default (overlay build trees when possible).
// Writes the section "build" of bench/RESULTS.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, needFor, which } from './common.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'no-write': { type: 'boolean', default: false } } });
const RUNS = Number(args.runs);
const TARGETS = { cold: 1.5, cached: 0.5 };

const need = needFor('build');
need(process.getuid?.() === 0, 'run as root (containers, overlay mounts)');
need(which('buildah'), 'buildah not found (Debian package buildah)');
need(which('skopeo'), 'skopeo not found (Debian package skopeo)');
need(existsSync('/usr/bin/time'), '/usr/bin/time not found (Debian package time)');
need(existsSync(path.join(repo, 'packages/builder/dist/index.js')), 'packages are not built: run `npm run build` first');
const alpine = path.resolve(repo, '../shared/images/alpine');
need(existsSync(path.join(alpine, 'index.json')), `${alpine} not found`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-build-'));
const berthRoot = path.join(tmp, 'berth');
const bRoot = path.join(tmp, 'buildah', 'root');
const bRunRoot = path.join(tmp, 'buildah', 'runroot');
const ctx = path.join(tmp, 'ctx');

// The context: a small app tree (60 files, one of 1 MiB).
mkdirSync(path.join(ctx, 'app', 'lib'), { recursive: true });
for (let i = 0; i < 60; i++) writeFileSync(path.join(ctx, 'app', 'lib', `mod${i}.js`), `export const n = ${i};\n`.repeat(20));
writeFileSync(path.join(ctx, 'app', 'data.bin'), Buffer.alloc(1024 * 1024, 7));
writeFileSync(path.join(ctx, 'app', 'start.sh'), '#!/bin/sh\necho started\n', { mode: 0o755 });
writeFileSync(
  path.join(ctx, 'berth.yaml'),
  `from: alpine:3.20.3
steps:
  - run: echo hello > /hello && mkdir -p /app
  - copy: {src: app, dest: /app}
  - run: ls -R /app > /app/listing && rm /etc/motd
  - env: {MODE: bench}
  - workdir: /app
cmd: ["cat", "/hello"]
`,
);
writeFileSync(
  path.join(ctx, 'Containerfile'),
  `FROM docker.io/library/alpine:3.20.3
RUN echo hello > /hello && mkdir -p /app
COPY app /app
RUN ls -R /app > /app/listing && rm /etc/motd
ENV MODE=bench
WORKDIR /app
CMD ["cat", "/hello"]
`,
);
writeFileSync(path.join(ctx, '.berthignore'), 'Containerfile\n');
writeFileSync(path.join(ctx, '.containerignore'), 'berth.yaml\n.berthignore\n');

function timed(cmd, argv, env = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', cmd, ...argv], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status})`);
  }
  const last = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { wall: last[0], cpu: last[1] + last[2], rssMiB: last[3] / 1024 };
}

const berth = (noCache) => timed(process.execPath, [path.join(repo, 'bench/build.berth.mjs'), berthRoot, ctx, 'localhost/bench:1', ...(noCache ? ['--no-cache'] : [])]);
const buildahArgs = ['--root', bRoot, '--runroot', bRunRoot, '--storage-driver', 'overlay'];
const buildah = (noCache) =>
  timed('buildah', [...buildahArgs, 'bud', '--quiet', '--layers', '--isolation', 'chroot', '--pull=never', ...(noCache ? ['--no-cache'] : []), '-t', 'localhost/bench:1', '-f', path.join(ctx, 'Containerfile'), ctx]);

// Base images in both stores (not timed).
timed(process.execPath, [path.join(repo, 'bench/build.berth.mjs'), berthRoot, ctx, '-', '--load', alpine, 'docker.io/library/alpine']);
spawnSync('skopeo', ['copy', '--quiet', `oci:${alpine}:3.20.3`, `containers-storage:[overlay@${bRoot}+${bRunRoot}]docker.io/library/alpine:3.20.3`], { stdio: 'inherit' });

const results = {};
try {
  for (const mode of ['cold', 'cached']) {
    const runs = { berth: [], buildah: [] };
    // one warm-up each (also primes the cache for the cached runs)
    berth(mode === 'cold');
    buildah(mode === 'cold');
    for (let i = 0; i < RUNS; i++) {
      for (const tool of i % 2 ? ['buildah', 'berth'] : ['berth', 'buildah']) {
        const r = tool === 'berth' ? berth(mode === 'cold') : buildah(mode === 'cold');
        runs[tool].push(r);
        console.log(`${mode} ${tool} run ${i + 1}: ${r.wall.toFixed(2)} s wall, ${r.cpu.toFixed(2)} s cpu`);
      }
    }
    const m = (tool, k) => median(runs[tool].map((r) => r[k]));
    results[mode] = {
      berth: m('berth', 'wall'),
      buildah: m('buildah', 'wall'),
      berthCpu: m('berth', 'cpu'),
      buildahCpu: m('buildah', 'cpu'),
      berthRss: Math.max(...runs.berth.map((r) => r.rssMiB)),
      ratio: m('berth', 'wall') / m('buildah', 'wall'),
    };
  }
} finally {
  spawnSync('buildah', [...buildahArgs, 'rm', '--all'], { stdio: 'ignore' });
  spawnSync('umount', ['-R', bRoot], { stdio: 'ignore' });
  spawnSync('sh', ['-c', `grep -o " ${tmp}[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
}

const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
const buildahVersion = spawnSync('buildah', ['--version'], { encoding: 'utf8' }).stdout.trim();
const fmt = (s) => `${s.toFixed(2)} s`;
const lines = [
  '## build',
  '',
  `Date: ${new Date().toISOString().slice(0, 10)} (measured ${new Date().toISOString()}). Machine: nproc ${os.availableParallelism()}, kernel ${os.release()}, node ${process.version}, ${buildahVersion}; load average at the end ${load} (shared machine: expect noise).`,
  `Produced by \`node bench/build.mjs\` (root): the same build as a berth recipe and a Containerfile (alpine:3.20.3 base loaded beforehand, 2 run steps, a copy of 62 files / 1.1 MiB, 3 config steps), one process per build, tools alternating, ${RUNS} runs each after one warm-up, medians of wall and CPU (user+sys) time from /usr/bin/time. berth: bench/build.berth.mjs on the built packages (overlay build trees, gzip layers); buildah: \`buildah bud --layers --isolation chroot --pull=never\` with a private overlay storage root (layers kept uncompressed until push).`,
  '',
  '| build | berth | buildah | berth / buildah | target | CPU berth / buildah | berth peak RSS |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...['cold', 'cached'].map((mode) => {
    const r = results[mode];
    const ok = r.ratio <= TARGETS[mode] ? 'met' : 'MISSED';
    return `| ${mode === 'cold' ? 'cold (no cache)' : 'fully cached'} | ${fmt(r.berth)} | ${fmt(r.buildah)} | **${r.ratio.toFixed(2)}×** | ≤ ${TARGETS[mode]}× (${ok}) | ${fmt(r.berthCpu)} / ${fmt(r.buildahCpu)} | ${r.berthRss.toFixed(0)} MiB |`;
  }),
  '',
];
console.log(lines.join('\n'));
if (!args['no-write']) {
  const file = path.join(repo, 'bench/RESULTS.md');
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const section = lines.join('\n');
  const start = text.indexOf('\n## build\n');
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start + 1) + section + (next >= 0 ? text.slice(next) : '\n');
  } else text = `${text.trimEnd()}\n\n${section}`;
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
  console.log(`wrote the "build" section of ${file}`);
}
