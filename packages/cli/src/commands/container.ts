import type { Command } from '@commander-js/extra-typings';
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
import { commitCommand } from './commit.js';
import { cpCommand } from './cp.js';
import { updateCommand } from './update.js';
import { logsCommand } from './logs.js';
import { portCommand } from './port.js';
import { psCommand } from './ps.js';
import { rmCommand } from './rm.js';
import { stopCommand } from './stop.js';

/**
 * The verbs on containers that are both top-level (`berth stop`) and under `berth container`
 * (`berth container stop`), in help order: one list, so the two cannot drift apart.
 */
export function containerVerbs(ctx: CommandContext): Array<Parameters<Command['addCommand']>[0]> {
  return [
    stopCommand(ctx),
    killCommand(ctx),
    rmCommand(ctx),
    logsCommand(ctx),
    portCommand(ctx),
    pauseCommand(ctx),
    unpauseCommand(ctx),
    renameCommand(ctx),
    updateCommand(ctx),
    topCommand(ctx),
    statsCommand(ctx),
    exportCommand(ctx),
    diffCommand(ctx),
    commitCommand(ctx),
    cpCommand(ctx),
  ];
}

/** `berth container ls|stop|kill|rm|logs|port|pause|unpause|rename|update|top|stats|export|diff|inspect|prune` */
export function containerCommand(ctx: CommandContext) {
  const group = berthCommand(ctx, 'container').description('Manage containers').addCommand(psCommand(ctx).name('ls'));
  for (const verb of containerVerbs(ctx)) group.addCommand(verb);
  return group.addCommand(containerInspectCommand(ctx)).addCommand(containerPruneCommand(ctx));
}
