import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth image prune [-a] [-f] [--format json]` */
export function imagePruneCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'prune')
    .description('Remove dangling images (unused blobs and snapshots); -a: also every image no container uses. Asks first, as docker, unless -f')
    .option('-a, --all', 'remove all images without at least one container, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--format <format>', 'table or json')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/prune.js')).imagePrune(ctx, opts);
    });
}
