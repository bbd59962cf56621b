/**
 * The shim: `node shim/main.js <state root> <id>`, spawned (in its own
 * session) by Runtime.start() for a detached container. It starts the created
 * container with piped output, tells the starter on fd 3 (one JSON line:
 * `{"ok":true,"pid":…}` or `{"ok":false,"error":{…}}`), writes the output to
 * the container's json-lines log, records the exit in state.json (startContainer
 * does), restarts it as its restart policy says (the loop below, RestartManager),
 * removes the container for --rm, and exits. It is the container's
 * parent: if the shim is killed, the container gets SIGKILL (PR_SET_PDEATHSIG)
 * and `berth ps` shows it stopped with an unknown exit code.
 */
import { closeSync, writeSync } from 'node:fs';
import type { RuntimeContext } from '../lifecycle/context.js';
import { deleteContainer } from '../lifecycle/delete.js';
import { LOG_FILE, LogWriter } from '../lifecycle/logs.js';
import { RestartManager, backoff, clearManualStop, manualStopRequested } from '../lifecycle/restart-policy.js';
import { startContainer } from '../lifecycle/start.js';
import type { StartedContainer } from '../lifecycle/start.js';
import { runtimeContext } from '../lifecycle/context.js';
import { describe } from '../lifecycle/state.js';
import type { LogDriver } from '../lifecycle/state.js';
import { ATTACH_SOCKET } from '../lifecycle/attach-protocol.js';
import { AttachServer } from './attach-server.js';

const READY_FD = 3;

function tell(msg: unknown): void {
  try {
    writeSync(READY_FD, `${JSON.stringify(msg)}\n`);
    closeSync(READY_FD);
  } catch {
    // The starter is gone: nobody to tell.
  }
}

/** This run's output into the container's log (`--log-driver none`: read and dropped); resolves at its end. */
function keepOutput(ctx: RuntimeContext, id: string, started: StartedContainer, driver: LogDriver | undefined): Promise<void> {
  const streams = [started.stdout, started.stderr];
  if (driver === 'none') {
    return Promise.all(streams.map((s) => (s === null ? undefined : new Promise<void>((resolve) => s.on('end', resolve).on('error', () => resolve()).resume())))).then(() => undefined);
  }
  const log = new LogWriter(ctx.store.file(id, LOG_FILE));
  const drains: Array<Promise<void>> = [];
  if (started.stdout) drains.push(log.follow('stdout', started.stdout));
  if (started.stderr) drains.push(log.follow('stderr', started.stderr));
  return Promise.all(drains).then(() => log.close());
}

/**
 * SIGTERM/SIGINT/SIGHUP to the shim (once the container runs) go on to the container's PID 1
 * rather than killing the shim, which would SIGKILL the container with it; between two runs
 * they end the restart policy.
 */
function forwardSignals(pid: () => number | undefined, stop: () => void): void {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      const target = pid();
      if (target === undefined) return stop();
      try {
        process.kill(target, sig);
      } catch {
        // Already gone.
      }
    });
  }
}

async function main(): Promise<number> {
  const [stateRoot, id] = process.argv.slice(2);
  if (stateRoot === undefined || id === undefined) {
    tell({ ok: false, error: { code: 'EINVAL_ARGUMENT', message: 'usage: shim <state root> <id>' } });
    return 2;
  }
  const ctx = runtimeContext({ stateDir: stateRoot });
  ctx.spawner.warm().catch(() => undefined);
  const state = ctx.store.read(id);
  // The container's PID 1 of the current run (signals to the shim go there), undefined between runs.
  let pid: number | undefined;
  let stopRequested = false;
  // ── The restart policy's loop (lifecycle/restart-policy.ts): one pass per run of the container's
  // process, each in a fresh init with the same rootfs, state, log and network. Between runs the
  // state says `running` + `restarting` (written in the same update as the exit), so the container is
  // listed, and keeps its network, at every moment; a user's stop or kill (MANUAL_STOP_FILE) ends it.
  const restarts = new RestartManager(state?.restartPolicy ?? { Name: 'no', MaximumRetryCount: 0 }, { restartCount: state?.restartCount ?? 0 });
  clearManualStop(ctx, id);
  // `berth attach` connects here (shim/attach-server.ts): output, and stdin with `-i`.
  let attach: AttachServer | undefined;
  try {
    attach = await AttachServer.listen(ctx.store.file(id, ATTACH_SOCKET), { openStdin: state?.openStdin === true });
  } catch {
    // No socket: `attach` falls back to following the log.
  }
  let ran = false;
  for (let run = 0; ; run++) {
    let delay: number | undefined;
    let started: StartedContainer;
    try {
      started = await startContainer(ctx, id, {
        // `-i`: a pipe that only `attach` writes to (docker keeps a detached container's stdin open).
        interactive: state?.openStdin === true,
        restart: run > 0,
        onExit: (s, info) => {
          delay = restarts.shouldRestart({ exitCode: info.exitCode, manuallyStopped: stopRequested || manualStopRequested(ctx, id), ranMs: Date.now() - Date.parse(s.startedAt ?? '') || 0 });
          if (delay === undefined) return;
          s.status = 'running';
          s.restarting = true;
          s.restartCount = restarts.restartCount;
        },
      });
    } catch (err) {
      if (run > 0) break; // startContainer recorded the failure (stopped, its exit status and error).
      const e = err as { code?: string; message?: string; details?: Record<string, unknown> };
      tell({ ok: false, error: { code: e.code ?? 'ERUNTIME', message: e.message ?? String(err), details: e.details ?? {} } });
      attach?.close();
      if (state?.autoRemove) await deleteContainer(ctx, id, { force: true }).catch(() => undefined);
      return 1;
    }
    pid = started.pid;
    // Removed (rm -f) while this run started: it must not outlive its container.
    if (run > 0 && ctx.store.read(id) === undefined) process.kill(pid, 'SIGKILL');
    const pty = started.pty;
    attach?.startRun({ stdin: started.stdin, ...(pty ? { resize: (c: number, r: number) => pty.resize(c, r) } : {}) });
    attach?.tap('stdout', started.stdout);
    attach?.tap('stderr', started.stderr);
    const output = keepOutput(ctx, id, started, state?.logDriver);
    if (run === 0) {
      ran = true;
      // The container as it started: with --rm it may be gone by the time the starter looks.
      const info = ctx.store.read(id);
      tell({ ok: true, pid: started.pid, ...(info === undefined ? {} : { info: describe(info) }) });
      forwardSignals(
        () => pid,
        () => (stopRequested = true),
      );
    }
    const exit = await started.exited;
    pid = undefined;
    await output;
    attach?.endRun(exit.exitCode);
    started.pty?.close();
    if (delay === undefined) break;
    if (!(await backoff(ctx, id, delay, () => stopRequested))) break;
    // The next run's init makes the cgroup anew (and the old one's stragglers die with it).
    if (ctx.store.read(id)?.cgroup === true) await (await ctx.cgroups.open(id)).remove().catch(() => undefined);
  }
  // A container removed under the loop: the cgroup a restart may have made after the removal goes too.
  if (ran && ctx.store.read(id) === undefined) await (await ctx.cgroups.open(id)).remove().catch(() => undefined);
  // ── end of the restart policy's loop
  attach?.close();

  if (state?.autoRemove) await deleteContainer(ctx, id, { force: true }).catch(() => undefined);
  return 0;
}

process.exitCode = await main();
// The namespace worker is unref'd when idle; nothing else keeps the shim alive.
