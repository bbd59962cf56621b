#!/usr/bin/env node
// Runs the whole vitest suite once and ends with the plain summary line
// "tests: N passed, N failed, N skipped" that CI reads.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'berth-test-'));
const report = join(dir, 'report.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const res = spawnSync('npx', args, { stdio: 'inherit' });

let summary;
try {
  summary = JSON.parse(readFileSync(report, 'utf8'));
} catch {
  summary = undefined;
}
rmSync(dir, { recursive: true, force: true });

if (!summary) {
  console.error('tests: the runner produced no report');
  process.exit(res.status || 1);
}
const passed = summary.numPassedTests ?? 0;
const failed = summary.numFailedTests ?? 0;
const skipped = (summary.numPendingTests ?? 0) + (summary.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0 && failed === 0) {
  console.error('tests: no test ran');
  process.exit(1);
}
process.exit(res.status ?? 1);
