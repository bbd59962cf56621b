// The filesystem primitives (@berth/layers' libc bindings) that need root: a tmpfs mount,
// device nodes, inode flags. The rest is in sys.test.ts.
import { execFileSync } from 'node:child_process';
import { closeSync, lstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as layers from './index.js';
import { tempDirEach } from './test-support/tmp.js';

const isRoot = process.getuid?.() === 0;
const tmp = tempDirEach('berth-sys-');
const file = tmp.file;

describe('xattrs larger than the scratch buffers (tmpfs)', () => {
  let mnt: string | undefined;
  beforeAll(() => {
    if (!isRoot) return;
    mnt = mkdtempSync(path.join(tmpdir(), 'berth-sys-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    if (!mnt) return;
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  it.skipIf(!isRoot)('reads a 20000-byte value and a list of 300 names whole (needs root to mount tmpfs)', () => {
    const p = path.join(mnt as string, 'big');
    writeFileSync(p, '');
    const big = Buffer.alloc(20000, 0xab);
    big[19999] = 1;
    layers.lsetxattr(p, 'user.big', big);
    expect(layers.lgetxattr(p, 'user.big')).toEqual(big);
    const names = Array.from({ length: 300 }, (_, i) => `user.${String(i).padStart(3, '0')}${'x'.repeat(20)}`);
    for (const n of names) layers.lsetxattr(p, n, Buffer.from('1'));
    expect(layers.llistxattr(p).sort()).toEqual([...names, 'user.big'].sort());
    // and small ones still come back right after the buffers grew
    const q = path.join(mnt as string, 'small');
    writeFileSync(q, '');
    layers.lsetxattr(q, 'user.s', Buffer.from('s'));
    expect(layers.llistxattr(q)).toEqual(['user.s']);
    expect(layers.lgetxattr(q, 'user.s')?.toString()).toBe('s');
  });
});

describe('devices and inode flags as root', () => {
  it.skipIf(!isRoot)('mknod makes a device with the high dev_t bits', () => {
    const dev = path.join(tmp.path, 'dev');
    layers.mknod(dev, layers.S_IFCHR | 0o600, layers.makedev(259, 200_000));
    const st = lstatSync(dev, { bigint: true });
    expect(st.isCharacterDevice()).toBe(true);
    expect([layers.devMajor(st.rdev), layers.devMinor(st.rdev)]).toEqual([259, 200_000]);
  });

  it.skipIf(!isRoot)('reads and sets the append-only flag (needs root)', () => {
    const p = file('flags') as string;
    const fd = openSync(p, 'r');
    try {
      const flags = layers.getInodeFlags(fd, p);
      expect(flags & layers.FS_APPEND_FL).toBe(0);
      layers.setInodeFlags(fd, flags | layers.FS_APPEND_FL, p);
      try {
        expect(layers.getInodeFlags(fd) & layers.FS_APPEND_FL).toBe(layers.FS_APPEND_FL);
      } finally {
        layers.setInodeFlags(fd, flags, p); // or the temp dir could not be removed
      }
      expect(layers.getInodeFlags(fd, p)).toBe(flags);
    } finally {
      closeSync(fd);
    }
    let err: layers.SysError | undefined;
    try {
      layers.getInodeFlags(-1, '/named/in/errors');
    } catch (e) {
      err = e as layers.SysError;
    }
    expect(err?.message).toBe(`EBADF: ioctl FS_IOC_GETFLAGS '/named/in/errors'`);
  });
});
