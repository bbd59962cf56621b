import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { resolveInRoot as resolveInRootWalk } from '@berth/fs-root';
import { BerthError, isBerthError } from '@berth/oci';

/**
 * Resolve `unsafePath` inside `root` the way the container would see it,
 * without ever leaving `root`: @berth/fs-root's walk (securejoin semantics,
 * missing components kept lexically). An error other than ELOOP (EACCES on a
 * component) is wrapped as EUNSAFE_PATH.
 *
 * This is a lexical guarantee at the time of the call: use it on a root no
 * untrusted process is changing (berth calls it before the container starts).
 */
export function resolveInRoot(root: string, unsafePath: string): string {
  try {
    return resolveInRootWalk(root, unsafePath);
  } catch (err) {
    if (isBerthError(err)) throw err;
    throw BerthError.wrap(`resolve ${unsafePath} in ${path.resolve(root)}`, err, 'EUNSAFE_PATH');
  }
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
