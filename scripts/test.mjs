#!/usr/bin/env node
// The README's test command (`npm test`, arguments after `--` go to vitest): installs the
// Debian packages the tests need (scripts/setup-system.sh, a no-op when all are there),
// checks that every test file is in exactly one vitest project (scripts/check-test-projects.mjs),
// builds, runs the whole vitest suite once (all projects: unit, integration, cli, kill), and ends with the plain summary line
// "tests: N passed, N failed, N skipped" that CI reads.
// The set-up ran, so the tests run with BERTH_TEST_REQUIRE_TOOLS=1: a test needing a
// tool the set-up installs fails instead of skipping when the tool is missing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs a set-up step; on failure ends the run with its exit status (its own message is on stderr). */
function step(what, cmd, args) {
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (res.status === 0) return;
  console.error(`tests: not run: ${what} failed${res.error ? `: ${res.error.message}` : ''}`);
  process.exit(res.status || 1);
}

step('the system set-up (scripts/setup-system.sh)', 'bash', [join(root, 'scripts/setup-system.sh')]);
step('the test project check (scripts/check-test-projects.mjs)', process.execPath, [join(root, 'scripts/check-test-projects.mjs')]);
step('the build (npm run build)', 'npm', ['run', 'build', '--silent']);

const dir = mkdtempSync(join(tmpdir(), 'berth-test-'));
const report = join(dir, 'report.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const res = spawnSync('npx', args, { cwd: root, stdio: 'inherit', env: { ...process.env, BERTH_TEST_REQUIRE_TOOLS: '1' } });

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
// A file that failed outside any test (an import or a module-level check threw, a hook
// failed) has no failed test of its own: count it, so the line never says 0 failed then.
const fileErrors = (summary.testResults ?? []).filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((t) => t.status === 'failed'),
).length;
const failed = (summary.numFailedTests ?? 0) + fileErrors;
const skipped = (summary.numPendingTests ?? 0) + (summary.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0 && failed === 0) {
  console.error('tests: no test ran');
  process.exit(1);
}
process.exit(failed > 0 ? res.status || 1 : (res.status ?? 1));
