import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';
import { containerInspectCommand } from './container-inspect.js';
import { containerPruneCommand } from './container-prune.js';
import { killCommand } from './kill.js';
import { pauseCommand, unpauseCommand } from './pause.js';
import { renameCommand } from './rename.js';
import { topCommand } from './top.js';
import { statsCommand } from './stats.js';
import { exportCommand } from './export.js';
import { diffCommand } from './diff.js';
import { updateCommand } from './update.js';
import { logsCommand } from './logs.js';
import { psCommand } from './ps.js';
import { rmCommand } from './rm.js';
import { stopCommand } from './stop.js';

/** `berth container ls|stop|kill|rm|logs|pause|unpause|rename|inspect|prune` */
export function containerCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'container')
    .description('Manage containers')
    .addCommand(psCommand(ctx).name('ls'))
    .addCommand(stopCommand(ctx))
    .addCommand(killCommand(ctx))
    .addCommand(rmCommand(ctx))
    .addCommand(logsCommand(ctx))
    .addCommand(pauseCommand(ctx))
    .addCommand(unpauseCommand(ctx))
    .addCommand(renameCommand(ctx))
    .addCommand(updateCommand(ctx))
    .addCommand(topCommand(ctx))
    .addCommand(statsCommand(ctx))
    .addCommand(exportCommand(ctx))
    .addCommand(diffCommand(ctx))
    .addCommand(containerInspectCommand(ctx))
    .addCommand(containerPruneCommand(ctx));
}
