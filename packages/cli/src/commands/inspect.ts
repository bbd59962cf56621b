import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth inspect REF…` */
export function inspectCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'inspect')
    .description('Show an image manifest and config as JSON')
    .argument('<reference...>')
    .option('-f, --format <format>', "json, or a Go template as docker's: '{{.Id}}', '{{json .Config.config.Env}}', '{{range …}}…{{end}}'")
    .action(async (refs, opts) => {
      ctx.exitCode = await (await import('../actions/inspect.js')).inspect(ctx, refs, opts);
    });
}
