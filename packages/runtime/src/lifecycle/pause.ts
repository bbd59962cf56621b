import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { describe, isAlive } from './state.js';
import type { ContainerInfo, ContainerState } from './state.js';

/** The running container `id` (live PID 1) with a cgroup, for an operation named `what`. */
export function runningWithCgroup(ctx: RuntimeContext, id: string, what: string): ContainerState {
  const state = ctx.store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `${what} container ${id.slice(0, 12)}: no such container`);
  const info = describe(state);
  if (info.status === 'running' && info.restarting === true) {
    throw new BerthError('ECONTAINER_STATE', `${what} container ${info.shortId}: container is restarting, wait until the container is running`, { details: { status: 'restarting' } });
  }
  if (info.status !== 'running' || !isAlive(info.pid, info.pidStartTime)) {
    throw new BerthError('ECONTAINER_STATE', `${what} container ${info.shortId}: container is not running`, { details: { status: info.status } });
  }
  if (!state.cgroup) throw new BerthError('EUNSUPPORTED', `${what} container ${info.shortId}: the container has no cgroup (berth was not root when it started)`);
  return state;
}

/**
 * `pause`: freezes every process of the container with the cgroup freezer (v2 cgroup.freeze,
 * v1 freezer.state) and records it; ps shows "Up … (Paused)". docker's errors for a container
 * that is paused already or not running.
 */
export async function pauseContainer(ctx: RuntimeContext, id: string): Promise<ContainerInfo> {
  const state = runningWithCgroup(ctx, id, 'pause');
  if (state.paused) throw new BerthError('ECONTAINER_STATE', `pause container ${id.slice(0, 12)}: container is already paused`);
  const cg = await ctx.cgroups.open(id);
  await cg.freeze();
  return describe(ctx.store.update(id, (s) => (s.paused = true)) ?? { ...state, paused: true });
}

/** `unpause`: thaws what pause froze. */
export async function resumeContainer(ctx: RuntimeContext, id: string): Promise<ContainerInfo> {
  const state = runningWithCgroup(ctx, id, 'unpause');
  if (!state.paused) throw new BerthError('ECONTAINER_STATE', `unpause container ${id.slice(0, 12)}: container is not paused`);
  const cg = await ctx.cgroups.open(id);
  // The state before the thaw, as in thawForKill: a container that exits at once keeps its exit record.
  const updated = ctx.store.update(id, (s) => delete s.paused);
  await cg.thaw();
  return describe(updated ?? { ...state, paused: false });
}

/**
 * After a signal to a paused container: SIGKILL thaws it so that the kill is delivered (docker
 * does the same); any other signal stays pending until `unpause`, as in docker (so `stop` of a
 * paused container waits out its timeout, then kills).
 */
export async function thawForKill(ctx: RuntimeContext, id: string, signal: number): Promise<void> {
  if (signal !== 9 || ctx.store.read(id)?.paused !== true) return;
  // The state first: once thawed the container dies at once and its monitor records the exit; a
  // state update after the thaw could write back the state it read before that record (the exit
  // was lost: "Exited (unknown)", seen in CI).
  ctx.store.update(id, (s) => delete s.paused);
  await (await ctx.cgroups.open(id)).thaw();
}
