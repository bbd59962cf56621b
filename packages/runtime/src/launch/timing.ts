/**
 * BERTH_DEBUG_TIMING=1 output: where the milliseconds of one container went,
 * from the runtime's and the init's epoch-ms marks (both clocks are the
 * system's, so the two processes' marks line up).
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
