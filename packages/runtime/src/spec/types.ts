import type { SeccompProfile } from '../security/seccomp-types.js';

/**
 * The container spec berth's init child executes: OCI-runtime-spec-like, plain
 * JSON (no bigints, no functions) so the runtime can hand it to the init over a
 * pipe or a file. Produced by `buildSpec()`; consumed by the runtime core and by
 * `applyProcessSecurity()`.
 */
export interface ContainerSpec {
  /** Bumped when the shape changes incompatibly. */
  version: 1;
  /** Host path of the container's root filesystem (prepared by @berth/rootfs). */
  rootfs: string;
  process: ProcessSpec;
  hostname: string;
  /**
   * User mounts only (`-v`, `--tmpfs`), in the order given. The standard mounts
   * (/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys, cgroup) are the runtime's job.
   */
  mounts: MountSpec[];
  /** Remount the root read-only after setup (`--read-only`). */
  readonlyRootfs: boolean;
  /** 'none': a fresh network namespace with only loopback; 'host': the host's. */
  network: NetworkMode;
  /** Namespaces to unshare for the container (the network one only with network 'none'). */
  namespaces: NamespaceKind[];
  /**
   * A network namespace to join instead of making an empty one (with 'network' in
   * `namespaces`): a bind-mounted namespace file from @berth/network's setup
   * (`$BERTH_STATE/netns/<id>`), or another container's `/proc/<pid>/ns/net`.
   */
  netns?: string;
  /** The texts of /etc/hosts and /etc/resolv.conf when the network setup made them (else the runtime's defaults). */
  etc?: { hosts: string; resolvConf: string };
  /** Paths hidden from the container: /dev/null bound over files, an empty read-only tmpfs over directories. */
  maskedPaths: string[];
  /** Paths bind-mounted onto themselves read-only. */
  readonlyPaths: string[];
  /** A resolved seccomp profile (conditions already applied), or null for unconfined. */
  seccomp: SeccompProfile | null;
  resources: ResourceSpec;
  /** Run a minimal init (tini-like) as PID 1 that forwards signals and reaps zombies. */
  init: boolean;
  /** `--privileged`: all capabilities, no seccomp, no masked/read-only paths, all devices, /sys writable. */
  privileged: boolean;
  /** The image's StopSignal (e.g. "SIGQUIT"), if any; the runtime's default is SIGTERM. */
  stopSignal?: string;
}

export interface ProcessSpec {
  /** argv; args[0] is resolved via PATH inside the container when it has no slash. */
  args: string[];
  /** `KEY=value` strings, unique keys, in docker's order. */
  env: string[];
  /** Absolute path inside the container. */
  cwd: string;
  user: UserSpec;
  terminal: boolean;
  noNewPrivileges: boolean;
  capabilities: CapabilitySpec;
  rlimits: RlimitSpec[];
}

export interface UserSpec {
  uid: number;
  gid: number;
  /** Supplementary groups set with setgroups() (empty list: none). */
  additionalGids: number[];
}

/** Capability names in canonical form (`CAP_CHOWN`). */
export interface CapabilitySpec {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

export interface RlimitSpec {
  /** `RLIMIT_NOFILE`, `RLIMIT_NPROC`, ... */
  type: string;
  /** -1 means unlimited (RLIM_INFINITY). */
  soft: number;
  /** -1 means unlimited (RLIM_INFINITY). */
  hard: number;
}

export interface MountSpec {
  /** Absolute path inside the container (resolved inside the root by the runtime). */
  destination: string;
  type: 'bind' | 'tmpfs';
  /** Host path for binds, "tmpfs" for tmpfs. */
  source: string;
  /** mount(8)-style options: bind: ["rbind", "ro"|"rw"]; tmpfs: ["nosuid","nodev","noexec","size=64m",...]. */
  options: string[];
  /**
   * Binds: create the host source as a directory (mkdir -p, mode 0755 less the umask) when it is missing,
   * as docker does for `-v HOST:…` (and not for `--mount type=bind`). Done on the host by create.
   */
  createSource?: boolean;
}

export type NetworkMode = 'none' | 'host';
export type NamespaceKind = 'pid' | 'mount' | 'uts' | 'ipc' | 'network' | 'cgroup';

export interface ResourceSpec {
  /** Memory limit in bytes. */
  memory?: number;
  /** Memory + swap limit in bytes (docker's --memory-swap); -1 means unlimited swap. */
  memorySwap?: number;
  /** CPU quota as a number of CPUs (1.5 = 150ms every 100ms). */
  cpus?: number;
  /** Maximum number of tasks; absent = unlimited. */
  pidsLimit?: number;
  /** Device access (cgroup v1 devices controller): docker's default list, or all (privileged). */
  devices: 'default' | 'all';
}

/** What `berth run` flags can change; every field optional. */
export interface RunOverrides {
  /** Trailing arguments after the image: replace the image's Cmd. */
  cmd?: string[];
  /** `--entrypoint`: replaces the image's Entrypoint and clears its Cmd; '' clears the Entrypoint. */
  entrypoint?: string;
  /** `-e`: `KEY=value`, or `KEY` to take the value from the host environment (dropped if unset there). */
  env?: string[];
  /** `--env-file`: files of `KEY=value` / `KEY` lines, `#` comments. Read before `env` is applied. */
  envFile?: string[];
  /** `-w`: absolute path. */
  workdir?: string;
  /** `-u`: `name`, `uid`, `uid:gid`, `name:group`. */
  user?: string;
  /** `--group-add`: extra supplementary groups, names (from the container's /etc/group) or gids. */
  groupAdd?: string[];
  /** `-h`. */
  hostname?: string;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** `--security-opt`: `seccomp=unconfined`, `seccomp=<profile.json>`, `no-new-privileges[=true|false]`, `systempaths=unconfined`; `apparmor=…`/`label=…` are accepted and ignored. */
  securityOpt?: string[];
  /** `-m`: `512m`, `1g`, bytes... */
  memory?: string;
  /** `--memory-swap`: memory+swap total, `-1` for unlimited; default with -m: twice the memory (docker). */
  memorySwap?: string;
  /** `--cpus`: `1.5`. */
  cpus?: string;
  /** `--pids-limit`: a number; 0 or -1 for unlimited. */
  pidsLimit?: string | number;
  /** `-v HOST:CONTAINER[:ro|rw]` (absolute host path). */
  volumes?: string[];
  /** `--tmpfs /path[:opts]`. */
  tmpfs?: string[];
  /** `--read-only`. */
  readOnly?: boolean;
  /** `--network none|host` (default none). */
  network?: NetworkMode;
  /** `--init`. */
  init?: boolean;
  /** `-t`: allocates a terminal; adds TERM=xterm as docker does. */
  tty?: boolean;
  /** `--ulimit name=soft[:hard]` (e.g. `nofile=1024:2048`). */
  ulimit?: string[];
}
