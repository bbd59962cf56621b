import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './util.js';

// The vitest projects (unit, integration, cli in vitest.config.ts) must hold every test file
// exactly once: a file in no project never runs, one in two runs twice.
const script = path.join(repoRoot(), 'scripts', 'check-test-projects.mjs');

function check(root: string): { status: number | null; stderr: string } {
  const res = spawnSync(process.execPath, [script, root], { encoding: 'utf8', timeout: 60_000 });
  return { status: res.status, stderr: res.stderr };
}

describe('test projects', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'berth-projects-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('every test file of the repository is in exactly one project', () => {
    expect(check(repoRoot())).toEqual({ status: 0, stderr: '' });
  });

  it('names a file that no project picks up, and one the rule puts in integration is not reported', () => {
    copyFileSync(path.join(repoRoot(), 'vitest.config.ts'), path.join(tmp, 'vitest.config.ts'));
    symlinkSync(path.join(repoRoot(), 'node_modules'), path.join(tmp, 'node_modules'));
    const body = "import { it } from 'vitest';\nit('x', () => {});\n";
    for (const f of ['test/misc/stray.test.ts', 'packages/oci/src/pure.test.ts', 'packages/oci/src/mount.root.test.ts', 'test/cli/x.test.ts']) {
      mkdirSync(path.dirname(path.join(tmp, f)), { recursive: true });
      writeFileSync(path.join(tmp, f), body);
    }
    const res = check(tmp);
    expect(res.status).toBe(1);
    expect(res.stderr).toBe('test projects: test/misc/stray.test.ts is in no project (name it by the rule in ARCHITECTURE.md, "Tests")\n');
  });
});
