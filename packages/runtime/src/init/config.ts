import type { HookState, OciHook } from '../oci/hooks.js';
import type { ContainerSpec, NamespaceKind } from '../spec/types.js';

/**
 * What the runtime hands the init child (as a JSON file in the container's
 * state directory, path in argv): the container spec plus the facts the runtime
 * computed on the host side, so the init itself reads nothing from the host but
 * this file (and the bind sources it mounts).
 */
export interface InitConfig {
  version: 1;
  id: string;
  spec: ContainerSpec;
  /** Host files bind-mounted over /etc/hostname, /etc/hosts and /etc/resolv.conf (when the image has /etc). */
  etcFiles: { hostname: string; hosts: string; resolvConf: string } | null;
  /** Host path of a static init (tini) bind-mounted read-only at /dev/init when `spec.init`. */
  initBinary: string | null;
  /** Device nodes created in the container's /dev. */
  devices: DeviceNode[];
  /** Unshare a cgroup namespace once in the container's cgroup (rooting /sys/fs/cgroup there). */
  cgroupNamespace: boolean;
  /** How to mount the cgroup file system at /sys/fs/cgroup (read-only). */
  cgroup: CgroupMountPlan;
  /** The seccomp BPF program for spec.seccomp, compiled by the runtime (base64), so the init need not load libseccomp. */
  seccompProgram: string | null;
  /** Allocate a pseudo-terminal inside the container (its own devpts) and pass the master to the runtime. */
  tty: boolean;
  /** Report per-phase timestamps to the runtime (BERTH_DEBUG_TIMING=1). */
  timing: boolean;
  /**
   * berth-runtime's create/start split (runc's exec.fifo): the init outlives the process that
   * created it (no parent-death signal once it has its go), reports `created` when set up, then
   * blocks opening this FIFO for writing until `start` opens it, and execve()s.
   */
  execFifo?: string;
  /** Namespaced sysctls written under /proc/sys once the container's namespaces exist (berth-runtime). */
  sysctl?: Record<string, string>;
  /**
   * Existing namespaces joined (setns) instead of made (berth-runtime's `linux.namespaces[].path`):
   * ipc, uts, network, cgroup. A pid namespace is joined by the spawner (the init is born in it).
   * `entered`: launch/userns.ts's helper joined it before the user namespace (runc's order); the
   * init was born in it and neither joins nor makes it.
   */
  joinNamespaces?: Array<{ type: NamespaceKind; path: string; entered?: boolean }>;
  /**
   * The caller's fds 3..3+N-1 (berth-runtime's --preserve-fds N) reach the process: the init is
   * spawned with them at PRESERVED_FDS_BASE.. and moves them down right before execve.
   */
  preserveFds?: number;
  /**
   * The init runs in a user namespace (launch/userns.ts's helper made or joined it): the kernel
   * refuses mknod there, so device nodes are bind-mounted from the host's /dev (as runc does),
   * and keep the host's owner and mode.
   */
  userNamespace?: boolean;
  /**
   * runtime-spec hooks (berth-runtime). `runtime`: stop before pivot_root and report `hooks`, so
   * the runtime runs prestart/createRuntime while the namespaces exist; then the init runs
   * createContainer there, and startContainer once started. `state` is what they read on stdin
   * (the init adds status and its host pid).
   */
  hooks?: {
    runtime: boolean;
    createContainer?: OciHook[];
    startContainer?: OciHook[];
    state: Omit<HookState, 'status' | 'pid'>;
  };
}

/** Where the spawner puts the preserved fds in the init (above its stdio and its two pipes). */
export const PRESERVED_FDS_BASE = 5;

export interface DeviceNode {
  /** Path under /dev (`null`, `net/tun`). */
  name: string;
  kind: 'char' | 'block';
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

export type CgroupMountPlan =
  | { version: 2 }
  | { version: 1; hierarchies: CgroupHierarchy[] }
  | { version: 'none' };

export interface CgroupHierarchy {
  /** Directory name under /sys/fs/cgroup (`memory`, `cpu,cpuacct`, `systemd`, `unified`). */
  name: string;
  /** 'cgroup' (v1, with `options` = controllers or `name=…`) or 'cgroup2' (the hybrid unified tree). */
  fstype: 'cgroup' | 'cgroup2';
  options: string;
}

/** The fds the init child is spawned with, besides 0-2. */
export const REPORT_FD = 3;
export const SYNC_FD = 4;

/**
 * The first thing the runtime writes on SYNC_FD, one JSON line, once the
 * container is created and the init is in its cgroup (the init may have been
 * started before the container existed: Runtime.warm). The go byte follows.
 */
export interface InitStart {
  /** The InitConfig file. */
  config: string;
  /** Replace fd 0 with /dev/null (the init got the runtime's stdin; the container is not interactive). */
  stdinNull: boolean;
}

/** Messages the init writes to REPORT_FD, one JSON object per line. */
export type InitMessage =
  | { type: 'pty'; fd: number }
  /** Setup done, execve next; `marks` are epoch-ms phase timestamps when timing is on. */
  | { type: 'exec'; marks: Array<[string, number]> }
  /** The namespaces and mounts exist (before pivot_root): the runtime runs its hooks, then says go. */
  | { type: 'hooks' }
  /** Set up and waiting on the exec FIFO (InitConfig.execFifo); the report pipe closes next. */
  | { type: 'created' }
  /** From userns.ts's helper (not the init): it is in its new namespaces and waits for its maps. */
  | { type: 'userns' }
  /** From userns.ts's helper: the host pid of the init it forked. */
  | { type: 'pid'; pid: number }
  | { type: 'error'; code: string; message: string; exitCode: number; details: Record<string, unknown> };

/** docker's default device nodes (runc's DefaultSimpleDevices + /dev/tty). */
export const DEFAULT_DEVICES: readonly DeviceNode[] = Object.freeze([
  { name: 'null', kind: 'char', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
  { name: 'zero', kind: 'char', major: 1, minor: 5, mode: 0o666, uid: 0, gid: 0 },
  { name: 'full', kind: 'char', major: 1, minor: 7, mode: 0o666, uid: 0, gid: 0 },
  { name: 'random', kind: 'char', major: 1, minor: 8, mode: 0o666, uid: 0, gid: 0 },
  { name: 'urandom', kind: 'char', major: 1, minor: 9, mode: 0o666, uid: 0, gid: 0 },
  { name: 'tty', kind: 'char', major: 5, minor: 0, mode: 0o666, uid: 0, gid: 0 },
]);
