import type { ContainerInfo, LogEntry } from '@berth/runtime';
import type { CommandContext } from '../context.js';
import { sweep } from '../containers.js';
import { containerNetworkSettings, detachNetwork, dockerNetworkSettings } from '../network.js';
import { stateWord } from './ps.js';
import { releaseMounts } from '../mounts.js';
import { VolumeStore } from '../volumes.js';
import { eachName, errorLine, inspectEach, table, usageError, writeJson } from '../output.js';

/** The runtime; `removesRootfs` when the command deletes containers (their rootfs goes through @berth/rootfs). */
async function runtime(ctx: CommandContext, opts: { removesRootfs?: boolean } = {}) {
  const [{ Runtime }, rootfs] = await Promise.all([import('@berth/runtime'), opts.removesRootfs ? import('@berth/rootfs') : undefined]);
  return new Runtime({ stateDir: ctx.loc.state, ...(rootfs ? { removeRootfs: rootfs.removeTreeSync } : {}) });
}

export async function stop(ctx: CommandContext, ids: string[], opts: { time?: string }): Promise<number> {
  const rt = await runtime(ctx);
  const timeoutSec = opts.time === undefined ? 10 : Number(opts.time);
  if (!Number.isFinite(timeoutSec) || timeoutSec < 0) {
    throw usageError(`invalid --time ${JSON.stringify(opts.time)}: expected seconds`);
  }
  return eachName(ctx, ids, async (id) => {
    await rt.stop(id, { timeoutSec });
    // docker releases a stopped container's address and ports.
    await detachNetwork(ctx, (await rt.inspect(id)).id);
  });
}

export async function kill(ctx: CommandContext, ids: string[], opts: { signal?: string }): Promise<number> {
  const rt = await runtime(ctx);
  return eachName(ctx, ids, async (id) => {
    await rt.kill(id, opts.signal ?? 'SIGKILL');
  });
}

/** `berth pause CONTAINER…`: docker prints each name given. */
export async function pause(ctx: CommandContext, ids: string[]): Promise<number> {
  const rt = await runtime(ctx);
  return eachName(ctx, ids, async (id) => {
    await rt.pause(id);
  });
}

export async function unpause(ctx: CommandContext, ids: string[]): Promise<number> {
  const rt = await runtime(ctx);
  return eachName(ctx, ids, async (id) => {
    await rt.resume(id);
  });
}

/** `berth update [-m] [--memory-swap] [--cpus] [--pids-limit] CONTAINER…`: docker prints each name. */
export async function update(ctx: CommandContext, ids: string[], opts: { memory?: string; memorySwap?: string; cpus?: string; pidsLimit?: string }): Promise<number> {
  const { parseCpus, parseMemory, parseMemorySwap, parsePidsLimit } = await import('@berth/runtime');
  const change: import('@berth/runtime').LimitChange = {};
  try {
    if (opts.memory !== undefined) change.memory = parseMemory(opts.memory);
    if (opts.memorySwap !== undefined) change.memorySwap = parseMemorySwap(opts.memorySwap, change.memory);
    if (opts.cpus !== undefined) change.cpus = parseCpus(opts.cpus);
    if (opts.pidsLimit !== undefined) change.pidsLimit = parsePidsLimit(opts.pidsLimit) ?? -1;
  } catch (err) {
    throw usageError(errorLine(err).replace(/^berth: /, ''));
  }
  if (Object.keys(change).length === 0) throw usageError('update: nothing to change (give --memory, --memory-swap, --cpus or --pids-limit)');
  const rt = await runtime(ctx);
  return eachName(ctx, ids, async (id) => {
    await rt.update(id, change);
  });
}

/**
 * `berth top CONTAINER [ps OPTIONS]`: docker's way: the host's `ps` (default `-ef`), the PID
 * column found in its header, only the rows of the container's processes (its cgroup's members).
 */
export async function top(ctx: CommandContext, id: string, psArgs: string[]): Promise<number> {
  const rt = await runtime(ctx);
  const pids = new Set((await rt.pids(id)).map(String));
  const { execFile } = await import('node:child_process');
  const args = psArgs.length > 0 ? psArgs : ['-ef'];
  const out = await new Promise<string>((resolve, reject) => {
    execFile('ps', args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`run ps ${args.join(' ')}: ${(stderr || err.message).trim().split('\n')[0]}`));
      else resolve(stdout);
    });
  });
  const [header = '', ...lines] = out.split('\n');
  const titles = header.trim().split(/\s+/);
  const pidColumn = titles.indexOf('PID');
  if (pidColumn < 0) throw new Error(`top ${id}: ps ${args.join(' ')} printed no PID column`);
  const rows: string[][] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < titles.length || !pids.has(fields[pidColumn] ?? '')) continue;
    // The last column (the command) keeps its spaces.
    rows.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  }
  ctx.stdout.write(table(titles, rows));
  return 0;
}

/**
 * `berth export [-o FILE] CONTAINER`: the container's root filesystem as an uncompressed tar,
 * written by @berth/layers' createLayer against nothing (every file an addition), so the
 * archive has the same entries, ownership and xattrs a layer of it would.
 */
export async function exportContainer(ctx: CommandContext, id: string, opts: { output?: string }): Promise<number> {
  if (!opts.output && ctx.stdout.isTTY) {
    throw usageError('export: refusing to write an archive to a terminal; use -o FILE or redirect stdout');
  }
  const rt = await runtime(ctx);
  const c = await rt.inspect(id);
  const { createLayer } = await import('@berth/layers');
  if (opts.output !== undefined) {
    await createLayer({ target: c.rootfs, output: opts.output, compression: 'none' });
    return 0;
  }
  const { PassThrough } = await import('node:stream');
  const tar = new PassThrough();
  const done = new Promise<void>((resolve, reject) => {
    tar.on('end', resolve);
    tar.on('error', reject);
  });
  tar.pipe(ctx.stdout, { end: false });
  await createLayer({ target: c.rootfs, output: tar, compression: 'none' });
  await done;
  return 0;
}

/**
 * `berth diff CONTAINER`: A/C/D lines against the snapshot of the container's image, from
 * @berth/layers' diffTrees (createLayer's own comparison).
 */
export async function diff(ctx: CommandContext, id: string): Promise<number> {
  const rt = await runtime(ctx);
  const c = await rt.inspect(id);
  if (c.image === undefined) throw new Error(`diff ${c.shortId}: the container was not made from an image in the store`);
  const [{ Snapshots }, { diffTrees }] = await Promise.all([import('@berth/rootfs'), import('@berth/layers')]);
  const store = await ctx.store();
  const image = await store.getImage(c.image.digest);
  const snapshot = await new Snapshots({ root: ctx.snapshotsDir, store }).ensure({ image });
  ctx.stdout.write(withoutInitFiles(diffTrees({ base: snapshot.path, target: c.rootfs })).map((ch) => `${ch.kind} ${ch.path}\n`).join(''));
  return 0;
}

/** What the runtime adds to every rootfs to bind-mount its own files over (docker keeps them in its init layer). */
const INIT_FILES = new Set(['/etc/resolv.conf', '/etc/hosts', '/etc/hostname']);

/**
 * docker's diff does not show the files of its init layer: leave out the runtime's mount points
 * when it added them, and a parent directory listed only because of them.
 */
function withoutInitFiles<T extends { kind: string; path: string }>(changes: T[]): T[] {
  const kept = changes.filter((ch) => !(ch.kind === 'A' && INIT_FILES.has(ch.path)));
  const parents = new Set([...INIT_FILES].map((f) => f.slice(0, f.lastIndexOf('/'))));
  return kept.filter((ch) => !(ch.kind === 'C' && parents.has(ch.path) && !kept.some((o) => o.path.startsWith(`${ch.path}/`)) && changes.length !== kept.length));
}

/** `berth rename CONTAINER NEW_NAME`: silent on success, as docker. */
export async function rename(ctx: CommandContext, id: string, name: string): Promise<number> {
  const rt = await runtime(ctx);
  await rt.rename(id, name);
  return 0;
}

export async function rm(ctx: CommandContext, ids: string[], opts: { force?: boolean; volumes?: boolean }): Promise<number> {
  const rt = await runtime(ctx, { removesRootfs: true });
  await sweep(ctx, rt);
  const volumes = new VolumeStore(ctx.loc.root);
  return eachName(ctx, ids, async (id) => {
    const full = await rt.inspect(id).then(
      (c) => c.id,
      () => undefined,
    );
    await rt.remove(id, { force: Boolean(opts.force) });
    if (full !== undefined) await detachNetwork(ctx, full);
    if (full !== undefined) await releaseMounts(volumes, full, { removeAnonymous: Boolean(opts.volumes) });
  });
}

/** A Go duration (`42m`, `1h30m`, `2.5s`) in milliseconds, or undefined when `text` is not one. */
function goDuration(text: string): number | undefined {
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * (unit[m[2] ?? ''] ?? 0);
  return ms;
}

/**
 * docker's `--since`/`--until` values: an RFC 3339 date or time (`2026-01-02`, `2026-01-02T13:23:37Z`),
 * a Unix timestamp (`1767225600`, `1767225600.5`), or a duration before now (`42m`, `1h30m`).
 */
export function logTime(flag: string, value: string, now = Date.now()): Date {
  const d = goDuration(value);
  if (d !== undefined) return new Date(now - d);
  if (/^\d+(\.\d+)?$/.test(value)) return new Date(Number(value) * 1000);
  const t = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t)) {
    throw usageError(`invalid ${flag} ${JSON.stringify(value)}: expected a timestamp (2026-01-02T13:23:37Z, Unix seconds) or a duration (42m)`);
  }
  return new Date(t);
}

/** docker's `--tail`: "all" (the default), a count; a negative count is all. */
function tailCount(value: string | undefined): number | undefined {
  if (value === undefined || value === 'all') return undefined;
  if (!/^-?\d+$/.test(value)) throw usageError(`invalid --tail ${JSON.stringify(value)}: expected a number of lines or "all"`);
  const n = Number(value);
  return n < 0 ? undefined : n;
}

/** A log entry's time as docker's `logs -t` prints it: RFC 3339 in UTC with nine fraction digits. */
export function logTimestamp(time: string): string {
  const t = Date.parse(time);
  if (Number.isNaN(t)) return time;
  return new Date(t).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export interface LogsFlags {
  follow?: boolean;
  tail?: string;
  since?: string;
  until?: string;
  timestamps?: boolean;
}

/** `berth logs [-f] [-n N] [--since T] [--until T] [-t] CONTAINER`: what a container wrote (detached or not). */
export async function logs(ctx: CommandContext, id: string, opts: LogsFlags): Promise<number> {
  const tail = tailCount(opts.tail);
  const now = Date.now();
  const since = opts.since === undefined ? undefined : logTime('--since', opts.since, now);
  const until = opts.until === undefined ? undefined : logTime('--until', opts.until, now);
  const rt = await runtime(ctx);
  // docker's words for a container run with --log-driver none.
  if ((await rt.inspect(id)).logDriver === 'none') throw new Error('configured logging driver does not support reading');
  const stream = rt.logs(id, {
    follow: Boolean(opts.follow),
    ...(tail !== undefined ? { tail } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (e: LogEntry) => {
      const out = e.stream === 'stderr' ? ctx.stderr : ctx.stdout;
      out.write(opts.timestamps ? `${logTimestamp(e.time)} ${e.log}` : e.log);
    });
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  return 0;
}

/** `berth inspect` for containers is not mixed with images: `berth container inspect ID`. */
export async function inspectContainer(ctx: CommandContext, ids: string[], opts: { format?: string } = {}): Promise<number> {
  const rt = await runtime(ctx);
  return inspectEach(
    ctx,
    ids,
    async (id) => {
      const c = await rt.inspect(id);
      const Mounts = new VolumeStore(ctx.loc.root).record(c.id)?.Mounts ?? [];
      return { ...withDockerFields(c), Mounts, NetworkSettings: dockerNetworkSettings(await containerNetworkSettings(ctx, c.id)) };
    },
    opts,
  );
}

/** `berth port CONTAINER`: its published ports, as docker prints them (`80/tcp -> 0.0.0.0:8080`). */
export async function port(ctx: CommandContext, id: string): Promise<number> {
  const rt = await runtime(ctx);
  const c = await rt.inspect(id);
  const settings = await containerNetworkSettings(ctx, c.id);
  for (const p of settings.ports) ctx.stdout.write(`${p.containerPort}/${p.protocol} -> ${p.hostIP ? p.hostIP : '0.0.0.0'}:${p.hostPort}\n`);
  return 0;
}

/**
 * The container's state with docker's names beside berth's own (so `--format '{{.State.Status}}'`,
 * `{{.Id}}`, `{{.Name}}`, `{{json .Config.Cmd}}` work as with docker): docker's status words
 * (`created`, `running`, `exited`) and `/`-prefixed name.
 */
function withDockerFields(c: import('@berth/runtime').ContainerInfo) {
  const status = stateWord(c);
  return {
    ...c,
    Id: c.id,
    Name: `/${c.name}`,
    Created: c.createdAt,
    Image: c.image?.digest,
    State: {
      Status: status,
      Running: c.status === 'running',
      Paused: c.paused === true,
      Restarting: c.restarting === true,
      OOMKilled: c.oomKilled === true,
      Pid: c.status === 'running' ? (c.pid ?? 0) : 0,
      ExitCode: c.exitCode ?? 0,
      StartedAt: c.startedAt ?? '',
      FinishedAt: c.finishedAt ?? '',
    },
    Config: { Cmd: c.command, Image: c.image?.reference, Tty: c.tty, OpenStdin: c.openStdin === true },
    RestartCount: c.restartCount ?? 0,
    HostConfig: {
      RestartPolicy: c.restartPolicy ?? { Name: 'no', MaximumRetryCount: 0 },
      LogConfig: { Type: c.logDriver ?? 'json-file', Config: {} },
      AutoRemove: c.autoRemove,
    },
  };
}
