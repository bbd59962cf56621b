import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootfs } from './copy.js';
import { buildFixture, compareTrees, loopMount, type LoopMount } from './test-support/trees.js';

/** Whether `filefrag -v` reports the file's extents as shared (FIEMAP_EXTENT_SHARED); undefined if it cannot tell. */
function extentsShared(file: string): boolean | undefined {
  const r = spawnSync('filefrag', ['-v', file], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return /\bshared\b/.test(r.stdout);
}

for (const fsType of ['btrfs', 'xfs'] as const) {
  describe(`createRootfs on a loop-mounted ${fsType}`, () => {
    let mount: LoopMount | undefined;
    let skipReason = '';
    let other: string;

    beforeAll(() => {
      const m = loopMount(fsType);
      if (typeof m === 'string') skipReason = m;
      else mount = m;
      other = mkdtempSync(join(tmpdir(), 'berth-rootfs-reflink-'));
      if (mount) buildFixture(join(mount.dir, 'snapshot'));
    });

    afterAll(() => {
      // always unmount and detach, whatever happened
      mount?.cleanup();
      rmSync(other, { recursive: true, force: true });
    });

    it('shares file data by reflink and still copies everything else exactly', async (ctx) => {
      if (!mount) return ctx.skip(skipReason);
      const snapshot = join(mount.dir, 'snapshot');
      const dest = join(mount.dir, 'containers/c1/rootfs');
      const logs: string[] = [];
      const result = await createRootfs({ snapshot, dest, log: (m) => logs.push(m) });
      expect(result.method).toBe('reflink');
      expect(logs.join('\n')).toContain('reflink');
      expect(compareTrees(snapshot, dest)).toEqual([]);
      const shared = extentsShared(join(dest, 'data/big.bin'));
      if (shared !== undefined) expect(shared).toBe(true);
      // copy-on-write: writing the copy leaves the snapshot alone
      const original = readFileSync(join(snapshot, 'data/big.bin'));
      writeFileSync(join(dest, 'data/big.bin'), 'rewritten');
      expect(readFileSync(join(snapshot, 'data/big.bin')).equals(original)).toBe(true);
    });

    it('falls back to a plain copy across file systems', async (ctx) => {
      if (!mount) return ctx.skip(skipReason);
      const snapshot = join(mount.dir, 'snapshot');
      const dest = join(other, 'rootfs');
      const result = await createRootfs({ snapshot, dest });
      expect(result.method).toBe('copy');
      expect(compareTrees(snapshot, dest)).toEqual([]);
    });
  });
}
