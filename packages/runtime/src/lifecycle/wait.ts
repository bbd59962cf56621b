import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { describe } from './state.js';
import type { ContainerInfo } from './state.js';

/**
 * `wait`: resolves with the container's final state once it is stopped (its
 * monitor recorded the exit, or the monitor died, which `describe` reports as
 * stopped with an unknown exit code); undefined when `timeoutMs` passes first.
 * Works for containers owned by any process (state file + liveness polling).
 */
export async function waitContainer(ctx: RuntimeContext, id: string, opts: { timeoutMs?: number; pollMs?: number }): Promise<ContainerInfo | undefined> {
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  const poll = opts.pollMs ?? 50;
  for (;;) {
    const state = ctx.store.read(id);
    if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `wait for container ${id.slice(0, 12)}: no such container`);
    const info = describe(state);
    if (info.status === 'stopped') return info;
    if (info.status === 'created') {
      throw new BerthError('ECONTAINER_STATE', `wait for container ${info.shortId}: container is not started`);
    }
    if (Date.now() >= deadline) return undefined;
    await sleep(poll);
  }
}
