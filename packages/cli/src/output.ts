import { BerthError, describeError, parsePlatform, type Platform } from '@berth/oci';
import type { CommandContext, OutputStream } from './context.js';

export { BERTH_VERSION } from './version-string.js';

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

/** Printed after a usage error, by commander for its own and by main() for a command's usageError(). */
export const USAGE_HINT = '(run "berth --help" for usage)';

/** A bad argument: exits 2, and main() adds the usage hint. */
export function usageError(message: string): ExitError {
  return new ExitError(USAGE_EXIT, message);
}

/** The one line printed for a failure: `berth: pull docker.io/library/x:latest: manifest unknown`. */
export function errorLine(err: unknown): string {
  const msg = err instanceof BerthError || err instanceof ExitError ? err.message : describeError(err);
  return `berth: ${msg.split('\n')[0]}`;
}

/**
 * What a command's failure prints and exits with (main() and bin.js's commands without
 * commander): the error line on stderr, the usage hint after a usage error, the stack with
 * BERTH_DEBUG; the exit code an ExitError names, else 1.
 */
export function commandFailed(ctx: CommandContext, err: unknown): number {
  ctx.stderr.write(`${errorLine(err)}\n`);
  if (err instanceof ExitError && err.exitCode === USAGE_EXIT) ctx.stderr.write(`${USAGE_HINT}\n`);
  if (ctx.env['BERTH_DEBUG'] && err instanceof Error) ctx.stderr.write(`${err.stack}\n`);
  return err instanceof ExitError ? err.exitCode : 1;
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

/**
 * docker's units.HumanDuration: "Less than a second", "3 seconds", "About a minute", "3 minutes",
 * "About an hour", "5 hours" (up to 48), "3 days", "2 weeks", "3 months", "2 years".
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

function timeOf(date: Date | string | undefined): number | undefined {
  if (date === undefined) return undefined;
  const t = typeof date === 'string' ? Date.parse(date) : date.getTime();
  return Number.isNaN(t) ? undefined : t;
}

/** Docker-style relative times: "3 months ago", "About an hour ago" (humanDuration + " ago"). */
export function relativeTime(date: Date | string | undefined, now = Date.now()): string {
  const t = timeOf(date);
  return t === undefined ? 'N/A' : `${humanDuration(now - t)} ago`;
}

/**
 * A container's STATUS as docker's ps shows it: "Created", "Up 3 minutes", "Up 3 minutes (Paused)",
 * "Restarting (1) 2 seconds ago" (between two runs of a restart policy: the last exit status and
 * when it came), "Exited (0) 2 minutes ago" (berth adds "Exited (unknown) …" when its monitor died
 * and the exit status was lost).
 */
export function containerStatus(
  c: { status: string; statusText: string; startedAt?: string; finishedAt?: string; paused?: boolean; restarting?: boolean; exitCode?: number | null },
  now = Date.now(),
): string {
  if (c.status === 'created') return 'Created';
  if (c.status === 'running' && c.restarting === true) {
    const finished = timeOf(c.finishedAt);
    return `Restarting (${c.exitCode ?? 0})${finished === undefined ? '' : ` ${humanDuration(now - finished)} ago`}`;
  }
  if (c.status === 'running') {
    const started = timeOf(c.startedAt);
    const up = started === undefined ? 'Up' : `Up ${humanDuration(now - started)}`;
    return c.paused === true ? `${up} (Paused)` : up;
  }
  const finished = timeOf(c.finishedAt);
  return finished === undefined ? c.statusText : `${c.statusText} ${humanDuration(now - finished)} ago`;
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
 * A list's `--format` (`ps`, `images`) that is a Go template, plain or `table …`: the renderer
 * of the rows (src/list-format.ts, loaded only then), given each field's column title;
 * `json`/`table`/absent: undefined. A bad template is an error before anything is listed.
 */
export async function listTemplate(format: string | undefined): Promise<((rows: readonly object[], headers: Readonly<Record<string, string>>) => string) | undefined> {
  if (format === undefined || !format.includes('{{')) return undefined;
  const { renderList } = await import('./list-format.js');
  // Parsed now, so that a bad template fails before the list is made.
  renderList(format, [], {});
  return (rows, headers) => renderList(format, rows, headers);
}

/**
 * docker's verbs on several names (stop, kill, rm, start, wait, volume rm, …): `op` on each in
 * turn; when it succeeds, its line on stdout (the name, or the text `op` returns; `null`: no line),
 * when it fails, an error line on stderr and on to the next; exit 1 if any failed.
 */
export async function eachName(
  ctx: Pick<CommandContext, 'stdout' | 'stderr'>,
  names: readonly string[],
  op: (name: string) => Promise<string | null | void>,
): Promise<number> {
  let failed = 0;
  for (const name of names) {
    try {
      const line = await op(name);
      if (line !== null) ctx.stdout.write(`${line ?? name}\n`);
    } catch (err) {
      failed++;
      ctx.stderr.write(`${errorLine(err)}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
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
