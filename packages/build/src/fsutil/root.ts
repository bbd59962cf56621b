import { chmodSync, lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BerthError } from '@berth/oci';

const MAX_LINKS = 255;

/**
 * Resolve an image path (`/srv/app`) to a host path inside `root`, the way the
 * container would see it, without ever leaving `root`: each component is
 * looked at with lstat; a symlink is read and its target resolved against the
 * root (absolute targets) or its directory (relative ones); `..` stops at the
 * root. Components that do not exist are appended as they are.
 *
 * `followFinal: false` leaves a symlink in the last component unresolved (the
 * caller replaces or copies the link itself).
 */
export function resolveInRoot(root: string, imagePath: string, opts: { followFinal?: boolean } = {}): string {
  const followFinal = opts.followFinal ?? true;
  const stack: string[] = [];
  let pending = splitPath(imagePath);
  let links = 0;
  while (pending.length > 0) {
    const comp = pending.shift() as string;
    if (comp === '.' || comp === '') continue;
    if (comp === '..') {
      stack.pop();
      continue;
    }
    const candidate = path.join(root, ...stack, comp);
    let st: Stats | undefined;
    try {
      st = lstatSync(candidate);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
      st = undefined;
    }
    if (!st) {
      stack.push(comp);
      // The rest cannot exist; keep normalising `..` lexically.
      for (const c of pending) {
        if (c === '..') stack.pop();
        else if (c !== '.' && c !== '') stack.push(c);
      }
      pending = [];
      break;
    }
    if (st.isSymbolicLink() && (pending.length > 0 || followFinal)) {
      if (++links > MAX_LINKS) {
        throw new BerthError('EUNSAFE_PATH', `resolve ${imagePath}: too many levels of symbolic links`, { details: { path: imagePath } });
      }
      const target = readlinkSync(candidate);
      if (target.startsWith('/')) stack.length = 0;
      pending = [...splitPath(target), ...pending];
      continue;
    }
    stack.push(comp);
  }
  return path.join(root, ...stack);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/** Is `child` equal to or below `parent` (both absolute, normalised)? */
export function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Create the directory `imagePath` (and missing parents) inside root, resolving
 * existing components as the container would. Returns the host path. New
 * directories are 0755 and owned by the caller (root during builds).
 */
export function mkdirInRoot(root: string, imagePath: string): string {
  const resolved = resolveInRoot(root, imagePath);
  if (!isWithin(root, resolved)) throw new BerthError('EUNSAFE_PATH', `create directory ${imagePath}: resolves outside the root`);
  const rel = path.relative(root, resolved);
  let cur = root;
  for (const comp of rel ? rel.split(path.sep) : []) {
    cur = path.join(cur, comp);
    let st: Stats | undefined;
    try {
      st = lstatSync(cur);
    } catch {
      st = undefined;
    }
    if (!st) {
      mkdirSync(cur, { mode: 0o755 });
      chmodSync(cur, 0o755);
    } else if (!st.isDirectory()) {
      // resolveInRoot already followed links, so this is a file in the way.
      throw new BerthError('EBUILD', `create directory ${imagePath}: ${path.relative(root, cur) || '/'} exists and is not a directory`);
    }
  }
  return resolved;
}

/** lstat, or undefined when the path cannot be looked at (missing, or anything else in the way). */
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
