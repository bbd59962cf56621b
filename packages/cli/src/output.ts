import { BerthError, describeError, parsePlatform, type Platform } from '@berth/oci';
import type { CommandContext, OutputStream } from './context.js';

/** berth's version (`berth --version`, `berth version`); here, in a module start-up loads anyway, so it adds no chunk. */
export const BERTH_VERSION = '0.1.0';

/** Thrown by a command to stop with a specific exit code after printing its message. */
export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The exit code of a usage error, like commander's own. */
export const USAGE_EXIT = 2;

/** Docker's exit codes for `run`: 125 berth failed (usage errors included), 126 cannot execute, 127 not found. */
export const RUN_FAILED_EXIT = 125;

/** A bad argument: exits 2, and main() adds the usage hint. */
export function usageError(message: string): ExitError {
  return new ExitError(USAGE_EXIT, message);
}

/** The one line printed for a failure: `berth: pull docker.io/library/x:latest: manifest unknown`. */
export function errorLine(err: unknown): string {
  const msg = err instanceof BerthError || err instanceof ExitError ? err.message : describeError(err);
  return `berth: ${msg.split('\n')[0]}`;
}

/** A `--platform` value (`os/arch[/variant]`); a malformed one is a usage error (exit 2). */
export function platformFlag(value: string | undefined): Platform | undefined {
  if (value === undefined) return undefined;
  try {
    return parsePlatform(value);
  } catch (err) {
    throw usageError(err instanceof BerthError ? err.message : describeError(err));
  }
}

export type OutputFormat = 'table' | 'json';

export function parseFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'table') return 'table';
  if (value === 'json') return 'json';
  throw usageError(`invalid --format ${JSON.stringify(value)}: expected "table" or "json"`);
}

/** Left-aligned columns separated by three spaces, as docker prints them. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Docker-style sizes: 7.8MB, 512kB, 1.2GB (decimal units). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits))}${units[i]}`;
}

/** Docker-style relative times: "3 months ago", "About an hour ago". */
export function relativeTime(date: Date | string | undefined, now = Date.now()): string {
  if (date === undefined) return 'N/A';
  const t = typeof date === 'string' ? Date.parse(date) : date.getTime();
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, (now - t) / 1000);
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (s < 1) return 'Less than a second ago';
  if (s < 60) return plural(Math.floor(s), 'second');
  if (s < 3600) return Math.floor(s / 60) === 1 ? 'About a minute ago' : plural(Math.floor(s / 60), 'minute');
  if (s < 86400) return Math.floor(s / 3600) === 1 ? 'About an hour ago' : plural(Math.floor(s / 3600), 'hour');
  if (s < 86400 * 14) return plural(Math.floor(s / 86400), 'day');
  if (s < 86400 * 60) return plural(Math.floor(s / (86400 * 7)), 'week');
  if (s < 86400 * 365 * 2) return plural(Math.floor(s / (86400 * 30)), 'month');
  return plural(Math.floor(s / (86400 * 365)), 'year');
}

/** One JSON document, indented, on the command's stdout (`--format json`, `inspect`). */
export function writeJson(out: OutputStream, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A `--format` that is a Go template (`{{…}}`): its renderer, loaded only then (src/template.ts);
 * `json`/`table`/absent: undefined. A bad template is an error before anything is looked up.
 */
export async function templateFormat(format: string | undefined): Promise<((value: unknown) => string) | undefined> {
  if (format === undefined || !format.includes('{{')) return undefined;
  return (await import('./template.js')).compileTemplate(format);
}

/**
 * docker's `inspect` of several names: a JSON array of those found on stdout (with a
 * `--format` template, its output for each, one line each), an error line on stderr for each
 * one that was not, and exit 1 if any was not.
 */
export async function inspectEach<T>(
  ctx: Pick<CommandContext, 'stdout' | 'stderr'>,
  names: readonly string[],
  find: (name: string) => Promise<T>,
  opts: { format?: string | undefined } = {},
): Promise<number> {
  const render = await templateFormat(opts.format);
  if (!render) parseFormat(opts.format);
  const found: T[] = [];
  let failed = 0;
  for (const name of names) {
    try {
      found.push(await find(name));
    } catch (err) {
      failed++;
      ctx.stderr.write(`${errorLine(err)}\n`);
    }
  }
  if (render) ctx.stdout.write(found.map((f) => `${render(f)}\n`).join(''));
  else writeJson(ctx.stdout, found);
  return failed > 0 ? 1 : 0;
}
