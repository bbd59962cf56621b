import { Socket } from 'node:net';
import { BerthError, describeError } from '@berth/oci';
import type { InitMessage } from '../init/config.js';
import { O_CLOEXEC, SIGNALS } from '../sys/syscalls.js';
import type { Syscalls } from '../sys/syscalls.js';
import type { ChildExit, Spawner } from './spawner.js';

export interface InitLaunchOptions {
  sys: Syscalls;
  spawner: Spawner;
  /** The bundled init script (dist/init/main.cjs). */
  initScript: string;
  /** The InitConfig JSON file. */
  configPath: string;
  /** CLONE_NEW* flags for the child (the cgroup namespace is made by the init itself, after the cgroup join). */
  flags: number;
  /** The child's fds 0-2 (O_CLOEXEC here; the caller closes its copies afterwards). */
  stdio: [number, number, number];
  /** Runs with the init's pid before the init may start its setup: join the cgroup here. */
  beforeSetup?: (pid: number) => void | Promise<void>;
  /** Receives the pty master (an fd of this process, O_CLOEXEC) before the init continues. */
  onPty?: (masterFd: number) => void;
  /** Extra environment for the init (BERTH_DEBUG_TIMING...). Nothing is inherited: NODE_OPTIONS could inject code. */
  env?: Record<string, string>;
  /** Node options placed before the script (start-up tuning). */
  argsPrefix?: string[];
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

  constructor(fd: number) {
    this.socket = new Socket({ fd, readable: true, writable: false });
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
    const end = (): void => this.push(null);
    this.socket.once('end', end);
    this.socket.once('error', end);
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

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Starts the init child and drives its protocol:
 *
 * 1. pipes: report (init → runtime, fd 3 in the child) and sync (runtime → init, fd 4);
 * 2. the namespace worker spawns the init in new namespaces;
 * 3. `beforeSetup(pid)` (cgroup join), then one byte on the sync pipe: go;
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
  const { sys } = opts;
  const marks: Array<[string, number]> = [['launch', now()]];
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
  const reader = new ReportReader(reportR);
  let child;
  try {
    child = await opts.spawner.spawn({
      flags: opts.flags,
      file: process.execPath,
      args: [...(opts.argsPrefix ?? []), opts.initScript, opts.configPath],
      env: opts.env ?? {},
      fds: [...opts.stdio, reportW, syncR],
    });
  } catch (err) {
    reader.close();
    sys.close(syncW);
    throw BerthError.wrap('start container init', err);
  } finally {
    // The child has its own copies now (or never will).
    sys.close(reportW);
    sys.close(syncR);
  }
  marks.push(['spawned', now()]);
  const { pid, exited } = child;

  const abort = async (err: unknown, exitCode = 125): Promise<never> => {
    try {
      sys.kill(pid, SIGNALS['SIGKILL'] as number);
    } catch {
      // Already gone.
    }
    reader.close();
    try {
      sys.close(syncW);
    } catch {
      // Closed already.
    }
    await exited.catch(() => undefined);
    if (err instanceof BerthError) {
      if (err.details['exitCode'] === undefined) err.details['exitCode'] = exitCode;
      throw err;
    }
    throw new BerthError('ERUNTIME', `start container: ${describeError(err)}`, { cause: err, details: { exitCode } });
  };

  try {
    await opts.beforeSetup?.(pid);
    sys.write(syncW, 'g');
  } catch (err) {
    return abort(err);
  }

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
    } else if (m.type === 'exec') {
      execReported = true;
      for (const mark of m.marks) marks.push(mark);
    } else if (m.type === 'error') {
      failure = m;
    }
  }
  reader.close();
  try {
    sys.close(syncW);
  } catch {
    // Closed already.
  }
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
