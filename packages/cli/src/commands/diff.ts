import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth diff CONTAINER` (also `container diff`) */
export function diffCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'diff')
    .description("List what changed in a container's filesystem against its image: A (added), C (changed), D (deleted), as docker")
    .argument('<container>')
    .action(async (id) => {
      ctx.exitCode = await (await import('../actions/containers.js')).diff(ctx, id);
    });
}
