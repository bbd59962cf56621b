import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth export [-o FILE] CONTAINER` (also `container export`) */
export function exportCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'export')
    .description("Write a container's filesystem as a tar archive (to stdout unless it is a terminal, as docker)")
    .argument('<container>')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (id, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).exportContainer(ctx, id, opts);
    });
}
