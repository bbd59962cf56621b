import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth rmi [-f] REF…` (also `image rm`) */
export function rmiCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'rmi')
    .description('Remove images (as docker: a name untags; refused only for the last reference of an image a container uses)')
    .argument('<reference...>')
    .option('-f, --force', 'remove even if a container uses it')
    .action(async (refs, opts) => {
      ctx.exitCode = await (await import('../actions/rmi.js')).rmi(ctx, refs, opts);
    });
}
