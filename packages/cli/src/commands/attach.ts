import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth attach [--no-stdin] [--sig-proxy=false] CONTAINER` (also `container attach`) */
export function attachCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'attach')
    .description("Attach to a running container's output until it stops (exits with its status)")
    .argument('<container>')
    .option('--no-stdin', 'do not attach stdin (berth attaches output only)')
    .option('--sig-proxy [bool]', 'pass signals received to the container (default true)')
    .action(async (id, opts) => {
      const sigProxy = opts.sigProxy === undefined || opts.sigProxy === true || opts.sigProxy === 'true';
      ctx.exitCode = await (await import('../actions/lifecycle.js')).attach(ctx, id, { sigProxy, stdin: opts.stdin });
    });
}
