import { posix } from 'node:path';
import { syscallError } from './errors.js';
import type { FileKind, StatInfo, Syscalls } from './syscalls.js';
import type { CapabilityState, RlimitValue } from './security.js';

/** One recorded call: the Syscalls method name and its arguments. */
export interface RecordedCall {
  name: string;
  args: unknown[];
}

/** An entry of the fake file system: a kind, a symlink, or a file with content. */
export type FakeEntry = FileKind | { symlink: string } | { content: string | Uint8Array; mode?: number } | StatInfo;

export interface ScriptedFailure {
  /** Syscalls method name (`mount`, `execve`...). */
  call: string;
  /** errno name thrown (`EPERM`). */
  errno: string;
  /** Fail only the calls whose arguments match (default: every call). */
  when?: (args: unknown[]) => boolean;
  /** Fail only this many times (default: always). */
  times?: number;
}

export interface RecordingOptions {
  /** The fake file system lstat/stat/readlink/readFile see (absolute paths). Missing paths: ENOENT. */
  files?: Record<string, FakeEntry>;
  /** Calls that fail with an errno. */
  failures?: ScriptedFailure[];
  /** getpid() result (default 1, as for a container's init). */
  pid?: number;
  /** First fd handed out by open/openat/socket/pipe2/pidfd calls (default 10). */
  firstFd?: number;
  // ---- security engineer section ----
  /** What capget() returns (default: capabilities 0..40 in every set, as for root). */
  capabilities?: CapabilityState;
  /** What getrlimit(resource) returns (default: unlimited soft and hard). */
  rlimits?: Record<number, RlimitValue>;
}

/** Thrown by RecordingSyscalls.execve: execve does not return, so the fake ends the caller's flow. */
export class ExecveReached extends Error {
  constructor(
    readonly path: string,
    readonly argv: string[],
    readonly envp: string[],
  ) {
    super(`execve ${path}`);
  }
}

/** Thrown by RecordingSyscalls.exit. */
export class ExitReached extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function entryStat(entry: FakeEntry): StatInfo {
  const base: StatInfo = { kind: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, rdev: 0 };
  if (typeof entry === 'string') return { ...base, kind: entry, mode: entry === 'dir' ? 0o755 : 0o644 };
  if ('symlink' in entry) return { ...base, kind: 'symlink', mode: 0o777, size: entry.symlink.length };
  if ('content' in entry) return { ...base, mode: entry.mode ?? 0o644, size: entry.content.length };
  return entry;
}

/**
 * A fake Syscalls for unit tests: records every call with its arguments (in
 * order), keeps a small fake file system (mkdir/mknod/symlink/writeFile add to
 * it, lstat/stat/readlink/readFile read it), and fails calls as scripted.
 * execve and exit throw ExecveReached / ExitReached.
 */
export class RecordingSyscalls implements Syscalls {
  readonly calls: RecordedCall[] = [];
  readonly files: Map<string, FakeEntry>;
  private readonly failures: ScriptedFailure[];
  private nextFd: number;
  private cwd = '/';
  private readonly pid: number;
  private mask = 0o022;

  private readonly capState: CapabilityState;
  private readonly rlimitState: Record<number, RlimitValue>;

  constructor(opts: RecordingOptions = {}) {
    const all = (1n << 41n) - 1n;
    this.capState = opts.capabilities ?? { effective: all, permitted: all, inheritable: 0n };
    this.rlimitState = { ...(opts.rlimits ?? {}) };
    this.files = new Map(Object.entries(opts.files ?? {}));
    this.failures = (opts.failures ?? []).map((f) => ({ ...f }));
    this.nextFd = opts.firstFd ?? 10;
    this.pid = opts.pid ?? 1;
  }

  /** The calls of one method, in order. */
  callsOf(name: string): unknown[][] {
    return this.calls.filter((c) => c.name === name).map((c) => c.args);
  }

  /** Method names in call order (e.g. to assert unshare → mount → pivotRoot → execve). */
  names(): string[] {
    return this.calls.map((c) => c.name);
  }

  /** Records a call and throws a scripted failure if one matches; `path` labels the error. */
  protected record(name: string, args: unknown[], path?: string): void {
    this.calls.push({ name, args });
    for (const f of this.failures) {
      if (f.call !== name) continue;
      if (f.when && !f.when(args)) continue;
      if (f.times !== undefined) {
        if (f.times <= 0) continue;
        f.times--;
      }
      throw syscallError(name, f.errno, path);
    }
  }

  private fd(): number {
    return this.nextFd++;
  }

  private lookup(path: string, follow: boolean, syscall: string): FakeEntry {
    let p = posix.resolve(this.cwd, path);
    for (let hops = 0; hops < 40; hops++) {
      const e = this.files.get(p);
      if (e === undefined) throw syscallError(syscall, 'ENOENT', path);
      if (follow && typeof e === 'object' && 'symlink' in e) {
        p = posix.resolve(posix.dirname(p), e.symlink);
        continue;
      }
      return e;
    }
    throw syscallError(syscall, 'ELOOP', path);
  }

  private add(path: string, entry: FakeEntry, syscall: string): void {
    const p = posix.resolve(this.cwd, path);
    if (this.files.has(p)) throw syscallError(syscall, 'EEXIST', path);
    this.files.set(p, entry);
  }

  unshare(flags: number): void {
    this.record('unshare', [flags]);
  }
  setns(fd: number, nstype: number): void {
    this.record('setns', [fd, nstype]);
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    this.record('mount', [source, target, fstype, flags, data], target);
  }
  umount2(target: string, flags: number): void {
    this.record('umount2', [target, flags], target);
  }
  pivotRoot(newRoot: string, putOld: string): void {
    this.record('pivotRoot', [newRoot, putOld]);
    this.cwd = '/';
  }
  chdir(path: string): void {
    this.record('chdir', [path], path);
    const e = this.lookup(path, true, 'chdir');
    if (entryStat(e).kind !== 'dir') throw syscallError('chdir', 'ENOTDIR', path);
    this.cwd = posix.resolve(this.cwd, path);
  }
  fchdir(fd: number): void {
    this.record('fchdir', [fd]);
  }
  getcwd(): string {
    this.record('getcwd', []);
    return this.cwd;
  }
  open(path: string, flags: number, mode = 0): number {
    this.record('open', [path, flags, mode], path);
    return this.fd();
  }
  openat(dirfd: number, path: string, flags: number, mode = 0): number {
    this.record('openat', [dirfd, path, flags, mode], path);
    return this.fd();
  }
  close(fd: number): void {
    this.record('close', [fd]);
  }
  closeRange(first: number, last: number, flags: number): void {
    this.record('closeRange', [first, last, flags]);
  }
  listFds(): number[] {
    this.record('listFds', []);
    return [0, 1, 2];
  }
  dup2(oldfd: number, newfd: number): void {
    this.record('dup2', [oldfd, newfd]);
  }
  fcntl(fd: number, cmd: number, arg: number): number {
    this.record('fcntl', [fd, cmd, arg]);
    return 0;
  }
  read(fd: number, buffer: Uint8Array): number {
    this.record('read', [fd, buffer.length]);
    return 0;
  }
  write(fd: number, data: Uint8Array | string): number {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString();
    this.record('write', [fd, text]);
    return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  }
  mkdir(path: string, mode: number): void {
    this.record('mkdir', [path, mode], path);
    this.add(path, 'dir', 'mkdir');
  }
  mknod(path: string, mode: number, dev: number): void {
    this.record('mknod', [path, mode, dev], path);
    this.add(path, { kind: 'char', mode: mode & 0o7777, uid: 0, gid: 0, size: 0, rdev: dev }, 'mknod');
  }
  symlink(target: string, path: string): void {
    this.record('symlink', [target, path], path);
    this.add(path, { symlink: target }, 'symlink');
  }
  chmod(path: string, mode: number): void {
    this.record('chmod', [path, mode], path);
  }
  fchown(fd: number, uid: number, gid: number): void {
    this.record('fchown', [fd, uid, gid]);
  }
  lchown(path: string, uid: number, gid: number): void {
    this.record('lchown', [path, uid, gid], path);
  }
  lstat(path: string): StatInfo {
    this.record('lstat', [path], path);
    return entryStat(this.lookup(path, false, 'lstat'));
  }
  stat(path: string): StatInfo {
    this.record('stat', [path], path);
    return entryStat(this.lookup(path, true, 'stat'));
  }
  readlink(path: string): string {
    this.record('readlink', [path], path);
    const e = this.lookup(path, false, 'readlink');
    if (typeof e === 'object' && 'symlink' in e) return e.symlink;
    throw syscallError('readlink', 'EINVAL', path);
  }
  readFile(path: string): Uint8Array {
    this.record('readFile', [path], path);
    const e = this.lookup(path, true, 'read');
    if (typeof e === 'object' && 'content' in e) {
      return typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
    }
    if (entryStat(e).kind === 'dir') throw syscallError('read', 'EISDIR', path);
    return new Uint8Array(0);
  }
  writeFile(path: string, data: Uint8Array | string, mode: number): void {
    this.record('writeFile', [path, typeof data === 'string' ? data : Buffer.from(data).toString(), mode], path);
    this.files.set(posix.resolve(this.cwd, path), { content: data, mode });
  }
  umask(mask: number): number {
    this.record('umask', [mask]);
    const old = this.mask;
    this.mask = mask;
    return old;
  }
  sethostname(name: string): void {
    this.record('sethostname', [name]);
  }
  setsid(): number {
    this.record('setsid', []);
    return this.pid;
  }
  ioctl(fd: number, request: number, arg: number | Uint8Array): number {
    this.record('ioctl', [fd, request, typeof arg === 'number' ? arg : Buffer.from(arg).toString('hex')]);
    return 0;
  }
  socket(domain: number, type: number, protocol: number): number {
    this.record('socket', [domain, type, protocol]);
    return this.fd();
  }
  connectUnix(fd: number, path: string): void {
    this.record('connectUnix', [fd, path], path);
  }
  bindUnix(fd: number, path: string): void {
    this.record('bindUnix', [fd, path], path);
  }
  listen(fd: number, backlog: number): void {
    this.record('listen', [fd, backlog]);
  }
  accept(fd: number, flags: number): number {
    this.record('accept', [fd, flags]);
    return this.fd();
  }
  sendFds(fd: number, data: Uint8Array | string, fds: readonly number[]): number {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.record('sendFds', [fd, Buffer.from(bytes).toString(), [...fds]]);
    return bytes.length;
  }
  /** Receives nothing (EOF): a test scripting a peer subclasses this. */
  recvFds(fd: number, buffer: Uint8Array, maxFds: number): { bytes: number; fds: number[] } {
    this.record('recvFds', [fd, buffer.length, maxFds]);
    return { bytes: 0, fds: [] };
  }
  resetSignalDispositions(): void {
    this.record('resetSignalDispositions', []);
  }
  sigprocmask(how: number, signals: number[]): void {
    this.record('sigprocmask', [how, [...signals]]);
  }
  execve(path: string, argv: string[], envp: string[]): never {
    this.record('execve', [path, [...argv], [...envp]], path);
    throw new ExecveReached(path, argv, envp);
  }
  kill(pid: number, signal: number): void {
    this.record('kill', [pid, signal]);
  }
  getpid(): number {
    this.record('getpid', []);
    return this.pid;
  }
  exit(code: number): never {
    this.record('exit', [code]);
    throw new ExitReached(code);
  }
  pidfdOpen(pid: number, flags: number): number {
    this.record('pidfdOpen', [pid, flags]);
    return this.fd();
  }
  pidfdGetfd(pidfd: number, targetfd: number, flags: number): number {
    this.record('pidfdGetfd', [pidfd, targetfd, flags]);
    return this.fd();
  }
  pipe2(flags: number): [number, number] {
    this.record('pipe2', [flags]);
    return [this.fd(), this.fd()];
  }
  memfdCreate(name: string, flags: number): number {
    this.record('memfdCreate', [name, flags], name);
    return this.fd();
  }
  fchmod(fd: number, mode: number): void {
    this.record('fchmod', [fd, mode]);
  }
  sendfile(outFd: number, inFd: number, count: number): number {
    this.record('sendfile', [outFd, inFd, count]);
    return 0;
  }
  fsopen(fsName: string, flags: number): number {
    this.record('fsopen', [fsName, flags], fsName);
    return this.fd();
  }
  fsconfig(fd: number, cmd: number, key: string | null, value: string | null): void {
    this.record('fsconfig', [fd, cmd, key, value], key ?? undefined);
  }
  fsmount(fd: number, flags: number, attrFlags: number): number {
    this.record('fsmount', [fd, flags, attrFlags]);
    return this.fd();
  }

  // ---- security engineer section: records the call; capget/getrlimit return the scripted state ----
  prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number {
    this.record('prctl', [option, arg2, arg3, arg4, arg5]);
    return 0;
  }
  capget(): CapabilityState {
    this.record('capget', []);
    return { ...this.capState };
  }
  capset(state: CapabilityState): void {
    this.record('capset', [{ ...state }]);
  }
  getrlimit(resource: number): RlimitValue {
    this.record('getrlimit', [resource]);
    const infinity = (1n << 64n) - 1n;
    return { ...(this.rlimitState[resource] ?? { soft: infinity, hard: infinity }) };
  }
  setrlimit(resource: number, limit: RlimitValue): void {
    this.record('setrlimit', [resource, { ...limit }]);
    this.rlimitState[resource] = { ...limit };
  }
  setgroups(gids: readonly number[]): void {
    this.record('setgroups', [[...gids]]);
  }
  setresgid(rgid: number, egid: number, sgid: number): void {
    this.record('setresgid', [rgid, egid, sgid]);
  }
  setresuid(ruid: number, euid: number, suid: number): void {
    this.record('setresuid', [ruid, euid, suid]);
  }
  seccompSetFilter(program: Uint8Array): void {
    this.record('seccompSetFilter', [program.length]);
  }
  // ---- end of security engineer section ----
}
