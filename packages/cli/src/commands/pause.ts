import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth pause CONTAINER…` (also `container pause`) */
export function pauseCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'pause')
    .description("Freeze all processes of containers (the cgroup freezer, v1 or v2); ps shows \"Up … (Paused)\". As docker: a paused container's kill -s KILL thaws it, other signals wait for unpause")
    .argument('<container...>')
    .action(async (ids) => {
      ctx.exitCode = await (await import('../actions/containers.js')).pause(ctx, ids);
    });
}

/** `berth unpause CONTAINER…` (also `container unpause`) */
export function unpauseCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'unpause')
    .description('Thaw the processes of paused containers')
    .argument('<container...>')
    .action(async (ids) => {
      ctx.exitCode = await (await import('../actions/containers.js')).unpause(ctx, ids);
    });
}
