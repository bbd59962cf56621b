import { createHash } from 'node:crypto';
import { closeSync, constants, lstatSync, openSync, readSync, readdirSync, readlinkSync, realpathSync, type Dirent, type Stats } from 'node:fs';

// Synchronous file system calls throughout: planning and hashing walk many small
// files, and a promise per call costs more than the call itself (a cached build
// spends its time here).
const lstat = (p: string): Stats => lstatSync(p);
const readlink = (p: string): string => readlinkSync(p);
const realpath = (p: string): string => realpathSync(p);
const HASH_CHUNK = 256 * 1024;

function realpathOr(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}
import path from 'node:path';
import { BerthError } from '@berth/oci';
import { isWithin, lstatOrUndefined, resolveInRoot } from '../fsutil/root.js';
import { compileGlob, hasGlobChars, type IgnoreMatcher } from './pattern.js';

/** Where a copy reads from: the build context (host files) or another stage's tree. */
export interface CopySource {
  root: string;
  kind: 'context' | 'stage';
  ignore?: IgnoreMatcher;
}

export type ItemType = 'file' | 'dir' | 'symlink';

/** One entry to create in the image. Directories come before their contents. */
export interface CopyItem {
  /** Absolute host path of the source entry. */
  host: string;
  /** Normalised absolute image path of the destination. */
  dest: string;
  type: ItemType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkTarget?: string;
  /** A top-level source (its parent is created in the image if missing). */
  top: boolean;
}

export interface CopyPlan {
  items: CopyItem[];
  warnings: string[];
}

export interface PlanCopyOptions {
  source: CopySource;
  src: readonly string[];
  dest: string;
  /** The image's working directory: a relative `dest` is resolved against it. */
  workdir: string;
  /** Refuse copies of more entries than this (default 1,000,000). */
  maxEntries?: number;
}

interface Match {
  /** Path relative to the source root, `/`-separated; '' for the root itself. */
  rel: string;
  host: string;
  st: Stats;
}

/**
 * Work out exactly what a copy step creates: sources expanded (globs), checked
 * to stay inside their root, `.berthignore` applied, directories walked in
 * sorted order without following symlinks. Destination rules (as `cp -r`):
 * a `dest` ending in `/`, or several sources, is a directory and each source
 * lands in it under its own name (`app/` → `/srv/app`); otherwise `dest` is the
 * path the single source takes (a directory's contents go into `dest`).
 * The context root itself (`.`) always copies its contents into `dest`.
 */
export async function planCopy(opts: PlanCopyOptions): Promise<CopyPlan> {
  const max = opts.maxEntries ?? 1_000_000;
  const warnings: string[] = [];
  const matches: Match[] = [];
  const rootReal = opts.source.kind === 'context' ? realpath(opts.source.root) : opts.source.root;
  for (const pattern of opts.src) {
    const found = hasGlobChars(pattern) ? await expandGlob(opts.source, rootReal, pattern) : [await resolveLiteral(opts.source, rootReal, pattern)];
    if (found.length === 0) throw new BerthError('EBUILD', `${JSON.stringify(pattern)} matched no files${opts.source.kind === 'context' ? ' in the build context' : ''}`);
    matches.push(...found);
  }
  const destAbs = path.posix.resolve(opts.workdir.startsWith('/') ? opts.workdir : `/${opts.workdir}`, opts.dest);
  const destIsDir = opts.dest.endsWith('/') || matches.length > 1;
  const items: CopyItem[] = [];
  const seen = new Set<string>();
  const push = (item: CopyItem): void => {
    if (seen.has(item.dest)) return;
    seen.add(item.dest);
    if (items.length >= max) throw new BerthError('ETOO_LARGE', `more than ${max} entries to copy`);
    items.push(item);
  };
  for (const m of matches) {
    const isRoot = m.rel === '';
    const target = isRoot ? destAbs : destIsDir ? path.posix.join(destAbs, path.posix.basename(m.rel)) : destAbs;
    const item = toItem(m.host, target, m.st, true, opts.source, warnings);
    if (!item) continue;
    if (item.type === 'symlink') item.linkTarget = readlink(m.host);
    push(item);
    if (item.type === 'dir') await walk(opts.source, m.host, m.rel, target, push, warnings);
  }
  return { items, warnings };
}

function toItem(host: string, dest: string, st: Stats, top: boolean, source: CopySource, warnings: string[]): CopyItem | undefined {
  let type: ItemType;
  if (st.isFile()) type = 'file';
  else if (st.isDirectory()) type = 'dir';
  else if (st.isSymbolicLink()) type = 'symlink';
  else {
    const what = st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'device';
    if (source.kind === 'context') throw new BerthError('EBUILD', `${host}: cannot copy a ${what} from the build context`);
    warnings.push(`skipped ${what} ${dest}`);
    return undefined;
  }
  return { host, dest, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'file' ? st.size : 0, mtime: st.mtime, top };
}

async function walk(
  source: CopySource,
  hostDir: string,
  relDir: string,
  destDir: string,
  push: (item: CopyItem) => void,
  warnings: string[],
): Promise<void> {
  let entries: Dirent[];
  try {
    entries = readdirSync(hostDir, { withFileTypes: true });
  } catch (err) {
    throw BerthError.wrap(`read ${hostDir}`, err, 'EBUILD');
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const rel = relDir ? `${relDir}/${e.name}` : e.name;
    const isDir = e.isDirectory();
    if (source.ignore && source.ignore.matchOne(rel, isDir)) continue;
    const host = path.join(hostDir, e.name);
    const st = lstat(host);
    const item = toItem(host, path.posix.join(destDir, e.name), st, false, source, warnings);
    if (!item) continue;
    if (item.type === 'symlink') item.linkTarget = readlink(host);
    push(item);
    if (item.type === 'dir') await walk(source, host, rel, item.dest, push, warnings);
  }
}

/** Does a source pattern climb above its root (`../x`, `a/../../x`)? */
function escapes(pattern: string): boolean {
  const n = path.posix.normalize(pattern.replace(/^\/+/, ''));
  return n === '..' || n.startsWith('../');
}

/** Normalise a source path: relative to the source root (a leading `/` means the root). */
function normaliseSrc(pattern: string): string {
  const norm = path.posix.normalize(`/${pattern}`).slice(1).replace(/\/+$/, '');
  return norm === '.' ? '' : norm;
}

async function resolveLiteral(source: CopySource, rootReal: string, pattern: string): Promise<Match> {
  if (escapes(pattern)) throw new BerthError('EUNSAFE_PATH', `${JSON.stringify(pattern)}: outside the ${source.kind === 'context' ? 'build context' : 'stage'}`);
  const rel = normaliseSrc(pattern);
  if (source.kind === 'stage') {
    // Symlinks (also a top-level one) are resolved as the image sees them, never out of the tree.
    const host = resolveInRoot(source.root, rel);
    const st = lstatOrUndefined(host);
    if (!st) throw new BerthError('EBUILD', `${JSON.stringify(pattern)}: no such file or directory`);
    return { rel: path.relative(source.root, host).split(path.sep).join('/'), host, st };
  }
  const host = path.join(rootReal, rel);
  // Intermediate components may be symlinks only if they stay inside the context.
  let parentReal: string;
  try {
    parentReal = rel === '' ? rootReal : realpath(path.dirname(host));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new BerthError('EBUILD', `${JSON.stringify(pattern)}: no such file or directory in the build context`);
    }
    throw BerthError.wrap(`${JSON.stringify(pattern)}`, err, 'EBUILD');
  }
  if (!isWithin(rootReal, parentReal)) throw new BerthError('EUNSAFE_PATH', `${JSON.stringify(pattern)}: resolves outside the build context`);
  const finalHost = rel === '' ? rootReal : path.join(parentReal, path.basename(host));
  const st = lstatOrUndefined(finalHost);
  if (!st) throw new BerthError('EBUILD', `${JSON.stringify(pattern)}: no such file or directory in the build context`);
  const realRel = path.relative(rootReal, finalHost).split(path.sep).join('/');
  if (realRel !== '' && source.ignore?.ignores(realRel, st.isDirectory())) {
    throw new BerthError('EBUILD', `${JSON.stringify(pattern)}: excluded by .berthignore`);
  }
  return { rel: realRel, host: finalHost, st };
}

/** Expand a glob by walking from its longest literal prefix; symlinks are never followed. */
async function expandGlob(source: CopySource, rootReal: string, pattern: string): Promise<Match[]> {
  if (escapes(pattern)) throw new BerthError('EUNSAFE_PATH', `${JSON.stringify(pattern)}: outside the ${source.kind === 'context' ? 'build context' : 'stage'}`);
  const rel = normaliseSrc(pattern);
  const parts = rel.split('/');
  const literal: string[] = [];
  for (const p of parts) {
    if (hasGlobChars(p)) break;
    literal.push(p);
  }
  const re = compileGlob(rel);
  const deep = parts.includes('**');
  const maxDepth = deep ? Infinity : parts.length;
  const root = source.kind === 'context' ? rootReal : source.root;
  const baseRel = literal.join('/');
  let baseHost: string;
  if (source.kind === 'stage') baseHost = resolveInRoot(root, baseRel);
  else {
    baseHost = path.join(root, baseRel);
    const real = realpathOr(baseHost);
    if (real === undefined) return [];
    if (!isWithin(rootReal, real)) throw new BerthError('EUNSAFE_PATH', `${JSON.stringify(pattern)}: resolves outside the build context`);
    baseHost = real;
  }
  const out: Match[] = [];
  const visit = async (hostDir: string, relDir: string, depth: number): Promise<void> => {
    if (depth >= maxDepth) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(hostDir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const r = relDir ? `${relDir}/${e.name}` : e.name;
      const isDir = e.isDirectory();
      if (source.ignore && source.ignore.ignores(r, isDir)) continue;
      const host = path.join(hostDir, e.name);
      if (re.test(r)) {
        out.push({ rel: r, host, st: lstat(host) });
        continue;
      }
      if (isDir) await visit(host, r, depth + 1);
    }
  };
  await visit(baseHost, baseRel, literal.length);
  return out;
}

/**
 * A digest over what a copy will produce: destination paths, types, modes,
 * link targets and file contents (sha256). Ownership counts only for stage
 * copies (context files become 0:0 or the `chown` owner). Modification times
 * are left out on purpose: touching a file does not invalidate the cache.
 */
export async function hashPlan(plan: CopyPlan, kind: CopySource['kind']): Promise<string> {
  const contentHashes = new Map<string, string>();
  // One buffer, reused for every file: hashing a context allocates next to nothing.
  const buf = Buffer.allocUnsafe(HASH_CHUNK);
  for (const f of plan.items) if (f.type === 'file') contentHashes.set(f.dest, hashFile(f.host, buf));
  const h = createHash('sha256');
  for (const i of plan.items) {
    const owner = kind === 'stage' ? [i.uid, i.gid] : [];
    h.update(`${JSON.stringify([i.dest, i.type, i.mode, ...owner, i.size, i.linkTarget ?? '', contentHashes.get(i.dest) ?? ''])}\n`);
  }
  return h.digest('hex');
}


function hashFile(file: string, buf: Buffer): string {
  const h = createHash('sha256');
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
