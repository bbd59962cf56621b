import * as fs from 'node:fs';

/*
 * A process's start time from /proc, on its own: berth-runtime's `state`, `start`, `kill` and
 * `delete` read it for every container and load nothing else of the lifecycle (state.ts brings
 * node:crypto). Re-exported by state.ts.
 */

/** Start time of a process (clock ticks since boot), or undefined when it does not exist. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19]. A zombie has exited already.
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  const start = Number(rest[19]);
  return Number.isFinite(start) ? start : undefined;
}
