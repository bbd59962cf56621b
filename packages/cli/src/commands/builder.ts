import type { CommandContext } from '../context.js';
import { builderPruneCommand } from './builder-prune.js';
import { berthCommand } from './command.js';

/** `berth builder prune` */
export function builderCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'builder').description('Manage the build cache').addCommand(builderPruneCommand(ctx));
}
