import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth logs [-f] CONTAINER` (also `container logs`) */
export function logsCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'logs')
    .description("Print a detached container's output")
    .argument('<container>')
    .option('-f, --follow', 'keep printing new output')
    .action(async (id, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).logs(ctx, id, opts);
    });
}
