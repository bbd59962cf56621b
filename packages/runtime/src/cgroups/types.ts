/** Limits a container's cgroup gets (the `resources` of a ContainerSpec). */
export interface CgroupResources {
  /** Memory limit in bytes. */
  memory?: number;
  /** Memory + swap in bytes (docker's --memory-swap); -1 = unlimited swap. */
  memorySwap?: number;
  /** CPUs (1.5 = a quota of 150ms per 100ms period). */
  cpus?: number;
  /** Maximum number of tasks (negative: unlimited). */
  pidsLimit?: number;
  /** Device access: docker's default allow-list, or everything (privileged); v1 devices controller, v2 eBPF program. Absent: not restricted. */
  devices?: 'default' | 'all';
  /** With devices 'default': further allow rules ("c 5:1 rwm"), as an engine's config.json lists them. */
  extraDeviceRules?: readonly string[];
  /** Relative CPU weight (runtime-spec cpu.shares, v1 cpu.shares; v2 cpu.weight by runc's conversion). */
  cpuShares?: number;
}

/** What update() may change: the limits, never the device rules. */
export type LimitChange = Pick<CgroupResources, 'memory' | 'memorySwap' | 'cpus' | 'cpuShares' | 'pidsLimit'>;

export interface CgroupStats {
  memory: {
    /** Current usage in bytes (v2 memory.current, v1 memory.usage_in_bytes). */
    usage: number;
    /** The limit in bytes, absent when unlimited. */
    limit?: number;
    /** Peak usage when the kernel reports it (v2 memory.peak, v1 memory.max_usage_in_bytes). */
    peak?: number;
    /** Page cache the kernel can drop (inactive_file of memory.stat): docker's stats leave it out of the usage. */
    inactiveFile?: number;
  };
  /** CPU time of all its processes in nanoseconds (v2 cpu.stat usage_usec, v1 cpuacct.usage), when readable. */
  cpuNs?: number;
  /** Bytes read and written on block devices (v2 io.stat, v1 blkio.throttle.io_service_bytes), when readable. */
  io?: { read: number; write: number };
  /** Did the kernel OOM-kill a process of this cgroup? */
  oomKilled: boolean;
  /** How many OOM kills (0 when the kernel does not count them). */
  oomKills: number;
  pids: {
    current: number;
    limit?: number;
  };
}

/**
 * One container's cgroup (youki's manager, berth-sized). `create` (or `open`
 * for an existing one) binds the manager to a container id; the other methods
 * act on that cgroup. The runtime creates it before the init runs, adds the
 * init's pid, reads stats (OOM!) after exit and removes it on delete.
 */
export interface CgroupManager {
  readonly version: 1 | 2;
  /** The container id this manager is bound to (after create/open). */
  readonly id: string | undefined;
  /** Create the cgroup (and its parents, enabling controllers on v2) and write the limits. */
  create(id: string, resources: CgroupResources): Promise<void>;
  /** Bind to an existing cgroup (e.g. to remove it after the runtime process died). */
  open(id: string): void;
  /** Change the memory, swap, CPU and pids limits of the bound cgroup (those given; the others stay). */
  update(resources: Omit<CgroupResources, 'devices'>): Promise<void>;
  /** Move a process (and, on v2, nothing else: threads follow) into the cgroup. */
  addProcess(pid: number): Promise<void>;
  stats(): Promise<CgroupStats>;
  /** Host paths of the cgroup: { unified } on v2, one per controller on v1. */
  paths(): Record<string, string>;
  /**
   * Freeze every process of the cgroup (`pause`: v2 cgroup.freeze, v1 freezer.state) and wait
   * until the kernel reports it frozen; thaw() undoes it. frozen(): the kernel's current word.
   */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  frozen(): Promise<boolean>;
  /** Change the limits of the live cgroup (`update`): only those given; the controller must be there. */
  update(resources: LimitChange): Promise<void>;
  /** The pids in the cgroup (its children's too). */
  pids(): Promise<number[]>;
  /**
   * Kill every remaining process (v2 cgroup.kill, or freeze + SIGKILL + thaw),
   * wait for the cgroup to empty and remove it, retrying EBUSY. Idempotent.
   */
  remove(): Promise<void>;
}

/**
 * The file operations a manager makes, all on paths under its root. The real
 * implementation is node:fs; tests wrap it to record writes and to emulate
 * what the kernel does on a fake tree (interface files on mkdir, rmdir of a
 * directory that still has them).
 */
export interface CgroupIo {
  readFile(path: string): Promise<string>;
  writeFile(path: string, data: string): Promise<void>;
  /** mkdir -p. */
  mkdir(path: string): Promise<void>;
  /** rmdir: fails with EBUSY while processes remain, ENOTEMPTY with child cgroups. */
  rmdir(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Names of the subdirectories (child cgroups). */
  subdirs(path: string): Promise<string[]>;
  kill(pid: number, signal: NodeJS.Signals): void;
  /** cgroup v2: attach an eBPF device program allowing only `rules` ("c 1:3 rwm") to the cgroup directory. */
  attachDeviceFilter(dir: string, rules: readonly string[]): void;
}

export interface CgroupManagerOptions {
  /** Where the cgroup file systems are mounted (default /sys/fs/cgroup). */
  root?: string;
  /** Parent cgroup under which containers go, relative to the root of each hierarchy (default "berth"). */
  parent?: string;
  /** Force a version instead of detecting it from the root. */
  version?: 1 | 2;
  io?: CgroupIo;
  /** How many times remove() polls/retries before giving up (default 100, with growing delays up to 100 ms). */
  removeAttempts?: number;
}
