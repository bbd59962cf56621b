import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth top CONTAINER [ps OPTIONS]` (also `container top`) */
export function topCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'top')
    .description("Show a running container's processes: the host's ps (default -ef) filtered to the container's cgroup, as docker")
    .argument('<container>')
    .argument('[ps-options...]')
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (id, psArgs) => {
      ctx.exitCode = await (await import('../actions/containers.js')).top(ctx, id, psArgs);
    });
}
