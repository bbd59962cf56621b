// Shared pieces of bench/unpack.mjs and bench/copy.mjs: image layouts to unpack
// (alpine and busybox from ../shared/images, a generated large image), timing,
// loop mounts, and writing the "unpack and copy" section of bench/RESULTS.md.
//
// Needs the packages built (`npm run build`) and root (ownership, mounts).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { loadavg, median } from './common.mjs';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const sharedImages = resolve(repoRoot, '../shared/images');
export const outDir = join(repoRoot, 'bench', 'out');
const REF_NAME = 'org.opencontainers.image.ref.name';

export function requireBuilt() {
  for (const p of ['oci', 'fs-root', 'store', 'layers', 'rootfs']) {
    if (!existsSync(join(repoRoot, 'packages', p, 'dist', 'index.js'))) {
      console.error(`packages/${p} is not built: run \`npm run build\` first`);
      process.exit(2);
    }
  }
  if (process.geteuid?.() !== 0) console.warn('warning: not root: ownership is not preserved and loop mounts are skipped');
}

export function machine() {
  return { nproc: cpus().length, kernel: release(), node: process.version };
}

// ---------------------------------------------------------------- timing

export { median };

const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
let timeOut;

/**
 * Wall time of a command in ms (spawnSync: includes process start-up, as a user
 * sees it) and, through /usr/bin/time when present, its CPU time (user + sys):
 * far less disturbed than wall time by other jobs on a shared machine.
 */
export function timeCommand(cmd, args, opts = {}) {
  if (!timeOut) {
    const dir = mkdtempSync(join(tmpdir(), 'berth-bench-time-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    timeOut = join(dir, 'out');
  }
  const argv = TIME ? ['-f', '%U %S', '-o', timeOut, cmd, ...args] : args;
  const t = performance.now();
  const r = spawnSync(TIME ?? cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const wall = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr?.toString().trim()}`);
  if (!TIME) return { wall, cpu: NaN };
  const [user, sys] = readFileSync(timeOut, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
  return { wall, cpu: (user + sys) * 1000 };
}

/** Wall and CPU time (this process, all threads) of an in-process operation. */
export async function timeAsync(fn) {
  const c0 = process.cpuUsage();
  const t = performance.now();
  await fn();
  const wall = performance.now() - t;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

/**
 * Run the contenders of one comparison interleaved (A B A B …) so background load
 * hits both alike; `prepare` runs before each timed run, untimed. Each run()
 * returns { wall, cpu } in ms.
 */
export async function compare(runs, contenders) {
  const times = contenders.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [j, c] of contenders.entries()) {
      await c.prepare?.();
      times[j].push(await c.run());
    }
  }
  for (const c of contenders) await c.prepare?.();
  return contenders.map((c, j) => ({
    name: c.name,
    median: median(times[j].map((t) => t.wall)),
    min: Math.min(...times[j].map((t) => t.wall)),
    cpu: median(times[j].map((t) => t.cpu)),
    runs,
  }));
}

export const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);

export function sync() {
  spawnSync('sync');
}

// ---------------------------------------------------------------- layouts

/**
 * A layout for the benchmark: blobs hard-linked from `source`, and index.json
 * with one entry, the host's (linux/amd64) manifest, named `refName` (umoci
 * needs a tag that names one manifest, berth a full reference).
 */
export function linkLayout(source, dest, refName) {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(join(dest, 'blobs', 'sha256'), { recursive: true });
  for (const hex of readdirSync(join(source, 'blobs', 'sha256'))) {
    linkSync(join(source, 'blobs', 'sha256', hex), join(dest, 'blobs', 'sha256', hex));
  }
  writeFileSync(join(dest, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifest = hostManifest(source);
  writeFileSync(
    join(dest, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...manifest, annotations: { [REF_NAME]: refName } }] }),
  );
  return manifest;
}

/** The linux/amd64 manifest descriptor reachable from a layout's `latest` (through nested indexes). */
function hostManifest(layout) {
  const read = (d) => JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), 'utf8'));
  const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  let entries = top.manifests.filter((m) => !m.annotations?.[REF_NAME] || m.annotations[REF_NAME] === 'latest');
  for (let depth = 0; depth < 4; depth++) {
    const m = entries.find((e) => e.mediaType?.includes('manifest') && (!e.platform || (e.platform.os === 'linux' && e.platform.architecture === 'amd64')));
    if (m) return { mediaType: m.mediaType, digest: m.digest, size: m.size };
    const idx = entries.find((e) => e.mediaType?.includes('index') || e.mediaType?.includes('manifest.list'));
    if (!idx) break;
    entries = read(idx.digest).manifests;
  }
  throw new Error(`${layout}: no linux/amd64 manifest`);
}

/**
 * The generated large image: `layers` gzip layers, ~`totalMiB` MiB of mixed
 * content in all: per layer, many small files (configs, scripts, libraries:
 * half text, half random) in nested directories, some symlinks and hard links,
 * and a couple of big files (random and text). Cached in bench/out/.
 */
export async function largeImageLayout({ layers = 5, totalMiB = 300 } = {}) {
  const dir = join(outDir, `large-${layers}x${totalMiB}`);
  if (existsSync(join(dir, 'index.json'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'blobs', 'sha256'), { recursive: true });
  const perLayer = Math.floor((totalMiB * 1024 * 1024) / layers);
  const descs = [];
  const diffIds = [];
  let seed = 1;
  for (let l = 0; l < layers; l++) {
    const smallBudget = Math.floor(perLayer * 0.25);
    const bigRandom = Math.floor(perLayer * 0.45);
    const bigText = perLayer - smallBudget - bigRandom;
    const file = join(tmp, `layer-${l}.tar.gz`);
    const pack = tar.pack();
    const tarHash = createHash('sha256');
    const gz = createGzip({ level: 6 });
    const blobHash = createHash('sha256');
    let blobSize = 0;
    const done = pipeline(
      pack,
      async function* (src) {
        for await (const chunk of src) {
          tarHash.update(chunk);
          yield chunk;
        }
      },
      gz,
      async function* (src) {
        for await (const chunk of src) {
          blobHash.update(chunk);
          blobSize += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(file),
    );
    const entry = (header, body) =>
      new Promise((ok, fail) => pack.entry({ mtime: new Date(1_700_000_000_000 + l * 1000), uid: 0, gid: 0, ...header }, body, (e) => (e ? fail(e) : ok())));
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const text = (n) => {
      const words = 'the of and to container image layer registry manifest digest alpha beta gamma delta lib so include usr share'.split(' ');
      let s = '';
      while (s.length < n) s += `${words[rnd() % words.length]}${rnd() % 12 === 0 ? '\n' : ' '}`;
      return Buffer.from(s.slice(0, n));
    };
    await entry({ name: `layer${l}/`, type: 'directory', mode: 0o755 });
    let used = 0;
    let n = 0;
    while (used < smallBudget) {
      const d = `layer${l}/d${Math.floor(n / 100)}`;
      if (n % 100 === 0) await entry({ name: `${d}/`, type: 'directory', mode: 0o755 });
      const size = 256 + (rnd() % 24_000);
      const body = n % 2 ? randomBytes(size) : text(size);
      await entry({ name: `${d}/f${n}`, type: 'file', mode: n % 7 === 0 ? 0o755 : 0o644, uid: n % 5 === 0 ? 1000 : 0 }, body);
      if (n % 10 === 0) await entry({ name: `${d}/s${n}`, type: 'symlink', linkname: `f${n}` });
      if (n % 25 === 0) await entry({ name: `${d}/h${n}`, type: 'link', linkname: `${d}/f${n}` });
      used += size;
      n++;
    }
    const big = async (name, size, gen) => {
      const e = pack.entry({ name, type: 'file', size, mode: 0o644, mtime: new Date(1_700_000_000_000) });
      for (let left = size; left > 0; ) {
        const k = Math.min(1 << 20, left);
        if (!e.write(gen(k))) await new Promise((ok) => e.once('drain', ok));
        left -= k;
      }
      e.end();
      await new Promise((ok, fail) => {
        e.once('finish', ok);
        e.once('error', fail);
      });
    };
    await big(`layer${l}/random.bin`, bigRandom, (k) => randomBytes(k));
    await big(`layer${l}/text.txt`, bigText, (k) => text(k));
    pack.finalize();
    await done;
    const hex = blobHash.digest('hex');
    renameSync(file, join(tmp, 'blobs', 'sha256', hex));
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size: blobSize });
    diffIds.push(`sha256:${tarHash.digest('hex')}`);
  }
  const putJson = (value) => {
    const bytes = Buffer.from(JSON.stringify(value));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(tmp, 'blobs', 'sha256', hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const config = putJson({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } });
  const manifest = putJson({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: descs,
  });
  writeFileSync(join(tmp, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(tmp, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { [REF_NAME]: 'latest' } }],
    }),
  );
  renameSync(tmp, dir);
  return dir;
}

/** The images the benchmarks use: name → source layout. Skips the shared ones if absent. */
export async function benchImages({ large = true } = {}) {
  const images = [];
  for (const name of ['alpine', 'busybox']) {
    const layout = join(sharedImages, name);
    if (existsSync(join(layout, 'index.json'))) images.push({ name, layout });
    else console.warn(`skipping ${name}: ${layout} not found`);
  }
  if (large) images.push({ name: 'large (5 layers, 300 MiB)', layout: await largeImageLayout() });
  return images;
}

export function layoutStats(layout) {
  const manifest = hostManifest(layout);
  const m = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', manifest.digest.slice(7)), 'utf8'));
  return { layers: m.layers.length, compressed: m.layers.reduce((n, l) => n + l.size, 0) };
}

export function treeStats(dir) {
  const r = spawnSync('du', ['-sb', '--apparent-size', dir], { encoding: 'utf8' });
  const n = spawnSync('sh', ['-c', `find "${dir}" | wc -l`], { encoding: 'utf8' });
  return { bytes: Number(r.stdout.split('\t')[0]), entries: Number(n.stdout.trim()) - 1 };
}

export const mib = (b) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

// ---------------------------------------------------------------- loop mount

export function loopMountBtrfs(sizeMiB) {
  if (process.geteuid?.() !== 0) return { error: 'not root' };
  const base = mkdtempSync(join(tmpdir(), 'berth-bench-btrfs-'));
  const image = join(base, 'fs.img');
  const dir = join(base, 'mnt');
  mkdirSync(dir);
  let mounted = false;
  const cleanup = () => {
    if (mounted) {
      const r = spawnSync('umount', [dir]);
      if (r.status !== 0) spawnSync('umount', ['-l', dir]);
      mounted = false;
    }
    const out = spawnSync('losetup', ['-j', image], { encoding: 'utf8' }).stdout ?? '';
    for (const line of out.split('\n')) {
      const dev = line.split(':')[0];
      if (dev) spawnSync('losetup', ['-d', dev]);
    }
    rmSync(base, { recursive: true, force: true });
  };
  try {
    execFileSync('truncate', ['-s', `${sizeMiB}M`, image]);
    execFileSync('mkfs.btrfs', ['-q', image], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'loop', '-t', 'btrfs', image, dir], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    cleanup();
    return { error: String(err.message).split('\n')[0] };
  }
  return { dir, cleanup };
}

// ---------------------------------------------------------------- results

/** Replace (or add) `### <title>` inside `## unpack and copy` of bench/RESULTS.md, leaving every other section alone. */
export function writeResults(title, body) {
  const file = join(repoRoot, 'bench', 'RESULTS.md');
  const m = machine();
  const sectionHead = '## unpack and copy';
  const intro = `${sectionHead}\n\nMachine: nproc ${m.nproc}, kernel ${m.kernel}, node ${m.node}. Produced by \`node bench/unpack.mjs\` and \`node bench/copy.mjs\` (root, warm page cache, medians of interleaved runs; other jobs were sharing the machine, so single numbers are noisy).\n`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  let start = text.indexOf(`\n${sectionHead}\n`);
  if (start < 0) {
    text = `${text.trimEnd()}\n\n${intro}`;
    start = text.indexOf(`\n${sectionHead}\n`);
  }
  const afterHead = start + 1 + sectionHead.length;
  const nextSection = text.indexOf('\n## ', afterHead);
  const end = nextSection < 0 ? text.length : nextSection;
  let section = text.slice(start + 1, end);
  // refresh the intro line (date/machine) and the one subsection
  section = section.replace(/^## unpack and copy\n\n(?:(?:Date|Machine):[^\n]*\n)?/, `${intro}`);
  const sub = `### ${title}\n`;
  const s = section.indexOf(sub);
  const load = loadavg();
  const block = `${sub}\nMeasured ${new Date().toISOString().slice(0, 10)}; load average (1/5/15 min) when written: ${load}.\n\n${body.trimEnd()}\n`;
  if (s < 0) {
    section = `${section.trimEnd()}\n\n${block}`;
  } else {
    const e = section.indexOf('\n### ', s + sub.length);
    section = `${section.slice(0, s)}${block}${e < 0 ? '' : `\n${section.slice(e + 1)}`}`;
  }
  text = `${text.slice(0, start + 1)}${section.trimEnd()}\n${nextSection < 0 ? '' : text.slice(end)}`;
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
  console.log(`wrote "${title}" to ${file}`);
}
