import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth wait CONTAINER…` (also `container wait`) */
export function waitCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'wait')
    .description('Block until containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (ids) => {
      ctx.exitCode = await (await import('../actions/lifecycle.js')).wait(ctx, ids);
    });
}
