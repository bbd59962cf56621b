// createRootfs: the fixture has unreadable files and dirs, owners and devices, so the whole suite runs as root.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lgetxattr } from '@berth/sys';
import { isBerthError } from '@berth/oci';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootfs } from './copy.js';
import { T1, T2, buildFixture, capabilityValue, compareTrees, describeTree, isRoot } from './test-support/trees.js';

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

describe('createRootfs', () => {
  it('copies every entry type with modes, owners, xattrs, hard links and times intact', async () => {
    const dest = join(base, 'c1', 'nested', 'rootfs');
    const logs: string[] = [];
    const result = await createRootfs({ snapshot: src, dest, log: (m) => logs.push(m) });
    // atime is checked before anything reads the copy
    expect(lstatSync(join(dest, 'etc/hostname'), { bigint: true }).atimeNs).toBe(T2);
    expect(lstatSync(join(dest, 'bin/ls'), { bigint: true }).atimeNs).toBe(T2);

    expect(compareTrees(src, dest)).toEqual([]);
    const entries = describeTree(src).size - 1;
    expect(result.files).toBe(entries);
    expect(['copy', 'reflink']).toContain(result.method);
    expect(logs.join('\n')).toContain(result.method === 'reflink' ? 'reflink' : 'plain copy');
    // parents of dest were created private
    expect(lstatSync(join(base, 'c1')).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(base, 'c1', 'nested')).mode & 0o777).toBe(0o700);
  });

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

  it('makes an independent copy: hard link groups are kept inside the copy, never shared with the snapshot', async () => {
    const dest = join(base, 'c3');
    await createRootfs({ snapshot: src, dest });
    const a = lstatSync(join(dest, 'bin/busybox'));
    const b = lstatSync(join(dest, 'bin/sh'));
    const c = lstatSync(join(dest, 'etc/busybox-copy'));
    expect(a.ino).toBe(b.ino);
    expect(a.ino).toBe(c.ino);
    expect(a.nlink).toBe(3);
    expect(a.ino).not.toBe(lstatSync(join(src, 'bin/busybox')).ino);
    const before = readFileSync(join(src, 'etc/a'), 'utf8');
    writeFileSync(join(dest, 'etc/b'), 'changed in the container');
    expect(readFileSync(join(dest, 'etc/a'), 'utf8')).toBe('changed in the container');
    expect(readFileSync(join(src, 'etc/a'), 'utf8')).toBe(before);
  });

  it('accepts an existing empty destination and refuses a non-empty one or a file', async () => {
    const empty = join(base, 'c4');
    mkdirSync(empty);
    await createRootfs({ snapshot: src, dest: empty });
    expect(compareTrees(src, empty)).toEqual([]);

    const full = join(base, 'c5');
    mkdirSync(full);
    writeFileSync(join(full, 'keep'), 'mine');
    const err = await createRootfs({ snapshot: src, dest: full }).catch((e: unknown) => e);
    expect(isBerthError(err, 'EROOTFS')).toBe(true);
    expect(String(err)).toContain('not empty');
    expect(readdirSync(full)).toEqual(['keep']);

    const file = join(base, 'c6');
    writeFileSync(file, '');
    const err2 = await createRootfs({ snapshot: src, dest: file }).catch((e: unknown) => e);
    expect(isBerthError(err2, 'EROOTFS')).toBe(true);

    const err3 = await createRootfs({ snapshot: join(base, 'nosuch'), dest: join(base, 'c7') }).catch((e: unknown) => e);
    expect(isBerthError(err3, 'EROOTFS')).toBe(true);
    expect(existsSync(join(base, 'c7'))).toBe(false);

    const err4 = await createRootfs({ snapshot: src, dest: join(src, 'inside') }).catch((e: unknown) => e);
    expect(isBerthError(err4, 'EINVAL_ARGUMENT')).toBe(true);
    // the same through a symlink
    symlinkSync(src, join(base, 'snaplink'));
    const err5 = await createRootfs({ snapshot: src, dest: join(base, 'snaplink', 'new', 'rootfs') }).catch((e: unknown) => e);
    expect(isBerthError(err5, 'EINVAL_ARGUMENT')).toBe(true);
    expect(existsSync(join(src, 'new'))).toBe(false);
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

  it('leaves nothing behind when the copy fails midway, and names the entry', async () => {
    // A tree whose deepest path fits PATH_MAX under the snapshot but not under a longer destination.
    const snap = join(base, 'deep');
    const segment = 'd'.repeat(200);
    let dir = snap;
    mkdirSync(dir);
    writeFileSync(join(dir, 'first'), 'copied before the failure');
    while (dir.length + segment.length + 1 + '/leaf'.length < 4090) {
      dir = join(dir, segment);
      mkdirSync(dir);
    }
    writeFileSync(join(dir, 'leaf'), 'x');
    const dest = join(base, 'x'.repeat(250), 'rootfs');
    const err = await createRootfs({ snapshot: snap, dest }).catch((e: unknown) => e);
    expect(isBerthError(err, 'EROOTFS')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toMatch(/ENAMETOOLONG/);
    expect(msg).toContain(`"${segment}/`);
    expect(msg.split('\n')).toHaveLength(1);
    expect(existsSync(dest)).toBe(false);

    // failing into a pre-existing empty directory: emptied again, directory kept
    const pre = join(base, 'x'.repeat(250), 'pre');
    mkdirSync(pre, { recursive: true });
    await expect(createRootfs({ snapshot: snap, dest: pre })).rejects.toThrow(/ENAMETOOLONG/);
    expect(readdirSync(pre)).toEqual([]);
  });
});
