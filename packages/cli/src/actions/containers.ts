import { Reference } from '@berth/oci';
import type { ContainerInfo, LogEntry } from '@berth/runtime';
import type { CommandContext } from '../context.js';
import { sweep } from '../containers.js';
import { containerStatus, errorLine, inspectEach, parseFormat, relativeTime, table, usageError, writeJson } from '../output.js';

/** The runtime; `removesRootfs` when the command deletes containers (their rootfs goes through @berth/rootfs). */
async function runtime(ctx: CommandContext, opts: { removesRootfs?: boolean } = {}) {
  const [{ Runtime }, rootfs] = await Promise.all([import('@berth/runtime'), opts.removesRootfs ? import('@berth/rootfs') : undefined]);
  return new Runtime({ stateDir: ctx.loc.state, ...(rootfs ? { removeRootfs: rootfs.removeTreeSync } : {}) });
}

function commandText(c: ContainerInfo): string {
  const text = c.command.join(' ');
  return JSON.stringify(text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

/** The image as docker's ps shows it: the familiar reference (`alpine:latest`), else the digest. */
function imageText(c: ContainerInfo): string {
  const ref = c.image?.reference;
  if (ref === undefined) return '';
  return Reference.tryParse(ref)?.familiar() ?? ref;
}

/** `berth ps [-a] [-q] [--format json]` */
export async function ps(ctx: CommandContext, opts: { all?: boolean; quiet?: boolean; format?: string }): Promise<number> {
  const format = parseFormat(opts.format);
  const rt = await runtime(ctx);
  const list = ((await sweep(ctx, rt)) ?? (await rt.list())).filter((c) => opts.all || c.status === 'running');
  list.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (format === 'json') {
    writeJson(ctx.stdout, list);
  } else if (opts.quiet) {
    ctx.stdout.write(list.map((c) => `${c.shortId}\n`).join(''));
  } else {
    const now = Date.now();
    ctx.stdout.write(
      table(
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'],
        list.map((c) => [c.shortId, imageText(c), commandText(c), relativeTime(c.createdAt, now), containerStatus(c, now), c.name]),
      ),
    );
  }
  return 0;
}

/** Apply an operation to several containers, docker-style: print each name, report failures, exit 1 if any failed. */
async function each(ctx: CommandContext, ids: string[], op: (id: string) => Promise<void>): Promise<number> {
  let failed = 0;
  for (const id of ids) {
    try {
      await op(id);
      ctx.stdout.write(`${id}\n`);
    } catch (err) {
      failed++;
      ctx.stderr.write(`${errorLine(err)}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

export async function stop(ctx: CommandContext, ids: string[], opts: { time?: string }): Promise<number> {
  const rt = await runtime(ctx);
  const timeoutSec = opts.time === undefined ? 10 : Number(opts.time);
  if (!Number.isFinite(timeoutSec) || timeoutSec < 0) {
    throw usageError(`invalid --time ${JSON.stringify(opts.time)}: expected seconds`);
  }
  return each(ctx, ids, async (id) => {
    await rt.stop(id, { timeoutSec });
  });
}

export async function kill(ctx: CommandContext, ids: string[], opts: { signal?: string }): Promise<number> {
  const rt = await runtime(ctx);
  return each(ctx, ids, (id) => rt.kill(id, opts.signal ?? 'SIGKILL'));
}

export async function rm(ctx: CommandContext, ids: string[], opts: { force?: boolean }): Promise<number> {
  const rt = await runtime(ctx, { removesRootfs: true });
  await sweep(ctx, rt);
  return each(ctx, ids, (id) => rt.remove(id, { force: Boolean(opts.force) }));
}

/** `berth logs [-f] CONTAINER`: what a detached container wrote. */
export async function logs(ctx: CommandContext, id: string, opts: { follow?: boolean }): Promise<number> {
  const rt = await runtime(ctx);
  await rt.inspect(id);
  const stream = rt.logs(id, { follow: Boolean(opts.follow) });
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (e: LogEntry) => {
      (e.stream === 'stderr' ? ctx.stderr : ctx.stdout).write(e.log);
    });
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  return 0;
}

/** `berth inspect` for containers is not mixed with images: `berth container inspect ID`. */
export async function inspectContainer(ctx: CommandContext, ids: string[]): Promise<number> {
  const rt = await runtime(ctx);
  return inspectEach(ctx, ids, (id) => rt.inspect(id));
}
