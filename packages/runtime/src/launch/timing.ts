/**
 * BERTH_DEBUG_TIMING=1 output: where the milliseconds of one container went,
 * from the runtime's and the init's epoch-ms marks (both clocks are the
 * system's, so the two processes' marks line up).
 */

const now = (): number => performance.timeOrigin + performance.now();

/** When this module was evaluated: the runtime has been imported. */
const RUNTIME_LOADED = now();
let processMarksTaken = false;

/**
 * The marks of this process before its first container: its start (`node-start`),
 * `runtime-loaded`, and every `performance.mark('berth:NAME')` a caller made (the CLI
 * marks its phases that way: imports, image lookup, rootfs copy...). Only the first
 * call returns them (later containers of the same process start from `run`).
 */
export function takeProcessMarks(): Array<[string, number]> {
  if (processMarksTaken) return [];
  processMarksTaken = true;
  const marks: Array<[string, number]> = [
    ['node-start', performance.timeOrigin],
    ['runtime-loaded', RUNTIME_LOADED],
  ];
  for (const e of performance.getEntriesByType('mark')) {
    if (e.name.startsWith('berth:')) marks.push([e.name.slice('berth:'.length), performance.timeOrigin + e.startTime]);
  }
  return marks;
}

/**
 * One line: the marks in time order, each with the milliseconds since the mark
 * before it (so a phase is named by the mark that ends it), and the total.
 */
export function formatTiming(marks: ReadonlyArray<readonly [string, number]>): string {
  if (marks.length === 0) return '';
  const sorted = [...marks].sort((a, b) => a[1] - b[1]);
  const first = sorted[0] as readonly [string, number];
  const parts: string[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const [name, t] = sorted[i] as readonly [string, number];
    const prev = (sorted[i - 1] as readonly [string, number])[1];
    parts.push(`${name} +${(t - prev).toFixed(1)}`);
  }
  const total = ((sorted[sorted.length - 1] as readonly [string, number])[1] - first[1]).toFixed(1);
  return `berth timing (ms): ${first[0]} 0 | ${parts.join(' | ')} | total ${total}\n`;
}
