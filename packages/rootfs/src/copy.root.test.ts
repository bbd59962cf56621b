import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lgetxattr } from '@berth/layers';
import { isBerthError } from '@berth/oci';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootfs } from './copy.js';
import { buildFixture, capabilityValue, isRoot } from './test-support/trees.js';

let base: string;
let src: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'berth-rootfs-copy-'));
  src = join(base, 'snapshot');
  buildFixture(src);
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('createRootfs as root', () => {
  it('preserves the things chown would silently drop, and device numbers (as root)', async (ctx) => {
    if (!isRoot()) ctx.skip('needs root: ownership, devices, security.capability');
    const dest = join(base, 'c2');
    await createRootfs({ snapshot: src, dest });
    const su = lstatSync(join(dest, 'bin/su'));
    expect([su.uid, su.gid, su.mode & 0o7777]).toEqual([1000, 1001, 0o4755]);
    const wall = lstatSync(join(dest, 'bin/wall'));
    expect([wall.gid, wall.mode & 0o7777]).toEqual([5, 0o2755]);
    expect(lgetxattr(join(dest, 'bin/ping'), 'security.capability')).toEqual(capabilityValue());
    expect(lstatSync(join(dest, 'bin/ping')).uid).toBe(1000);
    const link = lstatSync(join(dest, 'home/user/link'));
    expect(link.isSymbolicLink() && [link.uid, link.gid]).toEqual([1234, 4321]);
    const nul = lstatSync(join(dest, 'dev/null'));
    expect(nul.isCharacterDevice() && nul.rdev).toBe((1 << 8) | 3);
    expect(lstatSync(join(dest, 'dev/loop0')).isBlockDevice()).toBe(true);
    expect(lstatSync(join(dest, 'dev/big')).rdev).toBe(lstatSync(join(src, 'dev/big')).rdev);
    expect(lstatSync(join(dest, 'dev/fifo')).isFIFO()).toBe(true);
    expect(lstatSync(join(dest, 'dev/sock')).isSocket()).toBe(true);
  });

  it('fails cleanly when the destination runs out of space, naming the file (ENOSPC)', async (ctx) => {
    if (!isRoot()) ctx.skip('needs root: mounts a small tmpfs');
    const mnt = join(base, 'small');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    try {
      const snap = join(base, 'bigs');
      mkdirSync(snap);
      for (let i = 0; i < 4; i++) writeFileSync(join(snap, `big${i}`), randomBytes(2 * 1024 * 1024));
      const dest = join(mnt, 'rootfs');
      const err = await createRootfs({ snapshot: snap, dest }).catch((e: unknown) => e);
      expect(isBerthError(err, 'EROOTFS')).toBe(true);
      const msg = (err as Error).message;
      expect(msg).toMatch(/ENOSPC/);
      expect(msg).toMatch(/: "big\d": /);
      expect(msg.split('\n')).toHaveLength(1);
      expect(existsSync(dest)).toBe(false);
      expect(readdirSync(mnt)).toEqual([]);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

});
