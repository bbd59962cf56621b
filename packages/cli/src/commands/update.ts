import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth update [-m SIZE] [--memory-swap SIZE] [--cpus N] [--pids-limit N] CONTAINER…` (also `container update`) */
export function updateCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'update')
    .description(
      "Change the limits of running containers (their cgroup, v1 or v2). Unlike docker, a stopped container is refused (berth does not restart containers), and only these limits are supported; docker's other update flags are unknown options",
    )
    .argument('<container...>')
    .option('-m, --memory <size>', 'memory limit (512m, 1g; at least 6m)')
    .option('--memory-swap <size>', 'memory + swap (-1: unlimited swap); needs --memory')
    .option('--cpus <number>', 'CPUs (1.5)')
    .option('--pids-limit <number>', 'maximum number of processes (-1: unlimited)')
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).update(ctx, ids, opts);
    });
}
