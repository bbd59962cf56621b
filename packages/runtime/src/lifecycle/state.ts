import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '@berth/oci';
import type { InitConfig } from '../init/config.js';
import type { RestartPolicy } from './restart-policy.js';
import { processStartTime } from './proc.js';

export { processStartTime };

export type ContainerStatus = 'created' | 'running' | 'stopped';

/** docker's log drivers berth has: json-file (the default: `container.log`, or `container.out` for a foreground container) and none. */
export type LogDriver = 'json-file' | 'none';

/** `$BERTH_STATE/<id>/state.json`: everything berth knows about one container. */
export interface ContainerState {
  version: 1;
  /** 64 hex characters. */
  id: string;
  name: string;
  status: ContainerStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Host pid of the container's PID 1 while it runs. */
  pid?: number;
  /** Start time of `pid` (field 22 of /proc/<pid>/stat): tells a live process from a reused pid. */
  pidStartTime?: number;
  /**
   * The process that owns the container: from creation on, the process creating it (the CLI);
   * once started, the runtime's process (foreground) or the shim (detached). When it is gone
   * the container is dead, whatever its status says (see describe()).
   */
  monitorPid?: number;
  monitorStartTime?: number;
  /** Exit status (128+N for signal N); null when unknown (the monitor died). */
  exitCode?: number | null;
  /** Name of the signal that ended PID 1, if any. */
  signal?: string;
  /** The OOM killer killed PID 1 (the main process). */
  oomKilled?: boolean;
  /** How many of the container's processes the OOM killer killed (PID 1 or others). */
  oomKills?: number;
  /** Frozen by `pause` (the cgroup freezer) until `unpause`; only meaningful while running. */
  paused?: boolean;
  /**
   * Between two runs under a restart policy (docker's `State.Restarting`): the status stays
   * `running` (the container keeps its network and stays in `ps`), with no pid, the last
   * exit in exitCode/finishedAt, until its monitor (the shim) starts it again or a user's
   * stop ends it.
   */
  restarting?: boolean;
  /** `--restart` (absent: `no`). */
  restartPolicy?: RestartPolicy;
  /** How many times the restart policy restarted the container (docker's `RestartCount`). */
  restartCount?: number;
  /** `--log-driver` (absent: json-file). */
  logDriver?: LogDriver;
  /** Why starting failed (one line), if it did. */
  error?: string;
  rootfs: string;
  /** Delete the rootfs directory with the container (a per-container copy). */
  ownsRootfs: boolean;
  image?: { reference: string; digest: string };
  command: string[];
  detached: boolean;
  tty: boolean;
  /**
   * `-i` at creation (docker's `OpenStdin`): a detached container's stdin is a pipe its shim
   * keeps open for `attach`, and `start -a -i` connects the caller's stdin. Absent: /dev/null.
   */
  openStdin?: boolean;
  /** `--rm`: delete once stopped. */
  autoRemove: boolean;
  /** The container has (or may have: set before start creates it) a cgroup, removed with it. */
  cgroup: boolean;
  /**
   * Set by prepareContainer(): the state was written before the rootfs was made (it names the
   * rootfs so a kill during the copy leaves nothing unnamed); createContainer() completes it.
   */
  preparing?: boolean;
}

/** The public view of a container: its state, with the status checked against the live processes. */
export interface ContainerInfo extends ContainerState {
  shortId: string;
  /** docker-like: `Created`, `Up`, `Restarting (0)`, `Exited (0)`, `Exited (unknown)`. */
  statusText: string;
}

export function canStart(s: Pick<ContainerState, 'status'>): boolean {
  return s.status === 'created';
}
export function canKill(s: Pick<ContainerState, 'status'>): boolean {
  return s.status === 'running';
}
export function canDelete(s: Pick<ContainerState, 'status'>, force = false): boolean {
  return s.status !== 'running' || force;
}

const ID_RE = /^[0-9a-f]{64}$/;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** A new container id: 64 random hex characters. */
export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

export function isContainerId(id: string): boolean {
  return ID_RE.test(id);
}

export function checkName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new BerthError('EINVAL_ARGUMENT', `invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, {
      details: { flag: '--name' },
    });
  }
  return name;
}

/**
 * State root of a Runtime given no `stateDir`: BERTH_STATE if set, else /run/berth, whoever runs it.
 * (The CLI passes its own, which for non-root users defaults to `$XDG_RUNTIME_DIR/berth`: cli/src/env.ts.)
 */
export function defaultStateRoot(): string {
  return process.env['BERTH_STATE'] ?? '/run/berth';
}

/**
 * Writes a file atomically: a temp file in the same directory, renamed over the
 * target, so readers see the old or the new content, never a mix. No fsync:
 * runtime state lives in /run (tmpfs) and is meaningless after a reboot, and
 * an fsync per state change costs milliseconds on every `run`.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** True when `pid` runs and started at `startTime` (not a reused pid). */
export function isAlive(pid: number | undefined, startTime: number | undefined): boolean {
  if (pid === undefined) return false;
  const now = processStartTime(pid);
  return now !== undefined && (startTime === undefined || now === startTime);
}

/** State directories being written by prepareContainer(): `.new-<pid>-<id>`, renamed to `<id>` once whole. */
export const STAGING_PREFIX = '.new-';
/** State directories being deleted: `.gone-<id>-<pid>` (StateStore.remove). */
export const GONE_PREFIX = '.gone-';

/** The file in a directory of per-container rootfs copies that names the state root owning them (see sweep.ts). */
export const ROOTFS_OWNER_FILE = '.berth-state';

/** The container directories under one state root, and the name reservations. */
export class StateStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    if (!isContainerId(id)) throw new BerthError('EINVAL_ARGUMENT', `container id ${id}: not 64 hex characters`);
    return path.join(this.root, id);
  }

  file(id: string, name: string): string {
    return path.join(this.dir(id), name);
  }

  ensureRoot(): void {
    fs.mkdirSync(path.join(this.root, 'names'), { recursive: true, mode: 0o711 });
  }

  /** Reserves `name` for `id` (O_EXCL file): names are unique. A stale reservation (its container is gone) is taken over. */
  reserveName(name: string, id: string): void {
    checkName(name);
    this.ensureRoot();
    const file = path.join(this.root, 'names', name);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, id, { flag: 'wx', mode: 0o644 });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw BerthError.wrap(`reserve name ${name}`, err, 'ERUNTIME');
      }
      let owner = '';
      try {
        owner = fs.readFileSync(file, 'utf8').trim();
      } catch {
        // Removed meanwhile: retry.
      }
      if (owner !== '' && isContainerId(owner) && fs.existsSync(this.dir(owner))) {
        throw new BerthError('EIN_USE', `create container: name "${name}" is already in use by container ${owner.slice(0, 12)}`, {
          details: { name, id: owner },
        });
      }
      fs.rmSync(file, { force: true });
    }
    throw new BerthError('EIN_USE', `create container: name "${name}" is being reserved concurrently`);
  }

  releaseName(name: string, id: string): void {
    const file = path.join(this.root, 'names', name);
    try {
      if (fs.readFileSync(file, 'utf8').trim() === id) fs.rmSync(file, { force: true });
    } catch {
      // Already gone.
    }
  }

  read(id: string): ContainerState | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.file(id, 'state.json'), 'utf8')) as ContainerState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw BerthError.wrap(`read state of container ${id.slice(0, 12)}`, err, 'ERUNTIME');
    }
  }

  write(state: ContainerState): void {
    writeFileAtomic(this.file(state.id, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  }

  /**
   * Removes a container's state directory, atomically as far as readers go: it is renamed
   * to `.gone-<id>-<pid>` first (a kill from here on leaves no half state that a list would
   * show or skip), then deleted. sweepContainers() deletes `.gone-` leftovers.
   */
  remove(id: string): void {
    const gone = path.join(this.root, `${GONE_PREFIX}${id}-${process.pid}`);
    try {
      fs.renameSync(this.dir(id), gone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw BerthError.wrap(`remove state of container ${id.slice(0, 12)}`, err, 'ERUNTIME');
    }
    fs.rmSync(gone, { recursive: true, force: true });
  }

  /** Applies `change` to the stored state (if the container still exists) and writes it back. */
  update(id: string, change: (s: ContainerState) => void): ContainerState | undefined {
    const s = this.read(id);
    if (s === undefined) return undefined;
    change(s);
    try {
      this.write(s);
    } catch (err) {
      // Deleted concurrently (`rm -f` while the monitor records the exit): nothing to update.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return s;
  }

  /** This process as a container's monitor: its pid and start time. */
  static self(): { monitorPid: number; monitorStartTime?: number } {
    const st = processStartTime(process.pid);
    return st === undefined ? { monitorPid: process.pid } : { monitorPid: process.pid, monitorStartTime: st };
  }

  ids(): string[] {
    let entries: string[];
    try {
      entries = fs.readdirSync(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return entries.filter(isContainerId);
  }

  /** Finds a container by full id, unique id prefix, or name. */
  resolve(idOrName: string): string {
    if (isContainerId(idOrName) && fs.existsSync(this.dir(idOrName))) return idOrName;
    try {
      const owner = fs.readFileSync(path.join(this.root, 'names', idOrName), 'utf8').trim();
      if (isContainerId(owner) && fs.existsSync(this.dir(owner))) return owner;
    } catch {
      // Not a name.
    }
    if (/^[0-9a-f]+$/.test(idOrName)) {
      const matches = this.ids().filter((id) => id.startsWith(idOrName));
      if (matches.length === 1) return matches[0] as string;
      if (matches.length > 1) {
        throw new BerthError('EINVAL_ARGUMENT', `find container ${idOrName}: the prefix matches ${matches.length} containers`);
      }
    }
    throw new BerthError('ECONTAINER_UNKNOWN', `find container ${idOrName}: no such container`, { details: { container: idOrName } });
  }
}

/**
 * True when a created or running container has lost its owner: its monitor (the process that
 * created it, then the runtime's process or the shim) is gone, checked by pid and start time.
 * A container without a recorded monitor (state from before monitors were recorded at
 * creation) counts as dead only once it ran.
 */
export function monitorDead(s: Pick<ContainerState, 'status' | 'monitorPid' | 'monitorStartTime'>): boolean {
  if (s.status === 'stopped') return false;
  if (s.monitorPid === undefined) return s.status === 'running';
  return !isAlive(s.monitorPid, s.monitorStartTime);
}

/**
 * Oldest first, for sort(). A plain comparison of the ISO 8601 times: String#localeCompare
 * loads ICU's collator at its first call, about 10 ms of a `berth ps`.
 */
export function byCreatedAt(a: { createdAt: string }, b: { createdAt: string }): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0;
}

/** The public view: the stored state with a dead monitor turned into "stopped, exit unknown". */
export function describe(state: ContainerState): ContainerInfo {
  const s: ContainerState = { ...state };
  if (monitorDead(s)) {
    s.status = 'stopped';
    s.exitCode = null;
    delete s.restarting;
  }
  return { ...s, shortId: s.id.slice(0, 12), statusText: statusText(s) };
}

function statusText(s: ContainerState): string {
  if (s.status === 'created') return 'Created';
  if (s.status === 'running') return s.restarting === true ? `Restarting (${s.exitCode ?? 0})` : 'Up';
  if (s.exitCode === null || s.exitCode === undefined) return 'Exited (unknown)';
  return `Exited (${s.exitCode})`;
}

/** The init config written by createContainer. */
export function readInitConfig(ctx: { store: StateStore }, id: string): InitConfig {
  try {
    return JSON.parse(fs.readFileSync(ctx.store.file(id, 'config.json'), 'utf8')) as InitConfig;
  } catch (err) {
    throw BerthError.wrap(`read config of container ${id.slice(0, 12)}`, err);
  }
}
