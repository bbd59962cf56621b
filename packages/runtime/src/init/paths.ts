import { insideRoot, resolveInRoot as resolveInRootWalk, type RootFs } from '@berth/fs-root';
import { BerthError } from '@berth/oci';
import { errnoOf } from '@berth/sys';
import type { Syscalls } from '@berth/sys';

export { insideRoot };

/** @berth/fs-root's walk through the init's syscalls (so the recording fake sees every lstat/readlink). */
function rootFs(sys: Syscalls): RootFs {
  return {
    lstat(hostPath) {
      let kind: string;
      try {
        kind = sys.lstat(hostPath).kind;
      } catch (err) {
        const errno = errnoOf(err);
        if (errno === 'ENOENT' || errno === 'ENOTDIR') return undefined;
        throw err;
      }
      return kind === 'dir' || kind === 'symlink' ? kind : 'other';
    },
    readlink: (hostPath) => sys.readlink(hostPath),
  };
}

/**
 * Resolves `unsafePath` as if `root` were `/` (securejoin semantics, see
 * @berth/fs-root): symlinks are followed but absolute targets restart at
 * `root` and `..` never climbs above it. Components that do not exist are kept
 * as plain names. Returns the host path, always inside `root`.
 */
export function resolveInRoot(sys: Syscalls, root: string, unsafePath: string): string {
  return resolveInRootWalk(root, unsafePath, { fs: rootFs(sys) });
}

/**
 * Creates `unsafePath` and its missing parents as directories inside `root`,
 * each where the walk resolves it (so an image symlink cannot redirect the
 * creation out of the root). Returns the resolved host path.
 */
export function mkdirAllInRoot(sys: Syscalls, root: string, unsafePath: string, mode = 0o755): string {
  return resolveInRootWalk(root, unsafePath, {
    fs: rootFs(sys),
    missing: 'create',
    mkdir: (hostPath) => sys.mkdir(hostPath, mode),
    notDirectory: (rel) => new BerthError('EUNSAFE_PATH', `mkdir ${unsafePath}: /${rel} is not a directory`),
  });
}

/**
 * Makes sure the mount point for `unsafePath` exists inside `root`: a directory,
 * or an empty file when `file` is set (bind-mounting a file needs a file).
 * Returns the resolved host path.
 */
export function ensureMountPoint(sys: Syscalls, root: string, unsafePath: string, file: boolean): string {
  const target = resolveInRoot(sys, root, unsafePath);
  let kind: string | undefined;
  try {
    kind = sys.lstat(target).kind;
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  if (kind !== undefined) return target;
  const rel = insideRoot(root, target) ?? '/';
  if (!file) return mkdirAllInRoot(sys, root, rel);
  const slash = rel.lastIndexOf('/');
  mkdirAllInRoot(sys, root, slash <= 0 ? '/' : rel.slice(0, slash));
  sys.writeFile(target, '', 0o644);
  return target;
}
