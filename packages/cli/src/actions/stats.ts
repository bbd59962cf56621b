import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerStats } from '@berth/runtime';
import type { CommandContext } from '../context.js';
import { parseFormat, table, writeJson } from '../output.js';
import { sweep } from '../containers.js';

/** docker's units.CustomSize: `%.Ng` of the size scaled by `base` with the unit names. */
function customSize(bytes: number, precision: number, base: number, units: readonly string[]): string {
  let v = bytes;
  let i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${Number(v.toPrecision(precision))}${units[i]}`;
}

/** docker's units.BytesSize: `1.516MiB`. */
export function bytesSize(bytes: number): string {
  return customSize(bytes, 4, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']);
}

/** docker's units.HumanSizeWithPrecision(x, 3): `1.23kB`. */
export function humanSize3(bytes: number): string {
  return customSize(bytes, 3, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB']);
}

/** docker's CPU %: the container's CPU time over the host's between two samples, times the CPUs. */
export function cpuPercent(prev: ContainerStats | undefined, cur: ContainerStats): string {
  if (prev === undefined || prev.cpuNs === undefined || cur.cpuNs === undefined) return '--';
  const cpu = cur.cpuNs - prev.cpuNs;
  const system = cur.systemNs - prev.systemNs;
  if (system <= 0 || cpu < 0) return '0.00%';
  return `${((cpu / system) * cur.onlineCpus * 100).toFixed(2)}%`;
}

/** A stats row as docker's table prints it. */
export function statsRow(prev: ContainerStats | undefined, s: ContainerStats): string[] {
  const memPct = s.memoryLimit > 0 ? `${((s.memoryUsage / s.memoryLimit) * 100).toFixed(2)}%` : '0.00%';
  return [
    s.id.slice(0, 12),
    s.name,
    cpuPercent(prev, s),
    `${bytesSize(s.memoryUsage)} / ${bytesSize(s.memoryLimit)}`,
    memPct,
    `${humanSize3(s.net.rx)} / ${humanSize3(s.net.tx)}`,
    s.block === undefined ? '--' : `${humanSize3(s.block.read)} / ${humanSize3(s.block.write)}`,
    String(s.pids),
  ];
}

const HEADERS = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];

/**
 * `berth stats [--no-stream] [--format table|json] [CONTAINER…]`: every running container by
 * default. CPU % needs two samples: the first screen comes a second after the start (docker's
 * daemon keeps the previous sample; berth has no daemon). Without `--no-stream` it refreshes each
 * second (on a terminal in place) until interrupted.
 */
export async function stats(ctx: CommandContext, ids: string[], opts: { stream?: boolean; format?: string }): Promise<number> {
  const format = parseFormat(opts.format);
  const { Runtime } = await import('@berth/runtime');
  const rt = new Runtime({ stateDir: ctx.loc.state });
  let names = ids;
  if (names.length === 0) {
    names = ((await sweep(ctx, rt)) ?? (await rt.list())).filter((c) => c.status === 'running').map((c) => c.id);
  }
  const sample = async (): Promise<ContainerStats[]> => Promise.all(names.map((n) => rt.stats(n)));
  let prev = await sample();
  let interrupted = false;
  const stop = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', stop);
  try {
    for (;;) {
      await sleep(1000);
      const cur = await sample();
      const rows = cur.map((s, i) => statsRow(prev[i], s));
      if (format === 'json') {
        writeJson(
          ctx.stdout,
          rows.map((r) => Object.fromEntries(HEADERS.map((h, i) => [h, r[i]]))),
        );
      } else {
        if (opts.stream !== false && ctx.stdout.isTTY) ctx.stdout.write('\x1b[2J\x1b[H');
        ctx.stdout.write(table(HEADERS, rows));
      }
      prev = cur;
      if (opts.stream === false || interrupted) return 0;
    }
  } finally {
    process.off('SIGINT', stop);
  }
}
