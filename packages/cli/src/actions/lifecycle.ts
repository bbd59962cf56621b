import { BerthError, describeError, isBerthError } from '@berth/oci';
import type { EarlyExec } from '@berth/runtime/exec';
import type { CommandContext } from '../context.js';
import { sweep } from '../containers.js';
import { detachNetwork } from '../network.js';
import { reattachNetwork } from '../network-restart.js';
import { ExitError, RUN_FAILED_EXIT, eachName, usageError } from '../output.js';

/**
 * The container lifecycle on the runtime's create/start split: `start`, `restart`, `wait`,
 * `attach` and `exec` (`create` is run.ts's `create`).
 */

async function runtime(ctx: CommandContext) {
  const [{ Runtime }, rootfs] = await Promise.all([import('@berth/runtime'), import('@berth/rootfs')]);
  return new Runtime({ stateDir: ctx.loc.state, removeRootfs: rootfs.removeTreeSync });
}

type Rt = Awaited<ReturnType<typeof runtime>>;

/** A `run`-family failure as docker exits: the error's exitCode (125/126/127), else 125. */
function runFailure(err: unknown): ExitError {
  if (err instanceof ExitError) return err;
  const code = isBerthError(err) && typeof err.details['exitCode'] === 'number' ? (err.details['exitCode'] as number) : RUN_FAILED_EXIT;
  return new ExitError(code, err instanceof BerthError ? err.message : describeError(err));
}

/** Starts one container detached (its network attached again when it was stopped). */
async function startOne(ctx: CommandContext, rt: Rt, id: string): Promise<void> {
  const etc = await reattachNetwork(ctx, rt, id);
  try {
    await rt.startCreated(id, etc === undefined ? {} : { etc });
  } catch (err) {
    if (etc !== undefined) await detachNetwork(ctx, (await rt.inspect(id)).id).catch(() => undefined);
    throw err;
  }
}

/**
 * `berth start [-a] [-i] CONTAINER…`: created (or stopped) containers started under a shim; docker
 * prints each name. With `-a` (one container), it runs attached in this process and the exit
 * status is the container's (a `--rm` container is removed after it exits).
 */
export async function start(ctx: CommandContext, ids: string[], opts: { attach?: boolean; interactive?: boolean }): Promise<number> {
  if (process.getuid?.() !== 0) throw new BerthError('ENOT_ROOT', 'start: berth runs containers as root');
  const rt = await runtime(ctx);
  await sweep(ctx, rt);
  if (opts.attach || opts.interactive) {
    if (ids.length !== 1) throw usageError('start: you cannot start and attach multiple containers at once');
    const id = ids[0] as string;
    let full: string;
    try {
      const info = await rt.inspect(id);
      // Before its network is touched: a refused start leaves the container as it was.
      (await import('@berth/runtime')).refuseAttachedStart(id, info.restartPolicy);
      full = info.id;
    } catch (err) {
      throw runFailure(err);
    }
    const etc = await reattachNetwork(ctx, rt, full);
    try {
      const r = await rt.runCreated(full, { interactive: Boolean(opts.interactive), ...(etc === undefined ? {} : { etc }) });
      return r.exitCode;
    } catch (err) {
      throw runFailure(err);
    } finally {
      // Stopped (or removed): its address and ports go back, as docker releases them.
      await detachNetwork(ctx, full).catch(() => undefined);
    }
  }
  return eachName(ctx, ids, (id) => startOne(ctx, rt, id));
}

/** `berth restart [-t N] CONTAINER…`: stop (signal, SIGKILL after N s), then start again with the same ID. */
export async function restart(ctx: CommandContext, ids: string[], opts: { time?: string }): Promise<number> {
  if (process.getuid?.() !== 0) throw new BerthError('ENOT_ROOT', 'restart: berth runs containers as root');
  const timeoutSec = opts.time === undefined ? 10 : Number(opts.time);
  if (!Number.isFinite(timeoutSec) || timeoutSec < 0) throw usageError(`invalid --time ${JSON.stringify(opts.time)}: expected seconds`);
  const rt = await runtime(ctx);
  await sweep(ctx, rt);
  return eachName(ctx, ids, async (id) => {
    const info = await rt.inspect(id);
    if (info.status === 'running') {
      await rt.stop(info.id, { timeoutSec });
      await detachNetwork(ctx, info.id);
    }
    await startOne(ctx, rt, info.id);
  });
}

/** `berth wait CONTAINER…`: blocks until each stops and prints its exit code (docker's). */
export async function wait(ctx: CommandContext, ids: string[]): Promise<number> {
  const rt = await runtime(ctx);
  return eachName(ctx, ids, async (id) => {
    // docker waits for a created container to be started and to stop.
    while ((await rt.inspect(id)).status === 'created') await new Promise((r) => setTimeout(r, 100));
    const info = await rt.wait(id);
    return `${info.exitCode ?? -1}`;
  });
}

/**
 * `berth attach [--no-stdin] [--sig-proxy=false] [--detach-keys KEYS] CONTAINER`: this terminal on
 * a running detached container (Runtime.attach, through its shim): its output from now on,
 * stdout and stderr apart, stdin when it was created with `-i`, until it stops; exits with its
 * status. The detach keys (a tty) leave it running: docker's "read escape sequence", exit 1.
 */
export async function attach(ctx: CommandContext, id: string, opts: { sigProxy?: boolean; stdin?: boolean; detachKeys?: string }): Promise<number> {
  const [rt, { DEFAULT_DETACH_KEYS, parseDetachKeys }] = await Promise.all([runtime(ctx), import('@berth/runtime')]);
  const detachKeys = parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS);
  const r = await rt.attach(id, { sigProxy: opts.sigProxy !== false, stdin: opts.stdin !== false, detachKeys });
  if (r.detached) {
    ctx.stderr.write('read escape sequence\n');
    return 1;
  }
  return r.exitCode;
}

/** `berth exec` flags. */
export interface ExecFlags {
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  env?: string[];
  workdir?: string;
  user?: string;
  privileged?: boolean;
}

/**
 * `berth exec [-i] [-t] [-d] [-e K=V] [-w DIR] [-u USER] [--privileged] CONTAINER CMD…`: a process in a
 * running container; exits with its status, 126 when it cannot be executed, 127 when it is
 * not found, 125 when berth failed (the container is not running, a bad flag). `ahead.early`:
 * the exec child the direct path spawned first (src/direct.ts); otherwise it is spawned here,
 * before the rest loads. `@berth/runtime/exec` (Runtime.exec's code without the runtime's index)
 * drives it when it fits; it is killed otherwise.
 */
export async function exec(ctx: CommandContext, id: string, cmd: string[], flags: ExecFlags, ahead: { early?: EarlyExec | undefined } = {}): Promise<number> {
  let early = ahead.early;
  try {
    if (process.getuid?.() !== 0) throw new BerthError('ENOT_ROOT', 'exec: berth runs containers as root');
    // Docker's check and words (as run -it's).
    if (flags.tty && flags.interactive && ctx.stdin.isTTY !== true) throw new BerthError('EINVAL_ARGUMENT', 'the input device is not a TTY');
    if (cmd.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'exec: no command given');
    // The exec child starts (a Node start of its own) while the rest of the exec path loads.
    const { execInRunningContainer, startExecEarly } = await import('@berth/runtime/exec');
    early ??= startExecEarly({ stateDir: ctx.loc.state, idOrName: id, terminal: Boolean(flags.tty) && !flags.detach });
    const r = await execInRunningContainer({
      stateDir: ctx.loc.state,
      container: id,
      request: {
        args: cmd,
        ...(flags.env ? { env: flags.env } : {}),
        ...(flags.workdir !== undefined ? { cwd: flags.workdir } : {}),
        ...(flags.user !== undefined ? { user: flags.user } : {}),
        privileged: Boolean(flags.privileged),
        interactive: Boolean(flags.interactive),
        detach: Boolean(flags.detach),
        tty: Boolean(flags.tty),
      },
      early,
    });
    return r.exitCode;
  } catch (err) {
    throw runFailure(err);
  } finally {
    // A no-op once Runtime.exec took it; a child left waiting would keep this process alive.
    early?.discard();
  }
}
