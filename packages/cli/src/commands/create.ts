import type { CommandContext } from '../context.js';
import { runCommand } from './run.js';

/** `berth create [flags] IMAGE [COMMAND [ARG…]]`: `run`'s flags; the container is recorded, not started, and its ID printed. */
export function createCommand(ctx: CommandContext) {
  return runCommand(ctx)
    .name('create')
    .description('Create a new container without starting it (berth start runs it); prints its ID')
    .action(async (image, command, opts) => {
      ctx.exitCode = await (await import('../actions/run.js')).create(ctx, image, command, opts);
    });
}
