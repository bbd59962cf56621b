import type { CgroupStats, LimitChange } from '../cgroups/types.js';
import type { Spawner } from '../launch/spawner.js';
import type { ResourceSpec } from '../spec/types.js';
import type { Syscalls } from '@berth/sys';
import type { StateStore } from './state.js';

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
