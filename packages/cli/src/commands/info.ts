import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth info [--format json]` (also `system info`) */
export function infoCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'info')
    .description('Display system-wide information (berth has no daemon: what a command would use)')
    .option('--format <format>', 'table or json')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/system-info.js')).info(ctx, opts);
    });
}
