import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth unpack [--platform P] [-q] REF DIR` */
export function unpackCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'unpack')
    .description("Write an image's root filesystem into a directory (pulled first if missing)")
    .argument('<reference>')
    .argument('<dir>', 'absent or empty directory')
    .option('--platform <os/arch[/variant]>', 'platform of the image')
    .option('-q, --quiet', 'print nothing on success')
    .action(async (ref, dir, opts) => {
      ctx.exitCode = await (await import('../actions/unpack.js')).unpack(ctx, ref, dir, opts);
    });
}
