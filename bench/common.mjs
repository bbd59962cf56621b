// Helpers shared by the benchmark scripts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The 1, 5 and 15 minute load averages, as /proc/loadavg prints them ("1.23 0.98 0.80"). */
export const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** The path of command `bin` on PATH, or undefined. */
export const which = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim() || undefined;

/** A precondition check for script `name`: when `cond` is false, prints `bench/<name>: <why>` and exits 2. */
export function needFor(name) {
  return (cond, why) => {
    if (!cond) {
      console.error(`bench/${name}: ${why}`);
      process.exit(2);
    }
  };
}

/**
 * Replaces section `## <title>` of bench/RESULTS.md with `section` (its text, heading
 * included), or appends it when there is none; every other section is left alone.
 */
export function writeResultsSection(title, section) {
  const file = new URL('./RESULTS.md', import.meta.url);
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const start = text.indexOf(`## ${title}`);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else {
    text = `${text.trimEnd()}\n\n${section}`;
  }
  writeFileSync(file, text);
}
