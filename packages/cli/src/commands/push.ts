import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth push [-q] LOCAL [REMOTE]` */
export function pushCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'push')
    .description('Upload an image to a registry')
    .argument('<local>', 'image in the store')
    .argument('[remote]', 'destination reference (default: the same name)')
    .option('-q, --quiet', 'print only the pushed reference')
    .action(async (local, remote, opts) => {
      ctx.exitCode = await (await import('../actions/transfer.js')).push(ctx, local, remote, opts);
    });
}
