import type { CommandContext } from '../context.js';
import { alias, berthCommand } from './command.js';
import { infoCommand } from './info.js';
import { systemDfCommand } from './system-df.js';
import { systemPruneCommand } from './system-prune.js';

/** `berth system prune|df|info` */
export function systemCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'system')
    .description('Manage berth')
    .addCommand(systemPruneCommand(ctx))
    .addCommand(systemDfCommand(ctx))
    .addCommand(alias(infoCommand(ctx), 'info', 'Display system-wide information'));
}
