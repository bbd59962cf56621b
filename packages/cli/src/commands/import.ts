import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `berth import [-c CHANGE]… [-m MSG] FILE|- [REF]` (also `image import`) */
export function importCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'import')
    .description(
      'Make a one-layer image of a tar archive (plain or gzip; "-" reads stdin), as docker. Prints the manifest digest (docker: the config\'s); no URLs; --change takes CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE',
    )
    .argument('<file>')
    .argument('[reference]')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the config (repeatable)', collect)
    .option('-m, --message <message>', "commit message (the history entry's comment)")
    .action(async (file, ref, opts) => {
      ctx.exitCode = await (await import('../actions/commit.js')).importImage(ctx, file, ref, opts);
    });
}
