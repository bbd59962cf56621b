import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth port CONTAINER`: its published ports (also `container port`). */
export function portCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'port')
    .description("List a container's published ports")
    .argument('<container>')
    .action(async (id) => {
      ctx.exitCode = await (await import('../actions/containers.js')).port(ctx, id);
    });
}
