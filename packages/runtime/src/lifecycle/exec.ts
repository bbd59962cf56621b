import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '@berth/oci';
import { O_CLOEXEC, O_RDONLY } from '@berth/sys';
import type { Syscalls } from '@berth/sys';
import type { InitConfig } from '../init/config.js';
import type { ExecConfig } from '../init/exec.js';
import { exitStatus, launchInit, userNamespaceFdPath } from '../launch/init-process.js';
import { chownToNamespaceRoot, HELPER_JOINS } from '../launch/userns.js';
import type { InitLaunchOptions, LaunchedInit, StartedInit } from '../launch/init-process.js';
import type { Spawner } from '../launch/spawner.js';
import { attachHostStreams, attachHostTerminal, closeChildSide, openStreams, prepareStdio, PtyConnection, releaseStdio } from '../launch/stdio.js';
import type { StdioStreams } from '../launch/stdio.js';
import { ALL_CAPABILITIES } from '../security/capabilities.js';
import { mergeEnv } from '../spec/env.js';
import { resolveUser } from '../spec/user.js';
import type { NamespaceKind, ProcessSpec } from '../spec/types.js';
import type { RuntimeContext } from './context.js';
import type { EarlyExec } from './exec-early.js';
import { bundledScript } from './host.js';
import { describe, processStartTime, readInitConfig } from './state.js';

/**
 * The one launcher of a process in a running container (berth-runtime's `exec` and berth's
 * `exec`): an ExecConfig file next to the container's state, the child born in the
 * container's pid namespace (an fd of /proc/<pid>/ns/pid, opened and then checked to still be
 * the container's), put in its cgroup before its go; it joins the other namespaces itself
 * (init/exec.ts: unshare(CLONE_FS), then setns, synchronous, in a child made for it).
 */
export interface ExecLaunch {
  sys: Syscalls;
  spawner: Spawner;
  /** Host pid of the container's init and its start time (a reused pid is refused). */
  pid: number;
  pidStartTime: number | undefined;
  /** The container's init config (its spec, namespaces, seccomp filter). */
  init: InitConfig;
  /** The process to run (the container's spec with this replacing `process`). */
  process: ProcessSpec;
  /** No seccomp filter (`--privileged`), whatever the container has. */
  unconfined?: boolean;
  /** Where the ExecConfig file is written (removed once the child has read it). */
  dir: string;
  /** The child's fds 0-2. */
  stdio: [number, number, number];
  /** Fds the process gets as 3, 4, … (--preserve-fds). */
  extraFds?: number[];
  /** A pty from the container's devpts as the process's terminal; its master goes to onPty. */
  tty?: boolean;
  /** Puts the child in the container's cgroup (before its go). */
  addProcess: (pid: number) => void | Promise<void>;
  /** The process may outlive this one (`exec -d`): no parent-death signal. */
  detach?: boolean;
  /** Names the container in messages. */
  label: string;
  /** Receives a pty master from the child (a terminal made in the container), as launchInit's onPty. */
  onPty?: InitLaunchOptions['onPty'];
  /**
   * The child, already spawned in the container's pid namespace with `stdio` (startExecEarly):
   * driven instead of spawning one; discarded on a failure before. Not with a user namespace.
   */
  started?: StartedInit;
}

export async function launchExec(o: ExecLaunch): Promise<LaunchedInit> {
  let namespaces: NamespaceKind[] = o.init.spec.namespaces.filter((n) => n !== 'pid' && n !== 'cgroup');
  if (o.init.cgroupNamespace || (o.init.joinNamespaces ?? []).some((j) => j.type === 'cgroup')) namespaces.push('cgroup');
  // In a user namespace, the child's nsenter joins all but the mount namespace (launch/userns.ts's enterCommand).
  if (o.init.userNamespace === true) namespaces = namespaces.filter((n) => HELPER_JOINS[n] === undefined);
  const cfg: ExecConfig = {
    version: 1,
    pid: o.pid,
    namespaces,
    spec: { ...o.init.spec, process: o.process, ...(o.unconfined === true ? { seccomp: null, privileged: true } : {}) },
    seccompProgram: o.unconfined === true ? null : o.init.seccompProgram,
    ...(o.detach === true ? { detach: true } : {}),
    ...(o.tty === true ? { tty: true } : {}),
    ...(o.extraFds !== undefined && o.extraFds.length > 0 ? { preserveFds: o.extraFds.length } : {}),
  };
  const file = path.join(o.dir, `exec-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.json`);
  let started = o.started;
  try {
    fs.writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
  } catch (err) {
    started?.discard();
    throw err;
  }
  let pidns: number | undefined;
  let configFd: number | undefined;
  try {
    const extra = o.extraFds?.length ?? 0;
    // A container with a user namespace: the child enters it with nsenter, as its root, which may not reach the state directory by path.
    const userns = o.init.userNamespace === true;
    if (userns && started !== undefined) throw new BerthError('ERUNTIME', `exec in container ${o.label}: a child spawned ahead cannot enter its user namespace`);
    if (userns) {
      chownToNamespaceRoot(o.pid, [file]);
      configFd = o.sys.open(file, O_RDONLY | O_CLOEXEC);
    }
    // The started child was born in the namespace of this pid, checked then as here.
    pidns = o.sys.open(`/proc/${o.pid}/ns/pid`, O_CLOEXEC);
    // The fd is the container's only if the pid is still its init.
    if (processStartTime(o.pid) !== o.pidStartTime) throw new BerthError('ECONTAINER_STATE', `cannot exec in container ${o.label}: it stopped`, { details: { exitCode: 125 } });
    const driving = started;
    started = undefined;
    return await launchInit({
      sys: o.sys,
      spawner: o.spawner,
      initScript: bundledScript('init/exec-main.cjs'),
      configPath: configFd === undefined ? file : userNamespaceFdPath(extra, 0),
      flags: 0,
      joinPidNamespace: pidns,
      ...(configFd === undefined ? {} : { enterUserNamespace: o.pid, passFds: [configFd] }),
      stdio: o.stdio,
      ...(o.extraFds !== undefined && o.extraFds.length > 0 ? { extraFds: o.extraFds } : {}),
      beforeSetup: o.addProcess,
      ...(o.detach === true ? { detach: true } : {}),
      ...(o.onPty === undefined ? {} : { onPty: o.onPty }),
      ...(driving === undefined ? {} : { started: driving }),
    }).catch((err: unknown) => {
      if (err instanceof BerthError) throw err;
      throw BerthError.wrap(`exec in container ${o.label}`, err);
    });
  } catch (err) {
    // Not driven: it dies here (launchInit reaps the ones it drives).
    started?.discard();
    if (pidns === undefined) throw BerthError.wrap(`exec in container ${o.label}`, err, 'ECONTAINER_STATE');
    throw err;
  } finally {
    if (pidns !== undefined) o.sys.close(pidns);
    if (configFd !== undefined) o.sys.close(configFd);
    fs.rmSync(file, { force: true });
  }
}

/** `berth exec`'s request (docker's flags). */
export interface ExecRequest {
  args: string[];
  /** `-e K=V` (appended to the container's environment; a later key wins). */
  env?: string[];
  /** `-w DIR`. */
  cwd?: string;
  /** `-u USER[:GROUP]`, resolved against the container's /etc/passwd and /etc/group. */
  user?: string;
  /** `--privileged`: every capability, no seccomp filter. */
  privileged?: boolean;
  /** `-i`: stdin is a pipe the caller feeds; otherwise it reads EOF. */
  interactive?: boolean;
  /** `-d`: the process outlives the caller; its output goes nowhere. */
  detach?: boolean;
  /** `-t`: a pty from the container's devpts as the process's terminal (ExecProcess.pty). */
  tty?: boolean;
}

export interface ExecProcess extends StdioStreams {
  pid: number;
  /** The process's terminal (`tty`), else null. */
  pty: PtyConnection | null;
  /** Resolves with the exit status (128+N for signal N). */
  exited: LaunchedInit['exited'];
}

/**
 * `berth exec`: a process in a running container with the container's process settings
 * (environment, cwd, user, capabilities, rlimits, no_new_privs) changed by the request.
 * Failures are BerthErrors with details.exitCode 125 (the container is not running, berth
 * failed), 126 (cannot execute) or 127 (not found), docker's rules. `early`: the child
 * startExecEarly spawned, taken when it fits; the caller discards it in any case (a no-op once taken).
 */
export async function execInContainer(ctx: RuntimeContext, id: string, req: ExecRequest, early?: EarlyExec): Promise<ExecProcess> {
  const state = ctx.store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `exec in container ${id.slice(0, 12)}: no such container`, { details: { exitCode: 125 } });
  const info = describe(state);
  if (info.status !== 'running' || info.pid === undefined) {
    throw new BerthError('ECONTAINER_STATE', `container ${info.shortId} is not running`, { details: { exitCode: 125 } });
  }
  if (info.paused === true) throw new BerthError('ECONTAINER_STATE', `container ${info.shortId} is paused, unpause the container before exec`, { details: { exitCode: 125 } });
  if (req.args.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'exec: no command given', { details: { exitCode: 125 } });
  const init = readInitConfig(ctx, id);
  const base = init.spec.process;
  const proc: ProcessSpec = { ...base, args: [...req.args], terminal: false };
  if (req.env !== undefined && req.env.length > 0) proc.env = mergeEnv(base.env, req.env);
  if (req.cwd !== undefined) {
    if (!req.cwd.startsWith('/')) throw new BerthError('EINVAL_ARGUMENT', `exec: the working directory "${req.cwd}" is not absolute`, { details: { exitCode: 125 } });
    proc.cwd = req.cwd;
  }
  if (req.user !== undefined && req.user !== '') {
    let u;
    try {
      u = resolveUser({ rootfs: init.spec.rootfs, user: req.user });
    } catch (err) {
      throw new BerthError('EINVAL_ARGUMENT', `exec: ${(err as Error).message}`, { details: { exitCode: 125 } });
    }
    proc.user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
    if (!(req.env ?? []).some((e) => e.startsWith('HOME='))) proc.env = mergeEnv(proc.env, [`HOME=${u.home}`]);
  }
  if (req.privileged === true) {
    const all = [...ALL_CAPABILITIES];
    proc.capabilities = { bounding: all, effective: all, permitted: all, inheritable: [], ambient: [] };
  }
  const cgroup = await ctx.cgroups.open(id);
  const tty = req.tty === true && req.detach !== true;
  const fits = early !== undefined && early.id === id && early.pid === info.pid && early.pidStartTime === info.pidStartTime && early.terminal === tty && init.userNamespace !== true;
  const ahead = fits ? early.take() : undefined;
  const stdio = ahead?.stdio ?? prepareStdio(ctx.sys, { interactive: true, terminal: tty });
  let pty: PtyConnection | null = null;
  let launched: LaunchedInit;
  try {
    launched = await launchExec({
      sys: ctx.sys,
      spawner: ctx.spawner,
      pid: info.pid,
      pidStartTime: info.pidStartTime,
      init,
      process: proc,
      unconfined: req.privileged === true,
      dir: ctx.store.dir(id),
      stdio: stdio.childFds,
      addProcess: (pid) => cgroup.addProcess(pid),
      detach: req.detach === true,
      label: info.shortId,
      ...(tty ? { tty: true, onPty: (master: number) => (pty = new PtyConnection(ctx.sys, master)) } : {}),
      ...(ahead === undefined ? {} : { started: ahead.started }),
    });
  } catch (err) {
    releaseStdio(ctx.sys, stdio);
    throw err;
  }
  closeChildSide(ctx.sys, stdio);
  const streams = openStreams(stdio);
  return { pid: launched.pid, exited: launched.exited, pty, ...streams };
}

/**
 * Runtime.exec: a process in a running container (execInContainer) with this process's stdio:
 * relayed (stdin with `interactive`) until it exits, resolving with its exit status; on this
 * terminal with `tty`; `detach` resolves once the process runs (exitCode 0). Rejects with
 * details.exitCode 125/126/127 as docker exits. `early` (startExecEarly's child) is driven when
 * it fits and killed otherwise, whatever happens.
 */
export async function execAttached(ctx: RuntimeContext, idOrName: string, req: ExecRequest, early?: EarlyExec): Promise<{ exitCode: number; pid: number }> {
  let proc: ExecProcess;
  try {
    proc = await execInContainer(ctx, ctx.store.resolve(idOrName), req, early);
  } finally {
    // Not taken (it did not fit, or a failure came first): killed, its stdio closed.
    early?.discard();
  }
  if (req.detach === true) {
    proc.stdin?.end();
    proc.stdout?.destroy();
    proc.stderr?.destroy();
    return { exitCode: 0, pid: proc.pid };
  }
  if (proc.pty !== null) return { exitCode: await execOnTerminal(proc.pty, proc.exited, req.interactive === true), pid: proc.pid };
  const relay = attachHostStreams(proc, { interactive: req.interactive === true });
  try {
    const exit = await proc.exited;
    await relay.flushed;
    return { exitCode: exitStatus(exit), pid: proc.pid };
  } finally {
    relay.detach();
  }
}

/** `exec -t`: the process's terminal on this one's (raw mode, resized with it) until it exits and its output is read. */
async function execOnTerminal(pty: PtyConnection, exited: LaunchedInit['exited'], interactive: boolean): Promise<number> {
  const detach = attachHostTerminal(pty, interactive);
  try {
    const exit = await exited;
    await pty.drained(1000);
    return exitStatus(exit);
  } finally {
    detach();
    pty.close();
  }
}
