import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth rm [-f] [-v] CONTAINER…` (also `container rm`) */
export function rmCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'rm')
    .description('Remove containers')
    .argument('<container...>')
    .option('-f, --force', 'kill a running container first')
    .option('-v, --volumes', 'also remove the anonymous volumes made for the container (named volumes stay)')
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).rm(ctx, ids, opts);
    });
}
