import { CommanderError } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { RUN_FAILED_EXIT } from '../output.js';
import { berthCommand, collect } from './command.js';

/** `berth exec [-i] [-d] [-e K=V] [-w DIR] [-u USER] [--privileged] CONTAINER COMMAND [ARG…]` (also `container exec`) */
export function execCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'exec')
    .description('Run a command in a running container')
    .usage('[options] CONTAINER COMMAND [ARG...]')
    .addHelpText('after', '\nExit status: the command\'s; 126 when it cannot be executed, 127 when it is not found,\n125 when berth failed (the container is not running, a bad option).')
    // docker exits 125 for its own failures, bad options included.
    .exitOverride((err) => {
      throw err.exitCode === 0 ? err : new CommanderError(RUN_FAILED_EXIT, err.code, err.message);
    })
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal (the stdin, stdout and stderr of the command; with -i, this terminal is its input)')
    .option('-d, --detach', 'run the command in the background')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, optionally with group')
    .option('--privileged', 'every capability and no seccomp filter for the command')
    .action(async (id, command, opts) => {
      ctx.exitCode = await (await import('../actions/lifecycle.js')).exec(ctx, id, command, opts);
    });
}
