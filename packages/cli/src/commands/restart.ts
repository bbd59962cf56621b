import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth restart [-t SECONDS] CONTAINER…` (also `container restart`) */
export function restartCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'restart')
    .description('Restart containers (stop, then start again with the same ID)')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10')
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/lifecycle.js')).restart(ctx, ids, opts);
    });
}
