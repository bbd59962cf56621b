/**
 * createRootfs: a fresh, independent copy of a snapshot for one container.
 *
 * When the snapshot is the root of a btrfs subvolume and dest is a new name on
 * the same btrfs file system, the copy is one BTRFS_IOC_SNAP_CREATE_V2: a
 * writable copy-on-write snapshot of the whole subvolume (how docker's and
 * podman's btrfs drivers make a container's tree). Otherwise, or when the
 * kernel refuses it, the walk below.
 *
 * One synchronous walk (fs.*Sync: no thread-pool round trip per file, which is
 * what dominates for trees of many small files), one lstat per entry, data by
 * copyFileSync (reflink via FICLONE when the file system can, else in-kernel
 * copy_file_range), and metadata applied in the order the kernel requires:
 * chown (clears setuid/setgid and security.capability) → chmod → xattrs →
 * times, directories after their contents.
 */
import {
  chmodSync,
  constants as fsConstants,
  copyFileSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  symlinkSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { lgetxattr, llistxattr, lsetxattr, lstatx, lutimensRaw, makedev, mknod, STX, timesFromStatx } from '@berth/sys';
import { BerthError, describeError } from '@berth/oci';
import { childSubvolumes, hasSubvolumeRootInode, onBtrfs, snapshotSubvolume, withDirFd } from './btrfs.js';
import { displayPath, joinPath, readNames, type FsPath } from './paths.js';
import { emptyDirectorySync, removeTree } from './remove.js';

export interface CreateRootfsOptions {
  /** The snapshot directory to copy (e.g. `Snapshots.ensure().path`). Only read. */
  snapshot: string;
  /** Where the copy goes: must be absent or an empty directory. Missing parents are created 0700. */
  dest: string;
  /** Progress notes, e.g. which copy method was chosen. */
  log?: (msg: string) => void;
}

export interface CreateRootfsResult {
  /**
   * 'snapshot' when dest is a btrfs snapshot of the snapshot's subvolume (one
   * ioctl, everything shared copy-on-write), 'reflink' when the walk shared file
   * data (FICLONE), 'copy' when it copied it.
   */
  method: 'snapshot' | 'reflink' | 'copy';
  /**
   * Entries created under dest by the walk (every name: directories, files, hard
   * links, symlinks, specials); undefined for 'snapshot', which does not walk.
   */
  files: number | undefined;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** Errors from a FICLONE attempt that mean "this file system (pair) cannot reflink". */
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY']);

interface CopyState {
  readonly uid: number;
  readonly gid: number;
  readonly privileged: boolean;
  /** `dev:ino` of a multiply-linked source inode → the first dest path made for it. */
  readonly links: Map<string, FsPath>;
  /** undefined until the first regular file tells us whether FICLONE works here. */
  method: 'reflink' | 'copy' | undefined;
  cloneFlag: number;
  files: number;
  reason: string;
  /** Scratch timespec pair for non-directories (directories keep their own until their contents are done). */
  readonly times: Buffer;
}

export async function createRootfs(opts: CreateRootfsOptions): Promise<CreateRootfsResult> {
  const snapshot = resolve(opts.snapshot);
  const dest = resolve(opts.dest);
  const doing = `create rootfs ${dest} from ${snapshot}`;
  let stx: Buffer;
  try {
    stx = lstatx(snapshot);
  } catch (err) {
    throw BerthError.wrap(`${doing}: snapshot`, err, 'EROOTFS');
  }
  if ((stx.readUInt16LE(STX.mode) & S_IFMT) !== S_IFDIR) throw new BerthError('EROOTFS', `${doing}: the snapshot is not a directory`);
  const subvolumeRoot = hasSubvolumeRootInode(stx);
  const rootMeta = metaOf(stx, Buffer.alloc(32));
  const realSnapshot = realpathSync(snapshot);
  const realDest = realpathOfFuture(dest);
  if (realDest === realSnapshot || realDest.startsWith(`${realSnapshot}/`) || realSnapshot.startsWith(`${realDest}/`)) {
    throw new BerthError('EINVAL_ARGUMENT', `${doing}: snapshot and destination overlap`);
  }
  if (subvolumeRoot && onBtrfs(snapshot) && trySnapshot(snapshot, dest, doing, opts.log)) {
    opts.log?.(`created ${dest} as a btrfs snapshot of subvolume ${snapshot} (BTRFS_IOC_SNAP_CREATE_V2)`);
    return { method: 'snapshot', files: undefined };
  }
  const createdDest = prepareDest(dest, doing);

  const state: CopyState = {
    uid: process.geteuid?.() ?? -1,
    gid: process.getegid?.() ?? -1,
    privileged: process.geteuid?.() === 0,
    links: new Map(),
    method: undefined,
    cloneFlag: 0,
    files: 0,
    reason: '',
    times: Buffer.alloc(32),
  };
  try {
    copyDir(state, snapshot, dest);
    applyMetadata(state, snapshot, dest, S_IFDIR, rootMeta);
  } catch (err) {
    const cleanup = await discard(dest, createdDest);
    const entry = err instanceof EntryError ? `: ${JSON.stringify(displayPath(err.path, snapshot))}` : '';
    const cause = err instanceof EntryError ? err.cause : err;
    throw new BerthError('EROOTFS', `${doing}${entry}: ${describeError(cause)}${cleanup}`, { cause });
  }
  const method = state.method ?? 'copy';
  if (state.method === undefined) opts.log?.(`copied ${state.files} entries to ${dest} (no regular files, nothing to reflink)`);
  else opts.log?.(`copied ${state.files} entries to ${dest} by ${method === 'reflink' ? 'reflink (FICLONE)' : `plain copy (${state.reason})`}`);
  return { method, files: state.files };
}

/** Errors of BTRFS_IOC_SNAP_CREATE_V2 that are the copy's own failure, not a refusal to snapshot: the walk would fail too. */
const SNAPSHOT_FATAL = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'ENOMEM']);

/**
 * dest as a btrfs snapshot of the subvolume `snapshot` (the caller checked it is
 * a subvolume root on btrfs). True when made; false, with a log line saying
 * why, when the walk must do it instead:
 * - dest exists already (an empty directory: the walk fills it in place);
 * - dest's directory is not on btrfs;
 * - subvolumes are nested in the snapshot (a snapshot would hold empty directories where they are);
 * - the kernel refuses (EXDEV: another btrfs; EPERM: not the source's owner, unprivileged; ENOTTY, EINVAL…).
 * Out of space and I/O errors are thrown (EROOTFS), as the walk's would be.
 */
function trySnapshot(snapshot: string, dest: string, doing: string, log: ((msg: string) => void) | undefined): boolean {
  const parent = dirname(dest);
  try {
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    lstatSync(dest);
    log?.(`${dest} exists: copying into it entry by entry instead of a btrfs snapshot`);
    return false;
  } catch (err) {
    // ENOENT is the usual case; anything else is for prepareDest to report.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
  }
  if (!onBtrfs(parent)) {
    log?.(`${parent} is not on btrfs: copying entry by entry instead of a btrfs snapshot of ${snapshot}`);
    return false;
  }
  try {
    withDirFd(snapshot, (sourceFd) => {
      const nested = childSubvolumes(sourceFd, snapshot);
      if (nested > 0) throw Object.assign(new Error(`${nested} nested subvolume(s), which a snapshot would leave empty`), { code: 'NESTED' });
      withDirFd(parent, (parentFd) => snapshotSubvolume({ sourceFd, parentFd, name: basename(dest), pathForErrors: dest }));
    });
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (SNAPSHOT_FATAL.has(code)) throw BerthError.wrap(`${doing}: btrfs snapshot`, err, 'EROOTFS');
    log?.(`btrfs snapshot of ${snapshot} not possible (${describeError(err)}): copying entry by entry`);
    return false;
  }
}

/** realpath of a path that may not exist yet: its deepest existing ancestor resolved, the rest appended. */
function realpathOfFuture(p: string): string {
  const rest: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return join(realpathSync(cur), ...rest);
    } catch {
      const parent = dirname(cur);
      if (parent === cur) return p;
      rest.unshift(basename(cur));
      cur = parent;
    }
  }
}

/** Make dest an empty directory we may write; true when we created it (so a failure removes it whole). */
function prepareDest(dest: string, doing: string): boolean {
  try {
    mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
    mkdirSync(dest, { mode: 0o700 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw BerthError.wrap(`${doing}: destination`, err, 'EROOTFS');
  }
  const st = lstatSync(dest);
  if (!st.isDirectory()) throw new BerthError('EROOTFS', `${doing}: the destination exists and is not a directory`);
  if (readdirSync(dest).length > 0) throw new BerthError('EROOTFS', `${doing}: the destination is not empty`);
  return false;
}

/** After a failure: leave nothing behind. Returns a note for the error message if that failed too. */
async function discard(dest: string, created: boolean): Promise<string> {
  try {
    if (created) await removeTree(dest);
    else emptyDirectorySync(dest);
    return '';
  } catch (err) {
    return ` (and removing the partial copy failed: ${describeError(err)})`;
  }
}

/** Copy the contents of directory `src` into the existing directory `dst`; errors name the entry (EntryError). */
function copyDir(state: CopyState, src: FsPath, dst: FsPath): void {
  for (const name of readNames(src)) {
    const s = joinPath(src, name);
    const d = joinPath(dst, name);
    try {
      copyEntry(state, s, d);
    } catch (err) {
      if (err instanceof EntryError) throw err;
      throw new EntryError(s, err);
    }
  }
}

class EntryError extends Error {
  constructor(
    readonly path: FsPath,
    override readonly cause: unknown,
  ) {
    super(describeError(cause));
  }
}

/** What a directory's metadata needs after its contents are copied (the statx buffer is reused meanwhile). */
interface Meta {
  perm: number;
  uid: number;
  gid: number;
  /** Two struct timespec: atime, mtime. */
  times: Buffer;
}

function metaOf(stx: Buffer, times: Buffer): Meta {
  return {
    perm: stx.readUInt16LE(STX.mode) & 0o7777,
    uid: stx.readUInt32LE(STX.uid),
    gid: stx.readUInt32LE(STX.gid),
    times: timesFromStatx(stx, times),
  };
}

function copyEntry(state: CopyState, s: FsPath, d: FsPath): void {
  const stx = lstatx(s);
  const mode = stx.readUInt16LE(STX.mode);
  const type = mode & S_IFMT;
  if (type !== S_IFDIR && stx.readUInt32LE(STX.nlink) > 1) {
    // dev major:minor:ino (ino as two 32-bit halves: no BigInt)
    const key = `${stx.readUInt32LE(STX.devMajor)}:${stx.readUInt32LE(STX.devMinor)}:${stx.readUInt32LE(STX.ino + 4)}:${stx.readUInt32LE(STX.ino)}`;
    const first = state.links.get(key);
    if (first !== undefined) {
      linkSync(first, d);
      state.files++;
      return;
    }
    state.links.set(key, d);
  }
  if (type === S_IFDIR) {
    const meta = metaOf(stx, Buffer.allocUnsafe(32));
    mkdirSync(d, { mode: 0o700 });
    state.files++;
    copyDir(state, s, d);
    applyMetadata(state, s, d, type, meta);
    return;
  }
  const meta = metaOf(stx, state.times);
  switch (type) {
    case S_IFREG:
      copyData(state, s, d);
      break;
    case S_IFLNK:
      symlinkSync(readlinkSync(s, { encoding: 'buffer' }), d);
      state.files++;
      break;
    default:
      // character/block devices, fifos, sockets: the same node, the same device number
      mknod(d, mode, makedev(stx.readUInt32LE(STX.rdevMajor), stx.readUInt32LE(STX.rdevMinor)));
      state.files++;
      break;
  }
  applyMetadata(state, s, d, type, meta);
}

function copyData(state: CopyState, s: FsPath, d: FsPath): void {
  if (state.method === undefined) {
    // The first regular file decides: FICLONE_FORCE fails cleanly (libuv removes the
    // half-made destination) when the file system or the pair cannot share extents.
    try {
      copyFileSync(s, d, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE_FORCE);
      state.method = 'reflink';
      // FICLONE (not _FORCE) from here on: a file that cannot be cloned still gets copied.
      state.cloneFlag = fsConstants.COPYFILE_FICLONE;
      state.files++;
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!NO_REFLINK.has(code)) throw err;
      state.method = 'copy';
      state.cloneFlag = 0;
      state.reason = `the file system cannot reflink: ${code}`;
    }
  }
  copyFileSync(s, d, fsConstants.COPYFILE_EXCL | state.cloneFlag);
  state.files++;
}

/** Ownership, mode, xattrs, times of `d` from `s`, in the order the kernel needs. */
function applyMetadata(state: CopyState, s: FsPath, d: FsPath, type: number, meta: Meta): void {
  const { perm, uid, gid } = meta;
  let chowned = false;
  if (uid !== state.uid || gid !== state.gid) {
    if (state.privileged) {
      lchownSync(d, uid, gid);
      chowned = true;
    }
  }
  if (type === S_IFDIR) {
    chmodSync(d, perm); // created 0700 so we could fill it
  } else if (type === S_IFREG) {
    // copyFile already fchmod-ed the full mode; chown dropped setuid/setgid again
    if (chowned && (perm & 0o6000) !== 0) chmodSync(d, perm);
  } else if (type !== S_IFLNK) {
    chmodSync(d, perm); // mknod's mode went through the umask
  }
  for (const name of llistxattr(s)) {
    // Unprivileged, only the user.* namespace can be written (security.*, trusted.* need CAP_SYS_ADMIN/CAP_SETFCAP).
    if (!state.privileged && !name.startsWith('user.')) continue;
    const value = lgetxattr(s, name);
    if (value !== undefined) lsetxattr(d, name, value);
  }
  lutimensRaw(d, meta.times);
}
