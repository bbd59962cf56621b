/**
 * btrfs subvolumes: the few ioctls the rootfs composer uses (linux/btrfs.h),
 * through @berth/sys (`ioctlBuffer`; libc is loaded once).
 *
 * - createSubvolume: BTRFS_IOC_SUBVOL_CREATE (an empty subvolume where mkdir would make a directory)
 * - snapshotSubvolume: BTRFS_IOC_SNAP_CREATE_V2 (a writable copy-on-write copy of a whole subvolume)
 * - destroySubvolume: BTRFS_IOC_SNAP_DESTROY (a subvolume and everything in it, at once)
 * - get/setReadOnly: BTRFS_IOC_SUBVOL_GETFLAGS / SETFLAGS with BTRFS_SUBVOL_RDONLY
 * - childSubvolumes: BTRFS_IOC_GET_SUBVOL_ROOTREF (subvolumes nested in one; a snapshot would not include them)
 *
 * Every call goes through the replaceable `BtrfsBinding`, so tests can refuse
 * one (fault injection) and check that callers fall back.
 */
import { closeSync, constants as fsConstants, openSync, statfsSync } from 'node:fs';
import { ioctlBuffer, lstatx, STX } from '@berth/sys';
import type { FsPath } from './paths.js';

/** statfs f_type of btrfs (BTRFS_SUPER_MAGIC). */
export const BTRFS_SUPER_MAGIC = 0x9123683e;
/** The inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
export const SUBVOL_ROOT_INO = 256;

const MAGIC = 0x94;
const IOC_WRITE = 1;
const IOC_READ = 2;
function ioc(dir: number, nr: number, size: number): number {
  // generic _IOC layout (x86, arm, riscv): dir:2 size:14 type:8 nr:8
  return ((dir << 30) | (size << 16) | (MAGIC << 8) | nr) >>> 0;
}
/** struct btrfs_ioctl_vol_args: s64 fd; char name[4088]. */
const VOL_ARGS_SIZE = 4096;
const VOL_ARGS_NAME = 8;
/** struct btrfs_ioctl_vol_args_v2: s64 fd @0, u64 transid @8, u64 flags @16, u64 unused[4] @24, char name[4040] @56. */
const VOL_ARGS_V2_SIZE = 4096;
const VOL_ARGS_V2_FLAGS = 16;
const VOL_ARGS_V2_NAME = 56;
/** struct btrfs_ioctl_get_subvol_rootref_args: u64 min_treeid; {u64 treeid, dirid}[255]; u8 num_items; u8 align[7]. */
const ROOTREF_ARGS_SIZE = 4096;
const ROOTREF_NUM_ITEMS = 8 + 255 * 16;

export const BTRFS_IOC_SUBVOL_CREATE = ioc(IOC_WRITE, 14, VOL_ARGS_SIZE);
export const BTRFS_IOC_SNAP_DESTROY = ioc(IOC_WRITE, 15, VOL_ARGS_SIZE);
export const BTRFS_IOC_SNAP_CREATE_V2 = ioc(IOC_WRITE, 23, VOL_ARGS_V2_SIZE);
export const BTRFS_IOC_SUBVOL_GETFLAGS = ioc(IOC_READ, 25, 8);
export const BTRFS_IOC_SUBVOL_SETFLAGS = ioc(IOC_WRITE, 26, 8);
export const BTRFS_IOC_GET_SUBVOL_ROOTREF = ioc(IOC_READ | IOC_WRITE, 61, ROOTREF_ARGS_SIZE);
const BTRFS_SUBVOL_RDONLY = 2n;
/** BTRFS_SUBVOL_NAME_MAX (the v2 struct's name field); the v1 struct allows 4087. */
const NAME_MAX = 4039;

/** The raw ioctls, as one object so a test can substitute a refusing or recording one. */
export interface BtrfsBinding {
  /** ioctl(fd, request, arg); throws a Node-style errno error (`code`) naming `what` and `path`. */
  ioctl(fd: number, request: number, arg: Buffer, what: string, path?: FsPath): number;
}

const libcBinding: BtrfsBinding = { ioctl: ioctlBuffer };
let binding: BtrfsBinding = libcBinding;

/** For tests: run `fn` with `b` in place of the libc binding (restored afterwards, also on failure). */
export async function withBtrfsBinding<T>(b: BtrfsBinding, fn: () => Promise<T> | T): Promise<T> {
  const before = binding;
  binding = b;
  try {
    return await fn();
  } finally {
    binding = before;
  }
}

/** The real binding (for a test's wrapper to delegate to). */
export function libcBtrfsBinding(): BtrfsBinding {
  return libcBinding;
}

/** Whether `path` (followed) is on a btrfs file system; false when it cannot be told. */
export function onBtrfs(path: FsPath): boolean {
  try {
    return statfsSync(path).type === BTRFS_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** Whether an lstatx result is a directory with the inode number of a subvolume root (the file system is not checked). */
export function hasSubvolumeRootInode(stx: Buffer): boolean {
  if ((stx.readUInt16LE(STX.mode) & 0o170000) !== 0o040000) return false;
  return stx.readUInt32LE(STX.ino) === SUBVOL_ROOT_INO && stx.readUInt32LE(STX.ino + 4) === 0;
}

/** Whether `path` (not followed) is the root directory of a btrfs subvolume. */
export function isSubvolumeRoot(path: FsPath): boolean {
  let stx: Buffer;
  try {
    stx = lstatx(path);
  } catch {
    return false;
  }
  return hasSubvolumeRootInode(stx) && onBtrfs(path);
}

function nameArg(size: number, offset: number, name: FsPath, max: number): Buffer {
  const bytes = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  if (bytes.length === 0 || bytes.length > max || bytes.includes(0) || bytes.includes(0x2f)) {
    throw Object.assign(new Error(`EINVAL: not a usable subvolume name: ${JSON.stringify(bytes.toString('utf8'))}`), { code: 'EINVAL' });
  }
  const arg = Buffer.alloc(size);
  bytes.copy(arg, offset);
  return arg;
}

/** An O_RDONLY|O_DIRECTORY fd on `dir` (following it; close-on-exec, as every fd Node opens), closed after `fn`. */
export function withDirFd<T>(dir: FsPath, fn: (fd: number) => T): T {
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** A new, empty subvolume `name` in the directory open as `parentFd` (like mkdir; its root is owned by the caller). */
export function createSubvolume(parentFd: number, name: string, pathForErrors: FsPath): void {
  const arg = nameArg(VOL_ARGS_SIZE, VOL_ARGS_NAME, name, NAME_MAX);
  binding.ioctl(parentFd, BTRFS_IOC_SUBVOL_CREATE, arg, 'BTRFS_IOC_SUBVOL_CREATE', pathForErrors);
}

/**
 * A writable snapshot of the subvolume open as `sourceFd` (its root directory),
 * named `name` in the directory open as `parentFd`. The kernel refuses with
 * EXDEV across file systems, EPERM when the caller does not own the source
 * (without CAP_SYS_ADMIN), EEXIST when the name is taken.
 */
export function snapshotSubvolume(opts: { sourceFd: number; parentFd: number; name: string; pathForErrors: FsPath }): void {
  const arg = nameArg(VOL_ARGS_V2_SIZE, VOL_ARGS_V2_NAME, opts.name, NAME_MAX);
  arg.writeBigInt64LE(BigInt(opts.sourceFd), 0);
  arg.writeBigUInt64LE(0n, VOL_ARGS_V2_FLAGS); // writable, whatever the source's read-only flag
  binding.ioctl(opts.parentFd, BTRFS_IOC_SNAP_CREATE_V2, arg, 'BTRFS_IOC_SNAP_CREATE_V2', opts.pathForErrors);
}

/**
 * Delete subvolume `name` (in the directory open as `parentFd`) with all its
 * contents. ENOTEMPTY when subvolumes are nested in it; EPERM unprivileged
 * (unless mounted with user_subvol_rm_allowed).
 */
export function destroySubvolume(parentFd: number, name: FsPath, pathForErrors: FsPath): void {
  const arg = nameArg(VOL_ARGS_SIZE, VOL_ARGS_NAME, name, 4087);
  binding.ioctl(parentFd, BTRFS_IOC_SNAP_DESTROY, arg, 'BTRFS_IOC_SNAP_DESTROY', pathForErrors);
}

/** Whether the subvolume whose root is open as `fd` is read-only. */
export function isReadOnly(fd: number, pathForErrors: FsPath): boolean {
  const arg = Buffer.alloc(8);
  binding.ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, arg, 'BTRFS_IOC_SUBVOL_GETFLAGS', pathForErrors);
  return (arg.readBigUInt64LE(0) & BTRFS_SUBVOL_RDONLY) !== 0n;
}

/** Make the subvolume whose root is open as `fd` read-only or writable (owner or CAP_SYS_ADMIN). */
export function setReadOnly(fd: number, readOnly: boolean, pathForErrors: FsPath): void {
  const arg = Buffer.alloc(8);
  binding.ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, arg, 'BTRFS_IOC_SUBVOL_GETFLAGS', pathForErrors);
  const flags = arg.readBigUInt64LE(0);
  const wanted = readOnly ? flags | BTRFS_SUBVOL_RDONLY : flags & ~BTRFS_SUBVOL_RDONLY;
  if (wanted === flags) return;
  arg.writeBigUInt64LE(wanted, 0);
  binding.ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, arg, 'BTRFS_IOC_SUBVOL_SETFLAGS', pathForErrors);
}

/**
 * How many subvolumes are nested directly in the subvolume open as `fd`
 * (capped at 255: the kernel says EOVERFLOW beyond one buffer, which still
 * means "some").
 */
export function childSubvolumes(fd: number, pathForErrors: FsPath): number {
  const arg = Buffer.alloc(ROOTREF_ARGS_SIZE);
  try {
    binding.ioctl(fd, BTRFS_IOC_GET_SUBVOL_ROOTREF, arg, 'BTRFS_IOC_GET_SUBVOL_ROOTREF', pathForErrors);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EOVERFLOW') return 255;
    throw err;
  }
  return arg.readUInt8(ROOTREF_NUM_ITEMS);
}
