import { Reference } from '@berth/oci';
import type { ContainerInfo } from '@berth/runtime';
import type { CommandContext } from '../context.js';
import { sweep } from '../containers.js';
import { formatPorts, portsByContainer } from '../network.js';
import { containerStatus, listTemplate, parseFormat, relativeTime, table, writeJson } from '../output.js';

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

/** docker's column titles of `ps --format 'table …'`. */
const PS_HEADERS = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Names: 'NAMES',
  Networks: 'NETWORKS',
  RestartCount: 'RESTART COUNT',
};

/** docker's State word: created, running, paused, restarting, exited. */
export function stateWord(c: ContainerInfo): string {
  if (c.status === 'stopped') return 'exited';
  if (c.status === 'running' && c.restarting === true) return 'restarting';
  if (c.status === 'running' && c.paused === true) return 'paused';
  return c.status;
}

/** Go's time.Time as docker's ps prints CreatedAt: `2026-12-07 12:30:02 +0000 UTC`. */
function goTime(iso: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : `${t.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** `berth ps [-a] [-q] [--format table|json|TEMPLATE]` */
export async function ps(ctx: CommandContext, opts: { all?: boolean; quiet?: boolean; format?: string }): Promise<number> {
  const render = await listTemplate(opts.format);
  const format = render ? 'template' : parseFormat(opts.format);
  // The runtime's listing entry, not its index: ps starts no process (see @berth/runtime/listing).
  const { listContainersIn, sweepStateRoot } = await import('@berth/runtime/listing');
  const swept = await sweep(ctx, { sweep: (o) => sweepStateRoot(ctx.loc.state, o) });
  // Running ones include those between two runs of a restart policy (docker's ps lists them too).
  // Newest first: both lists come oldest first.
  const list = (swept ?? listContainersIn(ctx.loc.state)).filter((c) => opts.all || c.status === 'running').reverse();
  const ports = opts.quiet ? new Map() : await portsByContainer(ctx);
  const now = Date.now();
  if (opts.quiet) {
    ctx.stdout.write(list.map((c) => `${c.shortId}\n`).join(''));
  } else if (render) {
    // docker's placeholders for `ps --format`, and berth's RestartCount.
    const rows = list.map((c) => ({
      ID: c.shortId,
      Image: imageText(c),
      Command: commandText(c),
      CreatedAt: goTime(c.createdAt),
      RunningFor: relativeTime(c.createdAt, now),
      Ports: formatPorts(ports.get(c.id) ?? []),
      State: stateWord(c),
      Status: containerStatus(c, now),
      Names: c.name,
      RestartCount: c.restartCount ?? 0,
    }));
    ctx.stdout.write(render(rows, PS_HEADERS));
  } else if (format === 'json') {
    writeJson(
      ctx.stdout,
      list.map((c) => ({ ...c, ports: ports.get(c.id) ?? [] })),
    );
  } else {
    ctx.stdout.write(
      table(
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
        list.map((c) => [c.shortId, imageText(c), commandText(c), relativeTime(c.createdAt, now), containerStatus(c, now), formatPorts(ports.get(c.id) ?? []), c.name]),
      ),
    );
  }
  return 0;
}
