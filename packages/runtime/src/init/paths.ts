import { BerthError } from '@berth/oci';
import { errnoOf } from '@berth/sys';
import type { Syscalls } from '@berth/sys';

const MAX_SYMLINKS = 255;

function join(root: string, rel: string): string {
  if (rel === '') return root;
  return root === '/' ? `/${rel}` : `${root}/${rel}`;
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolves `unsafePath` as if `root` were `/` (securejoin semantics): symlinks
 * are followed but absolute targets restart at `root` and `..` never climbs
 * above it. Components that do not exist are appended lexically. Returns the
 * host path (`root` + the resolved path), which is always inside `root`.
 */
export function resolveInRoot(sys: Syscalls, root: string, unsafePath: string): string {
  const queue = components(unsafePath);
  const done: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const c = queue.shift() as string;
    if (c === '..') {
      done.pop();
      continue;
    }
    const candidate = join(root, [...done, c].join('/'));
    let kind: string;
    try {
      kind = sys.lstat(candidate).kind;
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'ENOTDIR') throw err;
      // The rest does not exist: append it lexically, still clamped at the root.
      done.push(c);
      for (const rest of queue) {
        if (rest === '..') done.pop();
        else done.push(rest);
      }
      break;
    }
    if (kind !== 'symlink') {
      done.push(c);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new BerthError('EUNSAFE_PATH', `resolve ${unsafePath} in ${root}: too many levels of symbolic links`);
    }
    const target = sys.readlink(candidate);
    if (target.startsWith('/')) done.length = 0;
    queue.unshift(...components(target));
  }
  return join(root, done.join('/'));
}

/** The path of `hostPath` relative to `root` (`/` for the root itself), or undefined when outside. */
export function insideRoot(root: string, hostPath: string): string | undefined {
  if (hostPath === root) return '/';
  const prefix = root === '/' ? '/' : `${root}/`;
  return hostPath.startsWith(prefix) ? `/${hostPath.slice(prefix.length)}` : undefined;
}

/**
 * Creates `unsafePath` and its missing parents as directories inside `root`,
 * resolving every component with resolveInRoot (so an image symlink cannot
 * redirect the creation out of the root). Returns the resolved host path.
 */
export function mkdirAllInRoot(sys: Syscalls, root: string, unsafePath: string, mode = 0o755): string {
  const target = resolveInRoot(sys, root, unsafePath);
  const rel = insideRoot(root, target);
  if (rel === undefined) throw new BerthError('EUNSAFE_PATH', `mkdir ${unsafePath}: resolves outside ${root}`);
  let current = root;
  for (const c of components(rel)) {
    current = join(current, c);
    let kind: string | undefined;
    try {
      kind = sys.lstat(current).kind;
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    if (kind === undefined) sys.mkdir(current, mode);
    else if (kind !== 'dir') throw new BerthError('EUNSAFE_PATH', `mkdir ${unsafePath}: ${insideRoot(root, current)} is not a directory`);
  }
  return target;
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
