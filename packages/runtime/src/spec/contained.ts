import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '@berth/oci';

/** Symlinks followed before giving up (as securejoin and the kernel's 40 are both arbitrary; this is securejoin's). */
const MAX_SYMLINKS = 255;

/**
 * Resolve `unsafePath` inside `root` the way the container would see it,
 * without ever leaving `root` (a securejoin-style walk): each component is
 * looked up with lstat; a symlink's target is spliced in and, when absolute,
 * restarts from `root`; `..` never climbs above `root`. Components that do not
 * exist are kept as they are. Returns an absolute host path under `root`.
 *
 * This is a lexical guarantee at the time of the call: use it on a root no
 * untrusted process is changing (berth calls it before the container starts).
 */
export function resolveInRoot(root: string, unsafePath: string): string {
  const base = path.resolve(root);
  const current: string[] = [];
  let pending = splitPath(unsafePath);
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.' || part === '') continue;
    if (part === '..') {
      current.pop();
      continue;
    }
    const candidate = path.join(base, ...current, part);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw BerthError.wrap(`resolve ${unsafePath} in ${base}`, err, 'EUNSAFE_PATH');
    }
    if (!isLink) {
      current.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new BerthError('EUNSAFE_PATH', `resolve ${unsafePath} in ${base}: too many levels of symbolic links`);
    }
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) current.length = 0;
    pending = [...splitPath(target), ...pending];
  }
  return current.length === 0 ? base : path.join(base, ...current);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

export interface ReadContainedOptions {
  /** Refuse files larger than this (default 4 MiB). */
  maxBytes?: number;
  /** Named in errors ("passwd file"). */
  what?: string;
}

/**
 * Read a small regular file at `containerPath` inside `root` (resolved with
 * resolveInRoot; the final open refuses a symlink and never blocks on a FIFO).
 * Returns undefined when the file does not exist; throws for anything that is
 * not a regular file or is too large.
 */
export function readContainedFile(root: string, containerPath: string, options: ReadContainedOptions = {}): Buffer | undefined {
  const max = options.maxBytes ?? 4 * 1024 * 1024;
  const what = options.what ?? containerPath;
  const hostPath = resolveInRoot(root, containerPath);
  let fd: number;
  try {
    fd = openSync(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK); // libuv adds O_CLOEXEC
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw BerthError.wrap(`read ${what} ${containerPath}`, err, 'EUNSAFE_PATH');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new BerthError('EUNSAFE_PATH', `read ${what} ${containerPath}: not a regular file`);
    if (st.size > max) throw new BerthError('ETOO_LARGE', `read ${what} ${containerPath}: ${st.size} bytes exceeds the ${max}-byte limit`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}
