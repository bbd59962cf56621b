import { BerthError } from '@berth/oci';
import { LibcSyscalls } from '@berth/sys';
import type { Syscalls } from '@berth/sys';
import type { CgroupStats, LimitChange } from '../cgroups/types.js';
import { sharedSpawner } from '../launch/spawner.js';
import type { Spawner } from '../launch/spawner.js';
import type { ResourceSpec } from '../spec/types.js';
import { defaultCgroupProvider } from './cgroup.js';
import { removeTree } from './delete.js';
import { StateStore, defaultStateRoot } from './state.js';

/** A container's cgroup, as the lifecycle uses it (backed by the security engineer's CgroupManager). */
export interface ContainerCgroup {
  addProcess(pid: number): Promise<void>;
  /**
   * How many processes of the cgroup the kernel's OOM killer killed (v2 memory.events
   * oom_kill, v1 memory.oom_control oom_kill; 1 on old v1 kernels that only show that
   * one happened).
   */
  oomKills(): Promise<number>;
  /** Kills what is left in the cgroup and removes it; a missing cgroup is not an error. */
  remove(): Promise<void>;
  /** `pause`/`unpause`: the freezer (CgroupManager.freeze/thaw). */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** `update`: new limits for the live cgroup. */
  update(resources: LimitChange): Promise<void>;
  /** Usage and limits (`stats`). */
  stats(): Promise<CgroupStats>;
  /** The processes in the cgroup (`top`). */
  pids(): Promise<number[]>;
}

export interface CgroupProvider {
  create(id: string, resources: ResourceSpec): Promise<ContainerCgroup>;
  /** The cgroup of an existing container (for delete after the runtime that made it is gone). */
  open(id: string): Promise<ContainerCgroup>;
}

/** What every lifecycle operation works with. */
export interface RuntimeContext {
  store: StateStore;
  sys: Syscalls;
  spawner: Spawner;
  cgroups: CgroupProvider;
  /** Print where the milliseconds go (BERTH_DEBUG_TIMING=1). */
  timing: boolean;
  /** Deletes an owned rootfs (RuntimeOptions.removeRootfs). */
  removeRootfs: (dir: string) => void;
}

export interface RuntimeOptions {
  /** Where container state lives (default: BERTH_STATE, else /run/berth). */
  stateDir?: string;
  /** The system-call layer (default: @berth/sys's LibcSyscalls, libc through koffi). */
  syscalls?: Syscalls;
  /** Print per-phase timings to stderr (default: BERTH_DEBUG_TIMING=1). */
  debugTiming?: boolean;
  /** Cgroup backend (default: the host's cgroup v1/v2 manager). */
  cgroups?: CgroupProvider;
  /**
   * Deletes the rootfs of a container that owns it (`ownsRootfs`), synchronously. Default:
   * the runtime's own tree removal, which refuses to cross mounts. Pass @berth/rootfs's
   * `removeTreeSync` to also clear inode flags and destroy btrfs subvolumes whole.
   */
  removeRootfs?: (dir: string) => void;
}

/** Builds the context every lifecycle operation uses. */
export function runtimeContext(opts: RuntimeOptions & { spawner?: Spawner } = {}): RuntimeContext {
  return {
    store: new StateStore(opts.stateDir ?? defaultStateRoot()),
    sys: opts.syscalls ?? new LibcSyscalls(),
    spawner: opts.spawner ?? sharedSpawner(),
    cgroups: opts.cgroups ?? defaultCgroupProvider(),
    timing: opts.debugTiming ?? process.env['BERTH_DEBUG_TIMING'] === '1',
    removeRootfs: opts.removeRootfs ?? removeTree,
  };
}

/** Refuses `doing` to a caller that is not root (namespaces, mounts and cgroups need it). */
export function requireRoot(doing: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new BerthError('ENOT_ROOT', `${doing}: berth runs containers as root (namespaces, mounts, cgroups)`);
  }
}
