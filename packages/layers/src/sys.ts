/**
 * The few libc calls Node does not offer: mknod, the *xattr family, and
 * utimensat/futimens for nanosecond timestamps. Loaded lazily through koffi on
 * first use, so applying a layer that needs none of them never pays for the
 * FFI library. Every call is the no-follow variant where one exists.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';

// koffi's types are loose (its functions return `any`); the wrappers below give
// each call a precise signature, so `unknown` results stay inside this file.
type Fn = (...args: unknown[]) => unknown;

interface Libc {
  errno: () => number;
  mknod: Fn;
  lsetxattr: Fn;
  fsetxattr: Fn;
  lgetxattr: Fn;
  llistxattr: Fn;
  lremovexattr: Fn;
  utimensat: Fn;
  futimens: Fn;
}

let libc: Libc | undefined;

const LIBC_NAMES = ['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1', 'libc.so'];

function load(): Libc {
  if (libc) return libc;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as {
    load(path: string): { func(def: string): Fn };
    errno(): number;
  };
  let lib: { func(def: string): Fn } | undefined;
  let lastErr: unknown;
  for (const name of LIBC_NAMES) {
    try {
      lib = koffi.load(name);
      break;
    } catch (err) {
      lastErr = err;
    }
  }
  if (!lib) throw Object.assign(new Error(`load libc: ${String(lastErr)}`), { code: 'ENOSYS' });
  let mknod: Fn;
  try {
    mknod = lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');
  } catch {
    // glibc before 2.33 exports only the versioned __xmknod (version 0 = _MKNOD_VER).
    const xmknod = lib.func('int __xmknod(int ver, const char *path, uint32_t mode, _Inout_ uint64_t *dev)');
    mknod = (path, mode, dev) => xmknod(0, path, mode, [dev]);
  }
  libc = {
    errno: () => koffi.errno(),
    mknod,
    lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    fsetxattr: lib.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
    llistxattr: lib.func('intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)'),
    lremovexattr: lib.func('int lremovexattr(const char *path, const char *name)'),
    utimensat: lib.func('int utimensat(int dirfd, const char *path, const void *times, int flags)'),
    futimens: lib.func('int futimens(int fd, const void *times)'),
  };
  return libc;
}

const ERRNO_NAMES: Map<number, string> = new Map(
  Object.entries(osConstants.errno).map(([name, num]) => [num, name] as [number, string]),
);

/** An Error shaped like Node's own fs errors (`code`, `errno`, `syscall`, `path`). */
export interface SysError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

function fail(syscall: string, path: string | number): never {
  const errno = load().errno();
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const where = typeof path === 'string' ? ` '${path}'` : ` fd ${path}`;
  const err = new Error(`${code}: ${syscall}${where}`) as SysError;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  if (typeof path === 'string') err.path = path;
  throw err;
}

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** Linux dev_t encoding (glibc's gnu_dev_makedev). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 32n) & 0xfffff000n) | ((rdev >> 8n) & 0xfffn));
}

export function devMinor(rdev: bigint): number {
  return Number(((rdev >> 12n) & 0xffffff00n) | (rdev & 0xffn));
}

export function mknod(path: string, mode: number, dev: bigint): void {
  if ((load().mknod(path, mode, dev) as number) !== 0) fail('mknod', path);
}

export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  if ((load().lsetxattr(path, name, value, value.length, 0) as number) !== 0) fail('lsetxattr', path);
}

export function fsetxattr(fd: number, name: string, value: Uint8Array): void {
  if ((load().fsetxattr(fd, name, value, value.length, 0) as number) !== 0) fail('fsetxattr', fd);
}

export function lremovexattr(path: string, name: string): void {
  if ((load().lremovexattr(path, name) as number) !== 0) fail('lremovexattr', path);
}

const ERANGE = osConstants.errno.ERANGE;

/** Names of a node's extended attributes (not following a final symlink); [] where unsupported. */
export function llistxattr(path: string): string[] {
  const lib = load();
  let buf = Buffer.allocUnsafe(1024);
  for (let attempt = 0; ; attempt++) {
    const n = Number(lib.llistxattr(path, buf, buf.length));
    if (n >= 0) {
      if (n === 0) return [];
      const names = buf.toString('utf8', 0, n).split('\0');
      names.pop(); // the list ends with a NUL
      return names;
    }
    const errno = lib.errno();
    if (errno === osConstants.errno.ENOTSUP || errno === osConstants.errno.EOPNOTSUPP) return [];
    if (errno !== ERANGE || attempt > 4) fail('llistxattr', path);
    const size = Number(lib.llistxattr(path, null, 0));
    if (size < 0) fail('llistxattr', path);
    buf = Buffer.allocUnsafe(size + 64);
  }
}

/** One extended attribute's raw value, or undefined if it is not set. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const lib = load();
  let buf = Buffer.allocUnsafe(256);
  for (let attempt = 0; ; attempt++) {
    const n = Number(lib.lgetxattr(path, name, buf, buf.length));
    if (n >= 0) return Buffer.from(buf.subarray(0, n));
    const errno = lib.errno();
    if (errno === osConstants.errno.ENODATA) return undefined;
    if (errno !== ERANGE || attempt > 4) fail('lgetxattr', path);
    const size = Number(lib.lgetxattr(path, name, null, 0));
    if (size < 0) fail('lgetxattr', path);
    buf = Buffer.allocUnsafe(size + 64);
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
export function lutimens(path: string, atime: Timespec, mtime: Timespec): void {
  if ((load().utimensat(AT_FDCWD, path, timesBuffer(atime, mtime), AT_SYMLINK_NOFOLLOW) as number) !== 0) {
    fail('utimensat', path);
  }
}

export function futimens(fd: number, atime: Timespec, mtime: Timespec): void {
  if ((load().futimens(fd, timesBuffer(atime, mtime)) as number) !== 0) fail('futimens', fd);
}
