import * as fs from 'node:fs';
import { BerthError } from '@berth/oci';
import type { NamespaceKind } from '../spec/types.js';

/**
 * User namespaces for the init, which is a Node process: multithreaded from its start, so it can
 * neither unshare(CLONE_NEWUSER) nor setns() into one. Single-threaded util-linux programs do
 * that part, as runc's nsexec does it in C:
 *
 * - a new user namespace (`create`): the runtime spawns a helper, `unshare --user --keep-caps [--pid] sh -c
 *   HELPER_SCRIPT`, on the init's fds (report pipe 3, sync pipe 4). It reports `userns` once it
 *   is in the new namespaces, and waits on the sync pipe while the runtime, in the host's
 *   namespace, writes its uid_map and gid_map (setgroups stays `allow`: the writer has
 *   CAP_SETGID over the parent). It then forks the init (`setsid setpriv --reuid=0 --regid=0
 *   --clear-groups NODE…`): uid 0 inside, so execve gives Node the full capability set of the
 *   namespace, and PID 1 of the pid namespace the helper unshared, which the user namespace
 *   owns (proc can be mounted there). It reports the init's host pid (`pid`) and exits (the
 *   init is reparented to the nearest subreaper, an engine's shim, as runc's stage-2 child is)
 *   or, for a foreground `run`, waits for the init and exits with its status.
 *   The init then unshares the other namespaces itself, which the user namespace thus owns
 *   (runc's order: user first).
 * - a user namespace joined by path: the same helper behind `nsenter --user=PATH` (no maps).
 * - the network, ipc, uts and cgroup namespaces given by path (`joinFirst`) are joined by the
 *   helper's `nsenter` before the user namespace is made or joined (runc's nsexec order: every
 *   namespace by path first, then the user namespace): setns() needs CAP_SYS_ADMIN over the
 *   namespace's owner, which the root of a new user namespace lacks for the host's (a netns
 *   made by `ip netns add`, CNI's). nsenter joins the others before `--user` and retries after
 *   it (as runc does), so one owned by a user namespace joined by path is joined too. The init
 *   is born in them and does not join them again.
 * - `exec` into such a container: the child is `nsenter --net=… --ipc=… --uts=… --cgroup=…
 *   --user=… NODE…` on the init's /proc/<init>/ns files (uid and gid 0 inside), born in the
 *   container's pid namespace as any exec'd child; it joins the mount namespace itself.
 */

/** One line of uid_map/gid_map: container ids [containerID, containerID+size) are host ids [hostID, …). */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** How the init gets its user namespace. */
export interface UserNamespacePlan {
  /** A new one with these maps, or `path`: an existing one joined. */
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
  path?: string;
  /** The helper also unshares the pid namespace (the user namespace owns it; the init is its PID 1). */
  newPid: boolean;
  /** The helper waits for the init and exits with its status (a foreground run); else it exits at once. */
  waitForInit: boolean;
  /** Namespaces given by path that the helper joins before the user namespace (network, ipc, uts, cgroup). */
  joinFirst?: ReadonlyArray<{ type: NamespaceKind; path: string }>;
}

/** The namespaces the helper may join by path before the user namespace, and nsenter's option for each. */
export const HELPER_JOINS: Readonly<Partial<Record<NamespaceKind, string>>> = { network: 'net', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup' };

function nsenterOptions(joins: ReadonlyArray<{ type: NamespaceKind; path: string }>): string[] {
  return joins.map((j) => {
    const opt = HELPER_JOINS[j.type];
    if (opt === undefined) throw new BerthError('ERUNTIME', `user namespace: the helper cannot join a ${j.type} namespace by path`);
    return `--${opt}=${j.path}`;
  });
}

export const UNSHARE = '/usr/bin/unshare';
export const NSENTER = '/usr/bin/nsenter';

/**
 * The helper's script, "$@" being the init's command line. `&` in a shell without job control
 * gives the child /dev/null as stdin: fd 0 is saved on 9 and restored.
 */
function helperScript(waitForInit: boolean, fdCount: number): string {
  const lines = [
    `printf '{"type":"userns"}\\n' >&3 || exit 125`,
    'read -r _ <&4 || exit 125',
    'exec 9<&0',
    'setsid setpriv --reuid=0 --regid=0 --clear-groups -- "$@" <&9 9<&- &',
    'init=$!',
    `printf '{"type":"pid","pid":%d}\\n' "$init" >&3`,
    'exec 3>&- 4<&- 9<&-',
  ];
  if (waitForInit) {
    // While it waits it holds none of the init's fds (dash names fds up to 9 only; more are preserved fds of the caller's).
    const held = Array.from({ length: Math.min(fdCount, 10) }, (_, fd) => `${fd}${fd === 0 || fd === 4 ? '<' : '>'}&-`);
    lines.push(`exec ${held.join(' ')}`, 'wait "$init"', 'exit $?');
  }
  return lines.join('\n');
}

/**
 * The helper's command line (file and args) that ends in the init's command `init` (an
 * executable and its args); the child gets `fdCount` fds. `--keep-caps`: the shell that
 * unshare execs keeps the namespace's capabilities (as ambient ones: it is not uid 0 there
 * until the maps exist), which setpriv needs to become uid 0 once they do.
 */
export function helperCommand(plan: UserNamespacePlan, init: string[], fdCount: number): { file: string; args: string[] } {
  const script = helperScript(plan.waitForInit, fdCount);
  const shell = ['/bin/sh', '-c', script, 'berth-userns', ...init];
  // nsenter does not fork for these namespaces (only for a pid one): the helper's pid stays the one whose maps are written.
  const joins = nsenterOptions(plan.joinFirst ?? []);
  if (plan.path === undefined) {
    const unshare = ['--user', '--keep-caps', ...(plan.newPid ? ['--pid'] : []), '--', ...shell];
    return joins.length === 0 ? { file: UNSHARE, args: unshare } : { file: NSENTER, args: [...joins, '--', UNSHARE, ...unshare] };
  }
  // Joined: nsenter sets uid and gid 0 inside; unshare then makes only the pid namespace, if any.
  const rest = plan.newPid ? [UNSHARE, '--pid', '--', ...shell] : shell;
  return { file: NSENTER, args: [...joins, `--user=${plan.path}`, '--', ...rest] };
}

/**
 * The command that runs `init` as uid 0 in the user namespace of `pid` (exec's child), in its
 * network, ipc, uts and cgroup namespaces too (HELPER_JOINS, whatever they are: the init's own,
 * joined by path, or the host's), joined from the host's side before the user namespace, as the
 * helper joined those given by path. The child then joins only the mount namespace itself.
 */
export function enterCommand(pid: number, init: string[]): { file: string; args: string[] } {
  const joins = Object.entries(HELPER_JOINS)
    .filter(([, file]) => file !== 'cgroup' || fs.existsSync('/proc/self/ns/cgroup'))
    .map(([, file]) => `--${file}=/proc/${pid}/ns/${file}`);
  return { file: NSENTER, args: [...joins, `--user=/proc/${pid}/ns/user`, '--', ...init] };
}

const mapText = (m: readonly IdMapping[]): string => m.map((l) => `${l.containerID} ${l.hostID} ${l.size}\n`).join('');

/** Writes the helper's maps from the host's side (uid_map, then gid_map). */
export function writeIdMappings(pid: number, plan: UserNamespacePlan): void {
  if (plan.path !== undefined) return;
  for (const [file, maps] of [
    ['uid_map', plan.uidMappings],
    ['gid_map', plan.gidMappings],
  ] as const) {
    try {
      fs.writeFileSync(`/proc/${pid}/${file}`, mapText(maps));
    } catch (err) {
      throw BerthError.wrap(`user namespace: write ${file} (${mapText(maps).trim().replace(/\n/g, ', ')})`, err, 'ERUNTIME');
    }
  }
}

/** The host id that `id` maps to in a uid_map/gid_map text, or undefined when unmapped. */
export function hostId(mapText: string, id: number): number | undefined {
  for (const line of mapText.split('\n')) {
    const [inside, outside, size] = line.trim().split(/\s+/).map(Number);
    if (inside === undefined || outside === undefined || size === undefined || Number.isNaN(size)) continue;
    if (id >= inside && id - inside < size) return outside + (id - inside);
  }
  return undefined;
}

/** The host uid and gid of uid/gid 0 in the user namespace of `pid`, or undefined when 0 is unmapped there. */
export function namespaceRoot(pid: number): { uid: number; gid: number } | undefined {
  const uid = hostId(fs.readFileSync(`/proc/${pid}/uid_map`, 'utf8'), 0);
  const gid = hostId(fs.readFileSync(`/proc/${pid}/gid_map`, 'utf8'), 0);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/** Gives `files` to the root of the user namespace of `pid` (the host ids it maps 0 to), when 0 is mapped. */
export function chownToNamespaceRoot(pid: number, files: readonly string[]): void {
  const root = namespaceRoot(pid);
  if (root === undefined) return;
  for (const f of files) fs.chownSync(f, root.uid, root.gid);
}

/**
 * The host pid of the process numbered `inner` in the pid namespace of the fd `pidns`. The helper
 * reports its child's pid (`$!`) as its own pid namespace numbers it: in a pid namespace joined by
 * path, that is not the host's number. Found by the last NSpid of /proc/PID/status among the
 * processes in that namespace (a rare case: a user and a pid namespace both given by path).
 */
export function hostPidIn(inner: number, pidns: number): number {
  const ns = `/proc/self/fd/${pidns}`;
  if (sameNamespace('/proc/self/ns/pid', ns)) return inner;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ids = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]?.trim().split(/\s+/) ?? [];
      if (ids.length < 2 || Number(ids[ids.length - 1]) !== inner) continue;
      if (sameNamespace(`/proc/${name}/ns/pid`, ns)) return Number(name);
    } catch {
      // Gone meanwhile.
    }
  }
  throw new BerthError('ERUNTIME', `user namespace: no process ${inner} in the joined pid namespace (the helper's child exited)`);
}

/** Whether two nsfs files (/proc/PID/ns/…, bind mounts of them) are the same namespace; false when either cannot be read. */
export function sameNamespace(a: string, b: string): boolean {
  try {
    const [x, y] = [fs.statSync(a), fs.statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}
