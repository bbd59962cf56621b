/**
 * Commands that bin.js runs without commander: the listings people type all day and `exec`, whose
 * start-up is most of their time (loading commander and declaring the command cost about 30 ms, a
 * third of Node's own start; bench/RESULTS.md, "start-up"). Only argument lists made of the flags
 * in a command's table below (short boolean ones may be together, `-aq`), then its operands when it
 * takes them, take this path; anything else (`--help`, an unknown flag, a missing operand) goes to
 * main(), which parses it with the command's declaration and reports errors as always. The
 * tables must say what the declarations say: direct.test.ts parses the same argument lists both
 * ways and compares the options and operands.
 *
 * No run-time imports: bin.js carries this module without loading anything else.
 */
import type { CommandContext } from './context.js';

type ImagesOptions = Parameters<typeof import('./actions/images.js').images>[1];
type PsOptions = Parameters<typeof import('./actions/ps.js').ps>[1];
type ExecFlags = import('./actions/lifecycle.js').ExecFlags;
type EarlyExec = import('@berth/runtime/exec').EarlyExec;

/**
 * A flag: the option it sets, to `true`, to `false` (a `--no-x` flag), or to the next word (`=`, a
 * value); a repeatable value flag (commander's `collect`) appends to a list.
 */
type Flag = { set: string; to: boolean } | { set: string; value: true; repeat?: true };

interface DirectCommand {
  flags: Readonly<Record<string, Flag>>;
  /** Options as commander gives them before any flag is seen (a `--no-x` flag's option is `true`). */
  defaults: Readonly<Record<string, unknown>>;
  /**
   * The least number of operands (words that are not flags), for a command that takes them: the
   * first operand ends the flags and every word from it on is an operand (commander's
   * passThroughOptions, `berth exec C sh -c …`). Without it, any operand leaves the command to main().
   */
  operands?: number;
  /**
   * Work started before anything else loads (the context, the command's modules), on the
   * process's environment; its result goes to `run`. `berth exec` spawns its exec child here, so
   * that the child's Node start overlaps the rest of the CLI's.
   */
  early?(env: NodeJS.ProcessEnv, opts: Record<string, unknown>, operands: readonly string[]): Promise<unknown>;
  run(ctx: CommandContext, opts: Record<string, unknown>, operands: readonly string[], early: unknown): Promise<number>;
  /**
   * Imports the modules `run` will import, started with the context's: the ES module loader
   * reads each wave of chunks through the thread pool, so loading them side by side instead of
   * one after another saves a round trip per wave.
   */
  preload(): Promise<unknown>;
}

const on = (set: string): Flag => ({ set, to: true });
const value = (set: string): Flag => ({ set, value: true });
const values = (set: string): Flag => ({ set, value: true, repeat: true });

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
  exec: {
    flags: {
      '-i': on('interactive'),
      '--interactive': on('interactive'),
      '-t': on('tty'),
      '--tty': on('tty'),
      '-d': on('detach'),
      '--detach': on('detach'),
      '-e': values('env'),
      '--env': values('env'),
      '-w': value('workdir'),
      '--workdir': value('workdir'),
      '-u': value('user'),
      '--user': value('user'),
      '--privileged': on('privileged'),
    },
    defaults: {},
    operands: 2,
    // The runtime's exec child, spawned in the container's pid namespace as soon as the container's
    // state is read; the action drives it (or kills it when it does not fit).
    early: async (env, opts, [id]) => {
      const [{ startExecEarly }, { locations }] = await Promise.all([import('@berth/runtime/exec'), import('./env.js')]);
      return startExecEarly({ stateDir: locations(env).state, idOrName: id!, terminal: opts['tty'] === true && opts['detach'] !== true });
    },
    run: async (ctx, opts, [id, ...command], early) =>
      (await import('./actions/lifecycle.js')).exec(ctx, id!, command, opts as ExecFlags, { early: early as EarlyExec | undefined }),
    preload: () => Promise.all([import('./actions/lifecycle.js'), import('@berth/runtime/exec')]),
  },
};

/** The command, its options and operands when `argv` can run without commander; otherwise undefined. */
export function parseDirect(argv: readonly string[]): DirectArgv | undefined {
  const [name, ...rest] = argv;
  if (name === undefined || !Object.hasOwn(DIRECT_COMMANDS, name)) return undefined;
  const command = DIRECT_COMMANDS[name]!;
  const opts: Record<string, unknown> = { ...command.defaults };
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    if (!word.startsWith('-') || word === '-') {
      if (command.operands === undefined || rest.length - i < command.operands) return undefined;
      return { name, opts, operands: rest.slice(i) };
    }
    // `-it`: short boolean flags together, as commander reads them (anything else there goes to main()).
    const words = /^-[a-zA-Z]{2,}$/.test(word) ? [...word.slice(1)].map((c) => `-${c}`) : [word];
    if (words.length > 1 && !words.every((w) => Object.hasOwn(command.flags, w) && 'to' in command.flags[w]!)) return undefined;
    for (const one of words) {
      const eq = one.startsWith('--') ? one.indexOf('=') : -1;
      const flagName = eq > 0 ? one.slice(0, eq) : one;
      if (!Object.hasOwn(command.flags, flagName)) return undefined;
      const flag = command.flags[flagName]!;
      let v: string;
      if ('to' in flag) {
        if (eq > 0) return undefined;
        opts[flag.set] = flag.to;
        continue;
      } else if (eq > 0) {
        v = one.slice(eq + 1);
      } else {
        const next = rest[++i];
        if (next === undefined) return undefined;
        v = next;
      }
      opts[flag.set] = flag.repeat === true ? [...((opts[flag.set] as string[] | undefined) ?? []), v] : v;
    }
  }
  return command.operands === undefined ? { name, opts, operands: [] } : undefined;
}

/** A direct command's argument list, parsed. */
export interface DirectArgv {
  name: string;
  opts: Record<string, unknown>;
  operands: readonly string[];
}

/** Runs a parsed direct command (on the process's context unless given one); resolves to the exit code, as main() would. */
export async function runDirect(direct: DirectArgv, context?: CommandContext): Promise<number> {
  const command = DIRECT_COMMANDS[direct.name]!;
  // First and awaited: started side by side with the imports below, its continuation would
  // run only after their modules have initialised (in the CommonJS file each import() is a
  // promise of code already loaded, and the microtasks run in order).
  const early = await command.early?.(context?.env ?? process.env, direct.opts, direct.operands).catch(() => undefined);
  const [ctx, { commandFailed }] = await Promise.all([context ?? import('./context.js').then(({ Context }) => new Context()), import('./output.js'), command.preload()]);
  try {
    return await command.run(ctx, direct.opts, direct.operands, early);
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
