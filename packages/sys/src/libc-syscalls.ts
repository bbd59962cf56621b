import * as fs from 'node:fs';
import { syscallError } from './errors.js';
import { cfunc, lastErrno, type CFunc } from './libc.js';
import type { FileKind, StatInfo, Syscalls } from './syscalls.js';
import { LibcSecuritySyscalls } from './libc-security.js';
import type { LibcSecurityOptions } from './libc-security.js';
import type { CapabilityState, RlimitValue } from './security.js';
import * as unix from './unix-socket.js';

const SYSCALL_NUMBERS: Record<string, Record<string, number>> = {
  x64: { pivot_root: 155, close_range: 436, pidfd_open: 434, pidfd_getfd: 438, fsopen: 430, fsconfig: 431, fsmount: 432 },
  arm64: { pivot_root: 41, close_range: 436, pidfd_open: 434, pidfd_getfd: 438, fsopen: 430, fsconfig: 431, fsmount: 432 },
};

export type LibcSyscallsOptions = LibcSecurityOptions;

/** glibc's sigset_t is 1024 bits. */
const SIGSET_BYTES = 128;

/** Every libc function LibcSyscalls calls, by key (several keys may declare one function differently). */
const PROTOTYPES = {
  unshare: 'int unshare(int flags)',
  setns: 'int setns(int fd, int nstype)',
  mount: 'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
  umount2: 'int umount2(const char *target, int flags)',
  syscall: 'long syscall(long number, ...)',
  chdir: 'int chdir(const char *path)',
  fchdir: 'int fchdir(int fd)',
  getcwd: 'void *getcwd(void *buf, size_t size)',
  open: 'int open(const char *path, int flags, unsigned int mode)',
  openat: 'int openat(int dirfd, const char *path, int flags, unsigned int mode)',
  close: 'int close(int fd)',
  dup2: 'int dup2(int oldfd, int newfd)',
  fcntl: 'int fcntl(int fd, int cmd, int arg)',
  read: 'long read(int fd, void *buf, size_t count)',
  write: 'long write(int fd, const void *buf, size_t count)',
  mknod: 'int mknod(const char *path, unsigned int mode, uint64_t dev)',
  fchown: 'int fchown(int fd, unsigned int uid, unsigned int gid)',
  umask: 'unsigned int umask(unsigned int mask)',
  sethostname: 'int sethostname(const void *name, size_t len)',
  setsid: 'int setsid()',
  ioctl_i: 'int ioctl(int fd, unsigned long request, unsigned long arg)',
  ioctl_p: 'int ioctl(int fd, unsigned long request, void *arg)',
  socket: 'int socket(int domain, int type, int protocol)',
  signal: 'void *signal(int sig, void *handler)',
  sigprocmask: 'int sigprocmask(int how, const void *set, void *oldset)',
  execve: 'int execve(const char *path, const char **argv, const char **envp)',
  kill: 'int kill(int pid, int sig)',
  getpid: 'int getpid()',
  _exit: 'void _exit(int status)',
  pipe2: 'int pipe2(_Out_ int *fds, int flags)',
  memfd_create: 'int memfd_create(const char *name, unsigned int flags)',
  fchmod: 'int fchmod(int fd, unsigned int mode)',
  sendfile: 'long sendfile(int out_fd, int in_fd, void *offset, size_t count)',
} as const;
type FunctionKey = keyof typeof PROTOTYPES;

/** Declares a libc function once, on first use (keeps the init child's start-up short). */
function fn(key: FunctionKey): CFunc {
  return cfunc(PROTOTYPES[key]);
}

function sysno(name: string): number {
  const n = SYSCALL_NUMBERS[process.arch]?.[name];
  if (n === undefined) throw syscallError(name, 'ENOSYS');
  return n;
}

/** Throws the errno of the last koffi call when `result` is -1 (or negative for raw syscalls). */
function check(result: number | bigint, syscall: string, path?: string): number {
  const r = typeof result === 'bigint' ? Number(result) : result;
  if (r < 0) throw syscallError(syscall, lastErrno(), path);
  return r;
}

function kindOf(st: fs.Stats): FileKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

function statInfo(st: fs.Stats): StatInfo {
  return { kind: kindOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, rdev: st.rdev };
}

/** Runs a Node fs call, turning its error into the syscall error every implementation throws. */
function nodeFs<T>(syscall: string, path: string | undefined, op: () => T): T {
  try {
    return op();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E')) throw syscallError(syscall, code, path, err);
    throw err;
  }
}

function sigset(signals: number[]): Buffer {
  const set = Buffer.alloc(SIGSET_BYTES);
  for (const s of signals) {
    const bit = s - 1;
    set[bit >> 3] = (set[bit >> 3] ?? 0) | (1 << (bit & 7));
  }
  return set;
}

/**
 * The real system calls, through the libc handle of libc.ts (glibc or musl).
 * Functions are declared on first use. File-system calls whose results need struct decoding
 * (stat, readdir, readlink) go through Node's synchronous fs API, which makes
 * the same system calls.
 */
export class LibcSyscalls implements Syscalls {
  private readonly security: LibcSecuritySyscalls;

  constructor(options: LibcSyscallsOptions = {}) {
    this.security = new LibcSecuritySyscalls(options);
  }

  /**
   * Loads libc and declares every function now rather than on first use: an init
   * parked ahead of its container (Runtime.warm) does this while it waits.
   */
  prepare(): void {
    for (const key of Object.keys(PROTOTYPES) as FunctionKey[]) fn(key);
    this.security.prepare();
  }

  unshare(flags: number): void {
    check(fn('unshare')(flags), 'unshare');
  }

  setns(fd: number, nstype: number): void {
    check(fn('setns')(fd, nstype), 'setns');
  }

  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    const f = fn('mount');
    check(f(source, target, fstype, flags, data), 'mount', target);
  }

  umount2(target: string, flags: number): void {
    check(fn('umount2')(target, flags), 'umount2', target);
  }

  pivotRoot(newRoot: string, putOld: string): void {
    const f = fn('syscall');
    check(f(sysno('pivot_root'), 'const char *', newRoot, 'const char *', putOld), 'pivot_root');
  }

  fsopen(fsName: string, flags: number): number {
    const f = fn('syscall');
    return check(f(sysno('fsopen'), 'const char *', fsName, 'unsigned int', flags), 'fsopen', fsName);
  }

  fsconfig(fd: number, cmd: number, key: string | null, value: string | null): void {
    const f = fn('syscall');
    check(f(sysno('fsconfig'), 'int', fd, 'unsigned int', cmd, 'const char *', key, 'const char *', value, 'int', 0), 'fsconfig', key ?? undefined);
  }

  fsmount(fd: number, flags: number, attrFlags: number): number {
    const f = fn('syscall');
    return check(f(sysno('fsmount'), 'int', fd, 'unsigned int', flags, 'unsigned int', attrFlags), 'fsmount');
  }

  chdir(path: string): void {
    check(fn('chdir')(path), 'chdir', path);
  }

  fchdir(fd: number): void {
    check(fn('fchdir')(fd), 'fchdir');
  }

  getcwd(): string {
    const buf = Buffer.alloc(4097);
    const r: unknown = fn('getcwd')(buf, buf.length - 1);
    if (r === null) throw syscallError('getcwd', lastErrno());
    const end = buf.indexOf(0);
    return buf.toString('utf8', 0, end < 0 ? buf.length : end);
  }

  open(path: string, flags: number, mode = 0): number {
    return check(fn('open')(path, flags, mode), 'open', path);
  }

  openat(dirfd: number, path: string, flags: number, mode = 0): number {
    const f = fn('openat');
    return check(f(dirfd, path, flags, mode), 'openat', path);
  }

  close(fd: number): void {
    check(fn('close')(fd), 'close');
  }

  closeRange(first: number, last: number, flags: number): void {
    const f = fn('syscall');
    check(f(sysno('close_range'), 'unsigned int', first, 'unsigned int', last, 'unsigned int', flags), 'close_range');
  }

  listFds(): number[] {
    return nodeFs('readdir', '/proc/self/fd', () => fs.readdirSync('/proc/self/fd'))
      .map((n) => Number(n))
      .filter((n) => Number.isInteger(n));
  }

  dup2(oldfd: number, newfd: number): void {
    check(fn('dup2')(oldfd, newfd), 'dup2');
  }

  fcntl(fd: number, cmd: number, arg: number): number {
    return check(fn('fcntl')(fd, cmd, arg), 'fcntl');
  }

  read(fd: number, buffer: Uint8Array): number {
    return check(fn('read')(fd, buffer, buffer.length), 'read');
  }

  write(fd: number, data: Uint8Array | string): number {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return check(fn('write')(fd, buf, buf.length), 'write');
  }

  mkdir(path: string, mode: number): void {
    nodeFs('mkdir', path, () => fs.mkdirSync(path, { mode }));
  }

  mknod(path: string, mode: number, dev: number): void {
    const f = fn('mknod');
    check(f(path, mode, dev), 'mknod', path);
  }

  symlink(target: string, path: string): void {
    nodeFs('symlink', path, () => fs.symlinkSync(target, path));
  }

  chmod(path: string, mode: number): void {
    nodeFs('chmod', path, () => fs.chmodSync(path, mode));
  }

  fchown(fd: number, uid: number, gid: number): void {
    check(fn('fchown')(fd, uid, gid), 'fchown');
  }

  lchown(path: string, uid: number, gid: number): void {
    nodeFs('lchown', path, () => fs.lchownSync(path, uid, gid));
  }

  lstat(path: string): StatInfo {
    return nodeFs('lstat', path, () => statInfo(fs.lstatSync(path)));
  }

  stat(path: string): StatInfo {
    return nodeFs('stat', path, () => statInfo(fs.statSync(path)));
  }

  readlink(path: string): string {
    return nodeFs('readlink', path, () => fs.readlinkSync(path));
  }

  readFile(path: string): Uint8Array {
    return nodeFs('read', path, () => fs.readFileSync(path));
  }

  writeFile(path: string, data: Uint8Array | string, mode: number): void {
    nodeFs('write', path, () => fs.writeFileSync(path, data, { mode }));
  }

  umask(mask: number): number {
    return fn('umask')(mask) as number;
  }

  sethostname(name: string): void {
    const buf = Buffer.from(name);
    check(fn('sethostname')(buf, buf.length), 'sethostname');
  }

  setsid(): number {
    return check(fn('setsid')(), 'setsid');
  }

  ioctl(fd: number, request: number, arg: number | Uint8Array): number {
    if (typeof arg === 'number') {
      return check(fn('ioctl_i')(fd, request, arg), 'ioctl');
    }
    return check(fn('ioctl_p')(fd, request, arg), 'ioctl');
  }

  socket(domain: number, type: number, protocol: number): number {
    return check(fn('socket')(domain, type, protocol), 'socket');
  }

  connectUnix(fd: number, path: string): void {
    unix.connectUnix(fd, path);
  }

  bindUnix(fd: number, path: string): void {
    unix.bindUnix(fd, path);
  }

  listen(fd: number, backlog: number): void {
    unix.listen(fd, backlog);
  }

  accept(fd: number, flags: number): number {
    return unix.accept(fd, flags);
  }

  sendFds(fd: number, data: Uint8Array | string, fds: readonly number[]): number {
    return unix.sendFds(fd, data, fds);
  }

  recvFds(fd: number, buffer: Uint8Array, maxFds: number): { bytes: number; fds: number[] } {
    return unix.recvFds(fd, buffer, maxFds);
  }

  resetSignalDispositions(): void {
    const signal = fn('signal');
    for (let sig = 1; sig <= 64; sig++) {
      // SIGKILL and SIGSTOP cannot be caught; 32 and 33 are glibc's own (signal() refuses them).
      if (sig === 9 || sig === 19 || sig === 32 || sig === 33) continue;
      signal(sig, null);
    }
  }

  sigprocmask(how: number, signals: number[]): void {
    const f = fn('sigprocmask');
    check(f(how, sigset(signals), null), 'sigprocmask');
  }

  execve(path: string, argv: string[], envp: string[]): never {
    const f = fn('execve');
    f(path, [...argv, null], [...envp, null]);
    throw syscallError('execve', lastErrno(), path);
  }

  kill(pid: number, signal: number): void {
    check(fn('kill')(pid, signal), 'kill');
  }

  getpid(): number {
    return fn('getpid')() as number;
  }

  exit(code: number): never {
    fn('_exit')(code);
    // Not reached: _exit does not return.
    throw new Error('_exit returned');
  }

  pidfdOpen(pid: number, flags: number): number {
    const f = fn('syscall');
    return check(f(sysno('pidfd_open'), 'int', pid, 'unsigned int', flags), 'pidfd_open');
  }

  pidfdGetfd(pidfd: number, targetfd: number, flags: number): number {
    const f = fn('syscall');
    return check(f(sysno('pidfd_getfd'), 'int', pidfd, 'int', targetfd, 'unsigned int', flags), 'pidfd_getfd');
  }

  pipe2(flags: number): [number, number] {
    const fds = new Int32Array(2);
    check(fn('pipe2')(fds, flags), 'pipe2');
    return [fds[0] ?? -1, fds[1] ?? -1];
  }

  memfdCreate(name: string, flags: number): number {
    return check(fn('memfd_create')(name, flags), 'memfd_create', name);
  }

  fchmod(fd: number, mode: number): void {
    check(fn('fchmod')(fd, mode), 'fchmod');
  }

  sendfile(outFd: number, inFd: number, count: number): number {
    return check(fn('sendfile')(outFd, inFd, null, count), 'sendfile');
  }

  // ---- security engineer section (implemented in libc-security.ts) ----

  prctl(option: number, arg2?: number, arg3?: number, arg4?: number, arg5?: number): number {
    return this.security.prctl(option, arg2, arg3, arg4, arg5);
  }

  capget(): CapabilityState {
    return this.security.capget();
  }

  capset(state: CapabilityState): void {
    this.security.capset(state);
  }

  getrlimit(resource: number): RlimitValue {
    return this.security.getrlimit(resource);
  }

  setrlimit(resource: number, limit: RlimitValue): void {
    this.security.setrlimit(resource, limit);
  }

  setgroups(gids: readonly number[]): void {
    this.security.setgroups(gids);
  }

  setresgid(rgid: number, egid: number, sgid: number): void {
    this.security.setresgid(rgid, egid, sgid);
  }

  setresuid(ruid: number, euid: number, suid: number): void {
    this.security.setresuid(ruid, euid, suid);
  }

  seccompSetFilter(program: Uint8Array): void {
    this.security.seccompSetFilter(program);
  }
  // ---- end of security engineer section ----
}
