import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { berth, tempDir } from '../test-support/fake-context.js';

describe('berth builder prune', () => {
  it('asks docker\'s question (-a: all build cache) and stops at "no"', async () => {
    const r = await berth(['builder', 'prune', '-a'], { stdin: 'n\n' });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe('WARNING! This will remove all build cache.\nAre you sure you want to continue? [y/N] \n');
  });

  it('-a -f removes every entry and prints their keys', async () => {
    const tmp = tempDir();
    const dir = join(tmp.dir, 'root', 'buildcache');
    await mkdir(dir, { recursive: true });
    const key = 'e'.repeat(64);
    await writeFile(join(dir, `${key}.json`), JSON.stringify({ version: 1, key, created: '1970-01-01T00:00:00Z' }));
    const r = await berth(['builder', 'prune', '-a', '-f'], { dir: tmp.dir }).finally(tmp.remove);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Deleted build cache objects:\\n${key}\\n\\nTotal reclaimed space: \\d`));
  });
});
