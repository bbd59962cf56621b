import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth container inspect CONTAINER…` */
export function containerInspectCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'inspect')
    .description('Show container state as JSON')
    .argument('<container...>')
    .action(async (ids) => {
      ctx.exitCode = await (await import('../actions/containers.js')).inspectContainer(ctx, ids);
    });
}
