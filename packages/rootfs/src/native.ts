/**
 * The few libc calls Node has no binding for, through koffi: extended
 * attributes on links (l*xattr), mknod for devices/fifos/sockets, utimensat
 * with nanoseconds and AT_SYMLINK_NOFOLLOW, inode flags (FS_IOC_GETFLAGS /
 * FS_IOC_SETFLAGS) and flock. Internal to @berth/rootfs.
 *
 * Every wrapper throws a Node-style errno error (`err.code === 'ENOTSUP'`,
 * `err.syscall`, `err.path`) so callers handle them like fs errors.
 */
import { constants as osConstants } from 'node:os';
import koffi from 'koffi';

type Path = string | Buffer;

interface Libc {
  llistxattr: (path: Path, list: Buffer | null, size: number) => number;
  lgetxattr: (path: Path, name: string, value: Buffer | null, size: number) => number;
  lsetxattr: (path: Path, name: string, value: Buffer, size: number, flags: number) => number;
  mknod: (path: Path, mode: number, dev: bigint | number) => number;
  utimensat: (dirfd: number, path: Path, times: Buffer, flags: number) => number;
  ioctl: (fd: number, request: number, arg: Buffer) => number;
  flock: (fd: number, op: number) => number;
  statx: (dirfd: number, path: Path, flags: number, mask: number, buf: Buffer) => number;
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** Inode flags (linux/fs.h). */
export const FS_IMMUTABLE_FL = 0x00000010;
export const FS_APPEND_FL = 0x00000020;

let libc: Libc | undefined;
let ioctlGetFlags = 0;
let ioctlSetFlags = 0;

function load(): Libc {
  if (libc) return libc;
  if (process.platform !== 'linux') {
    throw Object.assign(new Error(`libc calls need Linux, this is ${process.platform}`), { code: 'ENOSYS' });
  }
  const lib = koffi.load('libc.so.6');
  // ssize_t is intptr_t on Linux; mode_t is unsigned int; dev_t is uint64_t.
  libc = {
    llistxattr: lib.func('intptr_t llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
    lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
    lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    utimensat: lib.func('int utimensat(int dirfd, const char *path, const uint8_t *times, int flags)'),
    // The request is an unsigned long in glibc; the argument is a pointer to an int.
    ioctl: lib.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)'),
    flock: lib.func('int flock(int fd, int op)'),
    statx: lib.func('int statx(int dirfd, const char *path, int flags, unsigned int mask, _Out_ uint8_t *buf)'),
  } as Libc;
  // _IOR('f', 1, long) and _IOW('f', 2, long): the kernel reads/writes an int, but the
  // request number encodes sizeof(long). Generic _IOC layout (x86, arm, riscv).
  const longSize = koffi.sizeof('long');
  ioctlGetFlags = ((2 << 30) | (longSize << 16) | (0x66 << 8) | 1) >>> 0;
  ioctlSetFlags = ((1 << 30) | (longSize << 16) | (0x66 << 8) | 2) >>> 0;
  return libc;
}

const NUL = Buffer.from([0]);

/** koffi passes a Buffer as a raw pointer: path Buffers need their NUL terminator. */
function cpath(p: Path): Path {
  return typeof p === 'string' ? p : Buffer.concat([p, NUL]);
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, num]) => [num, name]));

/** An fs-style error for the current errno. */
function errnoError(syscall: string, path?: Path): NodeJS.ErrnoException {
  const errno = koffi.errno();
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const where = path === undefined ? '' : ` '${path.toString()}'`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} failed${where}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path.toString();
  return err;
}

// One scratch buffer for listxattr names; grown when a file has a longer list.
let listBuf = Buffer.allocUnsafe(4096);

/** Names of the extended attributes of `path` (not following a symlink). [] where the FS has none/no support. */
export function listXattrs(path: Path): string[] {
  const c = load();
  const p = cpath(path);
  for (;;) {
    const n = c.llistxattr(p, listBuf, listBuf.length);
    if (n === 0) return [];
    if (n > 0) {
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
    const errno = koffi.errno();
    if (errno === osConstants.errno.ENOTSUP) return [];
    if (errno !== osConstants.errno.ERANGE) throw errnoError('llistxattr', path);
    const need = c.llistxattr(p, null, 0);
    if (need < 0) throw errnoError('llistxattr', path);
    listBuf = Buffer.allocUnsafe(Math.max(need, listBuf.length * 2));
  }
}

/** The value of one extended attribute; undefined when it vanished (ENODATA). */
export function getXattr(path: Path, name: string): Buffer | undefined {
  const c = load();
  const p = cpath(path);
  for (;;) {
    const need = c.lgetxattr(p, name, null, 0);
    if (need < 0) {
      if (koffi.errno() === osConstants.errno.ENODATA) return undefined;
      throw errnoError(`lgetxattr ${name}`, path);
    }
    const buf = Buffer.allocUnsafe(need);
    const n = need === 0 ? 0 : c.lgetxattr(p, name, buf, need);
    if (n >= 0) return n === need ? buf : buf.subarray(0, n);
    const errno = koffi.errno();
    if (errno === osConstants.errno.ENODATA) return undefined;
    if (errno !== osConstants.errno.ERANGE) throw errnoError(`lgetxattr ${name}`, path);
    // grew between the two calls: ask again
  }
}

export function setXattr(path: Path, name: string, value: Buffer): void {
  if (load().lsetxattr(cpath(path), name, value, value.length, 0) !== 0) throw errnoError(`lsetxattr ${name}`, path);
}

/** mknod(2): `mode` includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK); `dev` is the raw dev_t. */
export function mknod(path: Path, mode: number, dev: bigint | number): void {
  if (load().mknod(cpath(path), mode, dev) !== 0) throw errnoError('mknod', path);
}

const timesBuf = Buffer.alloc(32);
const NS = 1_000_000_000n;

/** utimensat(AT_FDCWD, path, [atime, mtime], AT_SYMLINK_NOFOLLOW) with exact nanoseconds. */
export function lutimesNs(path: Path, atimeNs: bigint, mtimeNs: bigint): void {
  timesBuf.writeBigInt64LE(atimeNs / NS, 0);
  timesBuf.writeBigInt64LE(atimeNs % NS, 8);
  timesBuf.writeBigInt64LE(mtimeNs / NS, 16);
  timesBuf.writeBigInt64LE(mtimeNs % NS, 24);
  if (load().utimensat(AT_FDCWD, cpath(path), timesBuf, AT_SYMLINK_NOFOLLOW) !== 0) throw errnoError('utimensat', path);
}

/**
 * `struct statx` offsets (linux/stat.h; the same on every architecture). One
 * buffer is reused by every lstatx() call: read what you need before the next.
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
 * lstat through statx(2) into a reused buffer: no Stats object, no BigInts, and
 * the timestamps' exact nanoseconds (read with STX offsets).
 */
export function lstatx(path: Path): Buffer {
  if (load().statx(AT_FDCWD, cpath(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, statxBuf) !== 0) throw errnoError('statx', path);
  return statxBuf;
}

/** glibc's makedev(major, minor) as a dev_t. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}

/**
 * utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) with `times` already laid
 * out as two struct timespec (see timesFromStatx).
 */
export function lutimesRaw(path: Path, times: Buffer): void {
  if (load().utimensat(AT_FDCWD, cpath(path), times, AT_SYMLINK_NOFOLLOW) !== 0) throw errnoError('utimensat', path);
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

const flagsBuf = Buffer.alloc(8);

/** The inode flags of an open file (FS_IOC_GETFLAGS). */
export function getInodeFlags(fd: number, path?: Path): number {
  const c = load();
  flagsBuf.fill(0);
  if (c.ioctl(fd, ioctlGetFlags, flagsBuf) !== 0) throw errnoError('ioctl FS_IOC_GETFLAGS', path);
  return flagsBuf.readInt32LE(0);
}

export function setInodeFlags(fd: number, flags: number, path?: Path): void {
  const c = load();
  flagsBuf.fill(0);
  flagsBuf.writeInt32LE(flags | 0, 0);
  if (c.ioctl(fd, ioctlSetFlags, flagsBuf) !== 0) throw errnoError('ioctl FS_IOC_SETFLAGS', path);
}

/** flock(2); returns false instead of throwing when LOCK_NB finds it held (EWOULDBLOCK). */
export function flock(fd: number, op: number): boolean {
  for (;;) {
    if (load().flock(fd, op) === 0) return true;
    const errno = koffi.errno();
    if (errno === osConstants.errno.EINTR) continue;
    if (errno === osConstants.errno.EWOULDBLOCK || errno === osConstants.errno.EAGAIN) return false;
    throw errnoError('flock');
  }
}
