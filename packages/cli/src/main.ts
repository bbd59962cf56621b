import { CommanderError, type Command } from '@commander-js/extra-typings';
import { buildCommand } from './commands/build.js';
import { builderCommand } from './commands/builder.js';
import { berthCommand } from './commands/command.js';
import { CONTAINER_VERBS, containerCommand } from './commands/container.js';
import { createCommand } from './commands/create.js';
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
import { BERTH_VERSION, commandFailed, RUN_FAILED_EXIT, USAGE_EXIT } from './output.js';

/**
 * berth's top-level commands, in the order `berth --help` lists them: each name (what the user
 * types first) with the function that declares it. To add a command, add its row here (or, for a
 * subcommand, in its group's module). Each command module declares its flags and imports its
 * handler (`src/actions/`) only when it runs.
 */
export const COMMANDS = {
  pull: pullCommand,
  images: imagesCommand,
  inspect: inspectCommand,
  history: historyCommand,
  tag: tagCommand,
  rmi: rmiCommand,
  image: imageCommand,
  login: loginCommand,
  logout: logoutCommand,
  unpack: unpackCommand,
  run: runCommand,
  create: createCommand,
  ps: psCommand,
  ...CONTAINER_VERBS,
  container: containerCommand,
  network: networkCommand,
  volume: volumeCommand,
  system: systemCommand,
  build: buildCommand,
  builder: builderCommand,
  push: pushCommand,
  save: saveCommand,
  load: loadCommand,
  import: importCommand,
  version: versionCommand,
  info: infoCommand,
} satisfies Record<string, (ctx: CommandContext) => Parameters<Command['addCommand']>[0]>;

/**
 * The `berth` program. With `argv` whose first word names a command of COMMANDS, only that
 * command is declared (declaring all of them cost 10 to 30 ms at every start); otherwise (no
 * command, an option such as `--help`, `help`, an unknown word) all are, so help lists them
 * and commander can suggest the nearest name.
 */
export function program(ctx: CommandContext, argv: readonly string[] = []): Command {
  const root = berthCommand(ctx, 'berth')
    .description('berth: pull, build, unpack and run OCI container images')
    .version(BERTH_VERSION, '-v, --version');
  const first = argv[0];
  const only = first !== undefined && Object.hasOwn(COMMANDS, first) ? COMMANDS[first as keyof typeof COMMANDS] : undefined;
  for (const build of only ? [only] : Object.values(COMMANDS)) root.addCommand(build(ctx));
  return root;
}

/** Run berth with these arguments; resolves to the exit code. */
export async function main(argv: string[], ctx: CommandContext = new Context()): Promise<number> {
  ctx.exitCode = undefined;
  const prog = program(ctx, argv);
  try {
    await prog.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return err.exitCode === RUN_FAILED_EXIT ? RUN_FAILED_EXIT : USAGE_EXIT;
    }
    // A bad argument found by a command (usageError) gets the hint commander gives for its own.
    return commandFailed(ctx, err);
  }
  if (ctx.exitCode === undefined) {
    prog.outputHelp();
    return USAGE_EXIT;
  }
  return ctx.exitCode;
}
