import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { USAGE_HINT } from '../output.js';

/**
 * A new command with berth's parser settings, the same for every command: usage errors throw
 * (main() turns them into exit 2) after `berth: <message>` and the hint; help, errors and the
 * help's width go through the context's streams.
 */
export function berthCommand(ctx: CommandContext, name: string): Command {
  return new Command(name)
    .enablePositionalOptions()
    .showHelpAfterError(USAGE_HINT)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      outputError: (s, write) => write(`berth: ${s.replace(/^error: /, '')}`),
      getOutHelpWidth: () => (ctx.stdout.isTTY ? ctx.stdout.columns : undefined) ?? 80,
      getErrHelpWidth: () => (ctx.stderr.isTTY ? ctx.stderr.columns : undefined) ?? 80,
    });
}

/** The parsed options of a command module's command, as its declaration types them (for its handler). */
export type OptionsOf<F extends (ctx: CommandContext) => CommandUnknownOpts> = ReturnType<ReturnType<F>['opts']>;

/** Repeatable options (`-e A=1 -e B=2`) collect into a list. */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * A command under a group's name for it (`image ls` for `images`, `image rm` for `rmi`): the
 * same flags and handler; its help shows this description and, as it always has, no option
 * descriptions.
 */
export function alias<C extends CommandUnknownOpts>(cmd: C, name: string, description: string): C {
  cmd.name(name).description(description);
  for (const o of cmd.options) o.description = '';
  return cmd;
}
