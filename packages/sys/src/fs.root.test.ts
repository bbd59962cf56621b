// The filesystem primitives (@berth/sys's fs.ts, re-exported by @berth/layers), against the real kernel; parts need root (a tmpfs mount, devices, inode flags).
import { execFileSync } from 'node:child_process';
import { closeSync, lstatSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as layers from './index.js';
import type { ErrnoError } from './index.js';

const isRoot = process.getuid?.() === 0;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-sys-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string | Buffer, content = ''): string | Buffer {
  const p = typeof name === 'string' ? path.join(dir, name) : Buffer.concat([Buffer.from(`${dir}/`), name]);
  writeFileSync(p, content);
  return p;
}

describe('xattrs', () => {
  it('set, list, get and remove, byte for byte, without following a symlink', () => {
    const p = file('f') as string;
    const binary = Buffer.from([0, 1, 0xfe, 0xff, 0]);
    layers.lsetxattr(p, 'user.binary', binary);
    layers.lsetxattr(p, 'user.empty', new Uint8Array(0));
    const fd = openSync(p, 'r+');
    try {
      layers.fsetxattr(fd, 'user.byfd', Buffer.from('fd'));
    } finally {
      closeSync(fd);
    }
    expect(layers.llistxattr(p).sort()).toEqual(['user.binary', 'user.byfd', 'user.empty']);
    expect(layers.lgetxattr(p, 'user.binary')).toEqual(binary);
    expect(layers.lgetxattr(p, 'user.empty')).toEqual(Buffer.alloc(0));
    expect(layers.lgetxattr(p, 'user.byfd')?.toString()).toBe('fd');
    expect(layers.lgetxattr(p, 'user.missing')).toBeUndefined();
    // each value is a Buffer of its own, not a view of a reused one
    const a = layers.lgetxattr(p, 'user.binary');
    layers.lgetxattr(p, 'user.byfd');
    expect(a).toEqual(binary);
    layers.lremovexattr(p, 'user.empty');
    expect(layers.llistxattr(p).sort()).toEqual(['user.binary', 'user.byfd']);
    // the link itself, not its target (user.* cannot be set on a symlink: EPERM)
    const link = path.join(dir, 'link');
    symlinkSync(p, link);
    expect(layers.llistxattr(link)).toEqual([]);
    const err = (() => {
      try {
        layers.lsetxattr(link, 'user.x', Buffer.from('1'));
      } catch (e) {
        return e as ErrnoError;
      }
      return undefined;
    })();
    expect(err?.code).toBe('EPERM');
  });

  it('works on names that are not valid UTF-8 (Buffer paths)', () => {
    const p = file(Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]));
    layers.lsetxattr(p, 'user.raw', Buffer.from('r'));
    expect(layers.llistxattr(p)).toEqual(['user.raw']);
    expect(layers.lgetxattr(p, 'user.raw')?.toString()).toBe('r');
    layers.lutimens(p, { sec: 5, nsec: 6 }, { sec: 7, nsec: 8 });
    expect(layers.lstatx(p).readUInt32LE(layers.STX.mtime + 8)).toBe(8);
  });

  it('errors name the call, the attribute and the path, like fs errors', () => {
    const missing = path.join(dir, 'nope');
    const calls: Array<[() => unknown, string, string]> = [
      [() => layers.lsetxattr(missing, 'user.a', Buffer.from('1')), 'lsetxattr', `ENOENT: lsetxattr user.a '${missing}'`],
      [() => layers.lgetxattr(missing, 'user.a'), 'lgetxattr', `ENOENT: lgetxattr user.a '${missing}'`],
      [() => layers.llistxattr(missing), 'llistxattr', `ENOENT: llistxattr '${missing}'`],
      [() => layers.lremovexattr(file('g') as string, 'user.none'), 'lremovexattr', `ENODATA: lremovexattr user.none '${path.join(dir, 'g')}'`],
      [() => layers.lstatx(missing), 'statx', `ENOENT: statx '${missing}'`],
      [() => layers.futimens(-1, { sec: 0, nsec: 0 }, { sec: 0, nsec: 0 }), 'futimens', 'EBADF: futimens fd -1'],
    ];
    for (const [call, syscall, message] of calls) {
      let err: ErrnoError | undefined;
      try {
        call();
      } catch (e) {
        err = e as ErrnoError;
      }
      expect(err?.message).toBe(message);
      expect(err?.syscall).toBe(syscall);
      expect(err?.errno).toBeLessThan(0);
    }
  });
});

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

describe('times and statx', () => {
  it('lutimens, futimens and lutimensRaw set exact nanoseconds; lstatx reads them back', () => {
    const p = file('t', 'hello') as string;
    layers.lutimens(p, { sec: 1_600_000_000, nsec: 123_456_789 }, { sec: 1_700_000_000, nsec: 987_654_321 });
    const st = lstatSync(p, { bigint: true });
    expect(st.atimeNs).toBe(1_600_000_000_123_456_789n);
    expect(st.mtimeNs).toBe(1_700_000_000_987_654_321n);
    const stx = layers.lstatx(p);
    expect(stx.readUInt16LE(layers.STX.mode)).toBe(Number(st.mode));
    expect(stx.readUInt32LE(layers.STX.uid)).toBe(Number(st.uid));
    expect(stx.readUInt32LE(layers.STX.nlink)).toBe(1);
    expect(Number(stx.readBigUInt64LE(layers.STX.size))).toBe(5);
    expect(stx.readBigUInt64LE(layers.STX.ino)).toBe(st.ino);
    // copy the times to another file as raw timespecs
    const q = file('u') as string;
    layers.lutimensRaw(q, layers.timesFromStatx(stx, Buffer.alloc(32)));
    const su = lstatSync(q, { bigint: true });
    expect([su.atimeNs, su.mtimeNs]).toEqual([st.atimeNs, st.mtimeNs]);
    const fd = openSync(q, 'r');
    try {
      layers.futimens(fd, { sec: 1, nsec: 2 }, { sec: 3, nsec: 4 });
    } finally {
      closeSync(fd);
    }
    expect(lstatSync(q, { bigint: true }).mtimeNs).toBe(3_000_000_004n);
  });

  it('sets a symlink’s own times, not its target’s', () => {
    const p = file('target') as string;
    const link = path.join(dir, 'l');
    symlinkSync(p, link);
    const before = lstatSync(p, { bigint: true }).mtimeNs;
    layers.lutimens(link, { sec: 10, nsec: 1 }, { sec: 20, nsec: 2 });
    expect(lstatSync(link, { bigint: true }).mtimeNs).toBe(20_000_000_002n);
    expect(lstatSync(p, { bigint: true }).mtimeNs).toBe(before);
  });
});

describe('devices and inode flags', () => {
  it('makedev, devMajor and devMinor round-trip, high bits included', () => {
    for (const [ma, mi] of [
      [1, 3],
      [259, 200_000],
      [4095, 255],
      [4096, 256],
      [0xfffff, 0xfffff],
    ] as const) {
      const dev = layers.makedev(ma, mi);
      expect([layers.devMajor(dev), layers.devMinor(dev)]).toEqual([ma, mi]);
    }
    expect(layers.makedev(1, 3)).toBe(0x103n);
  });

  it('mknod makes a fifo, and as root a device with the high dev_t bits', () => {
    const fifo = path.join(dir, 'fifo');
    layers.mknod(fifo, layers.S_IFIFO | 0o600, 0);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    if (isRoot) {
      const dev = path.join(dir, 'dev');
      layers.mknod(dev, layers.S_IFCHR | 0o600, layers.makedev(259, 200_000));
      const st = lstatSync(dev, { bigint: true });
      expect(st.isCharacterDevice()).toBe(true);
      expect([layers.devMajor(st.rdev), layers.devMinor(st.rdev)]).toEqual([259, 200_000]);
    }
    let err: ErrnoError | undefined;
    try {
      layers.mknod(fifo, layers.S_IFIFO | 0o600, 0n);
    } catch (e) {
      err = e as ErrnoError;
    }
    expect(err?.message).toBe(`EEXIST: mknod '${fifo}'`);
    expect(err?.path).toBe(fifo);
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
    let err: ErrnoError | undefined;
    try {
      layers.getInodeFlags(-1, '/named/in/errors');
    } catch (e) {
      err = e as ErrnoError;
    }
    expect(err?.message).toBe(`EBADF: ioctl FS_IOC_GETFLAGS '/named/in/errors'`);
  });
});
