import { readFileSync } from 'node:fs';
import { arch, availableParallelism, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { CommandContext } from '../context.js';
import { treeBytes } from '../disk-usage.js';
import { BERTH_VERSION, humanSize, parseFormat, table, writeJson } from '../output.js';
import { buildCache } from './rmi.js';

/** The image rows of `berth images` (imported, not linked, so that action stays one chunk). */
async function listImages(ctx: CommandContext) {
  return (await import('./images.js')).listImages(ctx);
}

/**
 * The OCI runtime specification version berth's container spec follows (namespaces, mounts,
 * process, linux.resources, seccomp as runtime-spec 1.2.0 describes them).
 */
export const OCI_RUNTIME_SPEC_VERSION = '1.2.0';

/** Lines `Key: value` indented as docker's `version` and `info` blocks (one space, values aligned). */
function block(title: string, rows: ReadonlyArray<readonly [string, string]>, indent = ' '): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return `${title}\n${rows.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}${v}`.trimEnd()).join('\n')}\n`;
}

async function hostOsArch(): Promise<string> {
  const { hostPlatform, formatPlatform } = await import('@berth/oci');
  return formatPlatform(hostPlatform());
}

/** `berth version`: docker's Client block; berth has no daemon, so there is no Server block. */
export async function version(ctx: CommandContext, opts: { format?: string }): Promise<number> {
  const format = parseFormat(opts.format);
  const v = { Version: BERTH_VERSION, NodeVersion: process.version, Os: process.platform, Arch: (await hostOsArch()).split('/')[1] ?? arch(), OciRuntimeSpec: OCI_RUNTIME_SPEC_VERSION };
  if (format === 'json') {
    writeJson(ctx.stdout, { Client: v });
    return 0;
  }
  ctx.stdout.write(
    block('Client: berth', [
      ['Version', v.Version],
      ['Node version', v.NodeVersion],
      ['OS/Arch', `${v.Os}/${v.Arch}`],
      ['OCI runtime spec', v.OciRuntimeSpec],
    ]),
  );
  return 0;
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function containers(ctx: CommandContext) {
  const { Runtime } = await import('@berth/runtime');
  return new Runtime({ stateDir: ctx.loc.state }).list();
}

/** `berth info`: what a berth command on this host uses (no daemon: the locations, counts, host and defaults). */
export async function info(ctx: CommandContext, opts: { format?: string }): Promise<number> {
  const format = parseFormat(opts.format);
  const [{ detectCgroupVersion, DEFAULT_CAPABILITIES }, { loadRegistryConfig }] = await Promise.all([import('@berth/runtime'), import('@berth/registry')]);
  const list = await containers(ctx);
  const imageIds = new Set((await listImages(ctx)).map((r) => r.digest));
  const config = await loadRegistryConfig({ env: ctx.env, ...(ctx.loc.config ? { path: ctx.loc.config } : {}) });
  const mirrors = Object.entries(config.registries).flatMap(([host, c]) => (c.mirrors ?? []).map((m) => `${host}: ${m}`));
  const running = list.filter((c) => c.status === 'running').length;
  const data = {
    ServerVersion: BERTH_VERSION,
    Containers: list.length,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: list.length - running,
    Images: imageIds.size,
    Volumes: new (await import('../volumes.js')).VolumeStore(ctx.loc.root).list().length,
    RootDir: ctx.loc.root,
    StoreDir: join(ctx.loc.root, 'store'),
    StateDir: ctx.loc.state,
    CgroupDriver: 'cgroupfs',
    CgroupVersion: String(detectCgroupVersion()),
    SecurityOptions: ['name=seccomp,profile=builtin', 'name=no-new-privileges'],
    DefaultCapabilities: [...DEFAULT_CAPABILITIES],
    KernelVersion: release(),
    OperatingSystem: osName(),
    OSType: process.platform,
    Architecture: (await import('node:os')).machine(),
    NCPU: availableParallelism(),
    MemTotal: totalmem(),
    RegistryMirrors: mirrors,
  };
  if (format === 'json') {
    writeJson(ctx.stdout, data);
    return 0;
  }
  const rows: Array<[string, string]> = [
    ['Version', data.ServerVersion],
    ['Containers', String(data.Containers)],
    [' Running', String(data.ContainersRunning)],
    [' Paused', String(data.ContainersPaused)],
    [' Stopped', String(data.ContainersStopped)],
    ['Images', String(data.Images)],
    ['Volumes', String(data.Volumes)],
    ['Root Dir', data.RootDir],
    ['Store Dir', data.StoreDir],
    ['State Dir', data.StateDir],
    ['Cgroup Driver', data.CgroupDriver],
    ['Cgroup Version', data.CgroupVersion],
    ['Seccomp Profile', 'builtin'],
    ['No New Privileges', 'on'],
    ['Default Capabilities', data.DefaultCapabilities.join(' ')],
    ['Kernel Version', data.KernelVersion],
    ['Operating System', data.OperatingSystem],
    ['OSType', data.OSType],
    ['Architecture', data.Architecture],
    ['CPUs', String(data.NCPU)],
    ['Total Memory', `${(data.MemTotal / 2 ** 30).toFixed(2)}GiB`],
  ];
  let out = block('Server: berth (no daemon)', rows);
  out += mirrors.length > 0 ? ` Registry Mirrors:\n${mirrors.map((m) => `  ${m}\n`).join('')}` : '';
  ctx.stdout.write(out);
  return 0;
}

/** docker's Local Volumes row (active: a container, running or not, mounts it; the others' bytes reclaimable) and, for -v, each volume's LINKS and SIZE. */
async function volumesUsage(ctx: CommandContext, list: ReadonlyArray<{ id: string }>): Promise<{ row: DfRow; volumes: Array<{ name: string; links: number; size: number }> }> {
  const [{ VolumeStore }, { volumeBytes }] = await Promise.all([import('../volumes.js'), import('./volume.js')]);
  const store = new VolumeStore(ctx.loc.root);
  const users = store.users(new Set(list.map((c) => c.id)));
  const row: DfRow = { Type: 'Local Volumes', Total: 0, Active: 0, Size: 0, Reclaimable: 0 };
  const volumes: Array<{ name: string; links: number; size: number }> = [];
  for (const v of store.list()) {
    const bytes = await volumeBytes(store, v);
    const links = users.get(v.Name)?.length ?? 0;
    volumes.push({ name: v.Name, links, size: bytes });
    row.Total++;
    row.Size += bytes;
    if (links > 0) row.Active++;
    else row.Reclaimable += bytes;
  }
  return { row, volumes };
}

interface DfRow {
  Type: 'Images' | 'Containers' | 'Local Volumes' | 'Build Cache';
  Total: number;
  Active: number;
  Size: number;
  Reclaimable: number;
}

const percent = (part: number, whole: number): string => `${humanSize(part)} (${whole === 0 ? 0 : Math.round((part / whole) * 100)}%)`;

/**
 * `berth system df [-v]`: docker's TYPE TOTAL ACTIVE SIZE RECLAIMABLE for images (blobs as
 * stored; an image is active when a container uses it; what only inactive images hold is
 * reclaimable), containers (their rootfs copies; running ones are active) and the build cache
 * (entries; active when an image has the entry's layer, the others' layers are reclaimable).
 */
export async function systemDf(ctx: CommandContext, opts: { verbose?: boolean; format?: string }): Promise<number> {
  const format = parseFormat(opts.format);
  const store = await ctx.store();
  const list = await containers(ctx);
  const used = new Set(list.flatMap((c) => (c.image?.digest ? [c.image.digest] : [])));
  const rows = await listImages(ctx);
  // Each blob counted once; blobs of a used image are not reclaimable.
  const blobsOf = new Map<string, Map<string, number>>();
  for (const digest of new Set([...rows.map((r) => r.digest), ...used])) {
    const image = await store.getImage(digest).catch(() => undefined);
    if (!image) continue;
    const blobs = new Map<string, number>([[image.descriptor.digest, image.descriptor.size], [image.configDescriptor.digest, image.configDescriptor.size]]);
    for (const l of image.manifest.layers) blobs.set(l.digest, l.size);
    blobsOf.set(digest, blobs);
  }
  const all = new Map<string, number>();
  const active = new Set<string>();
  for (const [digest, blobs] of blobsOf) {
    for (const [d, n] of blobs) {
      all.set(d, n);
      if (used.has(digest)) active.add(d);
    }
  }
  const imagesSize = [...all.values()].reduce((a, b) => a + b, 0);
  const imagesReclaimable = [...all].filter(([d]) => !active.has(d)).reduce((a, [, n]) => a + n, 0);

  const containerSizes = await Promise.all(list.map(async (c) => (c.ownsRootfs ? treeBytes(c.rootfs) : 0)));
  const containersSize = containerSizes.reduce((a, b) => a + b, 0);
  const containersReclaimable = list.reduce((a, c, i) => a + (c.status === 'running' ? 0 : (containerSizes[i] ?? 0)), 0);

  const entries = await (await buildCache(ctx)).entries();
  const imageLayers = new Set([...blobsOf.values()].flatMap((b) => [...b.keys()]));
  const cacheLayers = new Map<string, { size: number; active: boolean }>();
  for (const e of entries) if (e.layer) cacheLayers.set(e.layer.digest, { size: e.layer.size, active: imageLayers.has(e.layer.digest) });
  const cacheSize = [...cacheLayers.values()].reduce((a, l) => a + l.size, 0) + entries.reduce((a, e) => a + e.fileBytes, 0);
  const cacheReclaimable = [...cacheLayers.values()].filter((l) => !l.active).reduce((a, l) => a + l.size, 0) + entries.reduce((a, e) => a + e.fileBytes, 0);
  const cacheActive = entries.filter((e) => e.layer && cacheLayers.get(e.layer.digest)?.active).length;

  const volumes = await volumesUsage(ctx, list);
  const df: DfRow[] = [
    { Type: 'Images', Total: blobsOf.size, Active: [...blobsOf.keys()].filter((d) => used.has(d)).length, Size: imagesSize, Reclaimable: imagesReclaimable },
    { Type: 'Containers', Total: list.length, Active: list.filter((c) => c.status === 'running').length, Size: containersSize, Reclaimable: containersReclaimable },
    volumes.row,
    { Type: 'Build Cache', Total: entries.length, Active: cacheActive, Size: cacheSize, Reclaimable: cacheReclaimable },
  ];
  if (format === 'json') {
    writeJson(ctx.stdout, opts.verbose ? { Summary: df, Images: rows, Containers: list.map((c, i) => ({ id: c.id, name: c.name, image: c.image?.reference, status: c.statusText, size: containerSizes[i] })), Volumes: volumes.volumes, BuildCache: entries } : df);
    return 0;
  }
  if (!opts.verbose) {
    ctx.stdout.write(table(['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], df.map((r) => [r.Type, String(r.Total), String(r.Active), humanSize(r.Size), percent(r.Reclaimable, r.Size)])));
    return 0;
  }
  const countUsers = (digest: string): number => list.filter((c) => c.image?.digest === digest).length;
  const shared = (digest: string, d: string): boolean => [...blobsOf].some(([other, b]) => other !== digest && b.has(d));
  ctx.stdout.write('Images space usage:\n\n');
  ctx.stdout.write(
    table(
      ['REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
      rows.map((r) => {
        const blobs = [...(blobsOf.get(r.digest) ?? new Map<string, number>())];
        const sharedSize = blobs.filter(([d]) => shared(r.digest, d)).reduce((a, [, n]) => a + n, 0);
        const size = blobs.reduce((a, [, n]) => a + n, 0);
        return [r.repository, r.tag, r.digest.slice(7, 19), humanSize(size), humanSize(sharedSize), humanSize(size - sharedSize), String(countUsers(r.digest))];
      }),
    ),
  );
  ctx.stdout.write('\nContainers space usage:\n\n');
  ctx.stdout.write(table(['CONTAINER ID', 'IMAGE', 'SIZE', 'STATUS', 'NAMES'], list.map((c, i) => [c.shortId, c.image?.reference ?? '', humanSize(containerSizes[i] ?? 0), c.statusText, c.name])));
  ctx.stdout.write('\nLocal Volumes space usage:\n\n');
  ctx.stdout.write(table(['VOLUME NAME', 'LINKS', 'SIZE'], volumes.volumes.map((v) => [v.name, String(v.links), humanSize(v.size)])));
  ctx.stdout.write('\nBuild cache usage: ' + humanSize(cacheSize) + '\n\n');
  ctx.stdout.write(
    table(
      ['CACHE ID', 'SIZE', 'CREATED', 'SHARED'],
      entries.map((e) => [e.key.slice(0, 12), humanSize((e.layer?.size ?? 0) + e.fileBytes), e.created, e.layer && cacheLayers.get(e.layer.digest)?.active ? 'true' : 'false']),
    ),
  );
  return 0;
}
