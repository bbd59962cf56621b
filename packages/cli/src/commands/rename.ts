import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth rename CONTAINER NEW_NAME` (also `container rename`) */
export function renameCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'rename')
    .description('Rename a container (any state; the new name must be free)')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (id, name) => {
      ctx.exitCode = await (await import('../actions/containers.js')).rename(ctx, id, name);
    });
}
