import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth container inspect CONTAINER…` */
export function containerInspectCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'inspect')
    .description('Show container state as JSON')
    .argument('<container...>')
    .option('-f, --format <format>', "json, or a Go template as docker's: '{{.State.Status}}', '{{json .Config.Env}}'")
    .action(async (ids, opts) => {
      ctx.exitCode = await (await import('../actions/containers.js')).inspectContainer(ctx, ids, opts);
    });
}
