import { BerthError } from '@berth/oci';
import type { ContainerSpec, NamespaceKind } from '../spec/types.js';
import { errnoOf } from '@berth/sys';
import {
  AF_INET,
  CLOSE_RANGE_CLOEXEC,
  CLONE_NEWCGROUP,
  CLONE_NEWNET,
  CLONE_NEWPID,
  FD_CLOEXEC,
  F_SETFD,
  IFF_UP,
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_SLAVE,
  MS_STRICTATIME,
  O_CLOEXEC,
  O_NOCTTY,
  O_PATH,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  PR_SET_DUMPABLE,
  PR_SET_PDEATHSIG,
  SIGKILL,
  SIG_SETMASK,
  SIOCGIFFLAGS,
  SIOCSIFFLAGS,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  S_IFCHR,
  TIOCGPTPEER,
  TIOCSCTTY,
  TIOCSPTLCK,
  makedev,
} from '@berth/sys';
import { namespaceFlags } from '../spec/namespaces.js';
import type { Syscalls } from '@berth/sys';
import { runHooks } from '../oci/hooks.js';
import { PRESERVED_FDS_BASE } from './config.js';
import type { CgroupMountPlan, DeviceNode, InitConfig, InitMessage } from './config.js';
import { parseMountOptions } from './mountopts.js';
import { ensureMountPoint, insideRoot, mkdirAllInRoot, resolveInRoot } from './paths.js';

/** The init child's link to the runtime: messages out (REPORT_FD), go-ahead bytes in (SYNC_FD). */
export interface InitChannel {
  send(msg: InitMessage): void;
  /** Blocks until the runtime says go; throws if the runtime went away. */
  waitForParent(what: string): void;
  /** Closes the report pipe (the creator is gone from here on: errors go to stderr). */
  release?(): void;
  /** Moves the pipes to fds >= minFd (close-on-exec), freeing their numbers (--preserve-fds). */
  relocate?(minFd: number): void;
}

/** `applyProcessSecurity(sys, spec)` from security/: rlimits, no_new_privs, credentials, capabilities, seccomp (last). */
export type ProcessSecurity = (sys: Syscalls, spec: ContainerSpec) => void;

/** An error that ends the init with a specific exit status (126 cannot execute, 127 not found). */
export class ExecFailure extends BerthError {
  constructor(
    message: string,
    readonly exitCode: number,
    cause?: unknown,
  ) {
    super('ERUNTIME', message, { cause, details: { exitCode } });
  }
}

const PROC_FLAGS = MS_NOSUID | MS_NOEXEC | MS_NODEV;
const DEV_SYMLINKS: ReadonlyArray<[string, string]> = [
  ['fd', '/proc/self/fd'],
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'],
  ['ptmx', 'pts/ptmx'],
];

class Marks {
  readonly marks: Array<[string, number]> = [];
  constructor(private readonly enabled: boolean) {}
  mark(name: string): void {
    if (this.enabled) this.marks.push([name, performance.timeOrigin + performance.now()]);
  }
}

/**
 * The init's first system calls, as soon as it can make any (before it waits for its start
 * line, parked or not):
 * - non-dumpable until execve, which resets it for the container's program: no process
 *   without CAP_SYS_PTRACE over this one may open /proc/<pid>/exe, /proc/<pid>/fd/* or
 *   /proc/<pid>/mem, or ptrace it, while it holds the runtime's binary and fds
 *   (CVE-2019-5736; see launch/sealed-exe.ts for the binary itself);
 * - a parked init must not outlive the runtime that parked it (the sync pipe's EOF covers
 *   a runtime that died before this).
 */
export function protectInit(sys: Syscalls): void {
  sys.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  sys.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

export interface RunInitOptions {
  /**
   * Replace fd 0 with the container's /dev/null (once /dev exists): the init was
   * started with the runtime's own stdin (an init started ahead of its container,
   * Runtime.warm) and the container is not interactive.
   */
  stdinNull?: boolean;
  /** Earlier epoch-ms marks of this process (its start, its boot), reported with the rest when timing is on. */
  marks?: Array<[string, number]>;
}

/**
 * The whole container setup, in order, with synchronous system calls; ends in
 * execve (never returns normally). Throws on failure: the caller reports the
 * error to the runtime and exits 125 (or the ExecFailure's status).
 *
 * Order: wait for the runtime (cgroup joined) → join the spec's netns file, if any →
 * unshare the spec's namespaces but
 * pid (the init was born in its pid namespace) and the cgroup namespace → / rslave →
 * bind rootfs → /proc → /dev (+ nodes, symlinks, pts, shm, mqueue, init) → fd 0 to
 * /dev/null (stdinNull) → /sys
 * → cgroup fs → /etc files → user mounts → pivot_root(".", ".") + detach old
 * root → read-only and masked paths → hostname → loopback → read-only root →
 * terminal → fds > 2 close-on-exec → cwd (checked inside the root) → PATH lookup →
 * fds 0-2 inheritable, signals default and unblocked → process security
 * (seccomp last) → execve.
 */
export function runInit(sys: Syscalls, cfg: InitConfig, channel: InitChannel, security: ProcessSecurity, opts: RunInitOptions = {}): never {
  const marks = new Marks(cfg.timing);
  if (cfg.timing) marks.marks.push(...(opts.marks ?? []));
  const spec = cfg.spec;
  const root = spec.rootfs;
  const ns = new Set(spec.namespaces);
  marks.mark('init-start');
  // If the runtime dies, so does the container (its PID 1 takes the pid namespace with it).
  sys.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

  // The runtime puts this process into its cgroup before saying go, so the
  // cgroup namespace we make next is rooted at the container's cgroup.
  channel.waitForParent('cgroup setup');
  marks.mark('synced');
  // berth-runtime: this init outlives `create`; the FIFO is held O_PATH (it is out of reach after pivot_root).
  const execFifo = cfg.execFifo === undefined ? undefined : sys.open(cfg.execFifo, O_PATH | O_CLOEXEC);
  if (execFifo !== undefined) sys.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  // The init was born in its pid namespace; it makes the others for itself (this thread,
  // the one that execve()s). The cgroup namespace is rooted at the cgroup joined above.
  // A network made beforehand (@berth/network's bind-mounted netns, or another container's)
  // is joined rather than made: setns of a network namespace is per thread, and this thread
  // still has every capability and the host's mount namespace the file is visible in.
  let unshareFlags = (namespaceFlags(spec.namespaces) & ~CLONE_NEWPID) | (cfg.cgroupNamespace ? CLONE_NEWCGROUP : 0);
  if (spec.netns !== undefined && ns.has('network')) {
    joinNamespace(sys, spec.netns, 'network');
    unshareFlags &= ~CLONE_NEWNET;
  }
  // berth-runtime's namespaces given by path (linux.namespaces[].path): joined, not made (in a
  // user namespace, the helper joined them before it: `entered`).
  for (const j of cfg.joinNamespaces ?? []) {
    if (j.entered !== true) joinNamespace(sys, j.path, j.type);
    unshareFlags &= ~namespaceFlags([j.type]);
  }
  if (unshareFlags !== 0) sys.unshare(unshareFlags);
  marks.mark('namespaces');
  sys.umask(0o022);

  // Nothing we mount may propagate back to the host.
  sys.mount(null, '/', null, MS_REC | MS_SLAVE, null);
  sys.mount(root, root, null, MS_BIND | MS_REC, null);

  for (const d of ['proc', 'dev', 'sys']) {
    const p = `${root}/${d}`;
    let kind: string | undefined;
    try {
      kind = sys.lstat(p).kind;
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    if (kind === 'symlink') throw new BerthError('EROOTFS', `prepare rootfs: /${d} is a symlink (refused)`);
    if (kind === undefined) sys.mkdir(p, 0o755);
    else if (kind !== 'dir') throw new BerthError('EROOTFS', `prepare rootfs: /${d} is not a directory`);
  }

  sys.mount('proc', `${root}/proc`, 'proc', PROC_FLAGS, null);
  setupDev(sys, cfg, root);
  if (opts.stdinNull) {
    // The container's own /dev/null (so /proc/1/fd/0 reads /dev/null inside). dup2 leaves fd 0 inheritable.
    const devNull = sys.open(`${root}/dev/null`, O_RDWR | O_CLOEXEC);
    sys.dup2(devNull, 0);
    sys.close(devNull);
  }
  setupSys(sys, spec, root);
  mountCgroups(sys, cfg.cgroup, root, spec.privileged);
  marks.mark('standard-mounts');

  if (cfg.etcFiles !== null) bindEtcFiles(sys, root, cfg.etcFiles);
  userMounts(sys, spec, root);
  marks.mark('user-mounts');

  // runtime-spec hooks (oci/hooks.ts): the runtime's prestart/createRuntime, then createContainer here.
  let hostPid: number | undefined;
  if (cfg.hooks !== undefined) {
    // The host's /proc is still mounted here (pivot_root comes next): it names this process by its host pid.
    hostPid = Number(sys.readlink('/proc/self'));
    if (cfg.hooks.runtime) {
      channel.send({ type: 'hooks' });
      channel.waitForParent('hooks');
    }
    if (cfg.hooks.createContainer !== undefined) {
      // A hook inherits no fd of this process but 0-2 (the runtime's pipes included).
      cloexecFdsAbove(sys, 2);
      runHooks('createContainer', cfg.hooks.createContainer, { ...cfg.hooks.state, status: 'creating', pid: hostPid });
    }
    marks.mark('hooks');
  }

  // pivot_root(".", ".") stacks the old root on top of the new one; detaching
  // it leaves only the container's tree (crun/runc do the same).
  sys.chdir(root);
  sys.pivotRoot('.', '.');
  sys.mount(null, '.', null, MS_SLAVE | MS_REC, null);
  sys.umount2('.', MNT_DETACH);
  sys.chdir('/');
  marks.mark('pivot-root');

  // After pivot_root every absolute path resolves inside the container. Sysctls before /proc/sys goes read-only.
  for (const [key, value] of Object.entries(cfg.sysctl ?? {})) sys.writeFile(`/proc/sys/${key.replace(/\./g, '/')}`, value, 0o644);
  for (const p of spec.readonlyPaths) readonlyPath(sys, p);
  for (const p of spec.maskedPaths) maskPath(sys, p);
  // A uts namespace joined by path keeps its hostname unless config.json gives one; an empty
  // hostname (an engine's config.json without one) keeps the one the new uts namespace copied (runc's rules).
  if (ns.has('uts') && spec.hostname !== '') {
    const uts = (cfg.joinNamespaces ?? []).find((j) => j.type === 'uts');
    try {
      sys.sethostname(spec.hostname);
    } catch (err) {
      // EPERM: a uts namespace given by path that the container's user namespace does not own.
      throw uts === undefined ? err : BerthError.wrap(`set hostname ${JSON.stringify(spec.hostname)} in the uts namespace ${uts.path}`, err, 'ERUNTIME');
    }
  }
  // A network namespace joined by path is someone else's to set up.
  if (ns.has('network') && !(cfg.joinNamespaces ?? []).some((j) => j.type === 'network')) loopbackUp(sys);
  if (spec.readonlyRootfs) sys.mount(null, '/', null, MS_BIND | MS_REMOUNT | MS_RDONLY, null);
  marks.mark('finish-rootfs');

  if (cfg.tty) {
    setupTerminal(sys, spec, channel);
    marks.mark('terminal');
  }

  // No host fd may reach the container (CVE-2019-5736, CVE-2024-21626): every fd
  // above 2 becomes close-on-exec, so execve closes them all at once (the report
  // pipe included, which is how the runtime learns the execve succeeded). They
  // cannot simply be closed here: they include Node's own epoll/eventfd fds, and
  // Node's helper threads (woken by glibc's set*id broadcast in the security
  // step) abort on EBADF. The cwd check below covers a cwd reached through one.
  const exe = prepareProcess(sys, spec);
  marks.mark('process-setup');

  if (execFifo !== undefined) {
    channel.send({ type: 'created' });
    channel.release?.();
    // Blocks until `start` opens the FIFO for reading (runc's exec.fifo).
    const w = sys.open(`/proc/self/fd/${execFifo}`, O_WRONLY | O_CLOEXEC);
    sys.write(w, '0');
    sys.close(w);
    sys.close(execFifo);
  }
  if (cfg.hooks?.startContainer !== undefined) {
    runHooks('startContainer', cfg.hooks.startContainer, { ...cfg.hooks.state, status: 'created', ...(hostPid === undefined ? {} : { pid: hostPid }) });
  }
  placePreservedFds(sys, channel, cfg.preserveFds ?? 0);

  security(sys, spec);
  // Changing credentials clears the parent-death signal: set it again (best effort: a
  // custom seccomp profile may refuse prctl).
  if (execFifo === undefined && (spec.process.user.uid !== 0 || spec.process.user.gid !== 0)) {
    try {
      sys.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    } catch {
      // The runtime's own exit still closes the pipes; the process just outlives it.
    }
  }
  marks.mark('security');
  if (execFifo === undefined) channel.send({ type: 'exec', marks: marks.marks });

  const [path, argv] =
    spec.init && cfg.initBinary !== null ? ['/dev/init', ['/dev/init', '--', ...spec.process.args]] : [exe, spec.process.args];
  try {
    sys.execve(path, argv, spec.process.env);
  } catch (err) {
    // Only a failed execve (a syscall error) means "could not execute".
    if (!(err instanceof BerthError)) throw err;
    throw execError(spec.process.args[0] ?? '', err);
  }
}

/**
 * The process's side of the setup, in the container's root (the init's, and exec's): fds above
 * 2 close-on-exec, the cwd entered and checked, argv[0] looked up in PATH, fds 0-2
 * inheritable, signals default and unblocked. Returns the executable's path.
 */
export function prepareProcess(sys: Syscalls, spec: ContainerSpec): string {
  cloexecFdsAbove(sys, 2);
  enterCwd(sys, spec.process.cwd);
  const exe = lookPath(sys, spec.process.args[0] ?? '', envValue(spec.process.env, 'PATH'));
  for (const fd of [0, 1, 2]) sys.fcntl(fd, F_SETFD, 0);
  sys.resetSignalDispositions();
  sys.sigprocmask(SIG_SETMASK, []);
  return exe;
}

function setupDev(sys: Syscalls, cfg: InitConfig, root: string): void {
  const dev = `${root}/dev`;
  sys.mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755,size=65536k');
  for (const d of cfg.devices) {
    if (cfg.userNamespace === true) bindDevice(sys, dev, d);
    else createDevice(sys, dev, d);
  }
  for (const [name, target] of DEV_SYMLINKS) sys.symlink(target, `${dev}/${name}`);
  sys.mkdir(`${dev}/pts`, 0o755);
  sys.mount('devpts', `${dev}/pts`, 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620,gid=5');
  sys.mkdir(`${dev}/shm`, 0o1777);
  sys.mount('shm', `${dev}/shm`, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=65536k');
  sys.mkdir(`${dev}/mqueue`, 0o755);
  try {
    sys.mount('mqueue', `${dev}/mqueue`, 'mqueue', MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
  } catch (err) {
    // Only a holder of CAP_SYS_ADMIN over the owner of the ipc namespace may mount its mqueue: an ipc
    // namespace given by path that the container's user namespace does not own (the host's) leaves
    // /dev/mqueue an empty directory (mq_open() needs no mount; runc fails here instead).
    const ipcJoined = cfg.userNamespace === true && (cfg.joinNamespaces ?? []).some((j) => j.type === 'ipc');
    if (!ipcJoined || errnoOf(err) !== 'EPERM') throw err;
  }
  if (cfg.spec.init && cfg.initBinary !== null) {
    const target = `${dev}/init`;
    sys.writeFile(target, '', 0o755);
    sys.mount(cfg.initBinary, target, null, MS_BIND, null);
    sys.mount(null, target, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, null);
  }
}

function createDevice(sys: Syscalls, dev: string, d: DeviceNode): void {
  const rel = d.name.split('/').filter((c) => c !== '' && c !== '.' && c !== '..');
  if (rel.length === 0) return;
  let dir = dev;
  for (const c of rel.slice(0, -1)) {
    dir = `${dir}/${c}`;
    try {
      sys.mkdir(dir, 0o755);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
  }
  const path = `${dev}/${rel.join('/')}`;
  const type = d.kind === 'char' ? S_IFCHR : 0o060000;
  sys.mknod(path, type | (d.mode & 0o777), Number(makedev(d.major, d.minor)));
  // mknod applies the umask; devices need their exact mode.
  sys.chmod(path, d.mode & 0o7777);
  if (d.uid !== 0 || d.gid !== 0) sys.lchown(path, d.uid, d.gid);
}

/** A user namespace may not mknod: the host's node of the same path is bind-mounted on an empty file (runc's bindMountDeviceNode). */
function bindDevice(sys: Syscalls, dev: string, d: DeviceNode): void {
  const rel = d.name.split('/').filter((c) => c !== '' && c !== '.' && c !== '..');
  if (rel.length === 0) return;
  const target = ensureMountPoint(sys, dev, `/${rel.join('/')}`, true);
  sys.mount(`/dev/${rel.join('/')}`, target, null, MS_BIND, null);
}

function setupSys(sys: Syscalls, spec: ContainerSpec, root: string): void {
  const flags = PROC_FLAGS | (spec.privileged ? 0 : MS_RDONLY);
  try {
    sys.mount('sysfs', `${root}/sys`, 'sysfs', flags, null);
  } catch (err) {
    // sysfs refuses a mount when the network namespace is not ours in some setups:
    // fall back to a recursive bind of the host's /sys (read-only), as runc does.
    if (errnoOf(err) !== 'EPERM') throw err;
    sys.mount('/sys', `${root}/sys`, null, MS_BIND | MS_REC, null);
    if (!spec.privileged) sys.mount(null, `${root}/sys`, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | PROC_FLAGS, null);
  }
}

function mountCgroups(sys: Syscalls, plan: CgroupMountPlan, root: string, privileged: boolean): void {
  const target = `${root}/sys/fs/cgroup`;
  const ro = privileged ? 0 : MS_RDONLY;
  if (plan.version === 'none') return;
  if (plan.version === 2) {
    sys.mount('cgroup2', target, 'cgroup2', PROC_FLAGS | ro, null);
    return;
  }
  sys.mount('tmpfs', target, 'tmpfs', PROC_FLAGS, 'mode=755');
  for (const h of plan.hierarchies) {
    const dir = `${target}/${h.name}`;
    sys.mkdir(dir, 0o755);
    sys.mount('cgroup', dir, h.fstype, PROC_FLAGS | ro, h.fstype === 'cgroup' ? h.options : null);
    // Co-mounted controllers get a symlink per controller, as on the host (cpu -> cpu,cpuacct).
    if (h.fstype === 'cgroup' && h.name.includes(',')) {
      for (const c of h.name.split(',')) sys.symlink(h.name, `${target}/${c}`);
    }
  }
  sys.mount(null, target, null, MS_REMOUNT | PROC_FLAGS | ro, 'mode=755');
}

function bindEtcFiles(sys: Syscalls, root: string, files: NonNullable<InitConfig['etcFiles']>): void {
  let etc: string;
  try {
    etc = resolveInRoot(sys, root, '/etc');
    if (sys.lstat(etc).kind !== 'dir') return;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  for (const [name, source] of [
    ['hostname', files.hostname],
    ['hosts', files.hosts],
    ['resolv.conf', files.resolvConf],
  ] as const) {
    const target = ensureMountPoint(sys, root, `/etc/${name}`, true);
    if (sys.lstat(target).kind !== 'file') continue;
    sys.mount(source, target, null, MS_BIND, null);
  }
}

function userMounts(sys: Syscalls, spec: ContainerSpec, root: string): void {
  for (const m of spec.mounts) {
    const opts = parseMountOptions(m.options);
    const dest = resolveInRoot(sys, root, m.destination);
    const rel = insideRoot(root, dest) ?? '/';
    if (rel === '/proc' || rel.startsWith('/proc/')) {
      throw new BerthError('EUNSAFE_PATH', `mount ${m.destination}: mounts over /proc are refused`);
    }
    if (m.type === 'bind') {
      const source = sys.stat(m.source);
      ensureMountPoint(sys, root, rel, source.kind !== 'dir');
      sys.mount(m.source, dest, null, MS_BIND | (opts.flags & MS_REC), null);
      const extra = opts.flags & ~(MS_BIND | MS_REC);
      if (extra !== 0) sys.mount(null, dest, null, MS_BIND | MS_REMOUNT | extra, null);
    } else {
      mkdirAllInRoot(sys, root, rel);
      sys.mount('tmpfs', dest, 'tmpfs', opts.flags & ~(MS_BIND | MS_REC), opts.data);
    }
    if (opts.propagation !== 0) sys.mount(null, dest, null, opts.propagation, null);
  }
}

function exists(sys: Syscalls, path: string): string | undefined {
  try {
    return sys.stat(path).kind;
  } catch (err) {
    const e = errnoOf(err);
    if (e === 'ENOENT' || e === 'ENOTDIR') return undefined;
    throw err;
  }
}

function readonlyPath(sys: Syscalls, path: string): void {
  if (exists(sys, path) === undefined) return;
  sys.mount(path, path, null, MS_BIND | MS_REC, null);
  sys.mount(null, path, null, MS_BIND | MS_REMOUNT | MS_RDONLY | PROC_FLAGS, null);
}

function maskPath(sys: Syscalls, path: string): void {
  const kind = exists(sys, path);
  if (kind === undefined) return;
  if (kind === 'dir') sys.mount('tmpfs', path, 'tmpfs', MS_RDONLY, null);
  else sys.mount('/dev/null', path, null, MS_BIND, null);
}

/** setns(2) into the namespace of `kind` that the file `file` (/proc/PID/ns/…, a bind-mounted nsfs) holds. */
function joinNamespace(sys: Syscalls, file: string, kind: NamespaceKind): void {
  let fd: number;
  try {
    fd = sys.open(file, O_RDONLY | O_CLOEXEC);
  } catch (err) {
    throw BerthError.wrap(`join ${kind} namespace ${file}`, err, 'ERUNTIME');
  }
  try {
    sys.setns(fd, namespaceFlags([kind]));
  } catch (err) {
    throw BerthError.wrap(`join ${kind} namespace ${file}`, err, 'ERUNTIME');
  } finally {
    sys.close(fd);
  }
}

/**
 * --preserve-fds N: the fds the init was spawned with at PRESERVED_FDS_BASE.. become 3..3+N-1
 * (inheritable), the runtime's pipes moved out of the way first. Ascending dup2s never
 * overwrite a source not yet copied (each source is above its target).
 */
export function placePreservedFds(sys: Syscalls, channel: InitChannel, n: number): void {
  if (n <= 0) return;
  channel.relocate?.(PRESERVED_FDS_BASE + n);
  for (let i = 0; i < n; i++) sys.dup2(PRESERVED_FDS_BASE + i, 3 + i);
  for (let fd = Math.max(PRESERVED_FDS_BASE, 3 + n); fd < PRESERVED_FDS_BASE + n; fd++) sys.close(fd);
}

function loopbackUp(sys: Syscalls): void {
  const fd = sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  try {
    const ifr = new Uint8Array(40);
    ifr.set(Buffer.from('lo'), 0);
    sys.ioctl(fd, SIOCGIFFLAGS, ifr);
    const flags = (ifr[16] ?? 0) | ((ifr[17] ?? 0) << 8) | IFF_UP;
    ifr[16] = flags & 0xff;
    ifr[17] = (flags >> 8) & 0xff;
    sys.ioctl(fd, SIOCSIFFLAGS, ifr);
  } finally {
    sys.close(fd);
  }
}

/**
 * A pty from the container's own devpts: the slave becomes the controlling
 * terminal and fds 0-2; the master goes to the runtime (it copies it with
 * pidfd_getfd while we wait), then is closed here.
 */
export function setupTerminal(sys: Syscalls, spec: ContainerSpec, channel: InitChannel): void {
  const master = sys.open('/dev/ptmx', O_RDWR | O_NOCTTY | O_CLOEXEC);
  sys.ioctl(master, TIOCSPTLCK, new Uint8Array(4));
  const slave = sys.ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  sys.fchown(slave, spec.process.user.uid, 5);
  sys.ioctl(slave, TIOCSCTTY, 0);
  for (const fd of [0, 1, 2]) sys.dup2(slave, fd);
  if (slave > 2) sys.close(slave);
  channel.send({ type: 'pty', fd: master });
  channel.waitForParent('terminal handoff');
  sys.close(master);
}

function cloexecFdsAbove(sys: Syscalls, last: number): void {
  try {
    sys.closeRange(last + 1, 0xffffffff, CLOSE_RANGE_CLOEXEC);
    return;
  } catch (err) {
    const e = errnoOf(err);
    if (e !== 'ENOSYS' && e !== 'EINVAL') throw err;
  }
  for (const fd of sys.listFds()) {
    if (fd <= last) continue;
    try {
      sys.fcntl(fd, F_SETFD, FD_CLOEXEC);
    } catch (err) {
      // The directory fd listFds used is closed by now.
      if (errnoOf(err) !== 'EBADF') throw err;
    }
  }
}

/**
 * chdir into the process cwd (created when missing), then check the kernel's
 * idea of it is a path inside the new root: a cwd reached through a leaked fd
 * reads "(unreachable)…" or fails (CVE-2024-21626).
 */
function enterCwd(sys: Syscalls, cwd: string): void {
  if (!cwd.startsWith('/')) throw new BerthError('EINVAL_ARGUMENT', `set working directory ${cwd}: not an absolute path`);
  try {
    sys.chdir(cwd);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw BerthError.wrap(`set working directory ${cwd}`, err, 'ESYSCALL');
    mkdirAllInRoot(sys, '/', cwd);
    sys.chdir(cwd);
  }
  let actual: string;
  try {
    actual = sys.getcwd();
  } catch (err) {
    throw BerthError.wrap(`check working directory ${cwd}`, err, 'EUNSAFE_PATH');
  }
  if (!actual.startsWith('/')) {
    throw new BerthError('EUNSAFE_PATH', `check working directory ${cwd}: outside the container root (${actual})`);
  }
}

function envValue(env: readonly string[], key: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i] as string;
    if (e.startsWith(`${key}=`)) return e.slice(key.length + 1);
  }
  return undefined;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Resolves argv[0] like Go's exec.LookPath (and docker): names with a slash as they are, others through PATH. */
export function lookPath(sys: Syscalls, name: string, path: string | undefined): string {
  if (name === '') throw new ExecFailure('exec: no command given', 127);
  if (name.includes('/')) return name;
  for (const dir of (path ?? DEFAULT_PATH).split(':')) {
    const candidate = `${dir === '' ? '.' : dir}/${name}`;
    try {
      const st = sys.stat(candidate);
      if (st.kind === 'file' && (st.mode & 0o111) !== 0) return candidate;
    } catch (err) {
      const e = errnoOf(err);
      if (e !== 'ENOENT' && e !== 'ENOTDIR' && e !== 'EACCES' && e !== 'ELOOP') throw err;
    }
  }
  throw new ExecFailure(`exec "${name}": executable file not found in $PATH`, 127);
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOEXEC: 'exec format error',
  EPERM: 'operation not permitted',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ELOOP: 'too many levels of symbolic links',
  ETXTBSY: 'text file busy',
};

export function execError(name: string, err: unknown): BerthError {
  const e = errnoOf(err) ?? 'EIO';
  const text = ERRNO_TEXT[e] ?? e;
  return new ExecFailure(`exec "${name}": ${text}`, e === 'ENOENT' || e === 'ENOTDIR' || e === 'ELOOP' ? 127 : 126, err);
}

export { Marks };
