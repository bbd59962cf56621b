import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth rm [-f] CONTAINER…` (also `container rm`) */
export function rmCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'rm')
    .description('Remove containers')
    .argument('<container...>')
    .option('-f, --force', 'kill a running container first')
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).rm(ctx, ids, opts);
    });
}
