import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth logs [-f] [-n N] [--since T] [--until T] [-t] CONTAINER` (also `container logs`) */
export function logsCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'logs')
    .description("Print a container's output (detached or foreground: every container keeps a log, as in docker)")
    .argument('<container>')
    .option('-f, --follow', 'keep printing new output')
    .option('-n, --tail <lines>', 'only the last N lines ("all" for everything)', 'all')
    .option('--since <time>', 'only output since a timestamp (2026-01-02T13:23:37Z, Unix seconds) or a duration before now (42m)')
    .option('--until <time>', 'only output before a timestamp or a duration before now')
    .option('-t, --timestamps', 'prefix each line with its time (RFC 3339, nanoseconds, UTC)')
    .action(async (id, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).logs(ctx, id, opts);
    });
}
