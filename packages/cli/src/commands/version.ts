import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth version [--format json]`: docker's client block; berth has no daemon, so no server block. */
export function versionCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'version')
    .description('Show the berth version information (no Server block: berth has no daemon)')
    .option('--format <format>', 'table or json')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/system-info.js')).version(ctx, opts);
    });
}
