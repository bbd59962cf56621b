// The build workspace as root: overlay mounts of a dead build are cleared.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from './test-support/env.js';
import { Workspace } from './workspace.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-workspace-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('workspace', () => {
  it('clears build directories (and their overlay mounts) left by a dead build process', async () => {
    const root = path.join(dir, 'ws');
    const probe = await Workspace.create(root);
    if (probe.mode !== 'overlay') return void (await probe.dispose());
    // simulate a crashed build: a dir named for a pid that no longer exists, with an overlay still mounted
    const deadPid = 2 ** 22 - 7;
    const stale = path.join(root, `build-${deadPid}-0`);
    for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(path.join(stale, d), { recursive: true });
    await writeFile(path.join(stale, 'pid'), `${deadPid}\n`);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${stale}/lower,upperdir=${stale}/upper,workdir=${stale}/work`, `${stale}/merged`]);
    await probe.dispose();
    const ws = await Workspace.create(root);
    expect(existsSync(stale)).toBe(false);
    expect((await readFile('/proc/self/mountinfo', 'utf8')).includes(stale)).toBe(false);
    await ws.dispose();
    expect(existsSync(ws.dir)).toBe(false);
  });
});
