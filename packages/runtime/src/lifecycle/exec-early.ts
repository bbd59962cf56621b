import { LibcSyscalls, O_CLOEXEC } from '@berth/sys';
import type { Syscalls } from '@berth/sys';
import { startInit } from '../launch/init-process.js';
import type { StartedInit } from '../launch/init-process.js';
import { sharedSpawner } from '../launch/spawner.js';
import { prepareStdio, releaseStdio } from '../launch/stdio.js';
import type { PreparedStdio } from '../launch/stdio.js';
import { bundledScript } from './host.js';
import { processStartTime } from './proc.js';
import { StateStore, describe, readInitConfig } from './state.js';

/**
 * An exec child spawned ahead of `berth exec`'s Runtime.exec (startExecEarly), loading while the
 * CLI loads the rest of the runtime. execInContainer takes it when it fits the container it
 * finds (same id, same init pid and start time, same terminal choice); otherwise, or on any
 * failure before, it is discarded.
 */
export interface EarlyExec {
  readonly id: string;
  readonly pid: number;
  readonly pidStartTime: number | undefined;
  /** The stdio was prepared with a terminal (`-t` without `-d`). */
  readonly terminal: boolean;
  /** Takes the child and its stdio (the caller's from now on); undefined once taken or discarded. */
  take(): { started: StartedInit; stdio: PreparedStdio } | undefined;
  /** Kills the child and closes its stdio, unless taken. Idempotent. */
  discard(): void;
}

export interface EarlyExecOptions {
  stateDir: string;
  idOrName: string;
  /** prepareStdio's terminal: `-t` without `-d`, as execInContainer decides it. */
  terminal: boolean;
  sys?: Syscalls;
}

/**
 * Spawns launchExec's child (`init/exec-main.cjs`, born in the container's pid namespace) as
 * soon as the container's pid is known, before the rest of the runtime is loaded. Undefined
 * whenever the regular path must run (and report): no such container, not running, paused, a
 * container in a user namespace (its child is started through nsenter), any error.
 */
export function startExecEarly(o: EarlyExecOptions): EarlyExec | undefined {
  let sys: Syscalls;
  let id: string;
  let pid: number;
  let pidStartTime: number | undefined;
  try {
    const store = new StateStore(o.stateDir);
    id = store.resolve(o.idOrName);
    const state = store.read(id);
    if (state === undefined) return undefined;
    const info = describe(state);
    if (info.status !== 'running' || info.pid === undefined || info.paused === true) return undefined;
    const init = readInitConfig({ store }, id);
    if (init.userNamespace === true) return undefined;
    pid = info.pid;
    pidStartTime = info.pidStartTime;
    sys = o.sys ?? new LibcSyscalls();
  } catch {
    return undefined;
  }
  let stdio: PreparedStdio | undefined;
  let pidns: number | undefined;
  let started: StartedInit;
  try {
    stdio = prepareStdio(sys, { interactive: true, terminal: o.terminal });
    pidns = sys.open(`/proc/${pid}/ns/pid`, O_CLOEXEC);
    // The fd is the container's only if the pid is still its init.
    if (processStartTime(pid) !== pidStartTime) throw new Error('stopped');
    started = startInit({ sys, spawner: sharedSpawner(), initScript: bundledScript('init/exec-main.cjs'), flags: 0, joinPidNamespace: pidns, stdio: stdio.childFds });
  } catch {
    if (stdio !== undefined) releaseStdio(sys, stdio);
    return undefined;
  } finally {
    // The spawn (setns, fork) is done by the time startInit returns.
    if (pidns !== undefined) sys.close(pidns);
  }
  let state: 'ready' | 'taken' | 'discarded' = 'ready';
  const readyStdio = stdio;
  return {
    id,
    pid,
    pidStartTime,
    terminal: o.terminal,
    take() {
      if (state !== 'ready') return undefined;
      state = 'taken';
      return { started, stdio: readyStdio };
    },
    discard() {
      if (state !== 'ready') return;
      state = 'discarded';
      started.discard();
      releaseStdio(sys, readyStdio);
    },
  };
}
