import { join } from 'node:path';
import { BerthError, describeError, isBerthError } from '@berth/oci';
import type { RunOverrides } from '@berth/runtime';
import type { RunOptions } from '../commands/run.js';
import type { CommandContext } from '../context.js';
import { ExitError, RUN_FAILED_EXIT } from '../output.js';
import { sweep } from '../containers.js';
import { attachNetwork, detachNetwork, networkStore, parseNetworkChoice, planNetwork, runtimeNetworkMode, type NetworkSpecPart } from '../network.js';
import { ensureImage, platformMismatchWarning } from './ensure-image.js';
import { planMounts, releaseMounts } from '../mounts.js';

/** The flags of `berth run` that are the CLI's own, not the container's: they never reach RunOverrides. */
type CliOnly = 'interactive' | 'detach' | 'rm' | 'name' | 'platform' | 'quiet' | 'logDriver' | 'restart' | NetworkFlag | MountFlag;

/** The mount flags: volumes and `--mount` become the runtime's bind mounts and tmpfs (../mounts.ts). */
type MountFlag = 'mount';

/** The network flags: the CLI sets the network up (@berth/network) and gives the runtime its namespace. */
type NetworkFlag = 'network' | 'net' | 'publish' | 'publishAll' | 'dns' | 'dnsSearch' | 'dnsOption' | 'addHost' | 'networkAlias' | 'ip' | 'macAddress';

/** The RunOverrides fields a flag's value (without undefined) fits. */
type FieldsFor<V> = { [K in keyof RunOverrides]-?: [NonNullable<V>] extends [NonNullable<RunOverrides[K]>] ? K : never }[keyof RunOverrides];

/**
 * Which RunOverrides field each container flag sets (`-v` is `volumes`, the rest keep their
 * name). The type demands every flag of the declaration that is not CliOnly, and a field its
 * value fits: a new flag, or a field whose type changes, fails to compile here.
 */
const OVERRIDE_FIELDS = {
  entrypoint: 'entrypoint',
  env: 'env',
  envFile: 'envFile',
  workdir: 'workdir',
  user: 'user',
  hostname: 'hostname',
  capAdd: 'capAdd',
  capDrop: 'capDrop',
  privileged: 'privileged',
  securityOpt: 'securityOpt',
  memory: 'memory',
  memorySwap: 'memorySwap',
  cpus: 'cpus',
  pidsLimit: 'pidsLimit',
  volume: 'volumes',
  tmpfs: 'tmpfs',
  readOnly: 'readOnly',
  init: 'init',
  tty: 'tty',
  ulimit: 'ulimit',
} as const satisfies { [F in Exclude<keyof RunOptions, CliOnly>]-?: FieldsFor<RunOptions[F]> };

/** `--network` or its alias `--net` (both given: they must agree). */
function networkFlag(flags: RunOptions): string | undefined {
  if (flags.network !== undefined && flags.net !== undefined && flags.network !== flags.net) {
    throw new BerthError('EINVAL_ARGUMENT', `conflicting options: --network ${JSON.stringify(flags.network)} and --net ${JSON.stringify(flags.net)}`);
  }
  return flags.network ?? flags.net;
}

/** The runtime's overrides from the parsed flags and the command after the image. */
export function overridesFrom(flags: RunOptions, cmd: string[]): RunOverrides {
  const o: RunOverrides = {};
  if (cmd.length > 0) o.cmd = cmd;
  // The runtime makes or joins a namespace of its own unless the host's is asked for.
  if (runtimeNetworkMode(parseNetworkChoice(networkFlag(flags))) === 'host') o.network = 'host';
  for (const [flag, field] of Object.entries(OVERRIDE_FIELDS) as [keyof typeof OVERRIDE_FIELDS, keyof RunOverrides][]) {
    // Commander leaves an absent flag undefined; a given one is true, a string or a non-empty list.
    const value = flags[flag];
    // The map's type checked that this value fits this field.
    if (value !== undefined) (o as Record<keyof RunOverrides, unknown>)[field] = value;
  }
  return o;
}

/** `berth create [flags] IMAGE [COMMAND [ARG…]]`: `run`'s container, recorded and not started; prints its ID. */
export function create(ctx: CommandContext, image: string, cmd: string[], flags: RunOptions): Promise<number> {
  return run(ctx, image, cmd, flags, 'create');
}

/**
 * `berth run [flags] IMAGE [COMMAND [ARG…]]`: pull if missing, copy the image's
 * snapshot into a fresh rootfs, and run the image's process as PID 1.
 * Resolves to the container's exit status (docker's codes for failures).
 */
export async function run(ctx: CommandContext, image: string, cmd: string[], flags: RunOptions, mode: 'run' | 'create' = 'run'): Promise<number> {
  try {
    return await runContainer(ctx, image, cmd, flags, mode);
  } catch (err) {
    if (err instanceof ExitError) throw err;
    const code = isBerthError(err) && typeof err.details['exitCode'] === 'number' ? (err.details['exitCode'] as number) : RUN_FAILED_EXIT;
    throw new ExitError(code, err instanceof BerthError ? err.message : describeError(err));
  }
}

async function runContainer(ctx: CommandContext, ref: string, cmd: string[], flags: RunOptions, mode: 'run' | 'create'): Promise<number> {
  if (process.getuid?.() !== 0) {
    throw new BerthError('ENOT_ROOT', 'run: berth runs containers as root (namespaces, mounts and cgroups need it); rootless containers are not supported');
  }
  // Docker's check and words; its CLI exits 1 here, berth 125 as for every `run` failure of its own.
  // Only when this terminal is attached: `run -d -it` and `create -it` keep the terminal for a later attach.
  if (flags.tty && flags.interactive && mode === 'run' && !flags.detach && ctx.stdin.isTTY !== true) throw new BerthError('EINVAL_ARGUMENT', 'the input device is not a TTY');
  if (flags.logDriver !== undefined && flags.logDriver !== 'json-file' && flags.logDriver !== 'none') {
    throw new BerthError('EINVAL_ARGUMENT', `invalid --log-driver ${JSON.stringify(flags.logDriver)}: expected json-file or none`);
  }
  const logDriver: 'json-file' | 'none' = flags.logDriver === 'none' ? 'none' : 'json-file';
  const [{ Runtime, buildSpec, checkName, checkRunOverrides, newContainerId, parseRestartPolicy, hasRestartPolicy }, rootfsPkg] = await Promise.all([
    import('@berth/runtime'),
    import('@berth/rootfs'),
  ]);
  const restartPolicy = flags.restart === undefined ? undefined : parseRestartPolicy(flags.restart);
  if (hasRestartPolicy(restartPolicy)) {
    // docker's words; berth has no daemon: a detached container's shim is what restarts it.
    if (flags.rm) throw new BerthError('EINVAL_ARGUMENT', 'Conflicting options: --restart and --rm');
    // `create --restart`: kept once `start` (without -a) hands the container to a shim.
    if (mode === 'run' && !flags.detach) throw new BerthError('EINVAL_ARGUMENT', `--restart ${flags.restart} needs -d: a detached container's shim restarts it (berth has no daemon)`);
  }
  const overrides = overridesFrom(flags, cmd);
  const mounts = planMounts(ctx.loc.root, flags, overrides);
  const networkFlagValue = networkFlag(flags);
  const plan = await planNetwork({ ...flags, ...(networkFlagValue !== undefined ? { network: networkFlagValue } : {}) });
  // Bad flags and a bad name fail before anything is pulled or copied, as with docker.
  checkRunOverrides(overrides);
  if (flags.name !== undefined) checkName(flags.name);
  // An unknown network is refused before anything is pulled (docker: "network X not found").
  if (plan.choice.kind === 'network' && plan.choice.name !== 'bridge' && (await (await networkStore(ctx)).get(plan.choice.name)) === undefined) {
    throw new BerthError('ENOT_FOUND', `network ${JSON.stringify(plan.choice.name)} not found (berth network ls lists them)`);
  }
  const runtime = new Runtime({ stateDir: ctx.loc.state, removeRootfs: rootfsPkg.removeTreeSync });
  // The namespace worker takes tens of ms to start: overlap it with the rootfs copy.
  const warm = runtime.warm(mode === 'create' ? { init: false } : {});
  await sweep(ctx, runtime);
  const image = await ensureImage(ctx, ref, { ...(flags.platform ? { platform: flags.platform } : {}), quiet: Boolean(flags.quiet) });
  const mismatch = flags.platform ? undefined : platformMismatchWarning(image);
  if (mismatch) ctx.stderr.write(`${mismatch}\n`);
  mounts.addImageVolumes(image.config.config?.Volumes);
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
  let networked = false;
  let detached = false;
  try {
    // After the container is recorded, before it starts: the CNI cache names the container, so
    // a berth killed from here on leaves attachments the next command's sweep DELs. The network
    // is set up while the rootfs is copied (the hostname is buildSpec's default for a network).
    networked = plan.choice.kind === 'network';
    const net: NetworkSpecPart = { hostname: overrides.hostname ?? id.slice(0, 12) };
    const networking = attachNetwork(ctx, {
      plan,
      containerId: id,
      ...(flags.name !== undefined ? { name: flags.name } : {}),
      spec: net,
      ...(image.config.config?.ExposedPorts ? { exposedPorts: image.config.config.ExposedPorts } : {}),
      inspect: (c) => runtime.inspect(c),
      list: () => runtime.list(),
    });
    const copying = (async () => {
      const snapshot = await snapshots.ensure({ image });
      const debug = ctx.env['BERTH_DEBUG'] ? (msg: string) => ctx.stderr.write(`debug: ${msg}\n`) : undefined;
      await rootfsPkg.createRootfs({ snapshot: snapshot.path, dest: rootfs, ...(debug ? { log: debug } : {}) });
      // Volumes are seeded from the image's content at their paths: after the copy.
      await mounts.prepare({ containerId: id, rootfs });
    })();
    // Both settle before either error is thrown: the cleanup below must not race a running ADD.
    for (const r of await Promise.allSettled([copying, networking])) if (r.status === 'rejected') throw r.reason;
    const spec = buildSpec({ imageConfig: image.config, rootfs, overrides, containerId: id });
    if (net.netns !== undefined) spec.netns = net.netns;
    if (net.etc !== undefined) spec.etc = net.etc;
    await warm;
    const common = {
      ...recorded,
      spec,
      interactive: Boolean(flags.interactive),
      init: Boolean(flags.init),
      remove: Boolean(flags.rm),
      logDriver,
      ...(restartPolicy !== undefined ? { restartPolicy } : {}),
    };
    // `start` of a stopped container attaches its network again (network-restart.ts).
    const saved = { plan, ...(flags.name !== undefined ? { name: flags.name } : {}), hostname: spec.hostname || id.slice(0, 12), ...(image.config.config?.ExposedPorts ? { exposedPorts: image.config.config.ExposedPorts } : {}) };
    if (mode === 'create' || flags.detach) {
      handedOver = true;
      const info = mode === 'create' ? runtime.create({ ...common, stdio: 'detached' }) : await runtime.start({ ...common, stdio: 'detached' });
      detached = true;
      (await import('../network-restart.js')).saveNetworkPlan(ctx, id, saved);
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
    // docker's --rm removes the container's anonymous volumes with it (a detached one's: `volume prune`).
    if (!handedOver || (flags.rm && !detached)) await releaseMounts(mounts.store, id, { removeAnonymous: true }).catch(() => undefined);
    // A foreground container has stopped (or never started): its address and ports go back,
    // as docker releases them at stop. A detached one's are released by the sweep once it stops.
    if (networked && !detached) await detachNetwork(ctx, id).catch(() => undefined);
  }
}
