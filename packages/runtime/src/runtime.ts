import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { BerthError } from '@berth/oci';
import { attachHostStreams, attachHostTerminal, prepareStdio } from './launch/stdio.js';
import { discardParked, parkInit } from './launch/init-process.js';
import { formatTiming, takeProcessMarks } from './launch/timing.js';
import { requireRoot, runtimeContext } from './lifecycle/context.js';
import type { RuntimeContext, RuntimeOptions } from './lifecycle/context.js';
import { createContainer, prepareContainer } from './lifecycle/create.js';
import type { CreateRequest, PrepareRequest } from './lifecycle/create.js';
import { deleteContainer } from './lifecycle/delete.js';
import { killContainer, signalNumber, stopContainer } from './lifecycle/kill.js';
import { FORWARDED_SIGNALS } from './lifecycle/signal.js';
import { listContainers } from './lifecycle/list.js';
import { readLogs } from './lifecycle/logs.js';
import { RAW_LOG_FILE, RawLogWriter } from './lifecycle/raw-log.js';
import { hasRestartPolicy, refuseAttachedStart } from './lifecycle/restart-policy.js';
import type { RestartPolicy } from './lifecycle/restart-policy.js';
import type { LogDriver } from './lifecycle/state.js';
import { pauseContainer, resumeContainer, runningWithCgroup, thawForKill } from './lifecycle/pause.js';
import { updateContainer } from './lifecycle/update.js';
import { containerStats } from './lifecycle/stats.js';
import type { ContainerStats } from './lifecycle/stats.js';
import type { LimitChange } from './cgroups/types.js';
import { renameContainer } from './lifecycle/rename.js';
import { readyToStart } from './lifecycle/reset.js';
import { execAttached } from './lifecycle/exec.js';
import { attachContainer } from './lifecycle/attach.js';
import type { AttachOptions, AttachResult } from './lifecycle/attach.js';
import type { ExecRequest } from './lifecycle/exec.js';
import type { EarlyExec } from './lifecycle/exec-early.js';
import type { LogsOptions } from './lifecycle/logs.js';
import { DEFAULT_NAMESPACE_FLAGS, startContainer } from './lifecycle/start.js';
import type { ContainerIo, ExitInfo } from './lifecycle/start.js';
import { StateStore, describe, processStartTime } from './lifecycle/state.js';
import { pruneContainers, sweepContainers } from './lifecycle/sweep.js';
import type { PruneResult, SweepOptions, SweepResult } from './lifecycle/sweep.js';
import type { ContainerInfo, ContainerState } from './lifecycle/state.js';
import { waitContainer } from './lifecycle/wait.js';
import { bundledScript } from './lifecycle/host.js';
import type { ContainerSpec } from './spec/types.js';
import type { Syscalls } from '@berth/sys';

export type { RuntimeOptions } from './lifecycle/context.js';
export { runtimeContext } from './lifecycle/context.js';

export interface RunOptions {
  /** 64 hex characters (default: random). Pass it when the spec was built for it (hostname). */
  id?: string;
  /** Unique name (default: `berth-<short id>`). */
  name?: string;
  /** The prepared root filesystem (a per-container copy). */
  rootfs: string;
  /** From buildSpec(). */
  spec: ContainerSpec;
  /**
   * The container's fds 0-2 are always pipes (or its own pty with `tty`), never
   * this process's. inherit: run() relays them to and from this process's stdio;
   * pipe: run() collects the output; launch() hands the streams over either way;
   * detached: start() only (the shim logs them).
   */
  stdio: 'inherit' | 'pipe' | 'detached';
  /** `-t`: a pseudo-terminal inside the container. */
  tty?: boolean;
  /**
   * `-i`: the container's stdin is a pipe (inherit: fed from this process's stdin; detached: held
   * open by its shim for `attach`); otherwise /dev/null. Recorded as `openStdin`.
   */
  interactive?: boolean;
  /**
   * `json-file` (default): the output is kept for `logs`, as docker keeps every container's (a
   * detached container's shim writes json-file lines; a foreground container's relay writes
   * its raw output in frames, encoded when read: lifecycle/raw-log.ts). `none`: nothing is kept.
   */
  logDriver?: LogDriver;
  /**
   * `--restart` (start() only: the shim of a detached container restarts it; run() and
   * launch() refuse a policy other than `no`).
   */
  restartPolicy?: RestartPolicy;
  /** `--init`: tini as PID 1 (forwards signals, reaps zombies). */
  init?: boolean;
  /** `--rm`: delete the container when it stops. */
  remove?: boolean;
  /** State root for this container (default: the runtime's). */
  stateDir?: string;
  image?: { reference: string; digest: string };
  /** Called once the container's process runs. */
  onStart?: (c: ContainerInfo) => void;
  /** The rootfs is a per-container copy: `remove` deletes it too (default false). */
  ownsRootfs?: boolean;
  /** Forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2, SIGWINCH… of this process to PID 1 (default: true for inherit). */
  forwardSignals?: boolean;
}

export interface RunResult {
  id: string;
  /** The process's exit code, or 128+N when killed by signal N. */
  exitCode: number;
  signal?: string;
  /** The OOM killer killed the main process (PID 1). */
  oomKilled: boolean;
  /** How many of the container's processes the OOM killer killed: the main one or others. */
  oomKills: number;
  /** pipe mode: everything the container wrote (run() collects it). */
  stdout?: Buffer;
  stderr?: Buffer;
}

/** A foreground container started by launch(). */
export interface ContainerProcess extends ContainerIo {
  /** Resolves once the container stopped and its output ended (and it was removed, with `remove`). */
  wait(): Promise<RunResult>;
  kill(signal?: string | number): void;
}

/**
 * Forwards this process's signals to a container's PID 1. Installed before the
 * container starts; signals that arrive before its pid is known are held and
 * delivered by attach().
 */
class SignalForwarder {
  private pid: number | undefined;
  private readonly held: NodeJS.Signals[] = [];
  private readonly handlers = new Map<NodeJS.Signals, () => void>();

  constructor(tty: boolean) {
    for (const sig of FORWARDED_SIGNALS) {
      // With a terminal, the window size follows the host terminal instead.
      if (sig === 'SIGWINCH' && tty) continue;
      const h = (): void => this.deliver(sig);
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
  }

  private deliver(sig: NodeJS.Signals): void {
    if (this.pid === undefined) {
      this.held.push(sig);
      return;
    }
    try {
      process.kill(this.pid, sig);
    } catch {
      // PID 1 is gone; the exit is on its way.
    }
  }

  attach(pid: number): void {
    this.pid = pid;
    for (const sig of this.held.splice(0)) this.deliver(sig);
  }

  dispose(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers.clear();
  }
}



const now = (): number => performance.timeOrigin + performance.now();

/** What createContainer needs from run/launch/start options. */
function createOptions(opts: RunOptions, how: { detached: boolean }): CreateRequest {
  return {
    ...(opts.id === undefined ? {} : { id: opts.id }),
    ...(opts.name === undefined ? {} : { name: opts.name }),
    ...(opts.image === undefined ? {} : { image: opts.image }),
    rootfs: opts.rootfs,
    spec: opts.spec,
    tty: opts.tty === true,
    init: opts.init === true,
    autoRemove: opts.remove === true,
    detached: how.detached,
    ownsRootfs: opts.ownsRootfs === true,
    ...(opts.interactive === true ? { openStdin: true } : {}),
    ...(opts.logDriver === undefined ? {} : { logDriver: opts.logDriver }),
    ...(opts.restartPolicy === undefined ? {} : { restartPolicy: opts.restartPolicy }),
  };
}

/**
 * The container runtime: runs containers in the foreground (run/launch) or
 * detached (start, monitored by a small shim process), and lists, inspects,
 * signals, stops, removes them and reads their logs. All state is in files
 * under the state root, so any berth process can manage any container.
 */
export class Runtime {
  private readonly ctx: RuntimeContext;

  constructor(opts: RuntimeOptions = {}) {
    this.ctx = runtimeContext(opts);
  }

  private context(stateDir?: string): RuntimeContext {
    if (stateDir === undefined || stateDir === this.ctx.store.root) return this.ctx;
    return { ...this.ctx, store: new StateStore(stateDir) };
  }

  /**
   * Gets ready for a container while the caller prepares its rootfs: starts the
   * namespace worker (resolves once it is ready) and, as root and unless `init` is
   * false, parks an init child for the next foreground container (run or launch,
   * any stdio: it is spawned with pipes of its own, which that container's start
   * takes), so that the init's Node start-up overlaps the caller's work instead of
   * following it. The parked init does not keep this process alive and dies with
   * it; a start it does not fit discards it and gets a fresh one.
   */
  warm(opts: { init?: boolean } = {}): Promise<void> {
    const ready = this.ctx.spawner.warm();
    if (opts.init !== false && (typeof process.getuid !== 'function' || process.getuid() === 0)) {
      try {
        const sys = this.ctx.sys;
        parkInit({ sys, spawner: this.ctx.spawner, initScript: bundledScript('init/main.cjs'), flags: DEFAULT_NAMESPACE_FLAGS, stdio: () => prepareStdio(sys) });
      } catch {
        // Not built, or no pipes left: the launch spawns (and reports) as usual.
      }
    }
    return ready;
  }

  /**
   * Runs a container in the foreground and resolves with its exit status.
   * stdio 'inherit': the container's pipes are relayed to and from this
   * process's stdio (attachHostStreams: stdout and stderr apart, stdin only
   * with `interactive`), all output written on before run() resolves; with
   * `tty`, its pty is attached to this process's terminal (raw mode, resized
   * with it). Signals to this process are forwarded to PID 1. stdio 'pipe':
   * output is collected into the result. A container that cannot start rejects with a BerthError
   * whose details.exitCode is 125 (setup), 126 (cannot execute) or 127 (not found).
   */
  async run(opts: RunOptions): Promise<RunResult> {
    if (opts.stdio === 'detached') {
      throw new BerthError('EINVAL_ARGUMENT', 'run container: stdio "detached" is for start(); run() waits for the container');
    }
    return this.attachAndWait(opts, () => this.launch(opts));
  }

  /** run()'s relay and wait around a launch (a new container's, or a created one's: runCreated). */
  private async attachAndWait(
    opts: Pick<RunOptions, 'stdio' | 'tty' | 'interactive' | 'forwardSignals' | 'logDriver' | 'stateDir'>,
    launch: () => Promise<ContainerProcess>,
  ): Promise<RunResult> {
    // Forwarding is set up before the container exists: a signal that arrives while it starts
    // is held and delivered to PID 1 as soon as there is one.
    const forwarder = (opts.forwardSignals ?? opts.stdio === 'inherit') ? new SignalForwarder(opts.tty === true) : undefined;
    let proc: ContainerProcess;
    try {
      proc = await launch();
    } catch (err) {
      forwarder?.dispose();
      throw err;
    }
    forwarder?.attach(proc.pid);
    const collected: { stdout: Buffer[]; stderr: Buffer[] } = { stdout: [], stderr: [] };
    let detachHost: (() => void) | undefined;
    let flushed: Promise<void> | undefined;
    // docker keeps every container's output, not only a detached one's: `logs` of a foreground container.
    const log = opts.logDriver === 'none' ? undefined : openLog(this.context(opts.stateDir).store.file(proc.id, RAW_LOG_FILE));
    if (opts.stdio === 'inherit' && proc.pty === null) {
      const relay = attachHostStreams(proc, { interactive: opts.interactive === true, ...(log ? { log } : {}) });
      flushed = relay.flushed;
      detachHost = relay.detach;
    } else if (opts.stdio === 'inherit' && proc.pty !== null) {
      const pty = proc.pty;
      // A terminal has one output, logged as stdout (docker's too, carriage returns and all).
      if (log) pty.output.on('data', (c: Buffer) => log.write('stdout', c));
      // SIGHUP: the host terminal is gone; attachHostTerminal hangs the container's up as well.
      detachHost = attachHostTerminal(pty, opts.interactive === true);
    } else if (opts.stdio === 'pipe') {
      proc.stdout?.on('data', (c: Buffer) => {
        collected.stdout.push(c);
        log?.write('stdout', c);
      });
      proc.stderr?.on('data', (c: Buffer) => {
        collected.stderr.push(c);
        log?.write('stderr', c);
      });
      proc.stdin?.end();
    }
    try {
      const result = await proc.wait();
      await flushed;
      if (opts.stdio === 'pipe') {
        result.stdout = Buffer.concat(collected.stdout);
        result.stderr = Buffer.concat(collected.stderr);
      }
      return result;
    } finally {
      forwarder?.dispose();
      detachHost?.();
      // Every frame on disk before run() resolves: `berth logs` right after sees all of it.
      await log?.close();
    }
  }

  /**
   * Starts a container in the foreground and returns a handle: its pid, its
   * streams (pipes, whatever `stdio` says; run() is what relays 'inherit'), its
   * terminal (tty), wait() and kill(). The caller must consume stdout/stderr:
   * a container whose pipe is full waits for it.
   */
  async launch(opts: RunOptions): Promise<ContainerProcess> {
    if (opts.stdio === 'detached') throw new BerthError('EINVAL_ARGUMENT', 'launch container: use start() for detached containers');
    requireRoot('run container');
    if (hasRestartPolicy(opts.restartPolicy)) {
      throw new BerthError('EINVAL_ARGUMENT', `run container: restart policy ${opts.restartPolicy.Name} needs a detached container (its shim restarts it)`);
    }
    const ctx = this.context(opts.stateDir);
    const marks: Array<[string, number]> = [['run', now()]];
    // The namespace worker boots (tens of ms) while the container is being created.
    ctx.spawner.warm().catch(() => undefined);
    const state = createContainer(ctx, createOptions(opts, { detached: false }));
    marks.push(['created', now()]);
    return this.launchCreated(ctx, state.id, { interactive: opts.interactive === true, remove: opts.remove === true, marks, ...(opts.onStart ? { onStart: opts.onStart } : {}) });
  }

  /** Starts a created container in this process (launch(), `start -a`): its handle. */
  private async launchCreated(
    ctx: RuntimeContext,
    id: string,
    opts: { interactive: boolean; remove: boolean; marks: Array<[string, number]>; onStart?: (c: ContainerInfo) => void },
  ): Promise<ContainerProcess> {
    const marks = opts.marks;
    let started;
    try {
      const out = process.stdout;
      started = await startContainer(ctx, id, {
        interactive: opts.interactive === true,
        ...(out.isTTY ? { size: { columns: out.columns, rows: out.rows } } : {}),
      });
    } catch (err) {
      if (opts.remove) await deleteContainer(ctx, id, { force: true }).catch(() => undefined);
      throw err;
    }
    for (const m of started.marks) marks.push(m);
    marks.push(['running', now()]);
    opts.onStart?.(this.inspectSync(ctx, id));

    const streamsEnded = Promise.all(
      [started.stdout, started.stderr].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s === null || s.readableEnded || s.destroyed) return resolve();
            s.once('end', resolve);
            s.once('close', resolve);
            s.once('error', () => resolve());
          }),
      ),
    );
    let waited: Promise<RunResult> | undefined;
    const wait = (): Promise<RunResult> => {
      waited ??= (async () => {
        let exit: ExitInfo;
        try {
          exit = await started.exited;
          marks.push(['exited', now()]);
          await streamsEnded;
        } finally {
          started.pty?.close();
        }
        if (opts.remove) await deleteContainer(ctx, id, { force: true, marks });
        marks.push(['cleaned-up', now()]);
        if (ctx.timing) process.stderr.write(formatTiming([...takeProcessMarks(), ...marks]));
        const r: RunResult = { id, exitCode: exit.exitCode, oomKilled: exit.oomKilled, oomKills: exit.oomKills };
        if (exit.signal !== undefined) r.signal = exit.signal;
        return r;
      })();
      return waited;
    };
    return {
      id,
      pid: started.pid,
      stdin: started.stdin,
      stdout: started.stdout,
      stderr: started.stderr,
      pty: started.pty,
      wait,
      kill: (signal: string | number = 'SIGKILL') => process.kill(started.pid, signalNumber(signal)),
    };
  }

  /**
   * Starts a detached container (`run -d`): a shim process (dist/shim/main.js,
   * in its own session) owns it, writes its output to a json-lines log in the
   * state directory and records its exit. Resolves once the container's
   * process runs; the caller may exit.
   */
  async start(opts: RunOptions): Promise<ContainerInfo> {
    requireRoot('start container');
    const ctx = this.context(opts.stateDir);
    // The shim spawns the container's init: one parked by warm() here would not be used.
    discardParked(ctx.spawner);
    const state = createContainer(ctx, createOptions(opts, { detached: true }));
    return this.spawnShim(ctx, state.id, opts.onStart);
  }

  /** Hands a created container to a new shim (`run -d`, `start`); resolves once its process runs. */
  private async spawnShim(ctx: RuntimeContext, id: string, onStart?: (c: ContainerInfo) => void): Promise<ContainerInfo> {
    const shimLog = fs.openSync(ctx.store.file(id, 'shim.log'), 'a', 0o640);
    const env: Record<string, string> = {};
    for (const k of ['PATH', 'BERTH_DEBUG_TIMING', 'BERTH_INIT_BINARY']) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    let child;
    try {
      child = spawn(process.execPath, [bundledScript('shim/main.js'), ctx.store.root, id], {
        detached: true,
        stdio: ['ignore', shimLog, shimLog, 'pipe'],
        env,
        cwd: '/',
      });
    } finally {
      fs.closeSync(shimLog);
    }
    // The shim owns the container from now on: if this process is killed while the shim
    // starts it, the container is not dead (a sweep would remove it under the shim).
    const shimPid = child.pid;
    if (shimPid !== undefined) {
      ctx.store.update(id, (s) => {
        s.monitorPid = shimPid;
        const st = processStartTime(shimPid);
        if (st === undefined) delete s.monitorStartTime;
        else s.monitorStartTime = st;
      });
    }
    const ready = child.stdio[3] as Readable;
    const line = await new Promise<string>((resolve) => {
      let buf = '';
      ready.setEncoding('utf8');
      ready.on('data', (c: string) => {
        buf += c;
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(buf.slice(0, nl));
      });
      ready.once('end', () => resolve(buf));
      ready.once('error', () => resolve(buf));
      child.once('error', (err) => resolve(JSON.stringify({ ok: false, error: { code: 'ERUNTIME', message: `start shim: ${err.message}` } })));
    });
    ready.destroy();
    child.unref();
    let msg: { ok: boolean; info?: ContainerInfo; error?: { code: string; message: string; details?: Record<string, unknown> } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      msg = { ok: false, error: { code: 'ERUNTIME', message: `start container ${id.slice(0, 12)}: the shim exited without a word (see ${ctx.store.file(id, 'shim.log')})` } };
    }
    if (!msg.ok) {
      const e = msg.error ?? { code: 'ERUNTIME', message: 'start container: failed' };
      throw new BerthError(e.code as BerthError['code'], e.message, { details: { exitCode: 125, ...(e.details ?? {}) } });
    }
    let info: ContainerInfo;
    try {
      info = this.inspectSync(ctx, id);
    } catch (err) {
      // --rm: a container that exited at once may be removed already; the shim said how it started.
      if (!(err instanceof BerthError && err.code === 'ECONTAINER_UNKNOWN') || msg.info === undefined) throw err;
      info = msg.info;
    }
    onStart?.(info);
    return info;
  }

  /**
   * `create`: records a container (rootfs, config, etc files, name) without starting it. It
   * has no monitor until it starts: it waits for `startCreated`/`runCreated`, and no sweep
   * removes it, as docker's created containers stay until started or removed.
   */
  create(opts: RunOptions): ContainerInfo {
    requireRoot('create container');
    const ctx = this.context(opts.stateDir);
    const state = createContainer(ctx, createOptions(opts, { detached: true }));
    const s = ctx.store.update(state.id, (c) => {
      delete c.monitorPid;
      delete c.monitorStartTime;
    });
    return describe(s ?? state);
  }

  /**
   * `start`: a created container (or a stopped one, which starts again with the same id,
   * rootfs and config: docker's `start`/`restart`), detached under a shim. A running container
   * is left as it is. `etc` rewrites the container's hosts and resolv.conf first (the CLI's
   * network is attached again for a stopped container).
   */
  async startCreated(idOrName: string, opts: { etc?: { hosts: string; resolvConf: string } } = {}): Promise<ContainerInfo> {
    requireRoot('start container');
    const ctx = this.ctx;
    const id = ctx.store.resolve(idOrName);
    discardParked(ctx.spawner);
    if (!(await readyToStart(ctx, id, opts.etc))) return this.inspectSync(ctx, id);
    return this.spawnShim(ctx, id);
  }

  /**
   * `start -a`: a created (or stopped) container run in the foreground of this process, as
   * run() does (stdio inherit, signals forwarded, `--rm` honoured). `interactive` (`start -i`)
   * connects this process's stdin only when the container was created with `-i` (docker's
   * OpenStdin); otherwise its stdin is /dev/null. Resolves with the exit status the
   * container's state records.
   */
  async runCreated(idOrName: string, opts: { interactive?: boolean; etc?: { hosts: string; resolvConf: string } } = {}): Promise<RunResult> {
    requireRoot('start container');
    const ctx = this.ctx;
    const id = ctx.store.resolve(idOrName);
    refuseAttachedStart(idOrName, ctx.store.read(id)?.restartPolicy);
    ctx.spawner.warm().catch(() => undefined);
    if (!(await readyToStart(ctx, id, opts.etc))) throw new BerthError('ECONTAINER_STATE', `start container ${id.slice(0, 12)}: it is already running`, { details: { exitCode: 125 } });
    const state = ctx.store.read(id) as ContainerState;
    const interactive = opts.interactive === true && state.openStdin === true;
    const logDriver = state.logDriver;
    const result = await this.attachAndWait({ stdio: 'inherit', tty: state.tty, interactive, ...(logDriver === undefined ? {} : { logDriver }) }, () =>
      this.launchCreated(ctx, id, { interactive, remove: state.autoRemove, marks: [['run', now()]] }),
    );
    return result;
  }

  /**
   * `attach`: this process's stdio on a running detached container (its shim's attach socket):
   * output from now on, stdin when it was created with `-i` (not with `stdin: false`), its
   * terminal with `-t` (detach keys), signals to PID 1 without a tty (`sigProxy`). Resolves
   * with its exit status once it stops, or `detached`.
   */
  async attach(idOrName: string, opts: AttachOptions = {}): Promise<AttachResult> {
    return attachContainer(this.ctx, this.ctx.store.resolve(idOrName), opts);
  }

  /**
   * `exec`: a process in a running container (its namespaces, cgroup, capabilities, seccomp
   * filter, user, environment, cwd: execInContainer) with this process's stdio (execAttached).
   * `early`: the child startExecEarly (@berth/runtime/exec) spawned, driven when it fits, else killed.
   */
  async exec(idOrName: string, req: ExecRequest, opts: { early?: EarlyExec } = {}): Promise<{ exitCode: number; pid: number }> {
    try {
      requireRoot('exec in container');
    } catch (err) {
      opts.early?.discard();
      throw err;
    }
    return execAttached(this.ctx, idOrName, req, opts.early);
  }

  private inspectSync(ctx: RuntimeContext, idOrName: string): ContainerInfo {
    const id = ctx.store.resolve(idOrName);
    const s = ctx.store.read(id);
    if (s === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `inspect container ${idOrName}: no such container`);
    return describe(s);
  }

  /**
   * Records a container before its rootfs exists (prepareContainer): the name is reserved
   * (a bad or taken name fails here) and state.json names the rootfs, `--rm` and this
   * process as its owner, so a kill while the caller copies the rootfs leaves a container
   * that the next sweep() removes. Pass the same `id` and `rootfs` to run()/start().
   */
  prepare(opts: PrepareRequest): ContainerInfo {
    requireRoot('create container');
    return describe(prepareContainer(this.ctx, opts));
  }

  /**
   * Removes what killed berth processes left behind (sweepContainers): dead `--rm`
   * containers and never-started ones completely, half-written state directories, and with
   * `containersDir` rootfs copies no container names. Never touches a live container.
   * Resolves with what it removed and the containers left.
   */
  async sweep(opts: SweepOptions = {}): Promise<SweepResult> {
    requireRoot('sweep containers');
    return sweepContainers(this.ctx, opts);
  }

  /** `container prune`: removes every stopped container (`until`: created before it); resolves with their ids and the bytes their rootfs copies held. */
  async prune(opts: { until?: Date } = {}): Promise<PruneResult> {
    requireRoot('prune containers');
    return pruneContainers(this.ctx, opts);
  }

  /** Every container of the state root, oldest first, with its live status. */
  async list(): Promise<ContainerInfo[]> {
    return listContainers(this.ctx);
  }

  async inspect(idOrName: string): Promise<ContainerInfo> {
    return this.inspectSync(this.ctx, idOrName);
  }

  /** Sends a signal (default SIGKILL) to the container's PID 1. */
  async kill(idOrName: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const id = this.ctx.store.resolve(idOrName);
    killContainer(this.ctx, id, signal);
    await thawForKill(this.ctx, id, signalNumber(signal));
  }

  /** `pause`: freezes the container's processes (cgroup freezer, v1 or v2); ps shows "Up … (Paused)". */
  async pause(idOrName: string): Promise<ContainerInfo> {
    requireRoot('pause container');
    return pauseContainer(this.ctx, this.ctx.store.resolve(idOrName));
  }

  /** `update`: new limits (memory, memorySwap, cpus, pidsLimit: those given) for a running container's cgroup. */
  async update(idOrName: string, change: LimitChange): Promise<ContainerInfo> {
    requireRoot('update container');
    return updateContainer(this.ctx, this.ctx.store.resolve(idOrName), change);
  }

  /** `stats`: one sample of a running container's CPU time, memory, network, block I/O and pids. */
  async stats(idOrName: string): Promise<ContainerStats> {
    requireRoot('read container stats');
    return containerStats(this.ctx, this.ctx.store.resolve(idOrName));
  }

  /** `top`: the host pids of the container's processes (its cgroup's members). */
  async pids(idOrName: string): Promise<number[]> {
    requireRoot('list container processes');
    const id = this.ctx.store.resolve(idOrName);
    runningWithCgroup(this.ctx, id, 'list processes of');
    return (await this.ctx.cgroups.open(id)).pids();
  }

  /** `rename`: a new unique name (any state). */
  async rename(idOrName: string, newName: string): Promise<ContainerInfo> {
    return renameContainer(this.ctx, this.ctx.store.resolve(idOrName), newName);
  }

  /** `unpause`: thaws what pause froze. */
  async resume(idOrName: string): Promise<ContainerInfo> {
    requireRoot('unpause container');
    return resumeContainer(this.ctx, this.ctx.store.resolve(idOrName));
  }

  /** The stop signal, then SIGKILL after `timeoutSec` (default 10). */
  async stop(idOrName: string, opts: { timeoutSec?: number } = {}): Promise<ContainerInfo> {
    return stopContainer(this.ctx, this.ctx.store.resolve(idOrName), opts);
  }

  /** Deletes a stopped container (`force`: kills a running one first). */
  async remove(idOrName: string, opts: { force?: boolean } = {}): Promise<void> {
    requireRoot('remove container');
    await deleteContainer(this.ctx, this.ctx.store.resolve(idOrName), opts);
  }

  /** Resolves with the final state once the container has stopped. */
  async wait(idOrName: string): Promise<ContainerInfo> {
    return (await waitContainer(this.ctx, this.ctx.store.resolve(idOrName), {})) as ContainerInfo;
  }

  /**
   * A container's log (detached or foreground) as an object-mode stream of LogEntry
   * ({log, stream, time}): docker's `logs` with `follow`, `tail`, `since`, `until`.
   */
  logs(idOrName: string, opts: LogsOptions = {}): Readable {
    return readLogs(this.ctx, this.ctx.store.resolve(idOrName), opts);
  }
}

/** The container's log for run(); undefined when it cannot be opened (the output is still relayed). */
function openLog(file: string): RawLogWriter | undefined {
  try {
    return new RawLogWriter(file);
  } catch {
    return undefined;
  }
}
