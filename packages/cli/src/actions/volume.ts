import type { CommandContext } from '../context.js';
import { sweep } from '../containers.js';
import { treeBytes } from '../disk-usage.js';
import { eachName, errorLine, humanSize, inspectEach, parseFormat, table, usageError, writeJson } from '../output.js';
import { ANONYMOUS_LABEL, VolumeStore, type VolumeRecord } from '../volumes.js';
import { confirm } from './prune.js';

/** The ids of the containers there are (after the sweep of what a killed berth left). */
export async function liveContainerIds(ctx: CommandContext): Promise<Set<string>> {
  const { Runtime } = await import('@berth/runtime');
  const rt = new Runtime({ stateDir: ctx.loc.state });
  const list = (await sweep(ctx, rt)) ?? (await rt.list());
  return new Set(list.map((c) => c.id));
}

function labelsOf(flags: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of flags ?? []) {
    const eq = l.indexOf('=');
    out[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}

/** `berth volume create [NAME] [--label K=V]`: prints the name, as docker. */
export async function volumeCreate(ctx: CommandContext, name: string | undefined, opts: { name?: string; label?: string[]; driver?: string }): Promise<number> {
  if (opts.driver !== undefined && opts.driver !== 'local') throw usageError(`volume driver ${JSON.stringify(opts.driver)} is not supported (only local)`);
  if (name !== undefined && opts.name !== undefined && name !== opts.name) {
    throw usageError(`conflicting options: either specify --name or provide positional arg, not both`);
  }
  const { volume } = new VolumeStore(ctx.loc.root).create({ ...((name ?? opts.name) !== undefined ? { name: (name ?? opts.name) as string } : {}), labels: labelsOf(opts.label) });
  ctx.stdout.write(`${volume.Name}\n`);
  return 0;
}

/** `berth volume ls [-q] [--format json]`: docker's DRIVER and VOLUME NAME columns. */
export async function volumeLs(ctx: CommandContext, opts: { quiet?: boolean; format?: string }): Promise<number> {
  const format = parseFormat(opts.format);
  const store = new VolumeStore(ctx.loc.root);
  const list = store.list();
  if (format === 'json') writeJson(ctx.stdout, list.map((v) => store.info(v)));
  else if (opts.quiet) ctx.stdout.write(list.map((v) => `${v.Name}\n`).join(''));
  else ctx.stdout.write(table(['DRIVER', 'VOLUME NAME'], list.map((v) => ['local', v.Name])));
  return 0;
}

/** `berth volume inspect NAME…`: docker's JSON array. */
export async function volumeInspect(ctx: CommandContext, names: string[], opts: { format?: string }): Promise<number> {
  const store = new VolumeStore(ctx.loc.root);
  return inspectEach(ctx, names, async (name) => store.info(store.require(name)), opts);
}

/** `berth volume rm [-f] NAME…`: refused while a container (running or not) uses it, as docker. */
export async function volumeRm(ctx: CommandContext, names: string[], opts: { force?: boolean }): Promise<number> {
  const store = new VolumeStore(ctx.loc.root);
  const users = store.users(await liveContainerIds(ctx));
  return eachName(ctx, names, async (name) => {
    if (!store.get(name)) {
      // -f: a volume that is not there is no error, and no line.
      if (opts.force) return null;
      store.require(name);
    }
    const by = users.get(name);
    if (by) throw new Error(`remove ${name}: volume is in use - [${by.join(', ')}]`);
    store.remove(name);
  });
}

/** Bytes a volume's files take (allocated blocks). */
export function volumeBytes(store: VolumeStore, v: VolumeRecord): Promise<number> {
  return treeBytes(store.dataDir(v.Name));
}

/**
 * `berth volume prune [-a] [-f]`: docker (since 23.0) removes the anonymous volumes no container
 * uses, and with -a the named ones too. Its prompt, "Deleted Volumes:" and "Total reclaimed space".
 */
export async function volumePrune(ctx: CommandContext, opts: { all?: boolean; force?: boolean }): Promise<number> {
  const warning = opts.all ? 'WARNING! This will remove all local volumes not used by at least one container.' : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
  if (!opts.force && !(await confirm(ctx, warning))) return 0;
  const store = new VolumeStore(ctx.loc.root);
  const live = await liveContainerIds(ctx);
  const users = store.users(live);
  const doomed = store.list().filter((v) => !users.has(v.Name) && (opts.all || ANONYMOUS_LABEL in v.Labels));
  let bytes = 0;
  const removed: string[] = [];
  for (const v of doomed) {
    const size = await volumeBytes(store, v);
    try {
      store.remove(v.Name);
      bytes += size;
      removed.push(v.Name);
    } catch (err) {
      ctx.stderr.write(`${errorLine(err)}\n`);
    }
  }
  store.dropStale(live);
  if (removed.length > 0) ctx.stdout.write(`Deleted Volumes:\n${removed.map((n) => `${n}\n`).join('')}\n`);
  ctx.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
  return 0;
}
