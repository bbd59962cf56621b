/**
 * Commands that bin.js runs without commander: the listings people type all day, whose start-up
 * is most of their time (loading commander and declaring the command cost about 30 ms, a third
 * of Node's own start; bench/RESULTS.md, "start-up"). Only argument lists made of the flags in a
 * command's table below take this path; anything else (`--help`, an unknown or combined flag
 * such as `-aq`, an argument) goes to main(), which parses it with the command's declaration
 * and reports errors as always. The tables must say what the declarations say: direct.test.ts
 * parses the same argument lists both ways and compares the options.
 *
 * No run-time imports: bin.js carries this module without loading anything else.
 */
import type { CommandContext } from './context.js';

type ImagesOptions = Parameters<typeof import('./actions/images.js').images>[1];
type PsOptions = Parameters<typeof import('./actions/ps.js').ps>[1];

/** A flag: the option it sets, to `true`, to `false` (a `--no-x` flag), or to the next word (`=`, a value). */
type Flag = { set: string; to: boolean } | { set: string; value: true };

interface DirectCommand {
  flags: Readonly<Record<string, Flag>>;
  /** Options as commander gives them before any flag is seen (a `--no-x` flag's option is `true`). */
  defaults: Readonly<Record<string, unknown>>;
  run(ctx: CommandContext, opts: Record<string, unknown>): Promise<number>;
  /**
   * Imports the modules `run` will import, started with the context's: the ES module loader
   * reads each wave of chunks through the thread pool, so loading them side by side instead of
   * one after another saves a round trip per wave.
   */
  preload(): Promise<unknown>;
}

const on = (set: string): Flag => ({ set, to: true });
const value = (set: string): Flag => ({ set, value: true });

/** The commands and their flags (as declared in src/commands/<name>.ts). */
export const DIRECT_COMMANDS: Readonly<Record<string, DirectCommand>> = {
  images: {
    flags: { '--format': value('format'), '-q': on('quiet'), '--quiet': on('quiet'), '--digests': on('digests'), '--no-trunc': { set: 'trunc', to: false } },
    defaults: { trunc: true },
    // The options are as commander would give them (direct.test.ts checks it).
    run: async (ctx, opts) => (await import('./actions/images.js')).images(ctx, opts as ImagesOptions),
    preload: () => Promise.all([import('./actions/images.js'), import('@berth/store')]),
  },
  ps: {
    flags: { '-a': on('all'), '--all': on('all'), '-q': on('quiet'), '--quiet': on('quiet'), '--format': value('format') },
    defaults: {},
    run: async (ctx, opts) => (await import('./actions/ps.js')).ps(ctx, opts as PsOptions),
    preload: () => Promise.all([import('./actions/ps.js'), import('@berth/runtime/listing')]),
  },
};

/** The command and its options when `argv` can run without commander; otherwise undefined. */
export function parseDirect(argv: readonly string[]): { name: string; opts: Record<string, unknown> } | undefined {
  const [name, ...rest] = argv;
  if (name === undefined || !Object.hasOwn(DIRECT_COMMANDS, name)) return undefined;
  const command = DIRECT_COMMANDS[name]!;
  const opts: Record<string, unknown> = { ...command.defaults };
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const flagName = eq > 0 ? word.slice(0, eq) : word;
    if (!Object.hasOwn(command.flags, flagName)) return undefined;
    const flag = command.flags[flagName]!;
    if ('to' in flag) {
      if (eq > 0) return undefined;
      opts[flag.set] = flag.to;
    } else if (eq > 0) {
      opts[flag.set] = word.slice(eq + 1);
    } else {
      const next = rest[++i];
      if (next === undefined) return undefined;
      opts[flag.set] = next;
    }
  }
  return { name, opts };
}

/** Runs a parsed direct command (on the process's context unless given one); resolves to the exit code, as main() would. */
export async function runDirect(direct: { name: string; opts: Record<string, unknown> }, context?: CommandContext): Promise<number> {
  const command = DIRECT_COMMANDS[direct.name]!;
  const [ctx, { commandFailed }] = await Promise.all([context ?? import('./context.js').then(({ Context }) => new Context()), import('./output.js'), command.preload()]);
  try {
    return await command.run(ctx, direct.opts);
  } catch (err) {
    return commandFailed(ctx, err);
  }
}

/** Sets the process's exit code from a command's run, as bin.js does for every command (an unexpected rejection: "internal error", 1). */
export async function settle(run: Promise<number>): Promise<void> {
  await run.then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`berth: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
