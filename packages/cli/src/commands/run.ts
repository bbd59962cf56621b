import { join } from 'node:path';
import { isatty } from 'node:tty';
import { BerthError, describeError, isBerthError } from '@berth/oci';
import type { RunOverrides } from '@berth/runtime';
import type { Context } from '../context.js';
import { ExitError, RUN_FAILED_EXIT } from '../output.js';
import { sweep } from '../containers.js';
import { ensureImage, platformMismatchWarning } from './ensure-image.js';

/** The flags that reach the runtime's RunOverrides under the same name and type. */
type SameAsOverrides =
  | 'tty'
  | 'env'
  | 'envFile'
  | 'workdir'
  | 'user'
  | 'hostname'
  | 'entrypoint'
  | 'capAdd'
  | 'capDrop'
  | 'privileged'
  | 'securityOpt'
  | 'memory'
  | 'memorySwap'
  | 'cpus'
  | 'tmpfs'
  | 'readOnly'
  | 'init'
  | 'ulimit';

/** Flags of `berth run`, as commander hands them over. */
export interface RunFlags extends Pick<RunOverrides, SameAsOverrides> {
  interactive?: boolean;
  detach?: boolean;
  rm?: boolean;
  name?: string;
  /** Commander's string; RunOverrides also takes a number. */
  pidsLimit?: string;
  /** `-v`, repeatable: RunOverrides' `volumes`. */
  volume?: string[];
  /** Unchecked text: overridesFrom() accepts only "none" and "host". */
  network?: string;
  platform?: string;
  quiet?: boolean;
}


function overridesFrom(flags: RunFlags, cmd: string[]): RunOverrides {
  if (flags.network !== undefined && flags.network !== 'none' && flags.network !== 'host') {
    throw new BerthError('EINVAL_ARGUMENT', `invalid --network ${JSON.stringify(flags.network)}: expected "none" or "host"`);
  }
  const o: RunOverrides = {};
  if (cmd.length > 0) o.cmd = cmd;
  if (flags.entrypoint !== undefined) o.entrypoint = flags.entrypoint;
  if (flags.env) o.env = flags.env;
  if (flags.envFile) o.envFile = flags.envFile;
  if (flags.workdir !== undefined) o.workdir = flags.workdir;
  if (flags.user !== undefined) o.user = flags.user;
  if (flags.hostname !== undefined) o.hostname = flags.hostname;
  if (flags.capAdd) o.capAdd = flags.capAdd;
  if (flags.capDrop) o.capDrop = flags.capDrop;
  if (flags.privileged) o.privileged = true;
  if (flags.securityOpt) o.securityOpt = flags.securityOpt;
  if (flags.memory !== undefined) o.memory = flags.memory;
  if (flags.memorySwap !== undefined) o.memorySwap = flags.memorySwap;
  if (flags.cpus !== undefined) o.cpus = flags.cpus;
  if (flags.pidsLimit !== undefined) o.pidsLimit = flags.pidsLimit;
  if (flags.volume) o.volumes = flags.volume;
  if (flags.tmpfs) o.tmpfs = flags.tmpfs;
  if (flags.readOnly) o.readOnly = true;
  if (flags.network === 'host' || flags.network === 'none') o.network = flags.network;
  if (flags.init) o.init = true;
  if (flags.tty) o.tty = true;
  if (flags.ulimit) o.ulimit = flags.ulimit;
  return o;
}

/**
 * `berth run [flags] IMAGE [COMMAND [ARG…]]`: pull if missing, copy the image's
 * snapshot into a fresh rootfs, and run the image's process as PID 1.
 * Resolves to the container's exit status (docker's codes for failures).
 */
export async function run(ctx: Context, image: string, cmd: string[], flags: RunFlags): Promise<number> {
  try {
    return await runContainer(ctx, image, cmd, flags);
  } catch (err) {
    if (err instanceof ExitError) throw err;
    const code = isBerthError(err) && typeof err.details['exitCode'] === 'number' ? (err.details['exitCode'] as number) : RUN_FAILED_EXIT;
    throw new ExitError(code, err instanceof BerthError ? err.message : describeError(err));
  }
}

async function runContainer(ctx: Context, ref: string, cmd: string[], flags: RunFlags): Promise<number> {
  if (process.getuid?.() !== 0) {
    throw new BerthError('ENOT_ROOT', 'run: berth runs containers as root (namespaces, mounts and cgroups need it); rootless containers are not supported');
  }
  // Docker's check and words; its CLI exits 1 here, berth 125 as for every `run` failure of its own.
  if (flags.tty && flags.interactive && !isatty(0)) throw new BerthError('EINVAL_ARGUMENT', 'the input device is not a TTY');
  const overrides = overridesFrom(flags, cmd);
  const [{ Runtime, buildSpec, checkName, checkRunOverrides, newContainerId }, rootfsPkg] = await Promise.all([import('@berth/runtime'), import('@berth/rootfs')]);
  // Bad flags and a bad name fail before anything is pulled or copied, as with docker.
  checkRunOverrides(overrides);
  if (flags.name !== undefined) checkName(flags.name);
  const runtime = new Runtime({ stateDir: ctx.loc.state, removeRootfs: rootfsPkg.removeTreeSync });
  // The namespace worker takes tens of ms to start: overlap it with the rootfs copy.
  const warm = runtime.warm();
  await sweep(ctx, runtime);
  const image = await ensureImage(ctx, ref, { ...(flags.platform ? { platform: flags.platform } : {}), quiet: Boolean(flags.quiet) });
  const mismatch = flags.platform ? undefined : platformMismatchWarning(image);
  if (mismatch) ctx.stderr.write(`${mismatch}\n`);
  const store = await ctx.store();
  const snapshots = new rootfsPkg.Snapshots({ root: ctx.snapshotsDir, store });
  const id = newContainerId();
  // The runtime deletes the rootfs with the container (`ownsRootfs`), so it is the whole per-container directory.
  const rootfs = join(ctx.containersDir, id);
  const reference = image.reference?.toString() ?? image.descriptor.digest;
  const recorded = {
    id,
    rootfs,
    ownsRootfs: true,
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    tty: Boolean(flags.tty),
    detached: Boolean(flags.detach),
    image: { reference, digest: image.descriptor.digest },
  };
  // The container is recorded (name reserved, rootfs path, --rm) before its rootfs is copied:
  // a taken name fails here with nothing copied, and a kill during the copy leaves a state that
  // the next berth command's sweep removes with the partial copy.
  runtime.prepare({ ...recorded, autoRemove: Boolean(flags.rm) });
  let handedOver = false;
  try {
    const snapshot = await snapshots.ensure({ image });
    const debug = ctx.env['BERTH_DEBUG'] ? (msg: string) => ctx.stderr.write(`debug: ${msg}\n`) : undefined;
    await rootfsPkg.createRootfs({ snapshot: snapshot.path, dest: rootfs, ...(debug ? { log: debug } : {}) });
    const spec = buildSpec({ imageConfig: image.config, rootfs, overrides, containerId: id });
    await warm;
    const common = {
      ...recorded,
      spec,
      interactive: Boolean(flags.interactive),
      init: Boolean(flags.init),
      remove: Boolean(flags.rm),
    };
    if (flags.detach) {
      handedOver = true;
      const info = await runtime.start({ ...common, stdio: 'detached' });
      ctx.stdout.write(`${info.id}\n`);
      return 0;
    }
    handedOver = true;
    const result = await runtime.run({ ...common, stdio: 'inherit' });
    const limit = `--memory ${flags.memory ?? 'limit'}`;
    if (result.oomKilled) ctx.stderr.write(`berth: container ${id.slice(0, 12)} was killed: out of memory (${limit})\n`);
    else if (result.oomKills > 0) ctx.stderr.write(`berth: container ${id.slice(0, 12)}: out of memory (${limit}): the kernel killed ${result.oomKills === 1 ? '1 process' : `${result.oomKills} processes`}, not the main one\n`);
    return result.exitCode;
  } finally {
    // Until the runtime has the container, it is ours to remove (its rootfs with it).
    if (!handedOver) await runtime.remove(id, { force: true }).catch(() => undefined);
  }
}
