import { chmodSync, lstatSync, mkdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { resolveInRoot as resolveInRootWalk } from '@berth/fs-root';
import { BerthError } from '@berth/oci';

/**
 * Resolve an image path (`/srv/app`) to a host path inside `root`, the way the
 * container would see it, without ever leaving `root`: @berth/fs-root's walk
 * (securejoin semantics: symlinks followed, also in the last component, with
 * absolute targets restarting at the root; `..` stops at the root; components
 * that do not exist are kept as plain names).
 */
export function resolveInRoot(root: string, imagePath: string): string {
  return resolveInRootWalk(root, imagePath);
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
  return resolveInRootWalk(root, imagePath, {
    missing: 'create',
    mkdir: (hostPath) => {
      mkdirSync(hostPath, { mode: 0o755 });
      chmodSync(hostPath, 0o755);
    },
    notDirectory: (rel) => new BerthError('EBUILD', `create directory ${imagePath}: ${rel} exists and is not a directory`),
  });
}

/** lstat, or undefined when the path cannot be looked at (missing, or anything else in the way). */
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
