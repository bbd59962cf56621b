import type { LimitChange } from '../cgroups/types.js';
import type { RuntimeContext } from './context.js';
import { runningWithCgroup } from './pause.js';
import { describe } from './state.js';
import type { ContainerInfo } from './state.js';

/**
 * `update`: new memory, memory+swap, CPU and pids limits for a running container, written to its
 * cgroup (v1 or v2). Unlike docker, a stopped container is refused: berth does not restart
 * containers, so limits kept for a next start would never apply.
 */
export async function updateContainer(ctx: RuntimeContext, id: string, change: LimitChange): Promise<ContainerInfo> {
  const state = runningWithCgroup(ctx, id, 'update');
  await (await ctx.cgroups.open(id)).update(change);
  return describe(state);
}
