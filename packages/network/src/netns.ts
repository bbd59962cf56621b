/**
 * Network namespaces bind-mounted on files under `$BERTH_STATE/netns/<id>`, as `ip netns`
 * keeps them under /run/netns. A namespace is made by a child process (`unshare --net=<file>
 * true` from util-linux): Node is multithreaded, and unshare(CLONE_NEWNET) in the Node process
 * would move only the calling thread. The bind mount keeps the namespace alive after that
 * child exits; the container joins it with setns (or the runtime's `--net=<file>`), and CNI
 * plugins are given the file as CNI_NETNS.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BerthError, describeError } from '@berth/oci';
import { dyingWithUs } from './orphan.js';

const execFileP = promisify(execFile);
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** `$BERTH_STATE/netns`. */
export function netnsDir(stateDir: string): string {
  return path.join(stateDir, 'netns');
}

/** The file a container's namespace is bound on. */
export function netnsPath(stateDir: string, id: string): string {
  if (!ID.test(id)) throw new BerthError('EINVAL_ARGUMENT', `netns for ${JSON.stringify(id)}: the ID must be letters, digits, _ . -`);
  return path.join(netnsDir(stateDir), id);
}

/** Mount points in this mount namespace (octal escapes of /proc/self/mountinfo decoded). */
async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field) out.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** True when `file` has a namespace mounted on it. */
export async function isNetnsMounted(file: string): Promise<boolean> {
  return (await mountPoints()).has(file);
}

/**
 * Make a new network namespace for `id`, with its loopback interface down (the loopback CNI
 * plugin brings it up). Fails with EIN_USE when `id` already has one; leaves no file behind
 * when the namespace cannot be made.
 */
export async function createNetns(opts: { stateDir: string; id: string }): Promise<string> {
  const file = netnsPath(opts.stateDir, opts.id);
  await mkdir(netnsDir(opts.stateDir), { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, '', { flag: 'wx', mode: 0o400 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BerthError('EIN_USE', `create netns for ${opts.id}: ${file} already exists`);
    }
    throw BerthError.wrap(`create netns for ${opts.id}`, err, 'ESYSCALL');
  }
  try {
    const cmd = dyingWithUs('unshare', [`--net=${file}`, 'true']);
    await execFileP(cmd.file, cmd.args);
  } catch (err) {
    await rm(file, { force: true });
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new BerthError('ESYSCALL', `create netns for ${opts.id}: unshare --net: ${stderr || describeError(err)}`, { cause: err });
  }
  return file;
}

/**
 * Unmount and unlink a namespace file. Idempotent: a file that is not mounted (a crash between
 * creating the file and mounting on it) is just unlinked, a missing file is no error. The
 * unmount is lazy (MNT_DETACH), so a process still inside keeps the namespace until it exits.
 */
export async function removeNetns(file: string): Promise<void> {
  if (await isNetnsMounted(file)) {
    try {
      await execFileP('umount', ['--lazy', file]);
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim();
      throw new BerthError('ESYSCALL', `remove netns ${file}: umount: ${stderr || describeError(err)}`, { cause: err });
    }
  }
  await rm(file, { force: true });
}

/**
 * Remove the namespace of every ID under `$BERTH_STATE/netns` that `alive(id)` says is gone
 * (a container removed while berth was killed). Returns the IDs removed.
 */
export async function sweepNetns(opts: { stateDir: string; alive: (id: string) => boolean | Promise<boolean> }): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(netnsDir(opts.stateDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw BerthError.wrap(`sweep netns in ${netnsDir(opts.stateDir)}`, err, 'ESYSCALL');
  }
  const removed: string[] = [];
  for (const id of names) {
    if (!ID.test(id) || (await opts.alive(id))) continue;
    await removeNetns(path.join(netnsDir(opts.stateDir), id));
    removed.push(id);
  }
  return removed;
}
