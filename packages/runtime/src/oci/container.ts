import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '@berth/oci';
import type { CgroupManager, CgroupResources } from '../cgroups/types.js';
import type { InitConfig } from '../init/config.js';
import type { InitSpawnOptions, StartedInit } from '../launch/init-process.js';
import type { ChildExit } from '../launch/spawner.js';
import { LibcSyscalls } from '@berth/sys';
import { CLONE_NEWCGROUP, O_CLOEXEC, O_PATH, O_RDONLY } from '@berth/sys';
import { chownToNamespaceRoot, sameNamespace } from '../launch/userns.js';

/*
 * What only create and exec need (the init's launch: child_process, net, crypto, the seccomp
 * compiler) and what only some commands need (the cgroup manager, the container state's
 * helpers, which load crypto) is imported when first used: an engine starts berth-runtime 4-5
 * times per container, and `start`, `state`, `kill` and `delete` should pay for none of it.
 * (koffi itself is loaded by @berth/sys on the first system call.)
 */
const launch = (): Promise<typeof import('../launch/init-process.js')> => import('../launch/init-process.js');
const spawner = (): Promise<typeof import('../launch/spawner.js')> => import('../launch/spawner.js');
const lifecycleCreate = (): Promise<typeof import('../lifecycle/create.js')> => import('../lifecycle/create.js');
const lifecycleExec = (): Promise<typeof import('../lifecycle/exec.js')> => import('../lifecycle/exec.js');
const lifecycleHost = (): Promise<typeof import('../lifecycle/host.js')> => import('../lifecycle/host.js');
const lifecycleState = (): Promise<typeof import('../lifecycle/state.js')> => import('../lifecycle/state.js');
const namespaces = (): Promise<typeof import('../spec/namespaces.js')> => import('../spec/namespaces.js');
// The bundle's mapping (the seccomp and capability tables), the console (node:net, node:tty) and
// the hooks (node:child_process): create and exec need them; start and delete only with hooks.
const ociBundle = (): Promise<typeof import('./bundle.js')> => import('./bundle.js');
const ociConsole = (): Promise<typeof import('./console.js')> => import('./console.js');
const ociHooks = (): Promise<typeof import('./hooks.js')> => import('./hooks.js');

const S_IFIFO = 0o010000;
import type { Syscalls } from '@berth/sys';
import { processStartTime } from '../lifecycle/proc.js';
import type { OciConfig, OciProcess, OciResources } from './bundle.js';
import type { HookName, HookState, OciHooks } from './hooks.js';

/**
 * berth-runtime's containers: runc's lifecycle over berth's init. Each container is a
 * directory `<root>/<id>/` holding `state.json` (OciContainerState), `init.json` (the
 * InitConfig) and, between `create` and `start`, `exec.fifo`, on which the parked init
 * blocks. The status is never stored: it is read from the init's process (alive, a
 * zombie, gone) and the FIFO, as runc does, so a container whose engine reaped its
 * process reads `stopped` with no berth process around.
 */

export const OCI_VERSION = '1.2.0';
export const DEFAULT_ROOT = '/run/berth-runtime';

export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** What state.json records (the runtime-spec state is derived from it). */
export interface OciContainerState {
  id: string;
  bundle: string;
  rootfs: string;
  pid: number;
  /** The init's start time (clock ticks), so a reused pid is not taken for it. */
  pidStartTime: number;
  created: string;
  annotations: Record<string, string>;
  /** The cgroup manager's parent and name for this container. */
  cgroup: { parent: string; name: string };
}

/** One entry of `list --format json`, runc's field for field. */
export interface ListedContainer {
  ociVersion: string;
  id: string;
  pid: number;
  status: OciStatus;
  bundle: string;
  rootfs: string;
  created: string;
  annotations?: Record<string, string>;
  /** The user owning the container's state directory (runc's; `#UID` when it has no name here). */
  owner: string;
}

/** A uid's user name from /etc/passwd, else `#UID` (as runc prints an unknown owner). */
function ownerName(uid: number): string {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[2] === String(uid) && f[0]) return f[0];
    }
  } catch {
    // No passwd file.
  }
  return `#${uid}`;
}

/** runtime-spec's state (what `state ID` prints). */
export interface RuntimeSpecState {
  ociVersion: string;
  id: string;
  status: OciStatus;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

export function checkId(id: string): string {
  if (!ID.test(id)) throw new BerthError('EINVAL_ARGUMENT', `invalid container id ${JSON.stringify(id)}`);
  return id;
}

export interface CreateOptions {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
  /** Keep the create process the init's parent until it exits (`run`). */
  foreground?: boolean;
  /** A foreground `run`'s terminal (process.terminal without a console socket): the pty master, this process's. */
  onPty?: (master: number) => void;
}

export interface ExecOptions {
  id: string;
  /** The command (unless `process`). */
  args?: string[];
  /** A runtime-spec process (--process FILE), replacing the container's. */
  process?: OciProcess;
  cwd?: string;
  env?: string[];
  /** `UID[:GID]`. */
  user?: string;
  caps?: string[];
  noNewPrivileges?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  /** --tty (else the process's own `terminal`). */
  tty?: boolean;
  /** --detach: the caller exits once the process runs. */
  detach?: boolean;
  preserveFds?: number;
  /** A foreground exec's terminal (no console socket): the pty master, this process's. */
  onPty?: (master: number) => void;
}

/**
 * --preserve-fds N: the caller's fds 3..3+N-1, which must be open. Node marks every fd it
 * inherits close-on-exec and opens its own from the lowest free number, its event loop's
 * epoll first: a caller that passed fewer than N fds would hand the container Node's own, so
 * an epoll fd in the range is refused as not passed.
 */
function preservedFds(sys: Syscalls, n: number | undefined): number[] {
  const fds: number[] = [];
  for (let fd = 3; fd < 3 + (n ?? 0); fd++) {
    let target: string;
    try {
      target = sys.readlink(`/proc/self/fd/${fd}`);
    } catch {
      throw new BerthError('EINVAL_ARGUMENT', `--preserve-fds ${n}: fd ${fd} is not open`);
    }
    if (target === 'anon_inode:[eventpoll]') throw new BerthError('EINVAL_ARGUMENT', `--preserve-fds ${n}: fd ${fd} was not passed to berth-runtime (it is its own event loop's)`);
    fds.push(fd);
  }
  return fds;
}

export class OciRuntime {
  readonly sys: Syscalls;
  /** Where hook failures that do not fail the operation (poststart, poststop) are reported. */
  warn: (message: string) => void = (m) => process.stderr.write(`berth-runtime: warning: ${m}\n`);
  constructor(readonly root: string) {
    this.sys = new LibcSyscalls();
  }

  /** The hooks of the config.json kept at create. */
  private async hooks(id: string): Promise<OciHooks> {
    try {
      const hooks = (JSON.parse(fs.readFileSync(path.join(this.dir(id), 'config.json'), 'utf8')) as OciConfig).hooks;
      return hooks === undefined ? {} : (await ociHooks()).checkHooks(hooks);
    } catch {
      return {};
    }
  }

  /** poststart / poststop: a failure is a warning (runtime-spec). */
  private async runWarnHooks(name: HookName, hooks: OciHooks, state: HookState): Promise<void> {
    if (hooks[name] === undefined) return;
    try {
      (await ociHooks()).runHooks(name, hooks[name], state);
    } catch (err) {
      this.warn(err instanceof Error ? err.message : String(err));
    }
  }

  dir(id: string): string {
    return path.join(this.root, checkId(id));
  }

  read(id: string): OciContainerState {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir(id), 'state.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BerthError('ECONTAINER_UNKNOWN', `container "${id}" does not exist`);
      throw BerthError.wrap(`read state of container ${id}`, err);
    }
    return JSON.parse(text) as OciContainerState;
  }

  async status(s: OciContainerState): Promise<OciStatus> {
    const st = processStartTime(s.pid);
    if (st === undefined || st !== s.pidStartTime) return 'stopped';
    if (fs.existsSync(path.join(this.dir(s.id), 'exec.fifo'))) return 'created';
    return (await this.frozen(s)) ? 'paused' : 'running';
  }

  /** The freezer file of the container's cgroup: v2 cgroup.freeze ("0"/"1"), v1 freezer.state (THAWED/FREEZING/FROZEN). */
  private async freezer(s: OciContainerState): Promise<{ file: string; v2: boolean } | undefined> {
    const m = await this.cgroupManager(s.cgroup);
    m.open(s.cgroup.name);
    const paths = m.paths();
    if (paths['unified'] !== undefined) return { file: path.join(paths['unified'], 'cgroup.freeze'), v2: true };
    if (paths['freezer'] !== undefined) return { file: path.join(paths['freezer'], 'freezer.state'), v2: false };
    return undefined;
  }

  private async frozen(s: OciContainerState): Promise<boolean> {
    const f = await this.freezer(s);
    if (f === undefined) return false;
    try {
      const v = fs.readFileSync(f.file, 'utf8').trim();
      return f.v2 ? v === '1' : v !== 'THAWED';
    } catch {
      return false;
    }
  }

  /** `pause` / `resume`: freezes or thaws every process of the container's cgroup. */
  async setPaused(id: string, pause: boolean): Promise<void> {
    const s = this.read(id);
    const status = await this.status(s);
    const want = pause ? 'running' : 'paused';
    if (status !== want) throw new BerthError('ECONTAINER_STATE', `cannot ${pause ? 'pause' : 'resume'} container "${id}" that is ${status}`);
    const f = await this.freezer(s);
    if (f === undefined) throw new BerthError('EUNSUPPORTED', `${pause ? 'pause' : 'resume'} container "${id}": no freezer cgroup`);
    try {
      fs.writeFileSync(f.file, f.v2 ? (pause ? '1' : '0') : pause ? 'FROZEN' : 'THAWED');
      // v1 reports FREEZING until every task is frozen.
      for (let i = 0; pause && !f.v2 && i < 1000 && fs.readFileSync(f.file, 'utf8').trim() === 'FREEZING'; i++) {
        await new Promise((r) => setTimeout(r, 1));
      }
    } catch (err) {
      throw BerthError.wrap(`${pause ? 'pause' : 'resume'} container "${id}"`, err, 'ECGROUP');
    }
  }

  /** `ps`: the pids of the container's cgroup (host pids), for a running or paused container. */
  async pids(id: string): Promise<number[]> {
    const s = this.read(id);
    const status = await this.status(s);
    if (status === 'stopped') throw new BerthError('ECONTAINER_STATE', `container "${id}" is not running`);
    return await this.cgroupPids(s);
  }

  async state(id: string): Promise<RuntimeSpecState> {
    const s = this.read(id);
    const status = await this.status(s);
    const out: RuntimeSpecState = { ociVersion: OCI_VERSION, id: s.id, status, bundle: s.bundle };
    if (status !== 'stopped') out.pid = s.pid;
    if (Object.keys(s.annotations).length > 0) out.annotations = s.annotations;
    return out;
  }

  /** `list`: runc's entries (its `containerState`): the state plus `rootfs`, `created`, `owner`, and `pid` 0 once stopped. */
  async list(): Promise<ListedContainer[]> {
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return [];
    }
    const out: ListedContainer[] = [];
    // Owners by uid: /etc/passwd is read once per owner, not once per container.
    const owners = new Map<number, string>();
    const owner = (uid: number): string => {
      let name = owners.get(uid);
      if (name === undefined) owners.set(uid, (name = ownerName(uid)));
      return name;
    };
    for (const n of names.sort()) {
      if (!ID.test(n)) continue;
      try {
        const s = this.read(n);
        const st = await this.state(n);
        out.push({
          ociVersion: st.ociVersion,
          id: st.id,
          pid: st.pid ?? 0,
          status: st.status,
          bundle: st.bundle,
          rootfs: s.rootfs,
          created: s.created,
          ...(st.annotations === undefined ? {} : { annotations: st.annotations }),
          owner: owner(fs.statSync(this.dir(n)).uid),
        });
      } catch {
        // Half-made or half-removed: not a container.
      }
    }
    return out;
  }

  private async cgroupManager(cg: OciContainerState['cgroup']): Promise<CgroupManager> {
    const { createCgroupManager } = await import('../cgroups/manager.js');
    return createCgroupManager({ parent: cg.parent });
  }

  /**
   * `create`: the init is spawned in its pid namespace, put in its cgroup, set up (mounts,
   * pivot_root, hostname, sysctls...) and left blocked on exec.fifo; the pid file and state are
   * written; this process then exits and the init is reparented to the caller's subreaper.
   * Anything refused or failed leaves nothing behind.
   */
  async create(o: CreateOptions): Promise<{ pid: number; exited: Promise<ChildExit> }> {
    const id = checkId(o.id);
    const bundle = path.resolve(o.bundle);
    const [{ bundleToSpec, readBundleConfig }, { checkTerminal, sendConsole, setConsoleSize }, { runHooks }] = await Promise.all([ociBundle(), ociConsole(), ociHooks()]);
    const extraFds = preservedFds(this.sys, o.preserveFds);
    const cfg = readBundleConfig(bundle);
    const b = bundleToSpec(cfg, bundle);
    // Joining the user namespace berth-runtime is in (ctr's `--with-ns user:/proc/self/ns/user`) is joining nothing.
    if (b.userNamespace?.path !== undefined && sameNamespace(b.userNamespace.path, '/proc/self/ns/user')) b.userNamespace = null;
    checkTerminal({ terminal: b.terminal, consoleSocket: o.consoleSocket, detach: o.foreground !== true });
    let st: fs.Stats;
    try {
      st = fs.statSync(b.spec.rootfs);
    } catch (err) {
      throw BerthError.wrap(`create container ${id}: rootfs ${b.spec.rootfs}`, err, 'EROOTFS');
    }
    if (!st.isDirectory()) throw new BerthError('EROOTFS', `create container ${id}: rootfs ${b.spec.rootfs} is not a directory`);

    fs.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    const dir = this.dir(id);
    try {
      fs.mkdirSync(dir, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new BerthError('EIN_USE', `container "${id}" exists`);
      throw BerthError.wrap(`create container ${id}`, err);
    }
    const cgroupId = b.cgroup ?? { parent: 'berth-runtime', name: id };
    let cgroup: CgroupManager | undefined;
    let pid: number | undefined;
    let pidns: number | undefined;
    const passFds: number[] = [];
    let early: StartedInit | undefined;
    try {
      const [{ launchInit, startInit, userNamespaceFdPath }, { sharedSpawner }, { compiledSeccomp }, { bundledScript, cgroupMountPlan, deviceNodes }, { writeFileAtomic }, { namespaceFlags }] = await Promise.all([
        launch(),
        spawner(),
        lifecycleCreate(),
        lifecycleHost(),
        lifecycleState(),
        namespaces(),
      ]);
      const pidPath = b.joinNamespaces.find((j) => j.type === 'pid')?.path;
      if (pidPath !== undefined) {
        try {
          pidns = this.sys.open(pidPath, O_CLOEXEC);
        } catch (err) {
          throw BerthError.wrap(`create container ${id}: join pid namespace ${pidPath}`, err);
        }
      }
      const spawn: InitSpawnOptions = {
        sys: this.sys,
        spawner: sharedSpawner(),
        initScript: bundledScript('init/main.cjs'),
        flags: namespaceFlags(b.spec.namespaces.filter((n) => !b.joinNamespaces.some((j) => j.type === n))) & ~CLONE_NEWCGROUP,
        ...(pidns === undefined ? {} : { joinPidNamespace: pidns }),
        stdio: [0, 1, 2],
        extraFds,
      };
      // The init is spawned first: its Node start-up runs while this process compiles the
      // seccomp filter, writes the configs and makes the cgroup (it waits for its start line).
      // In a user namespace the helper is given the config and FIFO as fds, so it starts once they exist.
      if (b.userNamespace === null) early = startInit(spawn);
      const fifo = path.join(dir, 'exec.fifo');
      this.sys.mknod(fifo, S_IFIFO | 0o600, 0);
      const init: InitConfig = {
        version: 1,
        id,
        spec: b.spec,
        etcFiles: null,
        initBinary: null,
        devices: [...deviceNodes(false), ...b.devices],
        cgroupNamespace: b.cgroupNamespace && fs.existsSync('/proc/self/ns/cgroup'),
        cgroup: b.cgroupMount && fs.existsSync('/proc/self/ns/cgroup') ? cgroupMountPlan() : { version: 'none' },
        seccompProgram: b.spec.seccomp === null ? null : compiledSeccomp(this.root, b.spec.seccomp),
        tty: b.terminal,
        timing: false,
        execFifo: fifo,
        sysctl: b.sysctl,
      };
      if (b.userNamespace !== null) {
        // The init reaches its FIFO and config through fds (passFds): the state directory's parents may be closed to it.
        init.userNamespace = true;
        init.execFifo = userNamespaceFdPath(extraFds.length, 1);
      }
      // With a user namespace, its helper joins them first (launch/userns.ts): the init is born in them.
      const joined = b.joinNamespaces.filter((j) => j.type !== 'pid').map((j) => (b.userNamespace === null ? j : { ...j, entered: true }));
      if (joined.length > 0) init.joinNamespaces = joined;
      if (extraFds.length > 0) init.preserveFds = extraFds.length;
      const h = b.hooks;
      const runtimeHooks = h.prestart !== undefined || h.createRuntime !== undefined;
      const hookState = { ociVersion: OCI_VERSION, id, bundle, annotations: b.annotations };
      if (runtimeHooks || h.createContainer !== undefined || h.startContainer !== undefined) {
        init.hooks = { runtime: runtimeHooks, state: hookState };
        if (h.createContainer !== undefined) init.hooks.createContainer = h.createContainer;
        if (h.startContainer !== undefined) init.hooks.startContainer = h.startContainer;
      }
      // The config as given, for exec (runc keeps it in its state too).
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg), { mode: 0o600 });
      const initFile = path.join(dir, 'init.json');
      fs.writeFileSync(initFile, JSON.stringify(init), { mode: 0o600 });

      cgroup = await this.cgroupManager(cgroupId);
      const res: CgroupResources = { devices: b.spec.resources.devices };
      const r = b.spec.resources;
      if (r.memory !== undefined) res.memory = r.memory;
      if (r.memorySwap !== undefined) res.memorySwap = r.memorySwap;
      if (r.cpus !== undefined) res.cpus = r.cpus;
      if (r.pidsLimit !== undefined) res.pidsLimit = r.pidsLimit;
      await cgroup.create(cgroupId.name, { ...res, ...b.cgroupExtras });
      const cg = cgroup;
      if (b.userNamespace !== null) {
        passFds.push(this.sys.open(initFile, O_RDONLY | O_CLOEXEC), this.sys.open(fifo, O_PATH | O_CLOEXEC));
      }
      const launched = await launchInit({
        ...spawn,
        ...(early === undefined ? {} : { started: early }),
        configPath: b.userNamespace === null ? initFile : userNamespaceFdPath(extraFds.length, 0),
        ...(b.userNamespace === null
          ? {}
          : {
              userNamespace: {
                ...b.userNamespace,
                newPid: b.spec.namespaces.includes('pid') && pidns === undefined,
                joinFirst: joined,
                // A foreground run waits for its process: the helper stays its parent and passes its status on.
                waitForInit: o.foreground === true,
              },
              // The init, root of the user namespace, reads its config and opens the FIFO: they become its root's (runc chowns its FIFO too).
              onUserNamespace: (helper: number) => chownToNamespaceRoot(helper, [initFile, fifo]),
              passFds,
            }),
        untilCreated: { detach: o.foreground !== true },
        onPty: (master) => {
          setConsoleSize(this.sys, master, b.consoleSize);
          if (o.consoleSocket !== undefined) sendConsole(this.sys, o.consoleSocket, master);
          else o.onPty?.(master);
        },
        onHooks: (p) => {
          // prestart (deprecated) then createRuntime, in this process's namespaces; a failure fails create.
          for (const name of ['prestart', 'createRuntime'] as const) runHooks(name, h[name], { ...hookState, status: 'creating', pid: p });
        },
        beforeSetup: async (p) => {
          pid = p;
          await cg.addProcess(p);
          if (b.oomScoreAdj !== undefined) fs.writeFileSync(`/proc/${p}/oom_score_adj`, String(b.oomScoreAdj));
        },
      }).catch((err: unknown) => {
        throw BerthError.wrap(`create container ${id}`, err);
      });
      pid = launched.pid;
      const started = processStartTime(pid);
      if (started === undefined) throw new BerthError('ERUNTIME', `create container ${id}: the init exited during setup`);
      const state: OciContainerState = {
        id,
        bundle,
        rootfs: b.spec.rootfs,
        pid,
        pidStartTime: started,
        created: new Date().toISOString(),
        annotations: b.annotations,
        cgroup: cgroupId,
      };
      writeFileAtomic(path.join(dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
      if (o.pidFile !== undefined) writeFileAtomic(path.resolve(o.pidFile), String(pid));
      return { pid, exited: launched.exited };
    } catch (err) {
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      // An init spawned and never given its start line (or given it and failed: no-op then).
      early?.discard();
      await cgroup?.remove().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    } finally {
      if (pidns !== undefined) this.sys.close(pidns);
      for (const fd of passFds) this.sys.close(fd);
    }
  }

  /** `start`: releases the init blocked on exec.fifo; it execve()s the user's process. */
  async start(id: string): Promise<void> {
    const s = this.read(id);
    const status = await this.status(s);
    if (status !== 'created') throw new BerthError('ECONTAINER_STATE', `cannot start a container that is ${status}`);
    const fifo = path.join(this.dir(id), 'exec.fifo');
    // Non-blocking: opening for reading succeeds at once; the init, blocked opening it for
    // writing, then writes one byte. Poll so a dead init cannot hang us.
    const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(1);
      for (;;) {
        let n = 0;
        try {
          n = fs.readSync(fd, buf, 0, 1, null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw BerthError.wrap(`start container ${id}`, err);
        }
        if (n === 1) break;
        if ((await this.status(s)) === 'stopped') throw new BerthError('ECONTAINER_STATE', `start container ${id}: the init exited before it was started`);
        await new Promise((r) => setTimeout(r, 2));
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.rmSync(fifo, { force: true });
    await this.runWarnHooks('poststart', await this.hooks(id), { ...this.hookState(s), status: 'running', pid: s.pid });
  }

  private hookState(s: OciContainerState): Omit<HookState, 'status'> {
    return { ociVersion: OCI_VERSION, id: s.id, bundle: s.bundle, annotations: s.annotations };
  }

  /**
   * `exec`: a process in a running container, born in its pid namespace, put in its cgroup,
   * joining its other namespaces, with the container's seccomp filter and the process's own
   * user, capabilities, rlimits and no_new_privs (init/exec.ts). Resolves once it has been
   * exec'd; `exited` resolves with its exit.
   */
  async exec(o: ExecOptions): Promise<{ pid: number; exited: Promise<ChildExit> }> {
    const s = this.read(o.id);
    const status = await this.status(s);
    if (status !== 'running') throw new BerthError('ECONTAINER_STATE', `cannot exec in container "${o.id}" that is ${status}`);
    const dir = this.dir(o.id);
    let init: InitConfig;
    let cfg: OciConfig;
    try {
      init = JSON.parse(fs.readFileSync(path.join(dir, 'init.json'), 'utf8')) as InitConfig;
      cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as OciConfig;
    } catch (err) {
      throw BerthError.wrap(`exec in container "${o.id}": read its config`, err);
    }
    const [{ bundleToSpec }, { checkTerminal, sendConsole, setConsoleSize }] = await Promise.all([ociBundle(), ociConsole()]);
    const proc: OciProcess = o.process ?? { ...(cfg.process as OciProcess), args: o.args ?? [], terminal: false };
    if (o.tty !== undefined) proc.terminal = o.tty;
    const terminal = proc.terminal === true;
    checkTerminal({ terminal, consoleSocket: o.consoleSocket, detach: o.detach === true });
    const extraFds = preservedFds(this.sys, o.preserveFds);
    if (o.process === undefined && proc.args?.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'exec: no command given (CMD or --process)');
    if (o.cwd !== undefined) proc.cwd = o.cwd;
    if (o.env !== undefined) proc.env = [...(proc.env ?? []), ...o.env];
    if (o.user !== undefined) {
      const m = /^(\d+)(?::(\d+))?$/.exec(o.user);
      if (m === null) throw new BerthError('EINVAL_ARGUMENT', `exec: --user ${o.user}: expected UID[:GID] (numbers)`);
      proc.user = { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
    }
    if (o.caps !== undefined && o.caps.length > 0) {
      const c = { ...(proc.capabilities ?? {}) };
      for (const set of ['bounding', 'effective', 'permitted'] as const) c[set] = [...(c[set] ?? []), ...o.caps];
      proc.capabilities = c;
    }
    if (o.noNewPrivileges === true) proc.noNewPrivileges = true;
    // The container's hooks are not an exec's.
    const mapped = bundleToSpec({ ...cfg, process: proc, hooks: undefined }, s.bundle);
    const m = await this.cgroupManager(s.cgroup);
    m.open(s.cgroup.name);
    const [{ launchExec }, { sharedSpawner }, { writeFileAtomic }] = await Promise.all([lifecycleExec(), spawner(), lifecycleState()]);
    const launched = await launchExec({
      sys: this.sys,
      spawner: sharedSpawner(),
      pid: s.pid,
      pidStartTime: s.pidStartTime,
      init,
      process: mapped.spec.process,
      dir,
      stdio: [0, 1, 2],
      extraFds,
      tty: terminal,
      addProcess: (p) => m.addProcess(p),
      label: `"${o.id}"`,
      onPty: (master) => {
        setConsoleSize(this.sys, master, proc.consoleSize);
        if (o.consoleSocket !== undefined) sendConsole(this.sys, o.consoleSocket, master);
        else o.onPty?.(master);
      },
    });
    if (o.pidFile !== undefined) writeFileAtomic(path.resolve(o.pidFile), String(launched.pid));
    return { pid: launched.pid, exited: launched.exited };
  }

  /**
   * `update --resources`: new memory, swap, CPU and pids limits (runtime-spec's
   * linux.resources) written to the container's cgroup; the rest is refused as at create.
   */
  async update(id: string, resources: OciResources): Promise<void> {
    const s = this.read(id);
    const status = await this.status(s);
    if (status === 'stopped') throw new BerthError('ECONTAINER_STATE', `cannot update container "${id}" that is stopped`);
    if (resources.devices !== undefined) throw new BerthError('EUNSUPPORTED', 'update of linux.resources.devices is not supported by berth-runtime');
    const r = (await ociBundle()).mapResources(resources);
    const m = await this.cgroupManager(s.cgroup);
    m.open(s.cgroup.name);
    const limits: Omit<CgroupResources, 'devices'> = {};
    if (r.memory !== undefined) limits.memory = r.memory;
    if (r.memorySwap !== undefined) limits.memorySwap = r.memorySwap;
    if (r.cpus !== undefined) limits.cpus = r.cpus;
    if (r.pidsLimit !== undefined) limits.pidsLimit = r.pidsLimit;
    if (r.cpuShares !== undefined) limits.cpuShares = r.cpuShares;
    await m.update(limits);
  }

  /** `kill`: a signal to the init (PID 1), or with `all` to every process of the container's cgroup. */
  async kill(id: string, signal: string, all: boolean): Promise<void> {
    const s = this.read(id);
    const sig = (await import('../lifecycle/signal.js')).signalNumber(signal);
    const status = await this.status(s);
    if (status === 'stopped' && !all) throw new BerthError('ECONTAINER_STATE', `container "${id}" is not running`);
    const pids = all ? await this.cgroupPids(s) : [s.pid];
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw BerthError.wrap(`kill container ${id}`, err);
      }
    }
  }

  private async cgroupPids(s: OciContainerState): Promise<number[]> {
    const m = await this.cgroupManager(s.cgroup);
    m.open(s.cgroup.name);
    const paths = m.paths();
    const dir = paths['unified'] ?? paths['pids'] ?? paths['memory'] ?? Object.values(paths)[0];
    if (dir === undefined) return [];
    try {
      return fs
        .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map(Number);
    } catch {
      return [];
    }
  }

  /** `delete`: removes a stopped or created container (with `force`, kills a running one first): cgroup and state. */
  async delete(id: string, force: boolean): Promise<void> {
    let s: OciContainerState;
    try {
      s = this.read(id);
    } catch (err) {
      // runc: `delete --force` of a container that does not exist is not an error.
      if (force && err instanceof BerthError && err.code === 'ECONTAINER_UNKNOWN') return;
      throw err;
    }
    const status = await this.status(s);
    // runc deletes a created container without --force (engines clean up a failed start that way).
    if (status !== 'stopped' && status !== 'created' && !force) throw new BerthError('ECONTAINER_STATE', `cannot delete container "${id}" that is ${status}: stop it first or use --force`);
    if (status !== 'stopped') {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    const m = await this.cgroupManager(s.cgroup);
    m.open(s.cgroup.name);
    // Kills what is left in the cgroup (exec'd processes, a live init) and waits for it to empty.
    await m.remove();
    const hooks = await this.hooks(id);
    fs.rmSync(this.dir(id), { recursive: true, force: true });
    await this.runWarnHooks('poststop', hooks, { ...this.hookState(s), status: 'stopped' });
  }
}

/** The exit status of a process as a shell reports it (128+N for signal N). */
export async function exitStatus(e: ChildExit): Promise<number> {
  return (await launch()).exitStatus(e);
}
