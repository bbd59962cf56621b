import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';
import { createCommand } from './create.js';
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
import { attachCommand } from './attach.js';
import { execCommand } from './exec.js';
import { restartCommand } from './restart.js';
import { startCommand } from './start.js';
import { waitCommand } from './wait.js';

/**
 * The verbs on containers that are both top-level (`berth stop`) and under `berth container`
 * (`berth container stop`), in help order, each by its name: one table, so the two cannot drift
 * apart, and main() can build just the one that runs.
 */
export const CONTAINER_VERBS = {
  start: startCommand,
  stop: stopCommand,
  restart: restartCommand,
  exec: execCommand,
  attach: attachCommand,
  wait: waitCommand,
  kill: killCommand,
  rm: rmCommand,
  logs: logsCommand,
  port: portCommand,
  pause: pauseCommand,
  unpause: unpauseCommand,
  rename: renameCommand,
  update: updateCommand,
  top: topCommand,
  stats: statsCommand,
  export: exportCommand,
  diff: diffCommand,
  commit: commitCommand,
  cp: cpCommand,
} satisfies Record<string, (ctx: CommandContext) => Parameters<Command['addCommand']>[0]>;

/** The container verbs, built, in help order. */
export function containerVerbs(ctx: CommandContext): Array<Parameters<Command['addCommand']>[0]> {
  return Object.values(CONTAINER_VERBS).map((build) => build(ctx));
}

/** `berth container ls|create|start|stop|restart|exec|attach|wait|kill|rm|logs|port|pause|unpause|rename|update|top|stats|export|diff|inspect|prune` */
export function containerCommand(ctx: CommandContext) {
  const group = berthCommand(ctx, 'container').description('Manage containers').addCommand(psCommand(ctx).name('ls')).addCommand(createCommand(ctx));
  for (const verb of containerVerbs(ctx)) group.addCommand(verb);
  return group.addCommand(containerInspectCommand(ctx)).addCommand(containerPruneCommand(ctx));
}
