import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/**
 * `berth history [--no-trunc] [-q] [--format json] IMAGE`: docker's IMAGE CREATED CREATED BY
 * SIZE COMMENT, newest first. Unlike docker, SIZE is the layer as stored (compressed).
 */
export function historyCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'history')
    .description('Show the history of an image (SIZE: the layer as stored, compressed, where docker shows it unpacked)')
    .argument('<image>')
    .option('--no-trunc', 'do not truncate the output')
    .option('-q, --quiet', 'only image IDs')
    .option('--format <format>', 'table or json')
    .action(async (image, opts) => {
      ctx.exitCode = await (await import('../actions/history.js')).history(ctx, image, opts);
    });
}
