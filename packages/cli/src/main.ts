import { CommanderError, type Command } from '@commander-js/extra-typings';
import { buildCommand } from './commands/build.js';
import { builderCommand } from './commands/builder.js';
import { berthCommand, USAGE_HINT } from './commands/command.js';
import { containerCommand, containerVerbs } from './commands/container.js';
import { importCommand } from './commands/import.js';
import { imageCommand } from './commands/image.js';
import { historyCommand } from './commands/history.js';
import { imagesCommand } from './commands/images.js';
import { infoCommand } from './commands/info.js';
import { inspectCommand } from './commands/inspect.js';
import { loadCommand } from './commands/load.js';
import { loginCommand } from './commands/login.js';
import { logoutCommand } from './commands/logout.js';
import { networkCommand } from './commands/network.js';
import { psCommand } from './commands/ps.js';
import { pullCommand } from './commands/pull.js';
import { pushCommand } from './commands/push.js';
import { rmiCommand } from './commands/rmi.js';
import { runCommand } from './commands/run.js';
import { saveCommand } from './commands/save.js';
import { systemCommand } from './commands/system.js';
import { tagCommand } from './commands/tag.js';
import { unpackCommand } from './commands/unpack.js';
import { versionCommand } from './commands/version.js';
import { volumeCommand } from './commands/volume.js';
import { Context, type CommandContext } from './context.js';
import { BERTH_VERSION, errorLine, ExitError, RUN_FAILED_EXIT, USAGE_EXIT } from './output.js';

/**
 * The `berth` program: the commands of `src/commands/`, in the order `berth --help` lists them.
 * Each declares its flags and imports its handler (`src/actions/`) only when it runs.
 */
export function program(ctx: CommandContext): Command {
  const root = berthCommand(ctx, 'berth')
    .description('berth: pull, build, unpack and run OCI container images')
    .version(BERTH_VERSION, '-v, --version')
    .addCommand(pullCommand(ctx))
    .addCommand(imagesCommand(ctx))
    .addCommand(inspectCommand(ctx))
    .addCommand(historyCommand(ctx))
    .addCommand(tagCommand(ctx))
    .addCommand(rmiCommand(ctx))
    .addCommand(imageCommand(ctx))
    .addCommand(loginCommand(ctx))
    .addCommand(logoutCommand(ctx))
    .addCommand(unpackCommand(ctx))
    .addCommand(runCommand(ctx))
    .addCommand(psCommand(ctx));
  for (const verb of containerVerbs(ctx)) root.addCommand(verb);
  return root
    .addCommand(containerCommand(ctx))
    .addCommand(networkCommand(ctx))
    .addCommand(volumeCommand(ctx))
    .addCommand(systemCommand(ctx))
    .addCommand(buildCommand(ctx))
    .addCommand(builderCommand(ctx))
    .addCommand(pushCommand(ctx))
    .addCommand(saveCommand(ctx))
    .addCommand(loadCommand(ctx))
    .addCommand(importCommand(ctx))
    .addCommand(versionCommand(ctx))
    .addCommand(infoCommand(ctx));
}

/** Run berth with these arguments; resolves to the exit code. */
export async function main(argv: string[], ctx: CommandContext = new Context()): Promise<number> {
  ctx.exitCode = undefined;
  const prog = program(ctx);
  try {
    await prog.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return err.exitCode === RUN_FAILED_EXIT ? RUN_FAILED_EXIT : USAGE_EXIT;
    }
    ctx.stderr.write(`${errorLine(err)}\n`);
    // A bad argument found by a command (usageError) gets the hint commander gives for its own.
    if (err instanceof ExitError && err.exitCode === USAGE_EXIT) ctx.stderr.write(`${USAGE_HINT}\n`);
    if (ctx.env['BERTH_DEBUG'] && err instanceof Error) ctx.stderr.write(`${err.stack}\n`);
    return err instanceof ExitError ? err.exitCode : 1;
  }
  if (ctx.exitCode === undefined) {
    prog.outputHelp();
    return USAGE_EXIT;
  }
  return ctx.exitCode;
}
