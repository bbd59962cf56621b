import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth start [-a] [-i] CONTAINER…` (also `container start`) */
export function startCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'start')
    .description('Start created or stopped containers (-a: attached, exiting with the container\'s status)')
    .argument('<container...>')
    .option('-a, --attach', "attach stdout/stderr and exit with the container's status (refused for a container created with --restart: its policy is kept only when started detached)")
    .option('-i, --interactive', "attach the container's stdin (a container created with -i only)")
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/lifecycle.js')).start(ctx, ids, opts);
    });
}
