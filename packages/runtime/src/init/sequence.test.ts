import { describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import type { ContainerSpec } from '../spec/types.js';
import { ExecveReached, RecordingSyscalls } from '@berth/sys';
import type { FakeEntry } from '@berth/sys';
import {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWUTS,
  CLOSE_RANGE_CLOEXEC,
  F_SETFD,
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_SLAVE,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  PR_SET_DUMPABLE,
  PR_SET_PDEATHSIG,
  SIG_SETMASK,
  SIOCSIFFLAGS,
  TIOCSCTTY,
} from '@berth/sys';
import { DEFAULT_DEVICES } from './config.js';
import type { InitConfig, InitMessage } from './config.js';
import { ExecFailure, lookPath, placePreservedFds, protectInit, runInit } from './sequence.js';
import type { InitChannel, ProcessSecurity, RunInitOptions } from './sequence.js';

const ROOT = '/var/lib/berth/containers/c1/rootfs';

function spec(over: Partial<ContainerSpec> = {}, proc: Partial<ContainerSpec['process']> = {}): ContainerSpec {
  return {
    version: 1,
    rootfs: ROOT,
    process: {
      args: ['sh', '-c', 'echo hi'],
      env: ['PATH=/usr/bin:/bin', 'HOSTNAME=c1'],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [] },
      terminal: false,
      noNewPrivileges: false,
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      rlimits: [],
      ...proc,
    },
    hostname: 'c1',
    mounts: [],
    readonlyRootfs: false,
    network: 'none',
    namespaces: ['pid', 'mount', 'uts', 'ipc', 'network'],
    maskedPaths: ['/proc/kcore', '/proc/acpi', '/proc/missing'],
    readonlyPaths: ['/proc/sys'],
    seccomp: null,
    resources: { devices: 'default' },
    init: false,
    privileged: false,
    ...over,
  };
}

function config(s: ContainerSpec, over: Partial<InitConfig> = {}): InitConfig {
  return {
    version: 1,
    id: 'c1',
    spec: s,
    etcFiles: { hostname: '/run/berth/c1/hostname', hosts: '/run/berth/c1/hosts', resolvConf: '/run/berth/c1/resolv.conf' },
    initBinary: null,
    devices: DEFAULT_DEVICES.map((d) => ({ ...d })),
    cgroupNamespace: true,
    cgroup: { version: 2 },
    seccompProgram: null,
    tty: false,
    timing: false,
    ...over,
  };
}

/** A rootfs like alpine's: the directories that matter, sh in /bin, a file in /proc after pivot. */
function files(extra: Record<string, FakeEntry> = {}): Record<string, FakeEntry> {
  const f: Record<string, FakeEntry> = {
    '/': 'dir',
    [ROOT]: 'dir',
    [`${ROOT}/proc`]: 'dir',
    [`${ROOT}/dev`]: 'dir',
    [`${ROOT}/sys`]: 'dir',
    [`${ROOT}/etc`]: 'dir',
    [`${ROOT}/etc/hosts`]: 'file',
    [`${ROOT}/bin`]: 'dir',
    [`${ROOT}/bin/sh`]: { kind: 'file', mode: 0o755, uid: 0, gid: 0, size: 1, rdev: 0 },
    // As seen after pivot_root (the fake does not move the tree).
    '/proc': 'dir',
    '/proc/kcore': 'file',
    '/proc/acpi': 'dir',
    '/proc/sys': 'dir',
    '/bin': 'dir',
    '/bin/sh': { kind: 'file', mode: 0o755, uid: 0, gid: 0, size: 1, rdev: 0 },
    ...extra,
  };
  return f;
}

class Channel implements InitChannel {
  readonly sent: InitMessage[] = [];
  waits = 0;
  /** How many system calls had been made at each wait. */
  readonly waitedAt: number[] = [];
  constructor(private readonly sys: RecordingSyscalls) {}
  send(msg: InitMessage): void {
    this.sent.push(msg);
  }
  waitForParent(): void {
    this.waits++;
    this.waitedAt.push(this.sys.calls.length);
  }
}

function run(
  s: ContainerSpec,
  opts: { files?: Record<string, FakeEntry>; cfg?: Partial<InitConfig>; sys?: RecordingSyscalls; init?: RunInitOptions } = {},
) {
  const sys = opts.sys ?? new RecordingSyscalls({ files: opts.files ?? files() });
  const channel = new Channel(sys);
  const securityCalls: ContainerSpec[] = [];
  const security: ProcessSecurity = (sy, sp) => {
    securityCalls.push(sp);
    sy.prctl(38 /* marker: PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0);
  };
  let error: unknown;
  try {
    runInit(sys, config(s, opts.cfg), channel, security, opts.init);
  } catch (err) {
    error = err;
  }
  return { sys, channel, securityCalls, error };
}

describe('runInit over RecordingSyscalls', () => {
  it('unshares its namespaces (cgroup included) only after the runtime says go, then makes / a slave before mounting', () => {
    const { sys, channel, error } = run(spec());
    expect(error).toBeInstanceOf(ExecveReached);
    expect(channel.waits).toBe(1);
    const names = sys.names();
    expect(names[0]).toBe('prctl');
    expect(sys.calls[0]?.args).toEqual([PR_SET_PDEATHSIG, 9, 0, 0, 0]);
    const unshare = names.indexOf('unshare');
    expect(channel.waitedAt[0]).toBeLessThanOrEqual(unshare);
    // Born in its pid namespace (the spawner's doing); everything else is the init's own.
    expect(sys.calls[unshare]?.args).toEqual([CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP]);
    expect(names.filter((n) => n === 'unshare')).toHaveLength(1);
    const firstMount = names.indexOf('mount');
    expect(firstMount).toBeGreaterThan(unshare);
    expect(sys.callsOf('mount')[0]).toEqual([null, '/', null, MS_REC | MS_SLAVE, null]);
    expect(sys.callsOf('mount')[1]).toEqual([ROOT, ROOT, null, MS_BIND | MS_REC, null]);
  });

  it('joins the namespaces given by path (berth-runtime) before unsharing the rest, leaving a joined network and uts as they are', () => {
    const { sys, error } = run(spec({ hostname: '' }), {
      cfg: {
        joinNamespaces: [
          { type: 'network', path: '/proc/77/ns/net' },
          { type: 'uts', path: '/proc/77/ns/uts' },
        ],
      },
    });
    expect(error).toBeInstanceOf(ExecveReached);
    const names = sys.names();
    const opens = sys.callsOf('open').filter((a) => String(a[0]).startsWith('/proc/77/'));
    expect(opens.map((a) => a[0])).toEqual(['/proc/77/ns/net', '/proc/77/ns/uts']);
    expect(sys.callsOf('setns').map((a) => a[1])).toEqual([CLONE_NEWNET, CLONE_NEWUTS]);
    expect(names.lastIndexOf('setns')).toBeLessThan(names.indexOf('unshare'));
    expect(sys.callsOf('unshare')).toEqual([[CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWCGROUP]]);
    expect(sys.callsOf('sethostname')).toEqual([]);
    expect(sys.callsOf('ioctl').some((a) => a[1] === SIOCSIFFLAGS)).toBe(false);
  });

  it('neither joins nor makes the namespaces the user namespace helper entered (entered), nor brings up their loopback', () => {
    const { sys, error } = run(spec({ hostname: '' }), {
      cfg: {
        userNamespace: true,
        joinNamespaces: [
          { type: 'network', path: '/run/netns/n', entered: true },
          { type: 'ipc', path: '/x/ipc', entered: true },
        ],
      },
    });
    expect(error).toBeInstanceOf(ExecveReached);
    expect(sys.callsOf('setns')).toEqual([]);
    expect(sys.callsOf('open').some((a) => String(a[0]).startsWith('/run/netns') || String(a[0]).startsWith('/x/'))).toBe(false);
    expect(sys.callsOf('unshare')).toEqual([[CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWCGROUP]]);
    expect(sys.callsOf('ioctl').some((a) => a[1] === SIOCSIFFLAGS)).toBe(false);
  });

  it('--preserve-fds: moves the pipes away, then the fds spawned at 5.. down to 3.., closing the leftovers', () => {
    const sys = new RecordingSyscalls();
    const relocated: number[] = [];
    const channel: InitChannel = { send: () => undefined, waitForParent: () => undefined, relocate: (min) => relocated.push(min) };
    placePreservedFds(sys, channel, 3);
    expect(relocated).toEqual([8]);
    expect(sys.names()).toEqual(['dup2', 'dup2', 'dup2', 'close', 'close']);
    expect(sys.callsOf('dup2')).toEqual([
      [5, 3],
      [6, 4],
      [7, 5],
    ]);
    expect(sys.callsOf('close')).toEqual([[6], [7]]);
    placePreservedFds(sys, channel, 0);
    expect(relocated).toEqual([8]);
  });

  it('keeps the host network namespace with --network host, and the host cgroup view without cgroup namespaces', () => {
    const { sys, error } = run(spec({ network: 'host', namespaces: ['pid', 'mount', 'uts', 'ipc'] }), { cfg: { cgroupNamespace: false, cgroup: { version: 'none' } } });
    expect(error).toBeInstanceOf(ExecveReached);
    expect(sys.callsOf('unshare')).toEqual([[CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC]]);
  });

  it('joins a network namespace file (setns CLONE_NEWNET) before unsharing the others, and makes no network namespace of its own', () => {
    const netns = '/run/berth/netns/c1';
    const { sys, channel, error } = run(spec({ netns }));
    expect(error).toBeInstanceOf(ExecveReached);
    const names = sys.names();
    const open = sys.calls.findIndex((c) => c.name === 'open' && c.args[0] === netns);
    const setns = names.indexOf('setns');
    const unshare = names.indexOf('unshare');
    expect(channel.waitedAt[0]).toBeLessThanOrEqual(open);
    expect(sys.calls[open]?.args).toEqual([netns, O_RDONLY | O_CLOEXEC, 0]);
    expect(open).toBeLessThan(setns);
    expect(setns).toBeLessThan(unshare);
    const fd = sys.calls[setns]?.args[0];
    expect(sys.calls[setns]?.args).toEqual([fd, CLONE_NEWNET]);
    expect(sys.calls.slice(setns, unshare).some((c) => c.name === 'close' && c.args[0] === fd)).toBe(true);
    expect(sys.callsOf('unshare')).toEqual([[CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP]]);
  });

  it('with stdinNull, puts the container\'s own /dev/null on fd 0 once /dev exists, before pivot_root', () => {
    const { sys, error } = run(spec(), { init: { stdinNull: true } });
    expect(error).toBeInstanceOf(ExecveReached);
    const names = sys.names();
    const open = sys.calls.findIndex((c) => c.name === 'open' && c.args[0] === `${ROOT}/dev/null`);
    expect(open).toBeGreaterThan(sys.calls.findIndex((c) => c.name === 'mknod' && c.args[0] === `${ROOT}/dev/null`));
    expect(sys.calls[open]?.args[1]).toBe(O_RDWR | O_CLOEXEC);
    const fd = sys.calls.findIndex((c, i) => i > open && c.name === 'dup2');
    expect(sys.calls[fd]?.args[1]).toBe(0);
    expect(names[fd + 1]).toBe('close');
    expect(fd).toBeLessThan(names.indexOf('pivotRoot'));
    // Without it, fd 0 is left as the runtime passed it.
    const plain = run(spec());
    expect(plain.sys.calls.some((c) => c.name === 'open' && c.args[0] === `${ROOT}/dev/null`)).toBe(false);
  });

  it('mounts /proc, /dev (nodes, symlinks, pts, shm, mqueue), /sys, cgroup2, etc files, in that order', () => {
    const { sys } = run(spec());
    const mounts = sys.callsOf('mount').map(([src, target, type, flags, data]) => [src, target, type, flags, data]);
    const before = mounts.slice(2, 12);
    expect(before).toEqual([
      ['proc', `${ROOT}/proc`, 'proc', MS_NOSUID | MS_NOEXEC | MS_NODEV, null],
      ['tmpfs', `${ROOT}/dev`, 'tmpfs', MS_NOSUID | 0x1000000, 'mode=755,size=65536k'],
      ['devpts', `${ROOT}/dev/pts`, 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620,gid=5'],
      ['shm', `${ROOT}/dev/shm`, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=65536k'],
      ['mqueue', `${ROOT}/dev/mqueue`, 'mqueue', MS_NOSUID | MS_NODEV | MS_NOEXEC, null],
      ['sysfs', `${ROOT}/sys`, 'sysfs', MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, null],
      ['cgroup2', `${ROOT}/sys/fs/cgroup`, 'cgroup2', MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, null],
      ['/run/berth/c1/hostname', `${ROOT}/etc/hostname`, null, MS_BIND, null],
      ['/run/berth/c1/hosts', `${ROOT}/etc/hosts`, null, MS_BIND, null],
      ['/run/berth/c1/resolv.conf', `${ROOT}/etc/resolv.conf`, null, MS_BIND, null],
    ]);
    // Device nodes with their exact modes, and the /dev symlinks docker has.
    expect(sys.callsOf('mknod').map((a) => a[0])).toEqual(['null', 'zero', 'full', 'random', 'urandom', 'tty'].map((d) => `${ROOT}/dev/${d}`));
    expect(sys.callsOf('mknod')[0]).toEqual([`${ROOT}/dev/null`, 0o020666, 0x103]);
    expect(sys.callsOf('chmod')[0]).toEqual([`${ROOT}/dev/null`, 0o666]);
    expect(sys.callsOf('symlink')).toEqual([
      ['/proc/self/fd', `${ROOT}/dev/fd`],
      ['/proc/self/fd/0', `${ROOT}/dev/stdin`],
      ['/proc/self/fd/1', `${ROOT}/dev/stdout`],
      ['/proc/self/fd/2', `${ROOT}/dev/stderr`],
      ['pts/ptmx', `${ROOT}/dev/ptmx`],
    ]);
    // Missing etc files are created as empty files to bind over.
    expect(sys.callsOf('writeFile').map((a) => a[0])).toEqual([`${ROOT}/etc/hostname`, `${ROOT}/etc/resolv.conf`]);
  });

  it('pivots into the root with pivot_root(".", ".") and detaches the old root, then masks and hides paths', () => {
    const { sys } = run(spec());
    const names = sys.names();
    const pivot = names.indexOf('pivotRoot');
    expect(sys.calls[pivot - 1]).toEqual({ name: 'chdir', args: [ROOT] });
    expect(sys.calls[pivot]?.args).toEqual(['.', '.']);
    expect(sys.calls[pivot + 1]).toEqual({ name: 'mount', args: [null, '.', null, MS_SLAVE | MS_REC, null] });
    expect(sys.calls[pivot + 2]).toEqual({ name: 'umount2', args: ['.', MNT_DETACH] });
    expect(sys.calls[pivot + 3]).toEqual({ name: 'chdir', args: ['/'] });
    const after = sys.calls.slice(pivot + 4).filter((c) => c.name === 'mount').map((c) => c.args);
    expect(after).toEqual([
      ['/proc/sys', '/proc/sys', null, MS_BIND | MS_REC, null],
      [null, '/proc/sys', null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV, null],
      ['/dev/null', '/proc/kcore', null, MS_BIND, null],
      ['tmpfs', '/proc/acpi', 'tmpfs', MS_RDONLY, null],
    ]);
    expect(names.indexOf('sethostname')).toBeGreaterThan(pivot);
    expect(sys.callsOf('sethostname')).toEqual([['c1']]);
    // Loopback up in the new network namespace.
    expect(sys.callsOf('ioctl').some((a) => a[1] === SIOCSIFFLAGS)).toBe(true);
  });

  it('leaves the hostname the new uts namespace copied when the spec has none (an engine\'s config.json, as runc)', () => {
    const { sys } = run(spec({ hostname: '' }));
    expect(sys.callsOf('sethostname')).toEqual([]);
  });

  it('makes fds > 2 close-on-exec, enters the cwd, resets signals, runs security, reports, then execve()s the resolved binary', () => {
    const { sys, channel, securityCalls, error } = run(spec({}, { cwd: '/work', env: ['PATH=/usr/bin:/bin', 'A=b'] }));
    const names = sys.names();
    const cloexec = names.indexOf('closeRange');
    expect(sys.calls[cloexec]?.args).toEqual([3, 0xffffffff, CLOSE_RANGE_CLOEXEC]);
    // /work did not exist: created, then entered and checked.
    expect(sys.callsOf('mkdir').at(-1)).toEqual(['/work', 0o755]);
    const chdirWork = sys.calls.findIndex((c) => c.name === 'chdir' && c.args[0] === '/work' && sys.calls.indexOf(c) > cloexec);
    expect(chdirWork).toBeGreaterThan(cloexec);
    expect(names.indexOf('getcwd')).toBeGreaterThan(chdirWork);
    expect(sys.callsOf('fcntl').slice(-3)).toEqual([
      [0, F_SETFD, 0],
      [1, F_SETFD, 0],
      [2, F_SETFD, 0],
    ]);
    const reset = names.indexOf('resetSignalDispositions');
    expect(sys.calls[reset + 1]).toEqual({ name: 'sigprocmask', args: [SIG_SETMASK, []] });
    const sec = names.lastIndexOf('prctl');
    expect(sec).toBeGreaterThan(reset);
    expect(securityCalls).toHaveLength(1);
    expect(names.at(-1)).toBe('execve');
    expect(error).toBeInstanceOf(ExecveReached);
    expect((error as ExecveReached).path).toBe('/bin/sh');
    expect((error as ExecveReached).argv).toEqual(['sh', '-c', 'echo hi']);
    expect((error as ExecveReached).envp).toEqual(['PATH=/usr/bin:/bin', 'A=b']);
    expect(channel.sent).toEqual([{ type: 'exec', marks: [] }]);
  });

  it('refuses an image whose /proc or /dev is a symlink, before mounting anything there', () => {
    for (const d of ['proc', 'dev']) {
      const { sys, error } = run(spec(), { files: files({ [`${ROOT}/${d}`]: { symlink: '/etc' } }) });
      expect(isBerthError(error, 'EROOTFS')).toBe(true);
      expect((error as Error).message).toBe(`prepare rootfs: /${d} is a symlink (refused)`);
      expect(sys.callsOf('mount').some((a) => a[2] === 'proc')).toBe(false);
    }
  });

  it('creates /proc, /dev, /sys when the image lacks them', () => {
    const f = files();
    delete f[`${ROOT}/sys`];
    const { sys } = run(spec(), { files: f });
    expect(sys.callsOf('mkdir')[0]).toEqual([`${ROOT}/sys`, 0o755]);
  });

  it('user bind mounts: destination resolved inside the root (a symlink to / stays in it), created, remounted read-only', () => {
    const s = spec({
      mounts: [
        { destination: '/data', type: 'bind', source: '/srv/host-data', options: ['rbind', 'ro'] },
        { destination: '/link/x', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=64m'] },
      ],
    });
    const { sys, error } = run(s, {
      files: files({ '/srv/host-data': 'dir', [`${ROOT}/link`]: { symlink: '/../../etc' } }),
    });
    expect(error).toBeInstanceOf(ExecveReached);
    const mounts = sys.callsOf('mount');
    expect(mounts).toContainEqual(['/srv/host-data', `${ROOT}/data`, null, MS_BIND | MS_REC, null]);
    expect(mounts).toContainEqual([null, `${ROOT}/data`, null, MS_BIND | MS_REMOUNT | MS_RDONLY, null]);
    // /link -> /../../etc resolves to <root>/etc, never the host's /etc.
    expect(mounts).toContainEqual(['tmpfs', `${ROOT}/etc/x`, 'tmpfs', MS_NOSUID | MS_NODEV, 'size=64m']);
    expect(sys.callsOf('mkdir')).toContainEqual([`${ROOT}/data`, 0o755]);
    expect(sys.callsOf('mkdir')).toContainEqual([`${ROOT}/etc/x`, 0o755]);
  });

  it('refuses user mounts over /proc, even through a symlink', () => {
    const s = spec({ mounts: [{ destination: '/p/sys', type: 'tmpfs', source: 'tmpfs', options: [] }] });
    const { error } = run(s, { files: files({ [`${ROOT}/p`]: { symlink: 'proc' } }) });
    expect(isBerthError(error, 'EUNSAFE_PATH')).toBe(true);
    expect((error as Error).message).toBe('mount /p/sys: mounts over /proc are refused');
  });

  it('mounts v1 cgroup hierarchies under a read-only tmpfs, with co-mount symlinks', () => {
    const { sys } = run(spec(), {
      cfg: {
        cgroup: {
          version: 1,
          hierarchies: [
            { name: 'cpu,cpuacct', fstype: 'cgroup', options: 'cpu,cpuacct' },
            { name: 'memory', fstype: 'cgroup', options: 'memory' },
            { name: 'unified', fstype: 'cgroup2', options: '' },
          ],
        },
      },
    });
    const cg = `${ROOT}/sys/fs/cgroup`;
    const flags = MS_NOSUID | MS_NOEXEC | MS_NODEV;
    const mounts = sys.callsOf('mount').filter((a) => String(a[1]).startsWith(cg));
    expect(mounts).toEqual([
      ['tmpfs', cg, 'tmpfs', flags, 'mode=755'],
      ['cgroup', `${cg}/cpu,cpuacct`, 'cgroup', flags | MS_RDONLY, 'cpu,cpuacct'],
      ['cgroup', `${cg}/memory`, 'cgroup', flags | MS_RDONLY, 'memory'],
      ['cgroup', `${cg}/unified`, 'cgroup2', flags | MS_RDONLY, null],
      [null, cg, null, MS_REMOUNT | flags | MS_RDONLY, 'mode=755'],
    ]);
    expect(sys.callsOf('symlink')).toContainEqual(['cpu,cpuacct', `${cg}/cpu`]);
    expect(sys.callsOf('symlink')).toContainEqual(['cpu,cpuacct', `${cg}/cpuacct`]);
  });

  it('remounts the root read-only with --read-only, after the etc binds', () => {
    const { sys } = run(spec({ readonlyRootfs: true }));
    const ro = sys.calls.findIndex((c) => c.name === 'mount' && c.args[1] === '/' && c.args[3] === (MS_BIND | MS_REMOUNT | MS_RDONLY));
    expect(ro).toBeGreaterThan(sys.names().indexOf('pivotRoot'));
  });

  it('with --init, binds the static init at /dev/init read-only and execs it with -- and the command', () => {
    const { sys, error } = run(spec({ init: true }), { cfg: { initBinary: '/usr/bin/tini-static' } });
    expect(sys.callsOf('mount')).toContainEqual(['/usr/bin/tini-static', `${ROOT}/dev/init`, null, MS_BIND, null]);
    expect((error as ExecveReached).path).toBe('/dev/init');
    expect((error as ExecveReached).argv).toEqual(['/dev/init', '--', 'sh', '-c', 'echo hi']);
  });

  it('with a terminal: the pty slave becomes the controlling tty and fds 0-2, the master is handed over before exec', () => {
    const { sys, channel } = run(spec({}, { user: { uid: 1000, gid: 1000, additionalGids: [] } }), { cfg: { tty: true } });
    const open = sys.callsOf('open').find((a) => a[0] === '/dev/ptmx');
    expect(open).toBeDefined();
    expect(sys.callsOf('ioctl')).toContainEqual([0, TIOCSCTTY, 0]);
    expect(sys.callsOf('fchown')).toEqual([[0, 1000, 5]]);
    expect(sys.callsOf('dup2')).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
    ]);
    expect(channel.sent[0]?.type).toBe('pty');
    expect(channel.waits).toBe(2);
  });

  it('sets the parent-death signal again after a change of credentials', () => {
    const { sys } = run(spec({}, { user: { uid: 1000, gid: 1000, additionalGids: [] } }));
    const pdeath = sys.callsOf('prctl').filter((a) => a[0] === PR_SET_PDEATHSIG);
    expect(pdeath).toHaveLength(2);
  });

  it('reports 127 for a command not in PATH and 126 when execve says EACCES', () => {
    const notFound = run(spec({}, { args: ['nosuch'] }));
    expect(notFound.error).toBeInstanceOf(ExecFailure);
    expect((notFound.error as ExecFailure).exitCode).toBe(127);
    expect((notFound.error as Error).message).toBe('exec "nosuch": executable file not found in $PATH');
    expect(notFound.sys.names()).not.toContain('execve');

    const sys = new RecordingSyscalls({ files: files(), failures: [{ call: 'execve', errno: 'EACCES' }] });
    const denied = run(spec({}, { args: ['/etc/passwd'] }), { sys });
    expect((denied.error as ExecFailure).exitCode).toBe(126);
    expect((denied.error as Error).message).toBe('exec "/etc/passwd": permission denied');
  });

  it('fails the setup when the kernel cwd is not a path inside the root (CVE-2024-21626)', () => {
    class Leaky extends RecordingSyscalls {
      override getcwd(): string {
        super.getcwd();
        return '(unreachable)/sys/fs/cgroup';
      }
    }
    const { error } = run(spec(), { sys: new Leaky({ files: files() }) });
    expect(isBerthError(error, 'EUNSAFE_PATH')).toBe(true);
    expect((error as Error).message).toMatch(/^check working directory \/: outside the container root/);
  });

  it('falls back to a loop over /proc/self/fd when close_range is missing', () => {
    const sys = new RecordingSyscalls({ files: files(), failures: [{ call: 'closeRange', errno: 'ENOSYS' }] });
    run(spec(), { sys });
    expect(sys.names()).toContain('listFds');
  });

  it('a failing mount stops the sequence with a labelled ESYSCALL error', () => {
    const sys = new RecordingSyscalls({ files: files(), failures: [{ call: 'mount', errno: 'EPERM', when: (a) => a[2] === 'proc' }] });
    const { error } = run(spec(), { sys });
    expect(isBerthError(error, 'ESYSCALL')).toBe(true);
    expect((error as Error).message).toBe(`mount ${ROOT}/proc: EPERM`);
    expect(sys.names()).not.toContain('pivotRoot');
  });
});

describe('protectInit', () => {
  it('makes the init non-dumpable (CVE-2019-5736) and sets its parent-death signal, and nothing else', () => {
    const sys = new RecordingSyscalls();
    protectInit(sys);
    expect(sys.calls).toEqual([
      { name: 'prctl', args: [PR_SET_DUMPABLE, 0, 0, 0, 0] },
      { name: 'prctl', args: [PR_SET_PDEATHSIG, 9, 0, 0, 0] },
    ]);
  });

  it('is not undone before execve: the setup never makes the init dumpable again', () => {
    const { sys, error } = run(spec({}, { user: { uid: 1000, gid: 1000, additionalGids: [] } }), { init: { stdinNull: true } });
    expect(error).toBeInstanceOf(ExecveReached);
    expect(sys.callsOf('prctl').filter((a) => a[0] === PR_SET_DUMPABLE)).toEqual([]);
  });
});

describe('lookPath', () => {
  const sys = new RecordingSyscalls({
    files: {
      '/usr/bin': 'dir',
      '/usr/bin/noexec': { kind: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, rdev: 0 },
      '/bin/noexec': { kind: 'file', mode: 0o755, uid: 0, gid: 0, size: 1, rdev: 0 },
      '/bin/dir': 'dir',
    },
  });
  it('skips non-executable files and directories, like exec.LookPath', () => {
    expect(lookPath(sys, 'noexec', '/usr/bin:/bin')).toBe('/bin/noexec');
    expect(() => lookPath(sys, 'dir', '/bin')).toThrow('exec "dir": executable file not found in $PATH');
  });
  it('leaves names with a slash alone', () => {
    expect(lookPath(sys, './x', '/bin')).toBe('./x');
  });
});
