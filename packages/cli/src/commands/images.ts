import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth images [-q] [--format json]` (also `image ls`) */
export function imagesCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'images')
    .description('List images in the store')
    .option('--format <format>', 'table or json')
    .option('-q, --quiet', 'only digests')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/images.js')).images(ctx, opts);
    });
}
