import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth stats [--no-stream] [--format table|json] [CONTAINER…]` (also `container stats`) */
export function statsCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'stats')
    .description(
      "Show running containers' CPU %, memory use / limit, network and block I/O and pids from their cgroups (v1 or v2), as docker. Unlike docker: --format takes table or json (no Go templates), the first sample comes after a second (no daemon keeps the previous one), BLOCK I/O is -- where the cgroup has no blkio/io accounting",
    )
    .argument('[container...]')
    .option('--no-stream', 'print one sample and exit')
    .option('--format <format>', 'table or json')
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/stats.js')).stats(ctx, ids, opts);
    });
}
