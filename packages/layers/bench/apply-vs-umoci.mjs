#!/usr/bin/env node
// Benchmark: applyLayer against `umoci unpack` on the real images in
// ../shared/images (linux/amd64). Needs root, umoci, and a build of
// @berth/layers (`npx turbo run build --filter=@berth/layers...`).
//
//   node packages/layers/bench/apply-vs-umoci.mjs [runs]
//
// Reports, per image, the median wall time of:
//   umoci      `umoci unpack --image <layout>:bench <bundle>` (a process)
//   berth      a node process that imports @berth/layers and applies every layer
//   in-process applyLayer alone, timed inside one warm process
// and the ratio berth / umoci (the target is <= 0.8).
import { spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const images = path.resolve(repo, '../shared/images');
const dist = path.join(here, '..', 'dist', 'index.js');
const runs = Number(process.argv[2] ?? 7);

if (!existsSync(dist)) throw new Error(`build @berth/layers first (${dist} missing)`);
if (spawnSync('umoci', ['--version']).status !== 0) throw new Error('umoci not found');

const blobPath = (layout, digest) => path.join(layout, 'blobs', 'sha256', digest.slice(7));
const json = (p) => JSON.parse(readFileSync(p, 'utf8'));

/** A one-image layout (tag "bench") with the linux/amd64 manifest of a shared image. */
function prepare(image, dir) {
  const src = path.join(images, image);
  const top = json(path.join(src, 'index.json'));
  const index = json(blobPath(src, top.manifests[0].digest));
  const entry = index.manifests.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64');
  const manifest = json(blobPath(src, entry.digest));
  const layout = path.join(dir, 'layout');
  mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  for (const d of [entry.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) copyFileSync(blobPath(src, d), blobPath(layout, d));
  writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: entry.mediaType, digest: entry.digest, size: entry.size, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }),
  );
  const config = json(blobPath(layout, manifest.config.digest));
  return {
    layout,
    layers: manifest.layers.map((l, i) => ({ path: blobPath(layout, l.digest), mediaType: l.mediaType, digest: l.digest, diffId: config.rootfs.diff_ids[i] })),
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const haveTime = existsSync('/usr/bin/time');

/** Median wall ms and CPU (user+sys) ms of a command; CPU time is steadier on a shared machine. */
function timeProcess(cmd, args, before) {
  const wall = [];
  const cpu = [];
  for (let i = 0; i < runs + 1; i++) {
    before();
    const t = process.hrtime.bigint();
    const res = haveTime
      ? spawnSync('/usr/bin/time', ['-f', 'BENCHCPU %U %S', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
      : spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (res.status !== 0) throw new Error(`${cmd} failed: ${res.stderr}`);
    if (i === 0) continue; // the first run warms the page cache
    wall.push(ms);
    const m = /BENCHCPU ([\d.]+) ([\d.]+)/.exec(res.stderr);
    if (m) cpu.push((Number(m[1]) + Number(m[2])) * 1000);
  }
  return { wall: median(wall), cpu: cpu.length ? median(cpu) : NaN };
}

const { applyLayer } = await import(dist);
const work = mkdtempSync(path.join(tmpdir(), 'berth-bench-'));
try {
  for (const image of ['alpine', 'busybox']) {
    const dir = path.join(work, image);
    mkdirSync(dir);
    const { layout, layers } = prepare(image, dir);
    const bundle = path.join(dir, 'bundle');
    const root = path.join(dir, 'root');
    const script = path.join(dir, 'apply.mjs');
    writeFileSync(
      script,
      `import { applyLayer } from ${JSON.stringify(dist)};\nimport { createReadStream, mkdirSync } from 'node:fs';\n` +
        `const layers = ${JSON.stringify(layers)};\nmkdirSync(process.argv[2]);\n` +
        `for (const l of layers) await applyLayer({ root: process.argv[2], source: createReadStream(l.path), mediaType: l.mediaType, digest: l.digest, diffId: l.diffId });\n`,
    );
    const umoci = timeProcess('umoci', ['unpack', '--image', `${layout}:bench`, bundle], () => rmSync(bundle, { recursive: true, force: true }));
    const berth = timeProcess(process.execPath, [script, root], () => rmSync(root, { recursive: true, force: true }));
    const inproc = [];
    for (let i = 0; i < runs + 1; i++) {
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root);
      const t = process.hrtime.bigint();
      for (const l of layers) await applyLayer({ root, source: createReadStream(l.path), mediaType: l.mediaType, digest: l.digest, diffId: l.diffId });
      if (i > 0) inproc.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const inprocMs = median(inproc);
    const f = (n) => n.toFixed(0).padStart(5);
    console.log(
      `${image.padEnd(8)} wall: umoci ${f(umoci.wall)} ms, berth process ${f(berth.wall)} ms (${(berth.wall / umoci.wall).toFixed(2)}x), ` +
        `applyLayer in-process ${f(inprocMs)} ms (${(inprocMs / umoci.wall).toFixed(2)}x) | ` +
        `cpu: umoci ${f(umoci.cpu)} ms, berth process ${f(berth.cpu)} ms (${(berth.cpu / umoci.cpu).toFixed(2)}x)`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
