/**
 * docker cp's path rules (moby's pkg/archive/copy.go and the CLI's cp.go), as pure functions:
 * which side is a container, how a path splits into directory and entry, and where an archive of
 * the source is extracted (with the renaming of its first component) for each kind of destination.
 */
import path from 'node:path';
import { BerthError } from '@berth/oci';

/** One argument of `berth cp`. */
export type CpArg = { kind: 'stream' } | { kind: 'local'; path: string } | { kind: 'container'; container: string; path: string };

/**
 * docker's splitCpArg: `-` is a tar stream; an absolute path, or one whose part before the first
 * colon starts with `.`, is local; `NAME:PATH` names a container's path; anything else is local.
 */
export function splitCpArg(arg: string): CpArg {
  if (arg === '-') return { kind: 'stream' };
  if (arg.startsWith('/')) return { kind: 'local', path: arg };
  const colon = arg.indexOf(':');
  if (colon < 0 || arg.startsWith('.')) return { kind: 'local', path: arg };
  return { kind: 'container', container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** `dir/.` or `.`: the path names a directory's content (docker's specifiesCurrentDir). */
export function specifiesCurrentDir(p: string): boolean {
  return p === '.' || p.endsWith('/.');
}

/** The path ends in `/` or `/.`: it must be a directory (docker's assertsDirectory). */
export function assertsDirectory(p: string): boolean {
  return p.endsWith('/') || specifiesCurrentDir(p);
}

/** docker's SplitPathDirEntry: the cleaned path's directory and last entry, `.` kept for `dir/.`. */
export function splitPathDirEntry(p: string): { dir: string; base: string } {
  let cleaned = path.posix.normalize(p);
  if (cleaned.length > 1) cleaned = cleaned.replace(/\/+$/, '') || '/';
  if (specifiesCurrentDir(p) && cleaned !== '.') cleaned = cleaned === '/' ? '/.' : `${cleaned}/.`;
  return { dir: path.posix.dirname(cleaned), base: path.posix.basename(cleaned) || '/' };
}

/** What the archive of a source is: a directory or not, its entries' first component, and the name it goes by. */
export interface CopySource {
  path: string;
  isDir: boolean;
  /** With -L on a symlink: the link's name, which the archive of its target takes. */
  rebaseName?: string;
}

/** What the destination is, when looked up (a symlink followed). */
export interface CopyDest {
  path: string;
  exists: boolean;
  isDir: boolean;
}

/** Where to extract: into the destination itself, or into its parent with the first component renamed. */
export interface CopyPlan {
  into: 'dest' | 'parent';
  rebase?: { from: string; to: string };
}

/**
 * docker's PrepareArchiveCopy: a directory destination takes the archive as it is (so `SRC/.`
 * puts SRC's content there, `SRC` a SRC directory); a file or a missing destination takes it in
 * its parent, renamed to the destination's name. A directory onto a file, and a file onto a
 * missing `DIR/`, are errors (docker's "cannot copy directory", "no such directory").
 */
export function prepareArchiveCopy(src: CopySource, dst: CopyDest): CopyPlan {
  const dstBase = splitPathDirEntry(dst.path).base;
  const srcBase = src.rebaseName ?? splitPathDirEntry(src.path).base;
  if (dst.exists && dst.isDir) return { into: 'dest' };
  if (dst.exists && src.isDir) throw new BerthError('EINVAL_ARGUMENT', `cannot copy directory ${JSON.stringify(src.path)} onto the file ${JSON.stringify(dst.path)}`);
  if (!dst.exists && !src.isDir && assertsDirectory(dst.path)) {
    throw new BerthError('ENOT_FOUND', `no such directory: ${JSON.stringify(dst.path)} (a file is copied into an existing directory only)`);
  }
  return { into: 'parent', rebase: { from: srcBase, to: dstBase } };
}
