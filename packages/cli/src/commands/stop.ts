import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth stop [-t SECONDS] CONTAINER…` (also `container stop`) */
export function stopCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'stop')
    .description('Stop containers (SIGTERM, then SIGKILL)')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10')
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).stop(ctx, ids, opts);
    });
}
