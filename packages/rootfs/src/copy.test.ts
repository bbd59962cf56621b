import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '@berth/oci';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootfs } from './copy.js';
import { getXattr, lutimesNs, mknod, setXattr } from './native.js';
import { compareTrees, describeTree, isRoot } from './testutil.js';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;

/** A valid VFS_CAP_REVISION_2 security.capability value: effective, permitted CAP_NET_BIND_SERVICE. */
function capabilityValue(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000001, 0);
  b.writeUInt32LE(1 << 10, 4);
  return b;
}

/** glibc's makedev: the dev_t for major/minor, high bits included. */
function makedev(major: bigint, minor: bigint): bigint {
  return (minor & 0xffn) | ((major & 0xfffn) << 8n) | ((minor & ~0xffn) << 12n) | ((major & ~0xfffn) << 32n);
}

const NS = 1_000_000_000n;
const T1 = 1_600_000_000n * NS + 123_456_789n;
const T2 = 1_700_000_000n * NS + 987_654_321n;

let base: string;
let src: string;

/** Everything createRootfs promises to preserve, in one tree. */
function buildFixture(root: string): void {
  mkdirSync(root, { mode: 0o755 });
  const p = (rel: string): string => join(root, rel);
  mkdirSync(p('etc'), { mode: 0o755 });
  writeFileSync(p('etc/hostname'), 'berth\n', { mode: 0o644 });
  writeFileSync(p('etc/shadow'), 'root:*::0:::::\n');
  chmodSync(p('etc/shadow'), 0o640);
  writeFileSync(p('etc/empty'), '');
  chmodSync(p('etc/empty'), 0o000);
  mkdirSync(p('bin'), { mode: 0o755 });
  writeFileSync(p('bin/busybox'), randomBytes(300_000));
  chmodSync(p('bin/busybox'), 0o755);
  // hard link group of three names in two directories, plus a second group
  linkSync(p('bin/busybox'), p('bin/sh'));
  linkSync(p('bin/busybox'), p('etc/busybox-copy'));
  writeFileSync(p('etc/a'), 'hard a');
  linkSync(p('etc/a'), p('etc/b'));
  // symlinks: relative, absolute, dangling, to a dir
  symlinkSync('busybox', p('bin/ls'));
  symlinkSync('/bin/busybox', p('bin/abs'));
  symlinkSync('../nowhere/at/all', p('bin/dangling'));
  symlinkSync('etc', p('etc-link'));
  // large-ish file across several extents
  mkdirSync(p('data'));
  writeFileSync(p('data/big.bin'), randomBytes(3 * 1024 * 1024 + 17));
  // sticky world-writable dir, read-only dir with content, dir mode 0000
  mkdirSync(p('tmp'));
  chmodSync(p('tmp'), 0o1777);
  mkdirSync(p('ro'));
  writeFileSync(p('ro/inside'), 'x');
  chmodSync(p('ro'), 0o555);
  mkdirSync(p('locked'));
  writeFileSync(p('locked/secret'), 'y');
  chmodSync(p('locked'), 0o000);
  // names: spaces, newline, non-UTF-8 bytes, unicode
  writeFileSync(p('data/with space\nand newline'), 'odd');
  writeFileSync(Buffer.concat([Buffer.from(`${root}/data/`), Buffer.from([0x62, 0xff, 0xfe, 0x2e])]), 'latin1 name');
  writeFileSync(p('data/ünïcødé ✓'), 'utf8 name');
  // user xattrs everywhere they can go
  setXattr(p('etc/hostname'), 'user.berth.note', Buffer.from('hello'));
  setXattr(p('data'), 'user.berth.dir', Buffer.from([0, 1, 2, 255]));

  if (isRoot()) {
    // ownership, setuid/setgid on non-root files (chown would clear them), capabilities
    writeFileSync(p('bin/su'), randomBytes(1000));
    lchownSync(p('bin/su'), 1000, 1001);
    chmodSync(p('bin/su'), 0o4755);
    writeFileSync(p('bin/wall'), randomBytes(100));
    lchownSync(p('bin/wall'), 0, 5);
    chmodSync(p('bin/wall'), 0o2755);
    writeFileSync(p('bin/ping'), randomBytes(500));
    lchownSync(p('bin/ping'), 1000, 1000);
    chmodSync(p('bin/ping'), 0o755);
    setXattr(p('bin/ping'), 'security.capability', capabilityValue());
    setXattr(p('etc/hostname'), 'trusted.berth', Buffer.from('t'));
    mkdirSync(p('home'));
    mkdirSync(p('home/user'), { mode: 0o700 });
    lchownSync(p('home/user'), 1000, 1000);
    writeFileSync(p('home/user/.profile'), 'export A=1');
    lchownSync(p('home/user/.profile'), 1000, 1000);
    symlinkSync('.profile', p('home/user/link'));
    lchownSync(p('home/user/link'), 1234, 4321);
    // devices, fifo, socket
    mkdirSync(p('dev'));
    mknod(p('dev/null'), S_IFCHR | 0o666, (1 << 8) | 3);
    mknod(p('dev/loop0'), S_IFBLK | 0o660, 7 << 8);
    lchownSync(p('dev/loop0'), 0, 6);
    mknod(p('dev/big'), S_IFCHR | 0o600, makedev(259n, 300_000n)); // minor needs the high dev_t bits
    mknod(p('dev/fifo'), S_IFIFO | 0o620, 0);
    mknod(p('dev/sock'), S_IFSOCK | 0o755, 0);
    chmodSync(p('dev/null'), 0o666);
    chmodSync(p('dev/fifo'), 0o620);
  }
  // precise times (ns), directories last and deepest first
  lutimesNs(p('etc/hostname'), T2, T1);
  lutimesNs(p('bin/ls'), T2, T1);
  lutimesNs(p('data/big.bin'), T2, T1 + 1n);
  for (const d of ['data', 'bin', 'etc', 'tmp', 'ro', 'locked', '.']) lutimesNs(p(d), T2, T1 + 5n);
}

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
    expect(getXattr(join(dest, 'bin/ping'), 'security.capability')).toEqual(capabilityValue());
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
