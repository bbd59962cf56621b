import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth tag SRC DST` */
export function tagCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'tag')
    .description('Give an image another name')
    .argument('<source>')
    .argument('<target>')
    .action(async (source, target) => {
      ctx.exitCode = await (await import('../actions/tag.js')).tag(ctx, source, target);
    });
}
