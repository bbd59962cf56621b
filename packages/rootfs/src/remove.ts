/**
 * removeTree: delete a directory tree whatever its modes and inode flags,
 * never descending into another mounted file system.
 *
 * - Already absent → done (idempotent).
 * - Before anything is deleted, /proc/self/mountinfo is checked: a mount point
 *   at or below the path makes it refuse (EIN_USE), so an unmounted-by-mistake
 *   /proc or bind mount inside a container rootfs is never wiped. While walking,
 *   a directory with another st_dev is refused the same way (covers what
 *   mountinfo cannot see, e.g. another mount namespace).
 * - EPERM/EACCES on an entry: the entry's and its directory's immutable and
 *   append-only flags are cleared (FS_IOC_SETFLAGS, best effort), the directory
 *   gets u+rwx, and the operation is retried once.
 * - btrfs subvolumes (the path itself, or a directory met while walking whose
 *   inode is 256 and whose st_dev differs, and which is no mount point) are
 *   deleted whole by BTRFS_IOC_SNAP_DESTROY, read-only ones too. When the
 *   kernel will not (subvolumes nested inside: ENOTEMPTY; unprivileged: EPERM),
 *   the subvolume is made writable, emptied by the walk (which destroys the
 *   nested ones as it meets them) and removed by rmdir.
 */
import { chmodSync, closeSync, constants as fsConstants, lstatSync, openSync, readFileSync, realpathSync, rmdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { FS_APPEND_FL, FS_IMMUTABLE_FL, getInodeFlags, setInodeFlags } from '@berth/sys';
import { BerthError, describeError } from '@berth/oci';
import { destroySubvolume, isReadOnly, onBtrfs, setReadOnly, SUBVOL_ROOT_INO, withDirFd } from './btrfs.js';
import { displayPath, joinPath, readEntries, type FsPath } from './paths.js';

export async function removeTree(path: string): Promise<void> {
  removeTreeSync(path);
}

/** The synchronous implementation (also used where removal must not yield). */
export function removeTreeSync(path: string): void {
  const abs = resolve(path);
  const doing = `remove ${abs}`;
  if (abs === '/') throw new BerthError('EINVAL_ARGUMENT', `${doing}: refusing to remove /`);
  let st;
  try {
    st = lstatSync(abs);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    throw BerthError.wrap(doing, err, 'EROOTFS');
  }
  if (!st.isDirectory()) {
    try {
      retrying(() => unlinkSync(abs), abs, undefined);
      return;
    } catch (err) {
      throw BerthError.wrap(doing, err, 'EROOTFS');
    }
  }
  const mounts = mountPointsAt(realpathSync(abs));
  if (mounts.length > 0) {
    throw new BerthError('EIN_USE', `${doing}: ${mounts[0]} is a mount point ${mounts[0] === abs ? '' : 'inside it '}(unmount it first)`, {
      details: { mounts },
    });
  }
  try {
    if (st.ino === SUBVOL_ROOT_INO && onBtrfs(abs)) {
      removeSubvolume(abs, dirname(abs), basename(abs));
      return;
    }
    removeContents(abs, st.dev);
    retrying(() => rmdirSync(abs), abs, undefined);
  } catch (err) {
    throw describeRemoveError(doing, abs, err);
  }
}

/** Destroy-refusals after which the subvolume is emptied by the walk and rmdir-ed instead. */
const WALK_SUBVOLUME = new Set(['ENOTEMPTY', 'EPERM', 'EACCES', 'ENOTTY', 'EINVAL', 'EOPNOTSUPP']);

/** Remove the btrfs subvolume `p` (= `dir`/`name`, no mount point): destroyed whole, else emptied and rmdir-ed. */
function removeSubvolume(p: FsPath, dir: FsPath, name: FsPath): void {
  try {
    withDirFd(dir, (fd) => destroySubvolume(fd, name, p));
    return;
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    if (!WALK_SUBVOLUME.has((err as NodeJS.ErrnoException).code ?? '')) throw new EntryError(p, err);
  }
  let st;
  try {
    // A read-only subvolume refuses every unlink (EROFS): its owner (or root) may clear the flag.
    withDirFd(p, (fd) => {
      if (isReadOnly(fd, p)) setReadOnly(fd, false, p);
    });
  } catch {
    // not allowed, or no longer there: the walk reports what stays in the way
  }
  try {
    st = lstatSync(p);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    throw new EntryError(p, err);
  }
  removeContents(p, st.dev);
  try {
    // rmdir of an empty subvolume deletes it (Linux 4.18 and later)
    retrying(() => rmdirSync(p), p, dir);
  } catch (err) {
    throw new EntryError(p, err);
  }
}

/**
 * Remove everything inside `dir` but keep `dir` itself (which may be a mount
 * point); mounts strictly below it are refused like removeTree's.
 */
export function emptyDirectorySync(dir: string): void {
  const abs = resolve(dir);
  const doing = `empty ${abs}`;
  const st = lstatSync(abs);
  if (!st.isDirectory()) throw new BerthError('EINVAL_ARGUMENT', `${doing}: not a directory`);
  const mounts = mountPointsAt(realpathSync(abs)).filter((m) => m !== realpathSync(abs));
  if (mounts.length > 0) {
    throw new BerthError('EIN_USE', `${doing}: ${mounts[0]} is a mount point inside it (unmount it first)`, { details: { mounts } });
  }
  try {
    removeContents(abs, st.dev);
  } catch (err) {
    throw describeRemoveError(doing, abs, err);
  }
}

function describeRemoveError(doing: string, abs: string, err: unknown): BerthError {
  if (err instanceof MountError) return new BerthError('EIN_USE', `${doing}: ${displayPath(err.path)} is on another file system (a mount point?); not crossing into it`);
  if (err instanceof EntryError) {
    return new BerthError('EROOTFS', `${doing}: ${JSON.stringify(displayPath(err.path, abs))}: ${describeError(err.cause)}`, { cause: err.cause });
  }
  return BerthError.wrap(doing, err, 'EROOTFS');
}

class EntryError extends Error {
  constructor(
    readonly path: FsPath,
    override readonly cause: unknown,
  ) {
    super(describeError(cause));
  }
}

class MountError extends Error {
  constructor(readonly path: FsPath) {
    super('mount point');
  }
}

function removeContents(dir: FsPath, dev: number): void {
  let entries;
  try {
    entries = retrying(() => readEntries(dir), dir, undefined);
  } catch (err) {
    throw new EntryError(dir, err);
  }
  if (entries === undefined) return; // vanished meanwhile
  for (const e of entries) {
    const p = joinPath(dir, e.name);
    if (e.isDirectory()) {
      let st;
      try {
        st = lstatSync(p);
      } catch (err) {
        if (isCode(err, 'ENOENT')) continue;
        throw new EntryError(p, err);
      }
      if (st.dev !== dev) {
        // btrfs gives every subvolume its own st_dev: a subvolume root (inode 256) that is no mount point is ours to delete
        if (st.ino === SUBVOL_ROOT_INO && onBtrfs(p) && mountPointsAt(realpathSync(p)).length === 0) {
          removeSubvolume(p, dir, e.name);
          continue;
        }
        throw new MountError(p);
      }
      removeContents(p, dev);
      try {
        retrying(() => rmdirSync(p), p, dir);
      } catch (err) {
        throw new EntryError(p, err);
      }
    } else {
      try {
        retrying(() => unlinkSync(p), p, dir);
      } catch (err) {
        throw new EntryError(p, err);
      }
    }
  }
}

/**
 * Run `op`; on EPERM/EACCES loosen the target and its directory and run it once
 * more. ENOENT counts as done (someone else removed it).
 */
function retrying<T>(op: () => T, target: FsPath, parent: FsPath | undefined): T {
  try {
    return op();
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined as T;
    if (!isCode(err, 'EPERM') && !isCode(err, 'EACCES')) throw err;
  }
  loosen(target);
  if (parent !== undefined) loosen(parent);
  try {
    return op();
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined as T;
    throw err;
  }
}

/** Best effort: clear immutable/append-only, and give a directory u+rwx. */
function loosen(p: FsPath): void {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  // Inode flags exist on regular files and directories only; opening anything
  // else (a device, a fifo) could have side effects or block.
  if (!st.isFile() && !st.isDirectory()) return;
  let fd: number | undefined;
  try {
    fd = openSync(p, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
    const flags = getInodeFlags(fd, p);
    if ((flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) !== 0) setInodeFlags(fd, flags & ~(FS_IMMUTABLE_FL | FS_APPEND_FL), p);
  } catch {
    // no flag support, no permission: the retry will report the real error
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (st.isDirectory() && (st.mode & 0o700) !== 0o700) {
    try {
      chmodSync(p, (st.mode & 0o7777) | 0o700);
    } catch {
      // as above
    }
  }
}

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

/** Mount points (from /proc/self/mountinfo) equal to or below `real`. */
export function mountPointsAt(real: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return []; // no /proc: the st_dev check while walking still applies
  }
  const out: string[] = [];
  const prefix = real.endsWith('/') ? real : `${real}/`;
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const mp = field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    if (mp === real || mp.startsWith(prefix)) out.push(mp);
  }
  return out;
}
