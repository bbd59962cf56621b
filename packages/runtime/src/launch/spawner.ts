import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { BerthError } from '@berth/oci';
import { LibcSyscalls } from '@berth/sys';
import { CLONE_NEWPID, O_CLOEXEC } from '@berth/sys';
import type { Syscalls } from '@berth/sys';

/**
 * Spawns the init children, from the calling (main) thread.
 *
 * The one namespace a child must be born in is its pid namespace: the init
 * execve()s the container's process, which must be PID 1 there. For each child
 * the spawner unshare(CLONE_NEWPID)s, which changes only the pid namespace this
 * thread's *next children* go to (never its own), child_process.spawn()s the
 * child (it is PID 1 of the new namespace), and setns()es straight back, all in
 * one synchronous step, so nothing else this thread spawns can land there. The
 * other namespaces (mount, uts, ipc, network, cgroup) are the init's own doing:
 * unshare() applies them to its calling thread, which is the one that execve()s.
 *
 * (An earlier design spawned from a worker thread that unshared everything; a
 * Node worker takes 30-100 ms to boot, every `berth run` paid it, and the
 * parked init of Runtime.warm() had to wait for it.)
 *
 * Event-loop liveness: a child keeps the process alive until its exit is
 * reported, unless spawned with `keepAlive: false` (an init parked ahead of its
 * container); a caller awaiting warm(), a spawn or an exit with nothing else
 * pending must never see Node exit early with status 0.
 */

export interface SpawnRequest {
  /** A new pid namespace for the child (it is its PID 1). */
  newPidNamespace: boolean;
  /** Or an existing one to be born in: an fd of /proc/<pid>/ns/pid (berth-runtime exec). */
  joinPidNamespace?: number;
  file: string;
  args: string[];
  env: Record<string, string>;
  /** The child's fds: child fd i = fds[i] of this process (fds must be O_CLOEXEC here). */
  fds: number[];
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnedChild {
  pid: number;
  exited: Promise<ChildExit>;
  /** Whether this child keeps the process alive until its exit is reported (set at spawn). */
  keepAlive(on: boolean): void;
}

export class Spawner {
  /** This thread's own pid namespace (the one setns() returns to). */
  private home: number | undefined;
  /** Set when returning to the home namespace failed: no child may be spawned any more. */
  private broken: string | undefined;
  private running = 0;

  constructor(private readonly sys: Syscalls = new LibcSyscalls()) {}

  /** Loads what spawn() needs (koffi, the namespace fd) now. */
  warm(): Promise<void> {
    try {
      this.homeFd();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private homeFd(): number {
    this.home ??= this.sys.open('/proc/thread-self/ns/pid', O_CLOEXEC);
    return this.home;
  }

  /**
   * Spawns a child, in a new pid namespace when asked; resolves once it exists (its pid),
   * with a promise of its exit. `keepAlive: false`: the child does not keep this process alive.
   */
  async spawn(req: SpawnRequest, opts: { keepAlive?: boolean } = {}): Promise<SpawnedChild> {
    if (this.broken !== undefined) throw new BerthError('ERUNTIME', this.broken);
    let child: ChildProcess | undefined;
    let failure: unknown;
    const start = (): void => {
      try {
        child = spawn(req.file, req.args, { stdio: req.fds, env: req.env, detached: true, cwd: '/' });
      } catch (err) {
        failure = err;
      }
    };
    if (req.newPidNamespace || req.joinPidNamespace !== undefined) {
      const home = this.homeFd();
      if (req.joinPidNamespace !== undefined) this.sys.setns(req.joinPidNamespace, CLONE_NEWPID);
      else this.sys.unshare(CLONE_NEWPID);
      start();
      try {
        this.sys.setns(home, CLONE_NEWPID);
      } catch (err) {
        // This thread's children would now all be born in a container's pid namespace.
        this.broken = `spawn: cannot return to the runtime's pid namespace (${(err as Error).message}); restart berth`;
        (child as ChildProcess | undefined)?.kill('SIGKILL');
        throw new BerthError('ERUNTIME', this.broken, { cause: err });
      }
    } else {
      start();
    }
    const what = `spawn ${req.file}`;
    if (failure !== undefined || child === undefined) throw BerthError.wrap(what, failure, 'ERUNTIME');
    const c = child;
    if (c.pid === undefined) {
      // libuv reports a failed exec (ENOENT, EACCES…) as an 'error' event.
      const err = await new Promise<Error>((resolve) => c.once('error', resolve));
      throw new BerthError('ERUNTIME', `${what}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err });
    }
    c.on('error', () => {});
    this.running++;
    const exited = new Promise<ChildExit>((resolve) =>
      c.once('exit', (code, signal) => {
        this.running--;
        resolve({ code, signal });
      }),
    );
    if (opts.keepAlive === false) c.unref();
    return {
      pid: c.pid,
      exited,
      keepAlive: (on: boolean) => {
        if (on) c.ref();
        else c.unref();
      },
    };
  }

  /** Number of children still running. */
  get active(): number {
    return this.running;
  }
}

let shared: Spawner | undefined;

/** The process-wide spawner. */
export function sharedSpawner(): Spawner {
  shared ??= new Spawner();
  return shared;
}
