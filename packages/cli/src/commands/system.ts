import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';
import { systemPruneCommand } from './system-prune.js';

/** `berth system prune` */
export function systemCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'system').description('Manage berth').addCommand(systemPruneCommand(ctx));
}
