import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth builder prune [-a] [-f]` */
export function builderPruneCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'prune')
    .description('Remove build cache entries no image uses (-a: all), then the layers only they held')
    .option('-a, --all', 'remove all build cache, not just what no image uses')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/prune.js')).builderPrune(ctx, opts);
    });
}
