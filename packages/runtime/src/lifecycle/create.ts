import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '@berth/oci';
import type { InitConfig } from '../init/config.js';
import { compileSeccomp, SECCOMP_COMPILER_VERSION } from '../security/libseccomp.js';
import type { ContainerSpec } from '../spec/types.js';
import type { RuntimeContext } from './context.js';
import { cgroupMountPlan, deviceNodes, etcFileContents, findInitBinary } from './host.js';
import { ROOTFS_OWNER_FILE, STAGING_PREFIX, StateStore, checkName, isContainerId, newContainerId, writeFileAtomic } from './state.js';

export { ROOTFS_OWNER_FILE };
import type { ContainerState, LogDriver } from './state.js';
import type { RestartPolicy } from './restart-policy.js';

export interface CreateRequest {
  id?: string;
  name?: string;
  rootfs: string;
  spec: ContainerSpec;
  tty: boolean;
  init: boolean;
  autoRemove: boolean;
  detached: boolean;
  ownsRootfs: boolean;
  image?: { reference: string; digest: string };
  /** `--restart` (kept by the shim of a detached container). */
  restartPolicy?: RestartPolicy;
  /** `--log-driver none`: nothing of the output is kept. */
  logDriver?: LogDriver;
  /** `-i`: the container's stdin stays open for `attach` / `start -a -i` (ContainerState.openStdin). */
  openStdin?: boolean;
}

/** What prepareContainer() records before the caller makes the rootfs. */
export interface PrepareRequest {
  id?: string;
  name?: string;
  rootfs: string;
  autoRemove: boolean;
  detached: boolean;
  tty: boolean;
  ownsRootfs: boolean;
  image?: { reference: string; digest: string };
}


/**
 * `prepare`: records a container before anything irreversible is done for it
 * (the rootfs copy): reserves the name (a taken or invalid one fails here, before
 * a byte is copied) and writes state.json (status `created`, `preparing`, this
 * process as the monitor, the rootfs path and --rm). The state directory appears
 * whole (written under a staging name, then renamed), so a kill at any moment
 * leaves either nothing or a state that names every resource; a later berth
 * command removes it once this process is gone (sweepContainers). createContainer()
 * completes it.
 */
export function prepareContainer(ctx: RuntimeContext, req: PrepareRequest): ContainerState {
  const id = req.id ?? newContainerId();
  if (!isContainerId(id)) throw new BerthError('EINVAL_ARGUMENT', `create container: id ${id} is not 64 hex characters`);
  if (req.name !== undefined) checkName(req.name);
  const store = ctx.store;
  const name = req.name ?? `berth-${id.slice(0, 12)}`;
  const rootfs = path.resolve(req.rootfs);
  store.ensureRoot();
  if (req.ownsRootfs) markRootfsOwner(path.dirname(rootfs), store.root);
  store.reserveName(name, id);
  const state: ContainerState = {
    version: 1,
    id,
    name,
    status: 'created',
    createdAt: new Date().toISOString(),
    ...StateStore.self(),
    rootfs,
    ownsRootfs: req.ownsRootfs,
    command: [],
    detached: req.detached,
    tty: req.tty,
    autoRemove: req.autoRemove,
    cgroup: false,
    preparing: true,
  };
  if (req.image !== undefined) state.image = { ...req.image };
  const staging = path.join(store.root, `${STAGING_PREFIX}${process.pid}-${id}`);
  try {
    fs.mkdirSync(staging, { mode: 0o711 });
    writeFileAtomic(path.join(staging, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
    fs.renameSync(staging, store.dir(id));
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    store.releaseName(name, id);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') throw new BerthError('EIN_USE', `create container: id ${id.slice(0, 12)} exists`);
    throw BerthError.wrap('create container', err);
  }
  return state;
}

/** Records which state root owns the rootfs copies in `dir` (once; a copy directory used by another state root keeps its first owner). */
function markRootfsOwner(dir: string, stateRoot: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
    fs.writeFileSync(path.join(dir, ROOTFS_OWNER_FILE), `${path.resolve(stateRoot)}\n`, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw BerthError.wrap(`create container: record the owner of ${dir}`, err);
  }
}

/**
 * `create`: reserves the id and name (or takes over a container prepareContainer()
 * recorded), and writes everything `start` needs into
 * `$BERTH_STATE/<id>/`: the etc files the container gets bind-mounted
 * (hostname, hosts, resolv.conf, as docker does), the init's config (spec +
 * host-side plan: devices, cgroup mounts, compiled seccomp filter) and
 * state.json (status `created`, this process as the monitor). No process runs yet.
 * A prepared container that cannot be completed is removed whole (its rootfs too,
 * when it owns it).
 */
export function createContainer(ctx: RuntimeContext, req: CreateRequest): ContainerState {
  const id = req.id ?? newContainerId();
  if (!isContainerId(id)) throw new BerthError('EINVAL_ARGUMENT', `create container: id ${id} is not 64 hex characters`);
  const store = ctx.store;
  const prepared = req.id === undefined ? undefined : store.read(id);
  if (prepared !== undefined && !(prepared.preparing && prepared.monitorPid === process.pid)) {
    throw new BerthError('EIN_USE', `create container: id ${id.slice(0, 12)} exists`);
  }
  const discardPrepared = (): void => {
    if (prepared === undefined) return;
    if (prepared.ownsRootfs) {
      try {
        ctx.removeRootfs(prepared.rootfs);
      } catch {
        // Keep the state, which names the rootfs: a later sweep retries once this process is gone.
        return;
      }
    }
    store.remove(id);
    store.releaseName(prepared.name, id);
  };
  try {
    return writeContainer(ctx, id, req, prepared);
  } catch (err) {
    discardPrepared();
    throw err;
  }
}

function writeContainer(ctx: RuntimeContext, id: string, req: CreateRequest, prepared: ContainerState | undefined): ContainerState {
  const rootfs = path.resolve(req.rootfs);
  let st: fs.Stats;
  try {
    st = fs.statSync(rootfs);
  } catch (err) {
    throw BerthError.wrap(`create container: rootfs ${rootfs}`, err, 'EROOTFS');
  }
  if (!st.isDirectory()) throw new BerthError('EROOTFS', `create container: rootfs ${rootfs} is not a directory`);
  if (prepared !== undefined && prepared.rootfs !== rootfs) {
    throw new BerthError('EINVAL_ARGUMENT', `create container: rootfs ${rootfs} is not the one prepared (${prepared.rootfs})`);
  }

  createBindSources(req.spec);

  const initBinary = req.init || req.spec.init ? findInitBinary() : null;
  if ((req.init || req.spec.init) && initBinary === null) {
    throw new BerthError('ERUNTIME', 'create container: --init needs tini (apt install tini) or BERTH_INIT_BINARY');
  }
  const spec: ContainerSpec = {
    ...req.spec,
    rootfs,
    hostname: req.spec.hostname === '' ? id.slice(0, 12) : req.spec.hostname,
    init: req.init || req.spec.init,
    process: { ...req.spec.process, terminal: req.tty },
  };

  const store = ctx.store;
  const name = prepared?.name ?? req.name ?? `berth-${id.slice(0, 12)}`;
  const dir = store.dir(id);
  if (prepared === undefined) {
    store.ensureRoot();
    store.reserveName(name, id);
    try {
      fs.mkdirSync(dir, { mode: 0o711 });
    } catch (err) {
      store.releaseName(name, id);
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new BerthError('EIN_USE', `create container: id ${id.slice(0, 12)} exists`);
      throw BerthError.wrap('create container', err);
    }
  }

  try {
    const etc = etcFileContents(spec);
    const etcFiles = { hostname: path.join(dir, 'hostname'), hosts: path.join(dir, 'hosts'), resolvConf: path.join(dir, 'resolv.conf') };
    fs.writeFileSync(etcFiles.hostname, etc.hostname, { mode: 0o644 });
    fs.writeFileSync(etcFiles.hosts, etc.hosts, { mode: 0o644 });
    fs.writeFileSync(etcFiles.resolvConf, etc.resolvConf, { mode: 0o644 });

    const config: InitConfig = {
      version: 1,
      id,
      spec,
      etcFiles,
      initBinary: spec.init ? initBinary : null,
      devices: deviceNodes(spec.privileged),
      // A private cgroup namespace (made by the init once it is in its cgroup) roots the
      // container's view of /sys/fs/cgroup at its own cgroup; without one, nothing is mounted
      // there rather than the host's whole hierarchy.
      cgroupNamespace: hasCgroupNamespaces(),
      cgroup: hasCgroupNamespaces() ? cgroupMountPlan() : { version: 'none' },
      seccompProgram: spec.seccomp === null ? null : compiledSeccomp(ctx.store.root, spec.seccomp),
      tty: req.tty,
      timing: ctx.timing,
    };
    // Not atomic (no temp file and rename): the directory is new and nothing reads the
    // config before this container's start.
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600, flag: 'wx' });

    const state: ContainerState = {
      version: 1,
      id,
      name,
      status: 'created',
      createdAt: prepared?.createdAt ?? new Date().toISOString(),
      // The creator owns the container until start() hands it to the runtime's process or the shim.
      ...StateStore.self(),
      rootfs,
      ownsRootfs: req.ownsRootfs,
      command: [...spec.process.args],
      detached: req.detached,
      tty: req.tty,
      autoRemove: req.autoRemove,
      // Set before start creates the cgroup (one state write less per start): removing a
      // cgroup that was never made is a no-op.
      cgroup: true,
    };
    if (req.image !== undefined) state.image = { ...req.image };
    if (req.restartPolicy !== undefined) state.restartPolicy = { ...req.restartPolicy };
    if (req.logDriver !== undefined) state.logDriver = req.logDriver;
    if (req.openStdin === true) state.openStdin = true;
    store.write(state);
    return state;
  } catch (err) {
    if (prepared === undefined) {
      fs.rmSync(dir, { recursive: true, force: true });
      store.releaseName(name, id);
    }
    throw err instanceof BerthError ? err : BerthError.wrap('create container', err);
  }
}


/**
 * The seccomp filter for a profile, base64. Compiling (libseccomp) costs tens of
 * ms, so programs are cached by the profile's hash: in memory, and in
 * `<state root>/.cache/seccomp/` for the next berth process.
 */
const seccompMemo = new Map<string, string>();
export function compiledSeccomp(stateRoot: string, profile: NonNullable<ContainerSpec['seccomp']>): string {
  // The compiler's version too: a program compiled by an older berth (no -ENOSYS stub) is not reused.
  const key = createHash('sha256').update(`${process.arch}\0${SECCOMP_COMPILER_VERSION}\0${JSON.stringify(profile)}`).digest('hex');
  const memo = seccompMemo.get(key);
  if (memo !== undefined) return memo;
  const dir = path.join(stateRoot, '.cache', 'seccomp');
  const file = path.join(dir, `${key}.bpf`);
  let program: Buffer | undefined;
  try {
    program = fs.readFileSync(file);
    // A BPF program is a list of 8-byte instructions; anything else is a torn or foreign file.
    if (program.length === 0 || program.length % 8 !== 0) program = undefined;
  } catch {
    // Not cached yet.
  }
  if (program === undefined) {
    program = Buffer.from(compileSeccomp(profile).program);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(file, program, 0o600);
    } catch {
      // A cache we cannot write is just a slower start.
    }
  }
  const b64 = program.toString('base64');
  seccompMemo.set(key, b64);
  return b64;
}

function hasCgroupNamespaces(): boolean {
  return fs.existsSync('/proc/self/ns/cgroup');
}

/** `-v HOST:…` with a missing HOST: make it a directory, as docker does (MountSpec.createSource). */
function createBindSources(spec: ContainerSpec): void {
  for (const m of spec.mounts) {
    if (m.type !== 'bind' || m.createSource !== true || fs.existsSync(m.source)) continue;
    try {
      fs.mkdirSync(m.source, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw BerthError.wrap(`create container: create the host directory ${m.source} for ${m.destination}`, err, 'EINVAL_ARGUMENT');
    }
  }
}
