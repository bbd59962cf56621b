import { BerthError } from '@berth/oci';
import type { ContainerSpec, NamespaceKind } from '../spec/types.js';
import { O_CLOEXEC, O_RDWR, PR_SET_PDEATHSIG } from '@berth/sys';
import { namespaceFlags } from '../spec/namespaces.js';
import type { Syscalls } from '@berth/sys';
import { execError, placePreservedFds, prepareProcess, setupTerminal } from './sequence.js';
import type { InitChannel, ProcessSecurity } from './sequence.js';

/**
 * berth-runtime's `exec`: a process started in a running container. The child is born in the
 * container's pid namespace (the spawner joins it for the spawn) and put in its cgroup by the
 * runtime before its go; it joins the container's other namespaces itself, then does the tail
 * of the init's sequence (fds, cwd, PATH lookup, signals, the process's security, execve).
 */
export interface ExecConfig {
  version: 1;
  /** Host pid of the container's init, whose namespaces are joined. */
  pid: number;
  /** The container's namespaces besides pid (born in it), cgroup (when it has one) included. */
  namespaces: NamespaceKind[];
  /** The container's spec with the exec'd process in `process`. */
  spec: ContainerSpec;
  /** The container's compiled seccomp filter (base64), or null. */
  seccompProgram: string | null;
  /** A pty from the container's devpts as the process's terminal (exec --tty); the master goes to the runtime. */
  tty?: boolean;
  /** --preserve-fds N (InitConfig.preserveFds). */
  preserveFds?: number;
  /**
   * `exec --detach` / `berth exec -d`: the caller exits once the process runs; fds 0-2 are the
   * container's /dev/null for `berth exec -d` (the caller's pipes close when it exits).
   */
  detach?: boolean;
}

/** unshare(2): stop sharing the file-system attributes (root, cwd, umask) with the other threads. */
const CLONE_FS = 0x00000200;

/** Namespace files under /proc/<pid>/ns, in the order they are joined: the mount namespace last (it changes what /proc is). */
const ORDER: ReadonlyArray<[NamespaceKind, string]> = [
  ['cgroup', 'cgroup'],
  ['ipc', 'ipc'],
  ['uts', 'uts'],
  ['network', 'net'],
  ['mount', 'mnt'],
];

export function runExec(sys: Syscalls, cfg: ExecConfig, channel: InitChannel, security: ProcessSecurity): never {
  channel.waitForParent('cgroup setup');
  const want = new Set(cfg.namespaces);
  // Every namespace file is opened before any is joined: after the mount namespace, /proc is the container's.
  const fds: Array<[number, number]> = [];
  for (const [kind, file] of ORDER) {
    if (want.has(kind)) fds.push([sys.open(`/proc/${cfg.pid}/ns/${file}`, O_CLOEXEC), namespaceFlags([kind])]);
  }
  // setns(CLONE_NEWNS) refuses a thread whose fs_struct is shared (Node's threads share it).
  sys.unshare(CLONE_FS);
  for (const [fd, flag] of fds) {
    try {
      sys.setns(fd, flag);
    } finally {
      sys.close(fd);
    }
  }
  // Joining the mount namespace put this thread at the container's root (after its pivot_root).
  if (cfg.detach === true) {
    // Outlives the exec's caller: its stdio is the container's /dev/null, not the caller's pipes.
    const nul = sys.open('/dev/null', O_RDWR | O_CLOEXEC);
    for (const fd of [0, 1, 2]) sys.dup2(nul, fd);
    sys.close(nul);
  }
  const spec = cfg.spec;
  if (cfg.tty === true) setupTerminal(sys, spec, channel);
  const exe = prepareProcess(sys, spec);
  placePreservedFds(sys, channel, cfg.preserveFds ?? 0);
  // The process must outlive the runtime (exec --detach exits at once, and a foreground exec's
  // runtime may die first): no parent-death signal. Before the process's seccomp filter, which may refuse prctl.
  sys.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  security(sys, spec);
  channel.send({ type: 'exec', marks: [] });
  try {
    sys.execve(exe, spec.process.args, spec.process.env);
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    throw execError(spec.process.args[0] ?? '', err);
  }
}
