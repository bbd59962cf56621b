import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { thawForKill } from './pause.js';
import { hasRestartPolicy, markManualStop } from './restart-policy.js';
import { canKill, describe, isAlive, readInitConfig } from './state.js';
import type { ContainerInfo } from './state.js';
import { waitContainer } from './wait.js';
import { signalNumber } from './signal.js';

export { signalNumber };

/**
 * `kill`: sends a signal to the container's PID 1 (after checking it is still
 * the same process: pid and start time). PID 1 of a pid namespace ignores
 * signals it has no handler for, except SIGKILL (and SIGSTOP), as in docker.
 */
export function killContainer(ctx: RuntimeContext, id: string, signal: string | number = 'SIGKILL'): void {
  const sig = signalNumber(signal);
  const state = ctx.store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `kill container ${id.slice(0, 12)}: no such container`);
  const info = describe(state);
  // A user's signal ends a restart policy (as docker's HasBeenManuallyStopped): recorded before the
  // signal, so that the monitor deciding on the exit it causes sees it.
  if (info.status === 'running' && hasRestartPolicy(info.restartPolicy)) markManualStop(ctx, id);
  // Between two runs there is no process: the mark is enough, the monitor restarts it no more (docker).
  if (info.status === 'running' && info.restarting === true) return;
  if (!canKill(info) || !isAlive(info.pid, info.pidStartTime)) {
    throw new BerthError('ECONTAINER_STATE', `kill container ${info.shortId}: container is not running`, { details: { status: info.status } });
  }
  try {
    process.kill(info.pid as number, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
      throw new BerthError('ECONTAINER_STATE', `kill container ${info.shortId}: container is not running`);
    }
    throw BerthError.wrap(`kill container ${info.shortId}`, err, 'ESYSCALL');
  }
}

/**
 * `stop`: the image's stop signal (SIGTERM by default), then SIGKILL after
 * `timeoutSec` if the container still runs. Returns the final state.
 */
export async function stopContainer(ctx: RuntimeContext, id: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<ContainerInfo> {
  const state = ctx.store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `stop container ${id.slice(0, 12)}: no such container`);
  if (describe(state).status !== 'running') return describe(state);
  let signal = opts.signal;
  if (signal === undefined) {
    try {
      signal = readInitConfig(ctx, id).spec.stopSignal ?? 'SIGTERM';
    } catch {
      signal = 'SIGTERM';
    }
  }
  const timeoutMs = Math.max(0, opts.timeoutSec ?? 10) * 1000;
  try {
    killContainer(ctx, id, signal);
    await thawForKill(ctx, id, signalNumber(signal));
  } catch (err) {
    if (!(err instanceof BerthError && err.code === 'ECONTAINER_STATE')) throw err;
  }
  const stopped = await waitContainer(ctx, id, { timeoutMs });
  if (stopped === undefined) {
    try {
      killContainer(ctx, id, 'SIGKILL');
      await thawForKill(ctx, id, 9);
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'ECONTAINER_STATE')) throw err;
    }
    await waitContainer(ctx, id, {});
  }
  const final = ctx.store.read(id);
  if (final === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `stop container ${id.slice(0, 12)}: removed meanwhile`);
  return describe(final);
}
