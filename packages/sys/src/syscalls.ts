/**
 * The system calls of berth's runtime (and of build's workspace mounts) go
 * through this interface, so the init sequence can run against a recording fake
 * in unit tests (order and arguments asserted, recording.ts) and against libc
 * (libc-syscalls.ts, through the one koffi handle of libc.ts) for real.
 *
 * Contract for implementations:
 * - every method is synchronous;
 * - a failure throws a SysError (errors.ts: a BerthError, code 'ESYSCALL'), a one-line message
 *   `<syscall>[ <path>]: <ERRNO>` (crun style: `pivot_root: EINVAL`) and
 *   details `{ syscall, errno, path? }` (errno is the symbolic name);
 * - paths are passed through untouched (no resolution, no containment: callers
 *   resolve paths inside the container root first, as the runtime's init/paths.ts does).
 *
 * Keep the runtime's init child lean: this package is bundled into it, so it
 * imports nothing from '@berth/oci' but its errors (the init bundle maps
 * '@berth/oci' to packages/oci/src/errors.ts) and no npm package but koffi.
 */

import type { SecuritySyscalls } from './security.js';

/** File type of an lstat()/stat() result. */
export type FileKind = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface StatInfo {
  kind: FileKind;
  /** Permission bits and set-id bits (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Device number for char/block devices (st_rdev). */
  rdev: number;
}

/** The security section (credentials, capabilities, prctl, rlimits, seccomp) is SecuritySyscalls, documented in security.ts. */
export interface Syscalls extends SecuritySyscalls {
  // ---- namespaces -----------------------------------------------------------
  unshare(flags: number): void;
  setns(fd: number, nstype: number): void;

  // ---- mounts ---------------------------------------------------------------
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
  /** syscall(SYS_pivot_root, newRoot, putOld). */
  pivotRoot(newRoot: string, putOld: string): void;
  /** fsopen(2): a new filesystem context (an fd; FSOPEN_CLOEXEC in flags). */
  fsopen(fsName: string, flags: number): number;
  /** fsconfig(2) with a string value (FSCONFIG_SET_STRING) or none (FSCONFIG_CMD_CREATE: key and value null). */
  fsconfig(fd: number, cmd: number, key: string | null, value: string | null): void;
  /** fsmount(2): a detached mount of the created filesystem (an fd of its root). */
  fsmount(fd: number, flags: number, attrFlags: number): number;

  // ---- files and directories ------------------------------------------------
  chdir(path: string): void;
  fchdir(fd: number): void;
  /** getcwd(2) (not Node's cached process.cwd()). Throws ENOENT when the cwd is unreachable. */
  getcwd(): string;
  open(path: string, flags: number, mode?: number): number;
  openat(dirfd: number, path: string, flags: number, mode?: number): number;
  close(fd: number): void;
  /** close_range(2); flags 0 or CLOSE_RANGE_CLOEXEC. */
  closeRange(first: number, last: number, flags: number): void;
  /** The open fds of this process (readdir of /proc/self/fd), for the close_range fallback. */
  listFds(): number[];
  dup2(oldfd: number, newfd: number): void;
  /** fcntl(fd, cmd, arg) with an integer argument; returns the result. */
  fcntl(fd: number, cmd: number, arg: number): number;
  read(fd: number, buffer: Uint8Array): number;
  write(fd: number, data: Uint8Array | string): number;
  mkdir(path: string, mode: number): void;
  mknod(path: string, mode: number, dev: number): void;
  symlink(target: string, path: string): void;
  chmod(path: string, mode: number): void;
  fchown(fd: number, uid: number, gid: number): void;
  /** lchown(2): owner of a path, not following a final symlink. */
  lchown(path: string, uid: number, gid: number): void;
  lstat(path: string): StatInfo;
  stat(path: string): StatInfo;
  readlink(path: string): string;
  /** Reads a whole small file (e.g. /proc/self/mountinfo). */
  readFile(path: string): Uint8Array;
  /** Creates (or truncates) a file and writes data to it. */
  writeFile(path: string, data: Uint8Array | string, mode: number): void;
  umask(mask: number): number;

  // ---- process, terminal, signals -------------------------------------------
  sethostname(name: string): void;
  setsid(): number;
  /** ioctl(fd, request, arg): arg is an integer or a buffer passed by pointer (in/out). */
  ioctl(fd: number, request: number, arg: number | Uint8Array): number;
  socket(domain: number, type: number, protocol: number): number;
  /** connect(2) to an AF_UNIX socket at `path` (up to 107 bytes). */
  connectUnix(fd: number, path: string): void;
  /** bind(2) an AF_UNIX socket to `path`. */
  bindUnix(fd: number, path: string): void;
  listen(fd: number, backlog: number): void;
  /** accept4(2), the peer's address not asked for; flags SOCK_CLOEXEC / SOCK_NONBLOCK. */
  accept(fd: number, flags: number): number;
  /** sendmsg(2): `data` (at least one byte) with `fds` in one SCM_RIGHTS control message; returns the bytes sent. */
  sendFds(fd: number, data: Uint8Array | string, fds: readonly number[]): number;
  /**
   * recvmsg(2) into `buffer`, taking up to `maxFds` fds passed with SCM_RIGHTS (received
   * close-on-exec): the bytes read (0 at EOF) and the fds.
   */
  recvFds(fd: number, buffer: Uint8Array, maxFds: number): { bytes: number; fds: number[] };
  /** Resets every catchable signal to SIG_DFL (Node ignores SIGPIPE/SIGXFSZ). */
  resetSignalDispositions(): void;
  /** sigprocmask(how, set): set is the list of signal numbers. */
  sigprocmask(how: number, signals: number[]): void;
  /** execve(2): only returns by throwing. */
  execve(path: string, argv: string[], envp: string[]): never;
  kill(pid: number, signal: number): void;
  getpid(): number;
  /** _exit(2): no Node teardown (used after fds have been closed). */
  exit(code: number): never;
  pidfdOpen(pid: number, flags: number): number;
  pidfdGetfd(pidfd: number, targetfd: number, flags: number): number;
  /** pipe2(2); returns [readEnd, writeEnd]. */
  pipe2(flags: number): [number, number];
  /** memfd_create(2). */
  memfdCreate(name: string, flags: number): number;
  /** fchmod(2). */
  fchmod(fd: number, mode: number): void;
  /** sendfile(2) from the current offset of `inFd`: up to `count` bytes; 0 at its end. */
  sendfile(outFd: number, inFd: number, count: number): number;

}

// ---- constants (Linux, x86_64 and arm64 agree on all of these) ---------------

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_RELATIME = 0x200000;
export const MS_STRICTATIME = 0x1000000;

export const MNT_DETACH = 0x2;

export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

export const F_GETFD = 1;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
export const F_DUPFD_CLOEXEC = 1030;
export const F_ADD_SEALS = 1033;
export const F_GET_SEALS = 1034;
export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;

export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
/** Linux 6.3: an executable memfd even when vm.memfd_noexec asks for noexec by default. */
export const MFD_EXEC = 0x10;

export const FSOPEN_CLOEXEC = 0x1;
export const FSCONFIG_SET_STRING = 1;
export const FSCONFIG_CMD_CREATE = 6;
export const FSMOUNT_CLOEXEC = 0x1;
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;

export const CLOSE_RANGE_CLOEXEC = 1 << 2;

/** File type bits of st_mode / mknod's mode. */
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

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

export const PR_GET_DUMPABLE = 3;
export const PR_SET_DUMPABLE = 4;
export const SIGKILL = 9;

export const SIG_SETMASK = 2;
export const SIG_UNBLOCK = 1;

/** Terminal ioctls (asm-generic, used by x86_64 and arm64). */
export const TIOCSCTTY = 0x540e;
export const TIOCGWINSZ = 0x5413;
export const TIOCSWINSZ = 0x5414;
export const TIOCSPTLCK = 0x40045431;
export const TIOCGPTN = 0x80045430;
export const TIOCGPTPEER = 0x5441;

export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const IFF_UP = 0x1;
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SOCK_NONBLOCK = 0o4000;
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOL_SOCKET = 1;
export const SCM_RIGHTS = 1;
/** recvmsg flag: fds received with SCM_RIGHTS are close-on-exec. */
export const MSG_CMSG_CLOEXEC = 0x40000000;

/** Signal names to numbers (x86_64/arm64 numbering). */
export const SIGNALS: Readonly<Record<string, number>> = Object.freeze({
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
});
