import type { CommandContext } from '../context.js';
import { berthCommand, collect } from './command.js';

/** `berth container prune [-f] [--filter until=TIME]` */
export function containerPruneCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'prune')
    .description('Remove all stopped containers')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <until=TIME>', 'only containers created before TIME (10m, 24h, Unix seconds, a date)', collect)
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/prune.js')).containerPrune(ctx, opts);
    });
}
