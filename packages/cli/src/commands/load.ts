import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth load [-i FILE|DIR] [--repository NAME] [--platform P] [-q]` */
export function loadCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'load')
    .description('Read images from a docker-archive or OCI archive or layout')
    .option('-i, --input <file|dir>', 'archive file or OCI layout directory (default: stdin)')
    .option('--repository <name>', 'repository for OCI entries named by a bare tag (e.g. 3.20), as skopeo and umoci write them')
    .option('--platform <os/arch[/variant]>', 'platform to keep from multi-platform images (default: this host)')
    .option('-q, --quiet', 'no output')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/transfer.js')).load(ctx, opts);
    });
}
