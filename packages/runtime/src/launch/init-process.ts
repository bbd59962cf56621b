import { Socket } from 'node:net';
import { BerthError, describeError } from '@berth/oci';
import { PRESERVED_FDS_BASE } from '../init/config.js';
import type { InitMessage, InitStart } from '../init/config.js';
import { CLONE_NEWPID, O_CLOEXEC, SIGNALS } from '@berth/sys';
import type { Syscalls } from '@berth/sys';
import { sealedExecutable } from './sealed-exe.js';
import type { ChildExit, SpawnedChild, Spawner } from './spawner.js';
import { releaseStdio } from './stdio.js';
import type { PreparedStdio } from './stdio.js';
import { enterCommand, helperCommand, hostPidIn, writeIdMappings } from './userns.js';
import type { UserNamespacePlan } from './userns.js';

/** How an init child is spawned (and what a parked one must match to be used). */
export interface InitSpawnOptions {
  sys: Syscalls;
  spawner: Spawner;
  /** The bundled init script (dist/init/main.cjs). */
  initScript: string;
  /**
   * CLONE_NEW* flags for the container. Only CLONE_NEWPID matters here: the child is
   * born in a new pid namespace. It unshares the others itself, from its config, once
   * it has its start line and is in its cgroup.
   */
  flags: number;
  /** Born in this existing pid namespace instead (an fd of /proc/<pid>/ns/pid): berth-runtime exec. */
  joinPidNamespace?: number;
  /** The child's fds 0-2: the container's pipes (PreparedStdio.childFds, O_CLOEXEC here; the caller closes its copies afterwards). */
  stdio: [number, number, number];
  /** More fds for the child, from PRESERVED_FDS_BASE (5) on: berth-runtime's --preserve-fds. */
  extraFds?: number[];
  /** Extra environment for the init (BERTH_DEBUG_TIMING...). Nothing is inherited: NODE_OPTIONS could inject code. */
  env?: Record<string, string>;
  /** Node options placed before the script (start-up tuning). */
  argsPrefix?: string[];
  /**
   * The init in a user namespace (new, or joined by path): started by the single-threaded helper
   * of userns.ts, which also makes the pid namespace when `newPid` (then not the spawner).
   */
  userNamespace?: UserNamespacePlan;
  /** Or in the user namespace of this (container init's) pid, entered with nsenter (exec's child). */
  enterUserNamespace?: number;
  /**
   * With userNamespace or enterUserNamespace: more fds for the child (after the extra fds and
   * the sealed binary), named in the child by userNamespaceFdPath(). The root of a user
   * namespace may not be able to reach the state directory by path; runc passes fds too.
   */
  passFds?: number[];
}

/** The child's path of passFds[index] (`extraFds` extra fds given): /proc/self/fd/N. */
export function userNamespaceFdPath(extraFds: number, index: number): string {
  return `/proc/self/fd/${PRESERVED_FDS_BASE + extraFds + 1 + index}`;
}

export interface InitLaunchOptions extends InitSpawnOptions {
  /** The InitConfig JSON file. */
  configPath: string;
  /** The init replaces fd 0 with the container's /dev/null (the container is not interactive). */
  stdinNull?: boolean;
  /** Runs with the init's pid before the init may start its setup: join the cgroup here. */
  beforeSetup?: (pid: number) => void | Promise<void>;
  /** Receives the pty master (an fd of this process, O_CLOEXEC) before the init continues. */
  onPty?: (masterFd: number) => void;
  /** The init reported `hooks` (namespaces and mounts made, before pivot_root): run them; a throw fails the launch. */
  onHooks?: (pid: number) => void | Promise<void>;
  /**
   * berth-runtime's create: resolve once the init reports `created` (set up, waiting on its
   * exec FIFO); with `detach` too, this process may exit without waiting for the init.
   */
  untilCreated?: { detach: boolean };
  /** `exec -d`: once exec'd, the child no longer keeps this process alive. */
  detach?: boolean;
  /** userNamespace: the helper (this pid) is in it and its maps are written; runs before the helper forks the init. */
  onUserNamespace?: (helperPid: number) => void;
  /** The init startInit() spawned with these same spawn options, to drive instead of spawning one. */
  started?: StartedInit;
}

/** An init spawned by startInit(), not yet driven; discard() kills it (on a failure before launchInit). */
export interface StartedInit {
  discard(): void;
}

export interface InitTiming {
  /** Epoch ms marks from both sides: `launch`, `spawned`, then the init's phases, then `exec`. */
  marks: Array<[string, number]>;
}

export interface LaunchedInit {
  pid: number;
  exited: Promise<ChildExit>;
  timing: InitTiming;
}

const now = (): number => performance.timeOrigin + performance.now();

/** Exit status the shell way: the code, or 128 + the signal number. */
export function exitStatus(e: ChildExit): number {
  if (e.code !== null) return e.code;
  return 128 + (e.signal === null ? 0 : (SIGNALS[e.signal] ?? 0));
}

/** Reads JSON lines from the init's report pipe; resolves each `next()` with a message, or null at EOF. */
class ReportReader {
  private buf = '';
  private readonly queue: Array<InitMessage | null> = [];
  private waiter: ((m: InitMessage | null) => void) | undefined;
  private readonly socket: Socket;

  constructor(fd: number, keepAlive: boolean) {
    this.socket = new Socket({ fd, readable: true, writable: false });
    if (!keepAlive) this.socket.unref();
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (line.trim() === '') continue;
        try {
          this.push(JSON.parse(line) as InitMessage);
        } catch {
          this.push({ type: 'error', code: 'ERUNTIME', message: `container init: unreadable report ${line.slice(0, 80)}`, exitCode: 125, details: {} });
        }
      }
    });
    // EOF, a read error, or the pipe closed here: no more messages either way.
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.push(null);
    };
    this.socket.once('end', end);
    this.socket.once('error', end);
    this.socket.once('close', end);
  }

  private push(m: InitMessage | null): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(m);
    } else {
      this.queue.push(m);
    }
  }

  next(): Promise<InitMessage | null> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift() as InitMessage | null);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** From now on the pipe keeps the process alive (a parked init taken into use). */
  ref(): void {
    this.socket.ref();
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * An init child and this process's ends of its pipes: spawned for a container,
 * or parked ahead of one (Runtime.warm) until launchInit takes it.
 */
class SpawnedInit {
  readonly reader: ReportReader;
  readonly syncW: number;
  readonly child: Promise<SpawnedChild>;
  readonly marks: Array<[string, number]>;
  /** The child has exited (or could not be spawned): a parked init that cannot be used. */
  dead = false;
  /** The child's pid, once spawned. */
  private pid: number | undefined;
  /** Parked: the stdio it was spawned with, until a launch takes it (takeParkedStdio). */
  stdio: PreparedStdio | undefined;
  private closed = false;

  private constructor(
    readonly opts: InitSpawnOptions,
    reader: ReportReader,
    syncW: number,
    child: Promise<SpawnedChild>,
    marks: Array<[string, number]>,
  ) {
    this.reader = reader;
    this.syncW = syncW;
    this.child = child;
    this.marks = marks;
    child.then(
      (c) => {
        this.pid = c.pid;
        c.exited.then(
          () => (this.dead = true),
          () => (this.dead = true),
        );
      },
      () => (this.dead = true),
    );
  }

  /** Creates the pipes (report: init → here, fd 3 there; sync: here → init, fd 4 there) and asks the worker to spawn. */
  static spawn(opts: InitSpawnOptions, keepAlive: boolean, label: string): SpawnedInit {
    const { sys } = opts;
    const marks: Array<[string, number]> = [[label, now()]];
    // Node, as a file the container cannot write (CVE-2019-5736): see sealed-exe.ts.
    const exe = sealedExecutable(sys);
    const [reportR, reportW] = sys.pipe2(O_CLOEXEC);
    let syncR: number;
    let syncW: number;
    try {
      [syncR, syncW] = sys.pipe2(O_CLOEXEC);
    } catch (err) {
      sys.close(reportR);
      sys.close(reportW);
      throw err;
    }
    const reader = new ReportReader(reportR, keepAlive);
    const fds = [...opts.stdio, reportW, syncR, ...(opts.extraFds ?? [])];
    const nodeArgs = [...(opts.argsPrefix ?? []), opts.initScript];
    let command = { file: exe.path, args: nodeArgs };
    if (opts.userNamespace !== undefined || opts.enterUserNamespace !== undefined) {
      // The sealed binary is run by a program of util-linux: it gets it as an inherited fd (the
      // init makes every fd above 2 close-on-exec before its execve).
      const init = [`/proc/self/fd/${fds.length}`, ...nodeArgs];
      fds.push(exe.fd, ...(opts.passFds ?? []));
      command = opts.userNamespace !== undefined ? helperCommand(opts.userNamespace, init, fds.length) : enterCommand(opts.enterUserNamespace as number, init);
    }
    const child = opts.spawner.spawn(
      {
        // A user namespace's helper makes the pid namespace itself (owned by the user namespace).
        newPidNamespace: opts.userNamespace === undefined && (opts.flags & CLONE_NEWPID) !== 0,
        ...(opts.joinPidNamespace === undefined ? {} : { joinPidNamespace: opts.joinPidNamespace }),
        file: command.file,
        args: command.args,
        env: opts.env ?? {},
        fds,
      },
      { keepAlive },
    );
    const closeChildEnds = (): void => {
      // The child has its own copies now (or never will).
      sys.close(reportW);
      sys.close(syncR);
    };
    child.then(
      () => {
        marks.push(['spawned', now()]);
        closeChildEnds();
      },
      closeChildEnds,
    );
    return new SpawnedInit(opts, reader, syncW, child, marks);
  }

  /** Could this parked init serve a launch with these options? */
  matches(o: InitSpawnOptions): boolean {
    const a = this.opts;
    return (
      !this.dead &&
      a.sys === o.sys &&
      a.userNamespace === undefined &&
      o.userNamespace === undefined &&
      a.enterUserNamespace === o.enterUserNamespace &&
      (a.flags & CLONE_NEWPID) === (o.flags & CLONE_NEWPID) &&
      a.initScript === o.initScript &&
      a.stdio.every((fd, i) => fd === o.stdio[i]) &&
      (o.extraFds ?? []).length === 0 &&
      JSON.stringify(a.env ?? {}) === JSON.stringify(o.env ?? {}) &&
      JSON.stringify(a.argsPrefix ?? []) === JSON.stringify(o.argsPrefix ?? [])
    );
  }

  /** Stdio made for this parked init that no launch took. */
  releaseStdio(): void {
    if (this.stdio !== undefined) releaseStdio(this.opts.sys, this.stdio);
    this.stdio = undefined;
  }

  /** This process's ends of the pipes. */
  closePipes(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.close();
    try {
      this.opts.sys.close(this.syncW);
    } catch {
      // Closed already.
    }
  }

  /** Kills the child (it has not started any container setup) and closes the pipes; synchronous once spawned. */
  discard(): void {
    const wasDead = this.dead;
    this.dead = true;
    this.closePipes();
    this.releaseStdio();
    const kill = (pid: number): void => {
      try {
        this.opts.sys.kill(pid, SIGNALS['SIGKILL'] as number);
      } catch {
        // Already gone.
      }
    };
    if (wasDead) return;
    if (this.pid !== undefined) kill(this.pid);
    else this.child.then((c) => kill(c.pid), () => undefined);
  }
}

/** The init parked by Runtime.warm, per spawner (one per process in practice). */
const parked = new WeakMap<Spawner, SpawnedInit>();
/** Every init parked and not taken, for the exit hook. */
const unclaimed = new Set<SpawnedInit>();
let exitHook = false;

export interface ParkOptions extends Omit<InitSpawnOptions, 'stdio'> {
  /**
   * Makes the stdio the parked init is spawned with (called only when one is
   * parked): prepareStdio() without fitting, all three pipes open.
   */
  stdio: () => PreparedStdio;
}

/**
 * Starts an init child now, before its container exists, so that Node's start-up
 * and loading koffi overlap whatever the caller does meanwhile (pulling, copying the
 * rootfs). It is spawned with pipes of its own for fds 0-2 and waits, parked, for
 * the next launch: that one takes the pipes (takeParkedStdio) and so the init
 * (launchInit with the same stdio). It does not keep this process alive, and dies
 * with it (EOF on its sync pipe, and PR_SET_PDEATHSIG). A launch with other options
 * discards it (and its pipes). No-op when one is parked.
 */
export function parkInit(opts: ParkOptions): void {
  const current = parked.get(opts.spawner);
  if (current !== undefined && !current.dead) return;
  const stdio = opts.stdio();
  let init: SpawnedInit;
  try {
    init = SpawnedInit.spawn({ ...opts, stdio: stdio.childFds }, false, 'park');
  } catch (err) {
    releaseStdio(opts.sys, stdio);
    throw err;
  }
  init.stdio = stdio;
  parked.set(opts.spawner, init);
  unclaimed.add(init);
  if (!exitHook) {
    exitHook = true;
    // An init nobody took dies with this process at once, rather than once it has booted
    // and read EOF on its sync pipe (a Node start-up's worth of CPU for nothing).
    process.once('exit', () => {
      for (const i of unclaimed) i.discard();
    });
  }
  init.child.then(
    (c) =>
      c.exited.then(
        () => forget(opts.spawner, init),
        () => forget(opts.spawner, init),
      ),
    () => forget(opts.spawner, init),
  );
}

/**
 * A parked init that died (or could not be spawned) while still parked: drop it. Once
 * a launch has taken it, its pipes are the launch's: the container's exit may well be
 * seen before the EOF on its report pipe, which the launch is still reading.
 */
function forget(spawner: Spawner, init: SpawnedInit): void {
  if (parked.get(spawner) !== init) return;
  unpark(spawner);
  init.closePipes();
  init.releaseStdio();
}

/**
 * The stdio of the init parked for `spawner` (the caller's from now on, to fit
 * and to pass to launchInit, which then takes that init), or undefined when
 * none is parked or its stdio was taken already.
 */
export function takeParkedStdio(spawner: Spawner): PreparedStdio | undefined {
  const init = parked.get(spawner);
  if (init === undefined || init.dead) return undefined;
  const stdio = init.stdio;
  init.stdio = undefined;
  return stdio;
}

/** Takes the init parked for `spawner` off the books (it is the caller's now), if any. */
function unpark(spawner: Spawner): SpawnedInit | undefined {
  const init = parked.get(spawner);
  if (init === undefined) return undefined;
  parked.delete(spawner);
  unclaimed.delete(init);
  return init;
}

/** The parked init when it fits `opts` (it is then taken); a parked one that does not fit is discarded. */
function takeParked(opts: InitSpawnOptions): SpawnedInit | undefined {
  const init = unpark(opts.spawner);
  if (init === undefined) return undefined;
  if (init.matches(opts)) return init;
  init.discard();
  return undefined;
}

/** Kills the init parked for `spawner`, if any (this process will not run a foreground container). */
export function discardParked(spawner: Spawner): void {
  unpark(spawner)?.discard();
}

/**
 * Starts the init child (or takes the one parked by parkInit) and drives its protocol:
 *
 * 1. pipes: report (init → runtime, fd 3 in the child) and sync (runtime → init, fd 4);
 * 2. the spawner starts the init in a new pid namespace;
 * 3. `beforeSetup(pid)` (cgroup join), then the start line (InitStart JSON: the
 *    config file, stdin) and one byte, go, on the sync pipe;
 * 4. the init reports `pty` (the master is copied with pidfd_getfd, then a byte
 *    says go on), `exec` (setup done, about to execve) or `error`;
 * 5. EOF on the report pipe after `exec` means execve succeeded (the pipe is
 *    close-on-exec); an `error` or an EOF without `exec` means it failed.
 *
 * Resolves once the container's process runs. Rejects with the init's error
 * (details.exitCode: 125 setup failure, 126 cannot execute, 127 not found),
 * after the child has been reaped.
 */
export async function launchInit(opts: InitLaunchOptions): Promise<LaunchedInit> {
  const marks: Array<[string, number]> = [['launch', now()]];
  if (opts.started !== undefined) return driveSpawned(opts.started as SpawnedInit, opts, marks);
  const taken = takeParked(opts);
  if (taken !== undefined) {
    taken.reader.ref();
    let child: SpawnedChild | undefined;
    try {
      child = await taken.child;
      child.keepAlive(true);
    } catch {
      // It could not be spawned: spawn one now.
    }
    if (child !== undefined && !taken.dead) {
      try {
        return await drive(taken, child, opts, marks);
      } catch (err) {
        // A parked init that died before its go (killed meanwhile): start a fresh one.
        if (!(err instanceof ParkedInitGone)) throw err;
      }
    }
    taken.discard();
    marks.push(['parked-init-unusable', now()]);
  }
  return driveSpawned(SpawnedInit.spawn(opts, true, 'spawn'), opts, marks);
}

/**
 * Spawns the init child now and leaves it loading (Node's start-up, its bundle, koffi) until
 * launchInit({ ...opts, started }) sends its start line: berth-runtime's create spawns it
 * first and writes the config, compiles the seccomp filter and makes the cgroup meanwhile.
 */
export function startInit(opts: InitSpawnOptions): StartedInit {
  return SpawnedInit.spawn(opts, true, 'spawn');
}

async function driveSpawned(init: SpawnedInit, opts: InitLaunchOptions, marks: Array<[string, number]>): Promise<LaunchedInit> {
  let child: SpawnedChild;
  try {
    child = await init.child;
  } catch (err) {
    init.closePipes();
    throw BerthError.wrap('start container init', err);
  }
  return drive(init, child, opts, marks);
}

/** A parked init was found dead when the container was about to use it. */
class ParkedInitGone extends Error {}

async function drive(init: SpawnedInit, child: SpawnedChild, opts: InitLaunchOptions, marks: Array<[string, number]>): Promise<LaunchedInit> {
  const { sys } = opts;
  const parkedInit = init.marks[0]?.[0] === 'park';
  for (const m of init.marks) marks.push(m);
  const { exited } = child;
  let pid = child.pid;
  const reader = init.reader;
  const syncW = init.syncW;

  const abort = async (err: unknown, exitCode = 125): Promise<never> => {
    for (const p of new Set([pid, child.pid])) {
      try {
        sys.kill(p, SIGNALS['SIGKILL'] as number);
      } catch {
        // Already gone.
      }
    }
    init.closePipes();
    await exited.catch(() => undefined);
    if (err instanceof BerthError) {
      if (err.details['exitCode'] === undefined) err.details['exitCode'] = exitCode;
      throw err;
    }
    throw new BerthError('ERUNTIME', `start container: ${describeError(err)}`, { cause: err, details: { exitCode } });
  };

  if (opts.userNamespace !== undefined) {
    try {
      pid = await userNamespaceHandshake(opts.userNamespace, child.pid, opts, reader, syncW);
    } catch (err) {
      return abort(err);
    }
    marks.push(['userns', now()]);
  }
  try {
    await opts.beforeSetup?.(pid);
    const start: InitStart = { config: opts.configPath, stdinNull: opts.stdinNull === true };
    sys.write(syncW, `${JSON.stringify(start)}\ng`);
  } catch (err) {
    if (parkedInit && (init.dead || isGone(err))) throw new ParkedInitGone();
    return abort(err);
  }
  marks.push(['go', now()]);

  let execReported = false;
  let failure: Extract<InitMessage, { type: 'error' }> | undefined;
  for (;;) {
    const m = await reader.next();
    if (m === null) break;
    if (m.type === 'pty') {
      try {
        const pidfd = sys.pidfdOpen(pid, 0);
        let master: number;
        try {
          master = sys.pidfdGetfd(pidfd, m.fd, 0);
        } finally {
          sys.close(pidfd);
        }
        opts.onPty?.(master);
        sys.write(syncW, 'g');
      } catch (err) {
        return abort(BerthError.wrap('receive the container terminal', err));
      }
    } else if (m.type === 'hooks') {
      try {
        await opts.onHooks?.(pid);
        sys.write(syncW, 'g');
      } catch (err) {
        return abort(err);
      }
    } else if (m.type === 'created' && opts.untilCreated !== undefined) {
      execReported = true;
      if (opts.untilCreated.detach) child.keepAlive(false);
    } else if (m.type === 'exec') {
      execReported = true;
      if (opts.detach === true) child.keepAlive(false);
      for (const mark of m.marks) marks.push(mark);
    } else if (m.type === 'error') {
      failure = m;
    }
  }
  init.closePipes();
  marks.push(['exec', now()]);

  if (failure !== undefined) {
    await exited.catch(() => undefined);
    throw new BerthError(failure.code as BerthError['code'], failure.message, {
      details: { ...failure.details, exitCode: failure.exitCode },
    });
  }
  if (!execReported) {
    const e = await exited.catch(() => ({ code: null, signal: null }) as ChildExit);
    const how = e.signal !== null ? `killed by ${e.signal}` : `exit status ${e.code ?? 'unknown'}`;
    throw new BerthError('ERUNTIME', `start container: the init exited during setup (${how})`, { details: { exitCode: 125 } });
  }
  return { pid, exited, timing: { marks } };
}

/**
 * userns.ts's helper: it reports `userns` once in its new namespaces; the maps are written here
 * (the host's side) and a newline on the sync pipe lets it fork the init, whose host pid it
 * reports. Returns that pid.
 */
async function userNamespaceHandshake(plan: UserNamespacePlan, helper: number, opts: InitLaunchOptions, reader: ReportReader, syncW: number): Promise<number> {
  const expect = async (type: 'userns' | 'pid'): Promise<InitMessage> => {
    const m = await reader.next();
    if (m?.type === 'error') throw new BerthError(m.code as BerthError['code'], m.message, { details: { ...m.details, exitCode: m.exitCode } });
    if (m === null || m.type !== type) throw new BerthError('ERUNTIME', `user namespace: the helper (${plan.path === undefined ? 'unshare --user' : `nsenter --user=${plan.path}`}) ${m === null ? 'exited' : `sent ${m.type}`} before reporting ${type}`);
    return m;
  };
  await expect('userns');
  writeIdMappings(helper, plan);
  opts.onUserNamespace?.(helper);
  opts.sys.write(syncW, '\n');
  const m = await expect('pid');
  if (m.type !== 'pid' || !Number.isInteger(m.pid) || m.pid <= 0) throw new BerthError('ERUNTIME', 'user namespace: the helper reported no pid for the init');
  // A helper born in a pid namespace joined by path reports that namespace's number (the init waits for its go meanwhile).
  return opts.joinPidNamespace === undefined ? m.pid : hostPidIn(m.pid, opts.joinPidNamespace);
}

/** The process is gone (cgroup.procs refuses its pid, or its sync pipe has no reader). */
function isGone(err: unknown): boolean {
  const text = `${(err as { code?: unknown }).code ?? ''} ${(err as Error).message ?? ''} ${(err as { cause?: { code?: unknown } }).cause?.code ?? ''}`;
  return /ESRCH|EPIPE/.test(text);
}
