import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth system df [-v] [--format json]` */
export function systemDfCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'df')
    .description('Show disk usage: images, containers, build cache (image SIZE: blobs as stored, compressed)')
    .option('-v, --verbose', 'show detailed information on space usage')
    .option('--format <format>', 'table or json')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/system-info.js')).systemDf(ctx, opts);
    });
}
