import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth ps [-a] [-q] [--format json]` (also `container ls`) */
export function psCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'ps')
    .description('List containers')
    .option('-a, --all', 'include stopped containers')
    .option('-q, --quiet', 'only IDs')
    .option('--format <format>', 'table or json')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/ps.js')).ps(ctx, opts);
    });
}
