import type { Readable, Writable } from 'node:stream';
import { BerthError } from '@berth/oci';
import { exitStatus, launchInit, takeParkedStdio } from '../launch/init-process.js';
import { PtyConnection, closeChildSide, fitStdio, openStreams, prepareStdio, releaseStdio } from '../launch/stdio.js';
import type { NamespaceKind } from '../spec/types.js';
import { CLONE_NEWCGROUP, CLONE_NEWPID } from '@berth/sys';
import { namespaceFlags } from '../spec/namespaces.js';
import type { ContainerCgroup, RuntimeContext } from './context.js';
import { bundledScript } from './host.js';
import { canStart, processStartTime, readInitConfig } from './state.js';
import type { ContainerState } from './state.js';

/** The container's fds 0-2 are always pipes made by this process (or, with a tty, its own pty): never this process's fds. */
export interface StartIO {
  /** Keep stdin open (`-i`): a pipe; otherwise the container's stdin is /dev/null. */
  interactive: boolean;
  /** Initial terminal size (tty only; default 80x24). */
  size?: { columns: number; rows: number };
  /** A restart by the container's restart policy: it may start while `restarting` (not only `created`). */
  restart?: boolean;
  /**
   * Called inside the state update that records PID 1's exit, after the exit's fields are set:
   * the restart policy's monitor turns `stopped` into `restarting` there, so that no reader
   * ever sees the container stopped between two runs.
   */
  onExit?: (s: ContainerState, info: ExitInfo) => void;
}

export interface ExitInfo {
  /** The process's exit code, or 128+N when killed by signal N. */
  exitCode: number;
  signal?: string;
  /** The OOM killer killed the container's main process (see mainProcessOomKilled). */
  oomKilled: boolean;
  /** How many processes of the container the OOM killer killed, the main one or others. */
  oomKills: number;
}

/**
 * Was the container's main process the OOM killer's victim? The cgroup only
 * counts kills, not whom: the main process died of SIGKILL (exit status 137,
 * which is also what --init's tini reports for a SIGKILLed child) while the
 * count is above zero. A shell whose pipeline child was OOM-killed and that
 * exits 0 was not killed.
 */
export function mainProcessOomKilled(exitCode: number, oomKills: number): boolean {
  return oomKills > 0 && exitCode === 128 + 9;
}

/** A started container's id, PID 1 and I/O: what startContainer() returns and Runtime.launch() hands on. */
export interface ContainerIo {
  id: string;
  /** Host pid of the container's PID 1. */
  pid: number;
  /** The container's stdin: a pipe only with `interactive`; with a tty, the terminal's input. Else null. */
  stdin: Writable | null;
  /** The container's stdout (a pipe); with a tty, the terminal's output (all the container writes). */
  stdout: Readable | null;
  /** The container's stderr (a pipe) without a tty. Else null. */
  stderr: Readable | null;
  /** With a tty: the terminal (resize, raw streams). */
  pty: PtyConnection | null;
}

export interface StartedContainer extends ContainerIo {
  /** Resolves when PID 1 has exited and the state says `stopped`. */
  exited: Promise<ExitInfo>;
  /** Epoch-ms phase marks (launch → exec), for BERTH_DEBUG_TIMING. */
  marks: Array<[string, number]>;
}

/** What an init parked by Runtime.warm() is spawned with: a new pid namespace (it unshares the others itself). */
export const DEFAULT_NAMESPACE_FLAGS = CLONE_NEWPID;

/**
 * `start`: runs a created container. Creates its cgroup, spawns the init in
 * new namespaces (through the namespace worker), puts it in the cgroup before
 * it sets anything up, waits until the container's process has been exec'd,
 * and records `running` (pid and its start time, and this process as the
 * monitor). On failure the state records `stopped` with the error and the
 * exit status (125/126/127) and the error is rethrown.
 */
export async function startContainer(ctx: RuntimeContext, id: string, io: StartIO): Promise<StartedContainer> {
  const { store, sys } = ctx;
  const state = store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `start container ${id.slice(0, 12)}: no such container`);
  if (!canStart(state) && !(io.restart === true && state.restarting === true)) {
    throw new BerthError('ECONTAINER_STATE', `start container ${id.slice(0, 12)}: container is ${state.status}`, {
      details: { status: state.status },
    });
  }
  const cfg = readInitConfig(ctx, id);
  const spec = cfg.spec;
  const flags = namespaceFlags(spec.namespaces) & ~CLONE_NEWCGROUP;

  let cgroup: ContainerCgroup | undefined;
  let pty: PtyConnection | null = null;
  // The pipes of the init parked by Runtime.warm(), if any: launchInit then takes that init.
  const fit = { interactive: io.interactive, terminal: cfg.tty };
  const parkedStdio = takeParkedStdio(ctx.spawner);
  const stdio = parkedStdio === undefined ? prepareStdio(sys, fit) : fitStdio(sys, parkedStdio, fit);
  let launched;
  try {
    // state.json says `cgroup: true` from the start (createContainer), so a start that dies
    // from here on still has its cgroup removed with the container.
    cgroup = await ctx.cgroups.create(id, spec.resources);
    const cg = cgroup;
    launched = await launchInit({
      sys,
      spawner: ctx.spawner,
      initScript: bundledScript('init/main.cjs'),
      configPath: store.file(id, 'config.json'),
      flags,
      stdio: stdio.childFds,
      stdinNull: stdio.stdinNull,
      beforeSetup: (pid) => cg.addProcess(pid),
      onPty: (master) => {
        pty = new PtyConnection(sys, master);
        pty.resize(io.size?.columns ?? 80, io.size?.rows ?? 24);
      },
    });
  } catch (err) {
    releaseStdio(sys, stdio);
    (pty as PtyConnection | null)?.close();
    const e = err instanceof BerthError ? err : BerthError.wrap(`start container ${id.slice(0, 12)}`, err);
    const exitCode = typeof e.details['exitCode'] === 'number' ? e.details['exitCode'] : 125;
    e.details['exitCode'] = exitCode;
    store.update(id, (s) => {
      s.status = 'stopped';
      delete s.restarting;
      s.exitCode = exitCode;
      s.error = e.message;
      s.finishedAt = new Date().toISOString();
    });
    throw e;
  }
  // The init has its own copies now.
  closeChildSide(sys, stdio);
  const streams = openStreams(stdio);

  const pid = launched.pid;
  const now = new Date().toISOString();
  store.update(id, (s) => {
    s.status = 'running';
    delete s.restarting;
    s.pid = pid;
    const st = processStartTime(pid);
    if (st !== undefined) s.pidStartTime = st;
    s.monitorPid = process.pid;
    const mst = processStartTime(process.pid);
    if (mst !== undefined) s.monitorStartTime = mst;
    s.startedAt = now;
  });

  const cg = cgroup as ContainerCgroup;
  const exited = launched.exited.then(async (e): Promise<ExitInfo> => {
    let oomKills = 0;
    try {
      oomKills = await cg.oomKills();
    } catch {
      // The cgroup may be gone already (rm -f raced us).
    }
    const exitCode = exitStatus(e);
    const oomKilled = mainProcessOomKilled(exitCode, oomKills);
    const info: ExitInfo = { exitCode, oomKilled, oomKills };
    if (e.signal !== null) info.signal = e.signal;
    store.update(id, (s) => {
      s.status = 'stopped';
      s.exitCode = info.exitCode;
      if (info.signal !== undefined) s.signal = info.signal;
      s.oomKilled = oomKilled;
      s.oomKills = oomKills;
      s.finishedAt = new Date().toISOString();
      delete s.pid;
      delete s.pidStartTime;
      delete s.paused;
      io.onExit?.(s, info);
    });
    return info;
  });

  const p = pty as PtyConnection | null;
  return {
    id,
    pid,
    stdin: p ? p.input : streams.stdin,
    stdout: p ? p.output : streams.stdout,
    stderr: streams.stderr,
    pty: p,
    exited,
    marks: launched.timing.marks,
  };
}
