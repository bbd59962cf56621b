/**
 * The shim: `node shim/main.js <state root> <id>`, spawned (in its own
 * session) by Runtime.start() for a detached container. It starts the created
 * container with piped output, tells the starter on fd 3 (one JSON line:
 * `{"ok":true,"pid":…}` or `{"ok":false,"error":{…}}`), writes the output to
 * the container's json-lines log, records the exit in state.json (startContainer
 * does), removes the container for --rm, and exits. It is the container's
 * parent: if the shim is killed, the container gets SIGKILL (PR_SET_PDEATHSIG)
 * and `berth ps` shows it stopped with an unknown exit code.
 */
import { closeSync, writeSync } from 'node:fs';
import { deleteContainer } from '../lifecycle/delete.js';
import { LOG_FILE, LogWriter } from '../lifecycle/logs.js';
import { startContainer } from '../lifecycle/start.js';
import { runtimeContext } from '../runtime.js';
import { describe } from '../lifecycle/state.js';

const READY_FD = 3;

function tell(msg: unknown): void {
  try {
    writeSync(READY_FD, `${JSON.stringify(msg)}\n`);
    closeSync(READY_FD);
  } catch {
    // The starter is gone: nobody to tell.
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
  let started;
  try {
    started = await startContainer(ctx, id, { interactive: false });
  } catch (err) {
    const e = err as { code?: string; message?: string; details?: Record<string, unknown> };
    tell({ ok: false, error: { code: e.code ?? 'ERUNTIME', message: e.message ?? String(err), details: e.details ?? {} } });
    if (state?.autoRemove) await deleteContainer(ctx, id, { force: true }).catch(() => undefined);
    return 1;
  }
  const log = new LogWriter(ctx.store.file(id, LOG_FILE));
  const drains: Array<Promise<void>> = [];
  if (started.stdout) drains.push(log.follow('stdout', started.stdout));
  if (started.stderr) drains.push(log.follow('stderr', started.stderr));
  // The container as it started: with --rm it may be gone by the time the starter looks.
  const info = ctx.store.read(id);
  tell({ ok: true, pid: started.pid, ...(info === undefined ? {} : { info: describe(info) }) });
  const pid = started.pid;
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      try {
        process.kill(pid, sig);
      } catch {
        // Already gone.
      }
    });
  }
  await started.exited;
  await Promise.all(drains);
  log.close();
  started.pty?.close();
  if (state?.autoRemove) await deleteContainer(ctx, id, { force: true }).catch(() => undefined);
  return 0;
}

// SIGTERM/SIGINT/SIGHUP to the shim (once the container runs) are passed on to the
// container rather than killing the shim, which would SIGKILL the container with it.
process.exitCode = await main();
// The namespace worker is unref'd when idle; nothing else keeps the shim alive.
