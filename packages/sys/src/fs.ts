/**
 * Filesystem primitives: the libc calls Node does not offer, for the packages
 * that build trees (@berth/layers, @berth/rootfs). mknod, the *xattr family,
 * utimensat/futimens for nanosecond timestamps, statx into a reused buffer and
 * the inode flags ioctls. Each function is declared on its first use (libc.ts).
 * Every call is the no-follow variant where one exists.
 *
 * Paths are strings or, for names that are not valid UTF-8, Buffers of the
 * raw bytes. Failures throw an ErrnoError shaped like Node's fs errors
 * (`code`, `errno`, `syscall`, `path`), so callers handle them like fs errors.
 */
import { constants as osConstants } from 'node:os';
import { errnoError } from './errors.js';
import { cfunc, lastErrno, lazyFunc, sizeOf, type CFunc } from './libc.js';

/** A path for these calls: a string, or the raw bytes of a name that is not valid UTF-8. */
export type SysPath = string | Buffer;

// ssize_t is intptr_t on Linux; mode_t is unsigned int; dev_t is uint64_t.
const c = {
  mknod: (() => {
    let fn: CFunc | undefined;
    return (): CFunc => {
      if (fn) return fn;
      try {
        fn = cfunc('int mknod(const char *path, uint32_t mode, uint64_t dev)');
      } catch {
        // glibc before 2.33 exports only the versioned __xmknod (version 0 = _MKNOD_VER).
        const xmknod = cfunc('int __xmknod(int ver, const char *path, uint32_t mode, _Inout_ uint64_t *dev)');
        fn = (path: unknown, mode: unknown, dev: unknown) => xmknod(0, path, mode, [dev]);
      }
      return fn;
    };
  })(),
  lsetxattr: /* @__PURE__ */ lazyFunc('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
  fsetxattr: /* @__PURE__ */ lazyFunc('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)'),
  lgetxattr: /* @__PURE__ */ lazyFunc('intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
  llistxattr: /* @__PURE__ */ lazyFunc('intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)'),
  lremovexattr: /* @__PURE__ */ lazyFunc('int lremovexattr(const char *path, const char *name)'),
  utimensat: /* @__PURE__ */ lazyFunc('int utimensat(int dirfd, const char *path, const void *times, int flags)'),
  futimens: /* @__PURE__ */ lazyFunc('int futimens(int fd, const void *times)'),
  statx: /* @__PURE__ */ lazyFunc('int statx(int dirfd, const char *path, int flags, unsigned int mask, _Out_ void *buf)'),
  // The request is an unsigned long in glibc; the argument is a pointer to an int.
  ioctl: /* @__PURE__ */ lazyFunc('int ioctl(int fd, unsigned long request, _Inout_ void *arg)'),
};

const NUL = Buffer.from([0]);

/** koffi passes a Buffer as a raw pointer: a path Buffer needs its NUL terminator. */
function cpath(p: SysPath): SysPath {
  return typeof p === 'string' ? p : Buffer.concat([p, NUL]);
}

/**
 * Throw the current errno as an ErrnoError. The message names the call, what it
 * was about (an xattr name, an ioctl request) and the path or fd:
 * `EPERM: lsetxattr security.capability '/x/bin/ping'`.
 */
function fail(syscall: string, target: SysPath | number, about?: string): never {
  throw errnoError(syscall, lastErrno(), target, about);
}

/** mknod(2): `mode` includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK); `dev` is the raw dev_t (see makedev). */
export function mknod(path: SysPath, mode: number, dev: bigint | number): void {
  if ((c.mknod()(cpath(path), mode, dev) as number) !== 0) fail('mknod', path);
}

export function lsetxattr(path: SysPath, name: string, value: Uint8Array): void {
  if ((c.lsetxattr()(cpath(path), name, value, value.length, 0) as number) !== 0) fail('lsetxattr', path, name);
}

export function fsetxattr(fd: number, name: string, value: Uint8Array): void {
  if ((c.fsetxattr()(fd, name, value, value.length, 0) as number) !== 0) fail('fsetxattr', fd, name);
}

export function lremovexattr(path: SysPath, name: string): void {
  if ((c.lremovexattr()(cpath(path), name) as number) !== 0) fail('lremovexattr', path, name);
}

const { ENODATA, ENOTSUP, EOPNOTSUPP, ERANGE } = osConstants.errno;
/** How often a list or value that keeps growing between the size query and the read is asked for again. */
const MAX_RETRIES = 4;

// Scratch buffers for names and values, grown when a node needs more (all calls are synchronous).
let listBuf = Buffer.allocUnsafe(4096);
let valueBuf = Buffer.allocUnsafe(4096);

/** Names of a node's extended attributes (not following a final symlink); [] where unsupported. */
export function llistxattr(path: SysPath): string[] {
  const fn = c.llistxattr();
  const p = cpath(path);
  for (let attempt = 0; ; attempt++) {
    const n = Number(fn(p, listBuf, listBuf.length));
    if (n >= 0) {
      // NUL-terminated names, one after another
      const names: string[] = [];
      let start = 0;
      for (let i = 0; i < n; i++) {
        if (listBuf[i] === 0) {
          if (i > start) names.push(listBuf.toString('utf8', start, i));
          start = i + 1;
        }
      }
      return names;
    }
    const errno = lastErrno();
    if (errno === ENOTSUP || errno === EOPNOTSUPP) return [];
    if (errno !== ERANGE || attempt >= MAX_RETRIES) fail('llistxattr', path);
    const size = Number(fn(p, null, 0));
    if (size < 0) fail('llistxattr', path);
    listBuf = Buffer.allocUnsafe(Math.max(size + 64, listBuf.length * 2));
  }
}

/** One extended attribute's raw value (a Buffer of its own), or undefined if it is not set. */
export function lgetxattr(path: SysPath, name: string): Buffer | undefined {
  const fn = c.lgetxattr();
  const p = cpath(path);
  for (let attempt = 0; ; attempt++) {
    const n = Number(fn(p, name, valueBuf, valueBuf.length));
    if (n >= 0) return Buffer.from(valueBuf.subarray(0, n));
    const errno = lastErrno();
    if (errno === ENODATA) return undefined;
    if (errno !== ERANGE || attempt >= MAX_RETRIES) fail('lgetxattr', path, name);
    const size = Number(fn(p, name, null, 0));
    if (size < 0) {
      if (lastErrno() === ENODATA) return undefined;
      fail('lgetxattr', path, name);
    }
    valueBuf = Buffer.allocUnsafe(Math.max(size + 64, valueBuf.length * 2));
  }
}

/** A point in time as whole seconds plus nanoseconds (0 <= nsec < 1e9). */
export interface Timespec {
  sec: number;
  nsec: number;
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

function timesBuffer(atime: Timespec, mtime: Timespec): Buffer {
  const b = Buffer.allocUnsafe(32);
  b.writeBigInt64LE(BigInt(atime.sec), 0);
  b.writeBigInt64LE(BigInt(atime.nsec), 8);
  b.writeBigInt64LE(BigInt(mtime.sec), 16);
  b.writeBigInt64LE(BigInt(mtime.nsec), 24);
  return b;
}

/** Set atime and mtime with nanosecond precision without following a final symlink. */
export function lutimens(path: SysPath, atime: Timespec, mtime: Timespec): void {
  lutimensRaw(path, timesBuffer(atime, mtime));
}

/**
 * utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) with `times` already laid
 * out as two struct timespec, atime then mtime (32 bytes; see timesFromStatx).
 */
export function lutimensRaw(path: SysPath, times: Buffer): void {
  if ((c.utimensat()(AT_FDCWD, cpath(path), times, AT_SYMLINK_NOFOLLOW) as number) !== 0) fail('utimensat', path);
}

export function futimens(fd: number, atime: Timespec, mtime: Timespec): void {
  if ((c.futimens()(fd, timesBuffer(atime, mtime)) as number) !== 0) fail('futimens', fd);
}

/**
 * `struct statx` offsets (linux/stat.h; the same on every architecture), for
 * reading the buffer lstatx() returns.
 */
export const STX = {
  nlink: 16,
  uid: 20,
  gid: 24,
  mode: 28,
  ino: 32,
  size: 40,
  atime: 64,
  mtime: 112,
  rdevMajor: 128,
  rdevMinor: 132,
  devMajor: 136,
  devMinor: 140,
} as const;
const STATX_BASIC_STATS = 0x7ff;
const statxBuf = Buffer.alloc(256);

/**
 * lstat through statx(2) into one reused buffer: no Stats object, no BigInts,
 * and the timestamps' exact nanoseconds (read with STX offsets). The next call
 * overwrites the buffer: read what you need before it.
 */
export function lstatx(path: SysPath): Buffer {
  if ((c.statx()(AT_FDCWD, cpath(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, statxBuf) as number) !== 0) fail('statx', path);
  return statxBuf;
}

/**
 * Two struct timespec (atime, mtime) from a statx buffer, into `out` (32 bytes).
 * 32-bit reads and writes (Buffer#copy costs more for 8 bytes, BigInts more still);
 * little-endian layout, as on x86-64, arm64 and riscv64.
 */
export function timesFromStatx(stx: Buffer, out: Buffer): Buffer {
  out.writeUInt32LE(stx.readUInt32LE(STX.atime), 0); // tv_sec, low half
  out.writeUInt32LE(stx.readUInt32LE(STX.atime + 4), 4); // tv_sec, high half
  out.writeUInt32LE(stx.readUInt32LE(STX.atime + 8), 8); // tv_nsec
  out.writeUInt32LE(0, 12);
  out.writeUInt32LE(stx.readUInt32LE(STX.mtime), 16);
  out.writeUInt32LE(stx.readUInt32LE(STX.mtime + 4), 20);
  out.writeUInt32LE(stx.readUInt32LE(STX.mtime + 8), 24);
  out.writeUInt32LE(0, 28);
  return out;
}

/** Inode flags (linux/fs.h). */
export const FS_IMMUTABLE_FL = 0x00000010;
export const FS_APPEND_FL = 0x00000020;

let ioctlFlags: { get: number; set: number } | undefined;

/**
 * _IOR('f', 1, long) and _IOW('f', 2, long): the kernel reads and writes an int,
 * but the request number encodes sizeof(long). Generic _IOC layout (x86, arm, riscv).
 */
function flagsRequests(): { get: number; set: number } {
  if (ioctlFlags) return ioctlFlags;
  const longSize = sizeOf('long');
  ioctlFlags = {
    get: ((2 << 30) | (longSize << 16) | (0x66 << 8) | 1) >>> 0,
    set: ((1 << 30) | (longSize << 16) | (0x66 << 8) | 2) >>> 0,
  };
  return ioctlFlags;
}

const flagsBuf = Buffer.alloc(8);

/** The inode flags of an open file (FS_IOC_GETFLAGS). `path` is only named in errors. */
export function getInodeFlags(fd: number, path?: SysPath): number {
  flagsBuf.fill(0);
  if ((c.ioctl()(fd, flagsRequests().get, flagsBuf) as number) !== 0) fail('ioctl', path ?? fd, 'FS_IOC_GETFLAGS');
  return flagsBuf.readInt32LE(0);
}

/** Set the inode flags of an open file (FS_IOC_SETFLAGS). `path` is only named in errors. */
export function setInodeFlags(fd: number, flags: number, path?: SysPath): void {
  flagsBuf.fill(0);
  flagsBuf.writeInt32LE(flags | 0, 0);
  if ((c.ioctl()(fd, flagsRequests().set, flagsBuf) as number) !== 0) fail('ioctl', path ?? fd, 'FS_IOC_SETFLAGS');
}

/**
 * ioctl(fd, request, arg) where `arg` points at a struct the caller lays out in
 * `arg` (the kernel reads and/or writes it in place), for file-system requests
 * Node has no call for (e.g. @berth/rootfs's btrfs subvolume ioctls). Returns
 * ioctl's non-negative result; on failure throws an ErrnoError naming `what` and
 * `path` (or the fd): `EPERM: ioctl BTRFS_IOC_SNAP_CREATE_V2 '/x/y'`.
 */
export function ioctlBuffer(fd: number, request: number, arg: Buffer, what: string, path?: SysPath): number {
  const r = c.ioctl()(fd, request >>> 0, arg) as number;
  if (r < 0) fail('ioctl', path ?? fd, what);
  return r;
}
