/**
 * resolveInRoot: the one containment walk of berth.
 *
 * A path from an image (a layer entry, a mount destination, a COPY target, a
 * passwd file) is resolved inside a root directory as if that root were `/`,
 * with the semantics of Go's filepath-securejoin: one component at a time with
 * lstat; a symlink's target is spliced in front of what is left and, when
 * absolute, restarts at the root; `..` pops the last resolved component and
 * never climbs above the root; at most 255 symlinks are followed (securejoin's
 * limit; ELOOP after that). A symlink in the final component is followed too.
 * The result is always the root or a path below it.
 *
 * This is a check at the time of the call, with plain lstat/readlink: use it on
 * a tree no untrusted process is changing (berth applies layers, prepares
 * mounts and copies files before any container process runs). A symlink
 * swapped during the walk is out of its scope; openat2(RESOLVE_IN_ROOT) would
 * close that race but returns a file descriptor, not the path every caller
 * needs (see README).
 */
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '@berth/oci';

/** Symlinks followed before ELOOP: securejoin's limit (the kernel's is 40). */
export const MAX_SYMLINKS = 255;

/** What lstat saw: a directory, a symlink, anything else. */
export type NodeKind = 'dir' | 'symlink' | 'other';

/**
 * The two calls the walk makes. The default goes through node:fs; the runtime's
 * init passes its own syscalls (so its recording fake sees them too).
 */
export interface RootFs {
  /** The kind of `hostPath` without following a final symlink; undefined when it does not exist (ENOENT, ENOTDIR). Other errors are thrown. */
  lstat(hostPath: string): NodeKind | undefined;
  readlink(hostPath: string): string;
}

export const nodeRootFs: RootFs = {
  lstat(hostPath) {
    let st;
    try {
      st = lstatSync(hostPath, { throwIfNoEntry: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (st === undefined) return undefined;
    return st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'other';
  },
  readlink: (hostPath) => readlinkSync(hostPath),
};

interface CommonOptions {
  /** Default: node:fs. */
  fs?: RootFs;
}

/**
 * `missing: 'lexical'` (the default, securejoin's behaviour): a component that
 * does not exist (or sits below a non-directory) is kept as a plain name and
 * the walk goes on, so `..` after it pops it and a later existing symlink is
 * still followed (what lies below a missing component is not looked up: it
 * cannot exist). The result may name something that does not exist.
 */
export interface LexicalOptions extends CommonOptions {
  missing?: 'lexical';
}

/**
 * `missing: 'undefined'`: the path must name an existing directory; undefined
 * is returned as soon as a component is missing or is not a directory.
 */
export interface ExistingDirectoryOptions extends CommonOptions {
  missing: 'undefined';
}

/**
 * `missing: 'create'`: the path names a directory; the components that do not
 * exist are made with `mkdir`, outermost first, once the walk is done (so they
 * are made where the resolved path says, never through a symlink, and a
 * missing component that a later `..` leaves again is not made); a component
 * that exists and is not a directory is an error (`notDirectory`).
 */
export interface CreateOptions extends CommonOptions {
  missing: 'create';
  /** Make the directory `hostPath` (`rel`: its path below the root, no leading slash). */
  mkdir(hostPath: string, rel: string): void;
  /** The error thrown when `rel` exists and is not a directory (default: EUNSAFE_PATH). */
  notDirectory?(rel: string): Error;
}

export type ResolveInRootOptions = LexicalOptions | ExistingDirectoryOptions | CreateOptions;

/**
 * Resolve `unsafePath` (absolute or relative, it does not matter: both start at
 * the root) inside `root`; returns the host path, `root` itself for `/`.
 */
export function resolveInRoot(root: string, unsafePath: string, opts?: LexicalOptions): string;
export function resolveInRoot(root: string, unsafePath: string, opts: ExistingDirectoryOptions): string | undefined;
export function resolveInRoot(root: string, unsafePath: string, opts: CreateOptions): string;
export function resolveInRoot(root: string, unsafePath: string, opts: ResolveInRootOptions): string | undefined;
export function resolveInRoot(root: string, unsafePath: string, opts: ResolveInRootOptions = {}): string | undefined {
  const base = path.resolve(root);
  const prefix = base === '/' ? '' : base;
  const fs = opts.fs ?? nodeRootFs;
  const done: string[] = [];
  // How many trailing components of `done` do not exist: nothing below them
  // can, so they are not looked up (and, with 'create', made only at the end,
  // so a `..` that leaves one again leaves nothing behind).
  let absent = 0;
  // Components still to walk, the next one last.
  const todo: string[] = [];
  pushReversed(todo, unsafePath);
  let links = 0;
  while (todo.length > 0) {
    const c = todo.pop() as string;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      done.pop();
      if (absent > 0) absent--;
      continue;
    }
    if (absent > 0) {
      done.push(c);
      absent++;
      continue;
    }
    const rel = done.length === 0 ? c : `${done.join('/')}/${c}`;
    const host = `${prefix}/${rel}`;
    const kind = fs.lstat(host);
    if (kind === 'symlink') {
      if (++links > MAX_SYMLINKS) {
        throw new BerthError('EUNSAFE_PATH', `too many levels of symbolic links (ELOOP) resolving ${JSON.stringify(unsafePath)} in ${base}`, {
          details: { errno: 'ELOOP', path: unsafePath, root: base },
        });
      }
      const target = fs.readlink(host);
      if (target.startsWith('/')) done.length = 0;
      pushReversed(todo, target);
      continue;
    }
    if (kind === undefined) {
      if (opts.missing === 'undefined') return undefined;
      absent = 1;
    } else if (kind === 'other' && (opts.missing === 'undefined' || opts.missing === 'create')) {
      if (opts.missing === 'undefined') return undefined;
      throw (
        opts.notDirectory?.(rel) ??
        new BerthError('EUNSAFE_PATH', `resolve ${JSON.stringify(unsafePath)} in ${base}: /${rel} is not a directory`, {
          details: { errno: 'ENOTDIR', path: unsafePath, root: base },
        })
      );
    }
    done.push(c);
  }
  if (opts.missing === 'create') {
    for (let i = done.length - absent; i < done.length; i++) {
      const rel = done.slice(0, i + 1).join('/');
      opts.mkdir(`${prefix}/${rel}`, rel);
    }
  }
  return done.length === 0 ? base : `${prefix}/${done.join('/')}`;
}

function pushReversed(todo: string[], p: string): void {
  const parts = p.split('/');
  for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i] as string);
}

/**
 * The path of `hostPath` inside `root` (`/` for the root itself), or undefined
 * when it is not below it. Both must be absolute and normalised (as
 * resolveInRoot returns them).
 */
export function insideRoot(root: string, hostPath: string): string | undefined {
  if (hostPath === root) return '/';
  const prefix = root === '/' ? '/' : `${root}/`;
  return hostPath.startsWith(prefix) ? `/${hostPath.slice(prefix.length)}` : undefined;
}
