import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth attach [--no-stdin] [--sig-proxy=false] [--detach-keys KEYS] CONTAINER` (also `container attach`) */
export function attachCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'attach')
    .description(
      "Attach this terminal's input and output to a running detached container until it stops (exits with its status); " +
        'stdin reaches it only if it was created with -i; with -t, ctrl-p ctrl-q detaches (exit 1, the container runs on)',
    )
    .argument('<container>')
    .option('--no-stdin', 'do not attach stdin')
    .option('--sig-proxy [bool]', 'pass signals received to the container, without a tty (default true)')
    .option('--detach-keys <keys>', 'the key sequence that detaches from a container with a tty (default "ctrl-p,ctrl-q")')
    .action(async (id, opts) => {
      const sigProxy = opts.sigProxy === undefined || opts.sigProxy === true || opts.sigProxy === 'true';
      ctx.exitCode = await (await import('../actions/lifecycle.js')).attach(ctx, id, {
        sigProxy,
        stdin: opts.stdin,
        ...(opts.detachKeys !== undefined ? { detachKeys: opts.detachKeys } : {}),
      });
    });
}
