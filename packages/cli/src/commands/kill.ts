import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth kill [-s SIGNAL] CONTAINER…` (also `container kill`) */
export function killCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'kill')
    .description('Send a signal to containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal name or number', 'SIGKILL')
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).kill(ctx, ids, opts);
    });
}
