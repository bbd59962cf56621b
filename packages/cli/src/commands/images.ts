import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/**
 * `berth images [-q] [--digests] [--no-trunc] [--format json]` (also `image ls`). As docker:
 * REPOSITORY TAG IMAGE ID CREATED SIZE, `-q` short IDs; berth's image ID is the platform
 * manifest digest, and `--format json` adds the platform.
 */
export function imagesCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'images')
    .description('List images in the store')
    .option('--format <format>', "table, json, or a Go template over docker's fields ('{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}} {{.Size}}')")
    .option('-q, --quiet', 'only image IDs')
    .option('--digests', 'show the repo digests')
    .option('--no-trunc', 'do not truncate image IDs')
    .action(async (opts) => {
      ctx.exitCode = await (await import('../actions/images.js')).images(ctx, opts);
    });
}
