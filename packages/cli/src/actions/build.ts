import { join, resolve } from 'node:path';
import { BerthError, Reference, type LayerCompression } from '@berth/oci';
import type { BuildEvent } from '@berth/builder';
import type { BuildFlags } from '../commands/build.js';
import type { CommandContext } from '../context.js';
import { parseFormat, platformFlag, writeJson } from '../output.js';

function parseBuildArgs(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      // docker: `--build-arg NAME` takes the value from the environment
      const value = process.env[item];
      if (value === undefined) throw new BerthError('EINVAL_ARGUMENT', `invalid --build-arg ${JSON.stringify(item)}: expected NAME=VALUE (or NAME set in the environment)`);
      out[item] = value;
    } else {
      out[item.slice(0, eq)] = item.slice(eq + 1);
    }
  }
  return out;
}

function parseCompression(value: string | undefined): LayerCompression | undefined {
  if (value === undefined) return undefined;
  if (value === 'gzip' || value === 'zstd' || value === 'none') return value;
  throw new BerthError('EINVAL_ARGUMENT', `invalid --compression ${JSON.stringify(value)}: expected gzip, zstd or none`);
}

function sourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env['SOURCE_DATE_EPOCH'];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new BerthError('EINVAL_ARGUMENT', `invalid SOURCE_DATE_EPOCH ${JSON.stringify(raw)}: expected seconds since 1970`);
  return Number(raw);
}

/** `berth build [-f recipe.yaml] [-t NAME[:TAG]]… [--build-arg K=V]… [--no-cache] [CONTEXT]` */
export async function build(ctx: CommandContext, contextDir: string | undefined, flags: BuildFlags): Promise<number> {
  const format = parseFormat(flags.format);
  if (flags.network !== undefined && flags.network !== 'none' && flags.network !== 'host') {
    throw new BerthError('EINVAL_ARGUMENT', `invalid --network ${JSON.stringify(flags.network)}: expected "none" or "host"`);
  }
  const tags = (flags.tag ?? []).map((t) => Reference.parse(t));
  const compression = parseCompression(flags.compression);
  const platform = platformFlag(flags.platform);
  const epoch = sourceDateEpoch(ctx.env);
  const [{ build: runBuild }, { Snapshots }, store] = await Promise.all([import('@berth/builder'), import('@berth/rootfs'), ctx.store()]);
  // Loaded only when a step runs: a fully cached build never needs the runtime.
  const runtime = async () => {
    const { Runtime } = await import('@berth/runtime');
    return new Runtime({ stateDir: ctx.loc.state });
  };
  const interrupted = onInterrupt(ctx, runtime);
  const quiet = Boolean(flags.quiet) || format === 'json';
  const log = (line: string) => {
    if (!quiet) ctx.stderr.write(`${line}\n`);
  };
  const onEvent = (e: BuildEvent) => {
    switch (e.type) {
      case 'stage':
        log(`[${e.stage ?? 'final'}] FROM ${e.from}`);
        break;
      case 'pull':
        // ensureImage (below) says it, docker's way: "Unable to find image '…' locally", then the pull's progress.
        break;
      case 'step':
        log(`[${e.stage ?? 'final'} ${e.index + 1}/${e.of}] ${e.text}`);
        break;
      case 'output':
        if (!quiet) ctx.stderr.write(e.data);
        break;
      case 'step-done':
        log(e.cached ? ' ---> CACHED' : ` ---> done in ${(e.ms / 1000).toFixed(2)}s${e.layer ? ` (layer ${e.layer.digest.slice(7, 19)})` : ''}`);
        break;
      case 'warning':
        ctx.stderr.write(`warning: ${e.message}\n`);
        break;
      case 'done':
        break;
    }
  };
  const pull = async (ref: Reference) => {
    const { ensureImage } = await import('./ensure-image.js');
    return ensureImage(ctx, ref.toString(), { ...(flags.platform ? { platform: flags.platform } : {}), quiet });
  };
  const building = runBuild({
    store,
    snapshots: new Snapshots({ root: ctx.snapshotsDir, store }),
    runtime,
    context: resolve(contextDir ?? '.'),
    ...(flags.file !== undefined ? { file: flags.file } : {}),
    tags,
    buildArgs: parseBuildArgs(flags.buildArg),
    noCache: Boolean(flags.noCache),
    ...(flags.network === 'host' || flags.network === 'none' ? { network: flags.network } : {}),
    ...(compression ? { compression } : {}),
    ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}),
    ...(platform ? { platform } : {}),
    pull,
    onEvent,
  });
  let result: Awaited<typeof building>;
  try {
    result = await Promise.race([building, interrupted.signalled]);
  } catch (err) {
    if (interrupted.status() === undefined) throw err;
    result = await interrupted.signalled;
  } finally {
    if (interrupted.status() === undefined) interrupted.dispose();
  }
  if (format === 'json') {
    writeJson(ctx.stdout, { digest: result.digest.toString(), tags: tags.map((t) => t.toString()), steps: result.steps });
    return 0;
  }
  if (!flags.quiet) {
    const cached = result.steps.filter((s) => s.cached).length;
    log(`built ${result.digest} (${result.steps.length} steps, ${cached} cached)`);
    for (const t of tags) log(`tagged ${t.familiar()}`);
  }
  ctx.stdout.write(`${result.digest}\n`);
  return 0;
}

/** Docker's exit status for a command ended by Ctrl-C. */
const EXIT_INTERRUPTED = 130;

/**
 * Ctrl-C (SIGINT) or SIGTERM during a build: one line on stderr, this build's step
 * containers killed and removed, its build trees unmounted and removed, exit 130.
 * `signalled` never resolves (the process exits); `status()` says whether a signal came.
 */
function onInterrupt(ctx: CommandContext, runtime: () => Promise<import('@berth/runtime').Runtime>) {
  let got: NodeJS.Signals | undefined;
  let never: Promise<never> | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (got !== undefined) return;
    got = sig;
    ctx.stderr.write('berth: build interrupted\n');
    void cleanUp().finally(() => process.exit(EXIT_INTERRUPTED));
  };
  const cleanUp = async (): Promise<void> => {
    try {
      const rt = await runtime();
      const mine = (await rt.list()).filter((c) => c.monitorPid === process.pid);
      for (const c of mine) await rt.remove(c.id, { force: true }).catch(() => undefined);
      const { sweepBuildTrees } = await import('@berth/builder');
      await sweepBuildTrees(join(ctx.loc.root, 'builds'), { own: true });
    } catch (err) {
      ctx.stderr.write(`berth: clean up the interrupted build: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, handler);
  return {
    signalled: (never ??= new Promise<never>(() => undefined)),
    status: () => got,
    dispose: () => {
      for (const s of signals) process.off(s, handler);
    },
  };
}
