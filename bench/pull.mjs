#!/usr/bin/env node
// Pull benchmark: `berth pull` vs `skopeo copy` from the same loopback registry, cold
// (a fresh store / directory every run), for alpine (../shared/images) and for a
// generated large image (5 layers, ~300 MiB of mixed random and compressible content).
//
//   npm run build && node bench/pull.mjs [--runs 5] [--large-runs 3] [--large-mib 300]
//                                        [--rss-mib 1000] [--skip-large] [--no-write]
//                                        [--berth cli|script] [--date 2026-11-28]
//
// Prints median wall and CPU time, the berth/skopeo ratios and peak RSS per tool, checks the
// targets (large ≤ 1.0× skopeo, alpine ≤ 2.0×, berth RSS < 150 MB) and writes the
// numbers to bench/RESULTS.md (section "pull"). --rss-mib N also pulls a generated N MiB
// image once per tool, to show that berth's peak RSS does not grow with the image.
// The 1-minute load average is sampled before every timed run (the machine may be shared).
// Needs docker-registry, skopeo and /usr/bin/time (Debian packages docker-registry, skopeo, time).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { needFor, which } from './common.mjs';

// The CLI's bin.js sets this V8 flag (packages/cli/scripts/bundle.mjs); the in-process pulls below
// run with it too, so the warm column is the CLI's code path minus its start-up.
setFlagsFromString('--liftoff-only');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'large-runs': { type: 'string', default: '3' },
    'large-mib': { type: 'string', default: '300' },
    'rss-mib': { type: 'string' },
    date: { type: 'string' },
    'skip-large': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    berth: { type: 'string' },
  },
});

const TARGETS = { alpine: 2.0, large: 1.0, rssMiB: 150 };

const need = needFor('pull');
need(which('docker-registry'), 'docker-registry not found (Debian package docker-registry)');
need(which('skopeo'), 'skopeo not found (Debian package skopeo)');
need(existsSync(path.join(repo, 'packages/testing/dist/index.js')), 'packages are not built: run `npm run build` first');
const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
if (!timeBin) console.warn('bench/pull: /usr/bin/time missing (Debian package time): peak RSS will not be measured');

// The fixture builders are TypeScript: compile them next to themselves (fixtures/images/dist, git-ignored).
const tsc = spawnSync('npx', ['tsc', '-p', path.join(repo, 'fixtures/images/tsconfig.json')], { cwd: repo, stdio: 'inherit' });
need(tsc.status === 0, 'compiling fixtures/images failed');

const { startRegistry, seedImage, sharedImagesDir, makeTempDir } = await import('@berth/testing');
const { makeLargeImage } = await import(path.join(repo, 'fixtures/images/dist/index.js'));

const cliBin = path.join(repo, 'packages/cli/dist/bin.js');
const berthMode = args.berth ?? (existsSync(cliBin) ? 'cli' : 'script');
need(berthMode === 'cli' || berthMode === 'script', '--berth must be cli or script');
need(berthMode !== 'cli' || existsSync(cliBin), 'packages/cli/dist/bin.js missing: build the CLI or use --berth script');

const hostArch = { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch;
const platform = hostArch === 'arm64' ? 'linux/arm64' : `linux/${hostArch}`;

/** 1-minute load averages sampled before each timed run. */
const loadSamples = [];

/** Run a command under /usr/bin/time; wall time measured here, peak RSS by time(1). */
function measure(cmd, argv, env) {
  loadSamples.push(os.loadavg()[0]);
  return new Promise((resolve, reject) => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-pull-time-'));
    const timeOut = path.join(tmp, 'time');
    const full = timeBin ? [timeBin, ['-f', '%M %U %S %R', '-o', timeOut, cmd, ...argv]] : [cmd, argv];
    const start = process.hrtime.bigint();
    const child = spawn(full[0], full[1], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      let rssKiB;
      let cpu;
      let sys;
      let faults;
      try {
        const [m, u, sy, f] = timeBin ? readFileSync(timeOut, 'utf8').trim().split('\n').at(-1).split(' ').map(Number) : [];
        rssKiB = m;
        cpu = u + sy;
        sys = sy;
        faults = f;
      } catch {
        rssKiB = undefined;
      }
      rmSync(tmp, { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`${cmd} ${argv.join(' ')} exited with ${code}: ${stderr.trim().split('\n').at(-1)}`));
      resolve({ seconds, rssKiB, cpu, sys, faults });
    });
  });
}

function berthPull(ref, root, work) {
  const env = { BERTH_ROOT: root, BERTH_CONFIG: path.join(work, 'no-config.yaml'), DOCKER_CONFIG: path.join(work, 'docker'), NODE_ENV: 'production' };
  if (berthMode === 'cli') return measure(process.execPath, [cliBin, 'pull', '-q', '--platform', platform, ref], env);
  const helper = path.join(repo, 'test/helpers/pull.mjs');
  return measure(process.execPath, [helper, '--store', path.join(root, 'store'), '--ref', ref, '--platform', platform, '--docker-config', path.join(work, 'docker')], env);
}

function skopeoCopy(ref, dir, work) {
  const tag = ref.split(':').at(-1);
  return measure(
    'skopeo',
    ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--src-no-creds', `docker://${ref}`, `oci:${dir}:${tag}`],
    { REGISTRY_AUTH_FILE: path.join(work, 'auth.json'), TMPDIR: work },
  );
}

/** Sum of the layer sizes a pull of `ref` for `platform` downloads (asks the registry). */
async function layerBytes(registryUrl, repository, tag) {
  const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
  const get = async (reference) => (await fetch(`${registryUrl}/v2/${repository}/manifests/${reference}`, { headers: { Accept: accept } })).json();
  let m = await get(tag);
  if (m.manifests) {
    const [os_, arch] = platform.split('/');
    const entry = m.manifests.find((d) => d.platform?.os === os_ && d.platform?.architecture === arch);
    m = await get(entry.digest);
  }
  return { bytes: m.layers.reduce((n, l) => n + l.size, 0), layers: m.layers.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mib = (kib) => (kib === undefined ? undefined : kib / 1024);
const fmt = (x, d = 2) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));

async function compare(name, ref, runs, work) {
  const results = { berth: [], skopeo: [] };
  const one = async (tool, i) => {
    const dir = path.join(work, `${tool}-${name}-${i}`);
    mkdirSync(dir, { recursive: true });
    try {
      return tool === 'berth' ? await berthPull(ref, dir, work) : await skopeoCopy(ref, path.join(dir, 'layout'), work);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  // One warm-up each (page cache, registry), not counted.
  await one('berth', 'warm');
  await one('skopeo', 'warm');
  for (let i = 0; i < runs; i++) {
    // Alternate who goes first, so neither always gets the warmer machine.
    const order = i % 2 ? ['skopeo', 'berth'] : ['berth', 'skopeo'];
    for (const tool of order) {
      const r = await one(tool, i);
      results[tool].push(r);
      process.stderr.write(`  ${name} run ${i + 1}/${runs} ${tool}: ${fmt(r.seconds, 3)} s, cpu ${fmt(r.cpu, 2)} s, ${fmt(mib(r.rssKiB), 0)} MiB\n`);
    }
  }
  const summary = (rs) => ({
    median: median(rs.map((r) => r.seconds)),
    min: Math.min(...rs.map((r) => r.seconds)),
    cpu: rs.some((r) => r.cpu === undefined) ? undefined : median(rs.map((r) => r.cpu)),
    rssMiB: rs.some((r) => r.rssKiB === undefined) ? undefined : Math.max(...rs.map((r) => mib(r.rssKiB))),
    sys: rs.some((r) => r.sys === undefined) ? undefined : median(rs.map((r) => r.sys)),
    faults: rs.some((r) => r.faults === undefined) ? undefined : median(rs.map((r) => r.faults)),
  });
  const b = summary(results.berth);
  const s = summary(results.skopeo);
  return { name, ref, runs, berth: b, skopeo: s, ratio: b.median / s.median, cpuRatio: b.cpu !== undefined && s.cpu ? b.cpu / s.cpu : undefined, raw: results };
}

/**
 * The same pull inside this (already warm) process: no node start-up, no module
 * loading, JIT warm. Separates berth's transfer cost from its fixed start-up cost.
 */
async function inProcess(ref, runs, work) {
  const { Reference, parsePlatform } = await import('@berth/oci');
  const { RegistryClient, DockerConfigCredentials, pullImage } = await import('@berth/registry');
  const { Store, tuneHeapForStreaming } = await import('@berth/store');
  // What the CLI's pull does too (commands/pull.ts).
  tuneHeapForStreaming();
  const one = async (i) => {
    const root = path.join(work, `inproc-${i}`);
    const store = await Store.open({ root });
    const client = new RegistryClient({ config: { registries: {} }, credentials: new DockerConfigCredentials({ configDir: path.join(work, 'docker') }) });
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    try {
      await pullImage({ client, store, reference: Reference.parse(ref), platform: parsePlatform(platform) });
    } finally {
      await client.close();
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(cpu0);
    rmSync(root, { recursive: true, force: true });
    return { seconds, cpu: (c.user + c.system) / 1e6 };
  };
  await one('warm');
  const rs = [];
  for (let i = 0; i < runs; i++) rs.push(await one(i));
  return { median: median(rs.map((r) => r.seconds)), cpu: median(rs.map((r) => r.cpu)) };
}

const tmp = await makeTempDir('berth-bench-pull-');
const registry = await startRegistry();
const rows = [];
let largeInfo;
let rssCheck;
try {
  mkdirSync(path.join(tmp.path, 'docker'), { recursive: true });
  writeFileSync(path.join(tmp.path, 'docker', 'config.json'), '{"auths":{}}');
  const shared = sharedImagesDir();
  if (shared) {
    await seedImage({ registry, layout: path.join(shared, 'alpine'), repository: 'library/alpine', tag: 'latest' });
    process.stderr.write('alpine:\n');
    const row = await compare('alpine', `${registry.host}/library/alpine:latest`, Number(args.runs), tmp.path);
    row.size = await layerBytes(registry.url, 'library/alpine', 'latest');
    row.warm = await inProcess(`${registry.host}/library/alpine:latest`, Number(args.runs), tmp.path);
    rows.push(row);
  } else {
    console.warn('bench/pull: ../shared/images not found: skipping alpine');
  }
  if (!args['skip-large']) {
    const totalBytes = Number(args['large-mib']) * 1024 * 1024;
    process.stderr.write(`generating the large image (5 layers, ${args['large-mib']} MiB of content)...\n`);
    const layout = path.join(tmp.path, 'large-layout');
    const built = await makeLargeImage({ layout, layers: 5, totalBytes });
    largeInfo = { layers: 5, contentMiB: Number(args['large-mib']), blobMiB: built.layerBytes / 1024 / 1024 };
    await seedImage({ registry, layout, repository: 'bench/large', tag: 'latest' });
    rmSync(layout, { recursive: true, force: true });
    process.stderr.write(`large (${fmt(largeInfo.blobMiB, 0)} MiB of layer blobs):\n`);
    const row = await compare('large', `${registry.host}/bench/large:latest`, Number(args['large-runs']), tmp.path);
    row.size = await layerBytes(registry.url, 'bench/large', 'latest');
    row.warm = await inProcess(`${registry.host}/bench/large:latest`, Number(args['large-runs']), tmp.path);
    rows.push(row);
  }
  if (args['rss-mib']) {
    const mibs = Number(args['rss-mib']);
    process.stderr.write(`generating the RSS image (5 layers, ${mibs} MiB of content)...\n`);
    const layout = path.join(tmp.path, 'rss-layout');
    const built = await makeLargeImage({ layout, layers: 5, totalBytes: mibs * 1024 * 1024 });
    await seedImage({ registry, layout, repository: 'bench/rss', tag: 'latest' });
    rmSync(layout, { recursive: true, force: true });
    const ref = `${registry.host}/bench/rss:latest`;
    const one = async (tool) => {
      const dir = path.join(tmp.path, `${tool}-rss`);
      mkdirSync(dir, { recursive: true });
      try {
        return tool === 'berth' ? await berthPull(ref, dir, tmp.path) : await skopeoCopy(ref, path.join(dir, 'layout'), tmp.path);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    rssCheck = { contentMiB: mibs, blobMiB: built.layerBytes / 1024 / 1024, berth: await one('berth'), skopeo: await one('skopeo') };
    process.stderr.write(`  rss: berth ${fmt(rssCheck.berth.seconds, 3)} s, ${fmt(mib(rssCheck.berth.rssKiB), 0)} MiB; skopeo ${fmt(rssCheck.skopeo.seconds, 3)} s, ${fmt(mib(rssCheck.skopeo.rssKiB), 0)} MiB\n`);
  }
} finally {
  await registry.stop();
  await tmp.cleanup();
}

const version = (cmd, a) => (spawnSync(cmd, a, { encoding: 'utf8' }).stdout || '').trim().split('\n')[0];
const machine = {
  date: new Date().toISOString(),
  nproc: os.availableParallelism?.() ?? os.cpus().length,
  kernel: version('uname', ['-r']),
  node: process.version,
  skopeo: version('skopeo', ['--version']),
  registry: version('docker-registry', ['--version']),
  load: os.loadavg().map((l) => l.toFixed(2)).join(' '),
  loadDuring: loadSamples.length ? { min: Math.min(...loadSamples), median: median(loadSamples), max: Math.max(...loadSamples) } : undefined,
};

const verdicts = [];
for (const r of rows) {
  const target = TARGETS[r.name];
  verdicts.push(`${r.name}: berth/skopeo ${fmt(r.ratio)}× wall (target ≤ ${target.toFixed(1)}×): ${r.ratio <= target ? 'met' : 'MISSED'}${r.cpuRatio === undefined ? '' : `; CPU ${fmt(r.cpuRatio)}×`}`);
  if (r.berth.rssMiB !== undefined) {
    verdicts.push(`${r.name}: berth peak RSS ${fmt(r.berth.rssMiB, 0)} MiB (target < ${TARGETS.rssMiB} MB): ${r.berth.rssMiB * 1.048576 < TARGETS.rssMiB ? 'met' : 'MISSED'}`);
  }
}
if (rssCheck?.berth.rssKiB !== undefined) {
  const m = mib(rssCheck.berth.rssKiB);
  verdicts.push(
    `${fmt(rssCheck.blobMiB, 0)} MiB of layer blobs (${rssCheck.contentMiB} MiB content, one run each): berth peak RSS ${fmt(m, 0)} MiB (target < ${TARGETS.rssMiB} MB): ${m * 1.048576 < TARGETS.rssMiB ? 'met' : 'MISSED'}; wall berth ${fmt(rssCheck.berth.seconds, 3)} s / skopeo ${fmt(rssCheck.skopeo.seconds, 3)} s, CPU ${fmt(rssCheck.berth.cpu)} / ${fmt(rssCheck.skopeo.cpu)} s`,
  );
}

const table = [
  '| image | layer blobs | runs | berth median (s) | skopeo median (s) | ratio | berth min / skopeo min (s) | CPU user+sys berth / skopeo (s) | CPU ratio | of it sys berth / skopeo (s) | minor page faults berth / skopeo | berth peak RSS (MiB) | skopeo peak RSS (MiB) | pullImage in a warm process: wall / CPU (s) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) =>
    [
      r.name,
      `${fmt(r.size.bytes / 1024 / 1024, 1)} MiB (${r.size.layers} layer${r.size.layers > 1 ? 's' : ''}${r.name === 'large' && largeInfo ? `, ${largeInfo.contentMiB} MiB content, ~40% compressible` : ''})`,
      r.runs,
      fmt(r.berth.median, 3),
      fmt(r.skopeo.median, 3),
      `${fmt(r.ratio)}×`,
      `${fmt(r.berth.min, 3)} / ${fmt(r.skopeo.min, 3)}`,
      `${fmt(r.berth.cpu)} / ${fmt(r.skopeo.cpu)}`,
      r.cpuRatio === undefined ? 'n/a' : `${fmt(r.cpuRatio)}×`,
      `${fmt(r.berth.sys)} / ${fmt(r.skopeo.sys)}`,
      `${fmt(r.berth.faults, 0)} / ${fmt(r.skopeo.faults, 0)}`,
      fmt(r.berth.rssMiB, 0),
      fmt(r.skopeo.rssMiB, 0),
      r.warm ? `${fmt(r.warm.median, 3)} / ${fmt(r.warm.cpu)}` : 'n/a',
    ].join(' | '),
  ).map((l) => `| ${l} |`),
];

console.log(table.join('\n'));
console.log(verdicts.join('\n'));

if (!args['no-write'] && rows.length) {
  const file = path.join(repo, 'bench', 'RESULTS.md');
  const section = [
    '## pull',
    '',
    `Date: ${args.date ?? machine.date.slice(0, 10)} (machine clock at the end: ${machine.date}). Measured by \`node bench/pull.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\` (berth via ${berthMode === 'cli' ? '`node packages/cli/dist/bin.js pull`' : 'test/helpers/pull.mjs (pullImage)'}; skopeo via \`skopeo copy docker://… oci:…\`), same loopback \`docker-registry\`, platform ${platform}.`,
    `Machine: ${machine.nproc} CPUs (\`nproc\`), Linux ${machine.kernel}, Node ${machine.node}, ${machine.skopeo}, ${machine.registry}; 1-minute load average during the run ${machine.loadDuring ? `${fmt(machine.loadDuring.min)} to ${fmt(machine.loadDuring.max)} (median ${fmt(machine.loadDuring.median)}, sampled before each timed run)` : 'n/a'}, at the end ${machine.load} (the machine is shared with other jobs: expect noise; CPU time is the steadier number).`,
    'Each run is cold (a fresh store / layout directory), the tools alternate, one warm-up each is not counted; wall time and CPU time (user+sys) are medians, peak RSS the maximum over runs, minor page faults the median (`/usr/bin/time -f "%M %U %S %R"`).',
    'The last column is `pullImage` called inside the already-running, warmed-up benchmark process (fresh store each time, the CLI\'s `--liftoff-only` and `tuneHeapForStreaming()`): no node start-up, no module loading. Not what a user runs; it shows how much of the difference is start-up.',
    '',
    ...table,
    '',
    ...verdicts.map((v) => `- ${v}`),
    '',
  ].join('\n');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n\n';
  const re = /^## pull\n[\s\S]*?(?=^## |(?![\s\S]))/m;
  const next = re.test(old) ? old.replace(re, section + '\n') : `${old.trimEnd()}\n\n${section}`;
  writeFileSync(file, next.replace(/\n{3,}/g, '\n\n'));
  console.log(`wrote ${path.relative(repo, file)}`);
}
