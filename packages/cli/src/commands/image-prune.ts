import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth image prune [--format json]` */
export function imagePruneCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'prune')
    .description('Remove unused blobs and snapshots')
    .option('--format <format>', 'table or json')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/rmi.js')).prune(ctx, opts);
    });
}
