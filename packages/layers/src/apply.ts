/**
 * applyLayer: stream an OCI layer blob onto a directory, contained in it.
 *
 * Containment: every entry path is cleaned lexically (leading "/" stripped,
 * ".." clamped at the root), then its parent directory is resolved with
 * @berth/fs-root's resolveInRoot (securejoin semantics: one component at a
 * time with lstat/readlink, an absolute symlink target restarts at the root,
 * ".." never climbs above it, at most 255 links are followed), creating
 * missing directories where the walk puts them; resolved parents are cached
 * per layer until a directory or symlink is removed. The final component
 * is never followed: files are created with O_CREAT|O_EXCL|O_NOFOLLOW after
 * removing whatever was there, and every metadata call is an l*- or f*-call
 * (lchown, lsetxattr, utimensat(AT_SYMLINK_NOFOLLOW), fchmod); chmod is only
 * used on nodes just created or lstat-ed as a directory or device. Nothing
 * else writes to the tree while a layer is applied, so these checks hold.
 *
 * All filesystem work is synchronous inside the stream's write callback:
 * decompression runs in the libuv pool while entries are written, and small
 * files cost a handful of syscalls (open, write, fchown, fchmod, futimes,
 * close) with no promise or stream per entry.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { resolveInRoot, type CreateOptions, type ExistingDirectoryOptions } from '@berth/fs-root';
import { BerthError, Digest, layerMediaInfo } from '@berth/oci';
import { decompressStream } from './compression.js';
import { resolveLimits, type LayerLimits } from './limits.js';
import { cleanComponents, joinRel, parentRel, whiteoutKind } from './paths.js';
import {
  fsetxattr,
  futimens,
  llistxattr,
  lremovexattr,
  lsetxattr,
  lutimens,
  makedev,
  mknod,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  type Timespec,
} from '@berth/sys';
import { quote, TarReader, type TarEntry, type TarHandler } from './tar-reader.js';

export interface ApplyLayerOptions {
  /** Existing directory (lower layers already applied). */
  root: string;
  /** The blob bytes as stored (compressed per mediaType). */
  source: Readable;
  /** Any OCI / Docker layer media type (tar, tar+gzip, tar+zstd, nondistributable variants). */
  mediaType: string;
  /** Digest of the blob as stored: verified after the stream is drained. */
  digest?: Digest | string;
  /** Digest of the uncompressed tar: verified after the stream is drained. */
  diffId?: Digest | string;
  limits?: Partial<LayerLimits>;
  /** lchown entries to their uid/gid. Default: running as root. */
  preserveOwnership?: boolean;
  /** For error messages; default: the (short) digest. */
  name?: string;
  /**
   * Archive mode (`berth cp`), the options below. `whiteouts: false`: `.wh.` names are plain
   * entries, as docker's untar writes them (default true: a layer's whiteouts).
   */
  whiteouts?: boolean;
  /** Every entry owned by this uid/gid instead of the archive's (docker cp without `-a`); implies lchown. */
  owner?: { uid: number; gid: number };
  /** Rename the first path component `from` to `to` (and hardlink targets with it): docker's RebaseArchiveEntries. */
  rebase?: { from: string; to: string };
}

export interface ApplyLayerResult {
  /** Tar entries read (whiteouts included, extended headers not). */
  entries: number;
  /** Bytes of the uncompressed tar stream (what diffId covers). */
  bytes: number;
  /** sha256 (or diffId's algorithm) of the uncompressed tar stream. */
  diffId: Digest;
  /** Char/block devices not created because mknod was not permitted (unprivileged). */
  skippedDevices: number;
}

/** xattrs that are host-specific and never applied nor recorded (as umoci). */
export const IGNORED_XATTRS: ReadonlySet<string> = new Set(['security.selinux', 'system.nfs4_acl']);

/**
 * xattr namespaces never applied nor recorded: `trusted.*` is the kernel's
 * namespace for privileged processes, and overlayfs keeps its metadata there
 * (`trusted.overlay.opaque`, `.redirect`, `.whiteout`, `.metacopy`, …). A
 * snapshot is later an overlayfs lower layer (`berth build`), so a layer that
 * could write them could make overlayfs hide or redirect lower content. As
 * containerd (whose layer writer records only `security.capability` and whose
 * copy-up skips `trusted.*`) and umoci (which escapes `trusted.overlay.*` when
 * its tree is meant for overlayfs). `security.capability` and `user.*` are kept.
 */
export const IGNORED_XATTR_PREFIXES: readonly string[] = ['trusted.'];

/** Is `name` an xattr applyLayer never sets (nor clears) and createLayer never records? */
export function isIgnoredXattr(name: string): boolean {
  return IGNORED_XATTRS.has(name) || IGNORED_XATTR_PREFIXES.some((prefix) => name.startsWith(prefix));
}

const O_CREATE_FILE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
/** resolveInRoot's options for a directory that must already exist (whiteouts, hardlink targets). */
const EXISTING_DIR: ExistingDirectoryOptions = { missing: 'undefined' };

interface DirMeta {
  mode: number;
  atime: Timespec;
  mtime: Timespec;
}

interface SavedTimes {
  atime: Timespec;
  mtime: Timespec;
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function nsToTimespec(ns: bigint): Timespec {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** Node's (l)utimes take seconds as doubles and turn negative values into "now": use them only when exact. */
function nodeTimeExact(t: Timespec): boolean {
  return t.nsec === 0 && t.sec >= 0 && Number.isSafeInteger(t.sec);
}

function setPathTimes(abs: string, atime: Timespec, mtime: Timespec): void {
  if (nodeTimeExact(atime) && nodeTimeExact(mtime)) lutimesSync(abs, atime.sec, mtime.sec);
  else lutimens(abs, atime, mtime);
}

function setFdTimes(fd: number, atime: Timespec, mtime: Timespec): void {
  if (nodeTimeExact(atime) && nodeTimeExact(mtime)) futimesSync(fd, atime.sec, mtime.sec);
  else futimens(fd, atime, mtime);
}

/** Writes the entries of one layer into `root`. Internal: driven by TarReader. */
class Applier implements TarHandler {
  /** Real paths (relative to root) this layer wrote, plus all their ancestors. */
  private readonly upper = new Set<string>();
  /** Cleaned archive directory path → real relative path of a verified directory. */
  private readonly dirCache = new Map<string, string>();
  /** Directories this layer has entries for: mode and times applied at the end. */
  private readonly dirMeta = new Map<string, DirMeta>();
  /** Directories modified (children added/removed) whose times are restored at the end. */
  private readonly savedTimes = new Map<string, SavedTimes>();
  private fd = -1;
  private current: TarEntry | undefined;
  skippedDevices = 0;
  /** resolveInRoot's options for an entry's parent: missing directories are made (0755), saving their parent's times first. */
  private readonly createDirs: CreateOptions = {
    missing: 'create',
    mkdir: (host, rel) => {
      this.saveTimes(parentRel(rel));
      mkdirSync(host, 0o755);
    },
    notDirectory: (rel) => new BerthError('ELAYER', `parent ${quote(rel)} is not a directory`),
  };

  constructor(
    private readonly root: string,
    private readonly limits: LayerLimits,
    private readonly preserveOwnership: boolean,
    private readonly archive: Pick<ApplyLayerOptions, 'whiteouts' | 'owner' | 'rebase'> = {},
  ) {}

  /** The owner an entry gets: its own, or the archive mode's fixed one. */
  private uid(e: TarEntry): number {
    return this.archive.owner?.uid ?? e.uid;
  }

  private gid(e: TarEntry): number {
    return this.archive.owner?.gid ?? e.gid;
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  entry(e: TarEntry): void {
    this.current = e;
    try {
      this.begin(e);
    } catch (err) {
      throw this.entryError(e, err);
    }
  }

  data(chunk: Buffer): void {
    if (this.fd < 0) return; // whiteouts, skipped entries: content ignored
    try {
      let off = 0;
      while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    } catch (err) {
      throw this.entryError(this.current, err);
    }
  }

  entryEnd(): void {
    const e = this.current;
    this.current = undefined;
    if (this.fd < 0 || !e) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      if (this.preserveOwnership) fchownSync(fd, this.uid(e), this.gid(e));
      fchmodSync(fd, e.mode);
      if (e.xattrs) this.setXattrs(fd, e.xattrs);
      setFdTimes(fd, e.atime ?? e.mtime, e.mtime);
    } catch (err) {
      throw this.entryError(e, err);
    } finally {
      closeSync(fd);
    }
  }

  /** Close what is open after a failure. */
  abort(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // already failing; the tree is discarded by the caller
      }
      this.fd = -1;
    }
  }

  /**
   * Directory times and modes, after every entry is in place: first all
   * times (restored ones for directories this layer only changed, the
   * layer's own for its directory entries), then modes deepest first, so a
   * directory made unsearchable cannot get in the way of its children.
   * chmod does not touch mtime.
   */
  finish(): void {
    const modes: Array<[string, string, number]> = [];
    const times: Array<[string, SavedTimes]> = [...this.savedTimes].filter(([rel]) => !this.dirMeta.has(rel));
    for (const [rel, m] of this.dirMeta) {
      times.push([rel, m]);
      modes.push([rel, this.abs(rel), m.mode]);
    }
    for (const [rel, t] of times) {
      const abs = this.abs(rel);
      try {
        const st = lstatSync(abs, { throwIfNoEntry: false });
        if (st?.isDirectory()) setPathTimes(abs, t.atime, t.mtime);
      } catch (err) {
        throw BerthError.wrap(`directory ${quote(rel || '/')}`, err, 'ELAYER');
      }
    }
    const depth = (rel: string): number => (rel === '' ? 0 : rel.split('/').length);
    modes.sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, abs, mode] of modes) {
      try {
        const st = lstatSync(abs, { throwIfNoEntry: false });
        if (st?.isDirectory()) chmodSync(abs, mode);
      } catch (err) {
        throw BerthError.wrap(`directory ${quote(rel || '/')}`, err, 'ELAYER');
      }
    }
  }

  private entryError(e: TarEntry | undefined, err: unknown): BerthError {
    return BerthError.wrap(e ? `entry ${quote(e.name)}` : 'entry', err, 'ELAYER');
  }

  private begin(e: TarEntry): void {
    const rebase = this.archive.rebase;
    if (rebase) {
      e.name = rebased(e.name, rebase);
      if (e.type === 'hardlink') e.linkname = rebased(e.linkname, rebase);
    }
    const comps = cleanComponents(e.name);
    if (comps.length > this.limits.maxPathDepth) {
      throw new BerthError('ETOO_LARGE', `path deeper than ${this.limits.maxPathDepth} components`, {
        details: { limit: 'maxPathDepth' },
      });
    }
    const n = comps.length;
    if (n === 0) {
      // An entry for "/" or ".": only metadata of the root directory may change.
      if (e.type !== 'directory') {
        throw new BerthError('EUNSAFE_PATH', `refusing to replace the root directory with a ${e.type}`);
      }
      this.applyDirMeta(e, '', this.root, true);
      return;
    }
    for (let i = 0; i < n - 1 && this.archive.whiteouts !== false; i++) {
      const c = comps[i] as string;
      if (c.startsWith('.wh.')) {
        if (c.startsWith('.wh..wh.')) return; // inside AUFS bookkeeping (.wh..wh.plnk/...): ignored
        throw new BerthError('ELAYER', `whiteout name ${quote(c)} used as a directory`);
      }
    }
    const base = comps[n - 1] as string;
    const wh: ReturnType<typeof whiteoutKind> = this.archive.whiteouts === false ? { kind: 'none' } : whiteoutKind(base);
    switch (wh.kind) {
      case 'opaque':
        this.opaque(comps);
        return;
      case 'meta':
        return;
      case 'invalid':
        throw new BerthError('ELAYER', `invalid whiteout ${quote(base)}`);
      case 'whiteout':
        this.whiteout(comps, wh.target);
        return;
      case 'none':
        break;
    }

    const parent = this.resolveDir(comps, n - 1, true) as string;
    const rel = joinRel(parent, base);
    const abs = this.abs(rel);
    this.saveTimes(parent);
    switch (e.type) {
      case 'directory':
        this.makeDir(e, comps, rel, abs);
        break;
      case 'file':
        this.openFile(rel, abs);
        break;
      case 'symlink':
        this.makeSymlink(e, rel, abs);
        break;
      case 'hardlink':
        this.makeHardlink(e, rel, abs);
        break;
      case 'char':
      case 'block':
      case 'fifo':
        if (!this.makeNode(e, rel, abs)) return;
        break;
    }
    this.markUpper(rel);
  }

  /**
   * Resolve the first `count` cleaned components to a real directory inside
   * the root, following symlinks securely. With `create`, missing directories
   * are made (mode 0755); otherwise undefined is returned for a missing or
   * non-directory path.
   */
  private resolveDir(comps: string[], count: number, create: boolean): string | undefined {
    if (count === 0) return '';
    const key = count === comps.length ? comps.join('/') : comps.slice(0, count).join('/');
    const hit = this.dirCache.get(key);
    if (hit !== undefined) return hit;
    const host = resolveInRoot(this.root, key, create ? this.createDirs : EXISTING_DIR);
    if (host === undefined) return undefined;
    const out = host.length === this.root.length ? '' : host.slice(this.root === '/' ? 1 : this.root.length + 1);
    this.dirCache.set(key, out);
    return out;
  }

  /** Remember a directory's times before this layer first modifies it. */
  private saveTimes(rel: string): void {
    if (this.savedTimes.has(rel) || this.dirMeta.has(rel)) return;
    const st = lstatSync(this.abs(rel), { bigint: true, throwIfNoEntry: false });
    if (st) this.savedTimes.set(rel, { atime: nsToTimespec(st.atimeNs), mtime: nsToTimespec(st.mtimeNs) });
  }

  private markUpper(rel: string): void {
    let p = rel;
    while (!this.upper.has(p)) {
      this.upper.add(p);
      if (p === '') return;
      const i = p.lastIndexOf('/');
      p = i === -1 ? '' : p.slice(0, i);
    }
  }

  /** Remove a node (recursively for a directory) and forget what was known below it. */
  private remove(rel: string, abs: string, st: Stats): void {
    if (st.isDirectory()) {
      rmSync(abs, { recursive: true, force: true });
      const prefix = `${rel}/`;
      for (const k of this.dirMeta.keys()) if (k === rel || k.startsWith(prefix)) this.dirMeta.delete(k);
      for (const k of this.savedTimes.keys()) if (k === rel || k.startsWith(prefix)) this.savedTimes.delete(k);
      this.dirCache.clear();
    } else {
      unlinkSync(abs);
      if (st.isSymbolicLink()) this.dirCache.clear();
    }
  }

  private clobber(rel: string, abs: string): void {
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st) this.remove(rel, abs, st);
  }

  private makeDir(e: TarEntry, comps: string[], rel: string, abs: string): void {
    let existing = false;
    try {
      mkdirSync(abs, 0o755);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      const st = lstatSync(abs);
      if (st.isDirectory()) {
        existing = true;
      } else {
        this.remove(rel, abs, st);
        mkdirSync(abs, 0o755);
      }
    }
    this.applyDirMeta(e, rel, abs, existing);
    this.dirCache.set(comps.join('/'), rel);
  }

  /** Owner and xattrs now; mode and times at the end (children are still to come). */
  private applyDirMeta(e: TarEntry, rel: string, abs: string, existing: boolean): void {
    if (this.preserveOwnership) lchownSync(abs, this.uid(e), this.gid(e));
    if (existing) this.clearXattrs(abs);
    if (e.xattrs) this.setXattrs(abs, e.xattrs);
    this.savedTimes.delete(rel);
    this.dirMeta.set(rel, { mode: e.mode, atime: e.atime ?? e.mtime, mtime: e.mtime });
  }

  private openFile(rel: string, abs: string): void {
    try {
      this.fd = openSync(abs, O_CREATE_FILE, 0o600);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      this.clobber(rel, abs);
      this.fd = openSync(abs, O_CREATE_FILE, 0o600);
    }
  }

  private makeSymlink(e: TarEntry, rel: string, abs: string): void {
    try {
      symlinkSync(e.linkname, abs);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      this.clobber(rel, abs);
      symlinkSync(e.linkname, abs);
    }
    if (this.preserveOwnership) lchownSync(abs, this.uid(e), this.gid(e));
    if (e.xattrs) this.setXattrs(abs, e.xattrs);
    setPathTimes(abs, e.atime ?? e.mtime, e.mtime);
  }

  private makeHardlink(e: TarEntry, rel: string, abs: string): void {
    const target = cleanComponents(e.linkname);
    if (target.length === 0) throw new BerthError('EUNSAFE_PATH', 'hardlink to the root directory');
    if (target.length > this.limits.maxPathDepth) {
      throw new BerthError('ETOO_LARGE', `hardlink target deeper than ${this.limits.maxPathDepth} components`, {
        details: { limit: 'maxPathDepth' },
      });
    }
    const targetParent = this.resolveDir(target, target.length - 1, false);
    const missing = (): BerthError =>
      new BerthError('ELAYER', `hardlink target ${quote(e.linkname)} does not exist in the layer or below`);
    if (targetParent === undefined) throw missing();
    const targetRel = joinRel(targetParent, target[target.length - 1] as string);
    const targetAbs = this.abs(targetRel);
    const st = lstatSync(targetAbs, { throwIfNoEntry: false });
    if (!st) throw missing();
    if (st.isDirectory()) throw new BerthError('EUNSAFE_PATH', `hardlink target ${quote(e.linkname)} is a directory`);
    if (targetRel === rel) throw new BerthError('ELAYER', 'hardlink to itself');
    try {
      linkSync(targetAbs, abs);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      this.clobber(rel, abs);
      linkSync(targetAbs, abs);
    }
  }

  /** mknod for devices and fifos; false if a device was skipped (no privilege). */
  private makeNode(e: TarEntry, rel: string, abs: string): boolean {
    const fmt = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
    const dev = e.type === 'fifo' ? 0n : makedev(e.devmajor, e.devminor);
    const make = (): void => mknod(abs, fmt | e.mode, dev);
    try {
      make();
    } catch (err) {
      const code = errCode(err);
      if (code === 'EPERM' && e.type !== 'fifo') {
        this.skippedDevices++;
        return false;
      }
      if (code !== 'EEXIST') throw err;
      this.clobber(rel, abs);
      make();
    }
    if (this.preserveOwnership) lchownSync(abs, this.uid(e), this.gid(e));
    chmodSync(abs, e.mode); // a device or fifo we just made: chmod cannot follow anything
    if (e.xattrs) this.setXattrs(abs, e.xattrs);
    setPathTimes(abs, e.atime ?? e.mtime, e.mtime);
    return true;
  }

  private setXattrs(target: string | number, xattrs: Array<[string, Buffer]>): void {
    for (const [name, value] of xattrs) {
      if (isIgnoredXattr(name)) continue;
      try {
        if (typeof target === 'number') fsetxattr(target, name, value);
        else lsetxattr(target, name, value);
      } catch (err) {
        const code = errCode(err);
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') continue; // filesystem without xattrs
        if (code === 'EPERM' && process.getuid?.() !== 0) continue; // unprivileged: trusted.*, security.*
        throw BerthError.wrap(`set xattr ${quote(name)}`, err, 'ELAYER');
      }
    }
  }

  private clearXattrs(abs: string): void {
    for (const name of llistxattr(abs)) {
      if (!isIgnoredXattr(name)) lremovexattr(abs, name);
    }
  }

  /** `.wh.NAME`: remove NAME as lower layers left it; never what this layer wrote. */
  private whiteout(comps: string[], target: string): void {
    const parent = this.resolveDir(comps, comps.length - 1, false);
    if (parent === undefined) return;
    this.removeLower(joinRel(parent, target), false);
  }

  /** `.wh..wh..opq`: empty the directory of lower content, keep it and this layer's entries. */
  private opaque(comps: string[]): void {
    const dir = this.resolveDir(comps, comps.length - 1, false);
    if (dir === undefined) return;
    this.removeLower(dir, true);
  }

  private removeLower(rel: string, keepSelf: boolean): void {
    const abs = this.abs(rel);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    if (!keepSelf && !this.upper.has(rel)) {
      const i = rel.lastIndexOf('/');
      this.saveTimes(i === -1 ? '' : rel.slice(0, i));
      this.remove(rel, abs, st);
      return;
    }
    if (!st.isDirectory()) return;
    for (const name of readdirSync(abs)) this.removeLower(joinRel(rel, name), false);
  }
}

/** `name` with its first component `from` (after any leading `./` or `/`) renamed `to`; other names unchanged. */
function rebased(name: string, rebase: { from: string; to: string }): string {
  const lead = /^(\.?\/)*/.exec(name)?.[0] ?? '';
  const rest = name.slice(lead.length);
  const from = rebase.from.replace(/\/+$/, '');
  if (rest === from || rest === `${from}/`) return `${lead}${rebase.to}${rest.slice(from.length)}`;
  if (from === '.' || from === '') return `${lead}${rebase.to}/${rest}`;
  if (rest.startsWith(`${from}/`)) return `${lead}${rebase.to}${rest.slice(from.length)}`;
  return name;
}

function toDigest(value: Digest | string | undefined, what: string, doing: string): Digest | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return value;
  try {
    return Digest.parse(value);
  } catch (err) {
    throw BerthError.wrap(`${doing}: ${what}`, err, 'EINVAL_DIGEST');
  }
}

function shortLabel(d: Digest): string {
  return `${d.algorithm}:${d.hex.slice(0, 12)}…`;
}

/**
 * Apply one layer blob onto `root`. Resolves once every entry is written, the
 * stream has been drained to its end and both digests (if given) matched.
 *
 * On rejection the directory is in an undefined state (partially written);
 * the caller must discard it (rootfs applies into a temporary tree).
 */
export async function applyLayer(opts: ApplyLayerOptions): Promise<ApplyLayerResult> {
  let doing = `apply layer ${opts.name ?? '(unnamed)'}`;
  const digest = toDigest(opts.digest, 'digest', doing);
  const diffId = toDigest(opts.diffId, 'diffId', doing);
  if (opts.name === undefined) {
    if (digest) doing = `apply layer ${shortLabel(digest)}`;
    else if (diffId) doing = `apply layer ${shortLabel(diffId)}`;
  }
  const limits = resolveLimits(opts.limits, doing);
  const info = layerMediaInfo(opts.mediaType);
  if (!info) throw new BerthError('EUNSUPPORTED', `${doing}: unsupported layer media type ${quote(String(opts.mediaType))}`);
  if (!opts.source || typeof (opts.source as Readable).pipe !== 'function') {
    throw new BerthError('EINVAL_ARGUMENT', `${doing}: source must be a readable stream`);
  }
  let root: string;
  try {
    root = realpathSync(opts.root);
    if (!lstatSync(root).isDirectory()) throw new Error('not a directory');
    if (root === '/') throw new Error('refusing to apply a layer onto the host root');
  } catch (err) {
    opts.source.destroy();
    throw BerthError.wrap(`${doing}: root ${quote(String(opts.root))}`, err, 'EINVAL_ARGUMENT');
  }
  const preserveOwnership = opts.owner !== undefined || (opts.preserveOwnership ?? process.getuid?.() === 0);

  const archive = {
    ...(opts.whiteouts !== undefined ? { whiteouts: opts.whiteouts } : {}),
    ...(opts.owner ? { owner: opts.owner } : {}),
    ...(opts.rebase ? { rebase: opts.rebase } : {}),
  };
  const applier = new Applier(root, limits, preserveOwnership, archive);
  const reader = new TarReader(applier, limits);
  const blobHash = digest ? createHash(digest.algorithm) : undefined;
  const diffHash = createHash(diffId?.algorithm ?? 'sha256');

  const sink = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _enc, cb) {
      try {
        diffHash.update(chunk);
        reader.push(chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    final(cb) {
      try {
        reader.end();
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });

  let decompressError: unknown;
  let sourceError: unknown;
  opts.source.once('error', (err) => {
    sourceError ??= err;
  });
  try {
    if (info.compression === 'none') {
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          blobHash?.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(opts.source, tap, sink);
    } else {
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          blobHash?.update(chunk);
          cb(null, chunk);
        },
      });
      const decompress = decompressStream(info.compression);
      decompress.once('error', (err) => {
        decompressError ??= err;
      });
      await pipeline(opts.source, tap, decompress, sink);
    }
  } catch (err) {
    applier.abort();
    if (err === decompressError && err !== sourceError && !(err instanceof BerthError)) {
      throw BerthError.wrap(`${doing}: decompress ${info.compression}`, err, 'ELAYER');
    }
    throw BerthError.wrap(doing, err, 'ELAYER');
  }

  if (digest && blobHash) {
    const actual = Digest.parse(`${digest.algorithm}:${blobHash.digest('hex')}`);
    if (!actual.equals(digest)) {
      throw new BerthError('EDIGEST_MISMATCH', `${doing}: blob digest mismatch, got ${actual}`, {
        details: { expected: digest.toString(), actual: actual.toString() },
      });
    }
  }
  const actualDiffId = Digest.parse(`${diffId?.algorithm ?? 'sha256'}:${diffHash.digest('hex')}`);
  if (diffId && !actualDiffId.equals(diffId)) {
    throw new BerthError('EDIGEST_MISMATCH', `${doing}: diffID mismatch, got ${actualDiffId}`, {
      details: { expected: diffId.toString(), actual: actualDiffId.toString() },
    });
  }
  try {
    applier.finish();
  } catch (err) {
    throw BerthError.wrap(doing, err, 'ELAYER');
  }
  return { entries: reader.entries, bytes: reader.bytes, diffId: actualDiffId, skippedDevices: applier.skippedDevices };
}
