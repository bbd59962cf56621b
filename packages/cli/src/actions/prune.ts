import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { OptionsOf } from '../commands/command.js';
import type { builderPruneCommand } from '../commands/builder-prune.js';
import type { containerPruneCommand } from '../commands/container-prune.js';
import type { imagePruneCommand } from '../commands/image-prune.js';
import type { systemPruneCommand } from '../commands/system-prune.js';
import type { CommandContext } from '../context.js';
import { readdirOrEmpty, sweep, usedImages } from '../containers.js';
import { humanSize, parseFormat, usageError } from '../output.js';
import { buildCache, collectGarbage, untagUnused } from './rmi.js';

/**
 * docker's confirmation: the warning and "Are you sure you want to continue? [y/N] "
 * on stdout, then one line read from stdin (a terminal or not, as docker does);
 * "y" or "yes" goes ahead, anything else (EOF included) does not.
 */
export async function confirm(ctx: CommandContext, warning: string): Promise<boolean> {
  const { stdin } = ctx;
  ctx.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const done = (): void => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.off('error', done);
      stdin.pause();
      resolve(buf);
    };
    const onData = (c: Buffer | string): void => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        buf = buf.slice(0, nl);
        done();
      }
    };
    stdin.on('data', onData);
    stdin.once('end', done);
    stdin.once('error', done);
  });
  // A terminal echoed the answer and its newline; from a pipe, end the prompt's line here.
  if (!stdin.isTTY) ctx.stdout.write('\n');
  return /^\s*y(es)?\s*$/i.test(line);
}

async function runtime(ctx: CommandContext) {
  const [{ Runtime }, { removeTreeSync }] = await Promise.all([import('@berth/runtime'), import('@berth/rootfs')]);
  return new Runtime({ stateDir: ctx.loc.state, removeRootfs: removeTreeSync });
}

/** Removes every stopped container (created before `until`); prints docker's "Deleted Containers:" block. Resolves with the bytes freed. */
async function pruneContainers(ctx: CommandContext, until?: Date): Promise<number> {
  const rt = await runtime(ctx);
  await sweep(ctx, rt);
  const r = await rt.prune(until === undefined ? {} : { until });
  if (r.removed.length > 0) ctx.stdout.write(`Deleted Containers:\n${r.removed.map((id) => `${id}\n`).join('')}\n`);
  for (const e of r.errors) ctx.stderr.write(`berth: ${e}\n`);
  return r.reclaimedBytes;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * docker's `until` value: a Go duration before now (`10m`, `1h30m`), Unix seconds
 * (`1700000000`, `1700000000.5`) or a date (`2024-01-02`, RFC 3339).
 */
export function parseUntil(value: string, now = Date.now()): Date {
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) {
    let ms = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * (DURATION_UNITS[m[2] as string] ?? 0);
    return new Date(now - ms);
  }
  if (/^\d+(\.\d+)?$/.test(value)) return new Date(Number(value) * 1000);
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw usageError(`invalid --filter until=${JSON.stringify(value)}: expected a duration (10m, 24h), Unix seconds or a date`);
  return new Date(t);
}

function untilFilter(filters: string[] | undefined): Date | undefined {
  let until: Date | undefined;
  for (const f of filters ?? []) {
    const eq = f.indexOf('=');
    const key = eq < 0 ? f : f.slice(0, eq);
    if (key !== 'until' || eq < 0) throw usageError(`invalid --filter ${JSON.stringify(f)}: only until=TIME is supported`);
    until = parseUntil(f.slice(eq + 1));
  }
  return until;
}

/** `berth container prune [-f] [--filter until=TIME]`: remove all stopped containers (created before TIME). */
export async function containerPrune(ctx: CommandContext, flags: OptionsOf<typeof containerPruneCommand>): Promise<number> {
  const until = untilFilter(flags.filter);
  if (!flags.force && !(await confirm(ctx, 'WARNING! This will remove all stopped containers.'))) return 0;
  const bytes = await pruneContainers(ctx, until);
  ctx.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
  return 0;
}

/**
 * `berth system prune [-f] [-a]`: stopped containers, dangling images (with -a every
 * image no container uses), the build cache, and build trees of dead builds.
 */
export async function systemPrune(ctx: CommandContext, flags: OptionsOf<typeof systemPruneCommand>): Promise<number> {
  const warning = [
    'WARNING! This will remove:',
    '  - all stopped containers',
    flags.all ? '  - all images without at least one container associated to them' : '  - all dangling images',
    '  - unused build cache',
    '  - build trees of builds that are no longer running',
    '',
  ].join('\n');
  if (!flags.force && !(await confirm(ctx, warning))) return 0;
  let bytes = await pruneContainers(ctx);

  const untagged = flags.all ? await untagUnused(ctx) : [];
  // The build cache goes first: its entries keep their layers from the gc.
  const cacheDir = join(ctx.loc.root, 'buildcache');
  const cache: string[] = [];
  for (const name of readdirOrEmpty(cacheDir)) {
    const file = join(cacheDir, name);
    try {
      bytes += statSync(file).blocks * 512;
      rmSync(file, { recursive: true, force: true });
      if (name.endsWith('.json')) cache.push(name.slice(0, -'.json'.length));
    } catch {
      // Removed meanwhile.
    }
  }
  const gc = await collectGarbage(ctx);
  bytes += gc.bytes;
  writeDeletedImages(ctx, untagged, gc.blobs);

  const { sweepBuildTrees } = await import('@berth/builder');
  const trees = await sweepBuildTrees(join(ctx.loc.root, 'builds'));
  if (cache.length > 0 || trees.length > 0) {
    ctx.stdout.write('Deleted build cache objects:\n');
    for (const c of cache) ctx.stdout.write(`${c}\n`);
    for (const t of trees) ctx.stdout.write(`${t}\n`);
    ctx.stdout.write('\n');
  }
  ctx.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
  return 0;
}

/**
 * `berth builder prune [-a] [-f]`: remove the build cache entries whose layer no image
 * (tagged or used by a container) has, or whose layer is gone from the store (-a: every
 * entry), then the layers only they held. docker's prompt and "Deleted build cache
 * objects:" block.
 */
export async function builderPrune(ctx: CommandContext, flags: OptionsOf<typeof builderPruneCommand>): Promise<number> {
  const warning = flags.all ? 'WARNING! This will remove all build cache.' : 'WARNING! This will remove all dangling build cache.';
  if (!flags.force && !(await confirm(ctx, warning))) return 0;
  const cache = await buildCache(ctx);
  const entries = await cache.entries();
  let doomed = entries;
  if (!flags.all) {
    const store = await ctx.store();
    const used = new Set<string>();
    const manifests = new Set([...(await store.listTags()).map((t) => t.descriptor.digest), ...(await usedImages(ctx)).map((u) => u.digest)]);
    for (const digest of manifests) {
      const image = await store.getImage(digest).catch(() => undefined);
      for (const l of image?.manifest.layers ?? []) used.add(l.digest);
    }
    const present = await Promise.all(entries.map((e) => (e.layer ? store.has(e.layer.digest) : Promise.resolve(true))));
    doomed = entries.filter((e, i) => e.layer !== undefined && (!used.has(e.layer.digest) || !present[i]));
  }
  await cache.remove(doomed.map((e) => e.key));
  let bytes = doomed.reduce((n, e) => n + e.fileBytes, 0);
  if (doomed.length > 0) {
    bytes += (await collectGarbage(ctx)).bytes;
    ctx.stdout.write(`Deleted build cache objects:\n${doomed.map((e) => `${e.key}\n`).join('')}\n`);
  }
  ctx.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
  return 0;
}

/** docker's "Deleted Images:" block (nothing when nothing went). */
function writeDeletedImages(ctx: CommandContext, untagged: readonly string[], blobs: readonly string[]): void {
  if (untagged.length === 0 && blobs.length === 0) return;
  ctx.stdout.write(`Deleted Images:\n${untagged.map((u) => `untagged: ${u}\n`).join('')}${blobs.map((d) => `deleted: ${d}\n`).join('')}\n`);
}

/**
 * `berth image prune [-a] [-f] [--format json]`: as docker, asks first (unless -f), then
 * removes dangling images (in berth's store: blobs and snapshots no tag, container or
 * build cache entry holds); -a first untags every image no container uses.
 */
export async function imagePrune(ctx: CommandContext, flags: OptionsOf<typeof imagePruneCommand>): Promise<number> {
  const format = parseFormat(flags.format);
  const warning = flags.all ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.';
  if (!flags.force && !(await confirm(ctx, warning))) return 0;
  const untagged = flags.all ? await untagUnused(ctx) : [];
  const { blobs, bytes, snapshots } = await collectGarbage(ctx);
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({ untagged, deletedBlobs: blobs, deletedSnapshots: snapshots, reclaimedBytes: bytes })}\n`);
  } else {
    writeDeletedImages(ctx, untagged, blobs);
    ctx.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
  }
  return 0;
}
