import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `berth commit [-c CHANGE]… [-m MSG] [-a AUTHOR] CONTAINER [REF]` (also `container commit`) */
export function commitCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'commit')
    .description(
      "Make an image from a container's changes: one layer on top of its image (as docker). Prints the manifest digest (docker prints the config's). Unlike docker the container is not paused meanwhile, and --change takes CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE",
    )
    .argument('<container>')
    .argument('[reference]')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the config (repeatable)', collect)
    .option('-m, --message <message>', 'commit message (the history entry\'s comment)')
    .option('-a, --author <author>', 'author')
    .action(async (id, ref, opts) => {
      ctx.exitCode = await (await import('../actions/commit.js')).commit(ctx, id, ref, opts);
    });
}
