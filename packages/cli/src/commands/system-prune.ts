import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth system prune [-f] [-a]` */
export function systemPruneCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'prune')
    .description('Remove stopped containers, dangling images, build cache and dead build trees')
    .option('-a, --all', 'remove all images not used by a container, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/prune.js')).systemPrune(ctx, opts);
    });
}
