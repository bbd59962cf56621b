/**
 * Test helpers (not part of the package build): a tree describer and comparer
 * for "is this copy faithful" checks, and a loop-mounted file system for
 * reflink tests.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolsMissing } from '@berth/testing';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { lgetxattr, llistxattr, lsetxattr, lutimens, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK, type Timespec } from '@berth/sys';
import { joinPath, readNames, type FsPath } from '../paths.js';

export interface EntryInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  link?: string;
  rdev?: string;
  mtimeNs: string;
  xattrs: Record<string, string>;
  /** Other names of the same inode inside the tree (sorted), for regular files etc. with nlink > 1. */
  hardlinks?: string[];
}

export type TreeInfo = Map<string, EntryInfo>;

function typeOf(mode: number): string {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'dir';
    case 0o100000:
      return 'file';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return `unknown(${mode.toString(8)})`;
  }
}

/** Describe every entry under root (root itself as "."). Names are shown as latin1-safe JSON of their bytes. */
export function describeTree(root: string): TreeInfo {
  const out: TreeInfo = new Map();
  const inodes = new Map<string, string[]>();
  const visit = (abs: FsPath, rel: string): void => {
    const st = lstatSync(abs, { bigint: true });
    const mode = Number(st.mode);
    const type = typeOf(mode);
    const xattrs: Record<string, string> = {};
    for (const name of llistxattr(abs).sort()) {
      const v = lgetxattr(abs, name);
      if (v !== undefined) xattrs[name] = v.toString('base64');
    }
    const info: EntryInfo = {
      type,
      mode: mode & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === 'dir' ? 0 : Number(st.size),
      mtimeNs: st.mtimeNs.toString(),
      xattrs,
    };
    if (type === 'file') info.sha256 = createHash('sha256').update(readFileSync(abs)).digest('hex');
    if (type === 'symlink') info.link = readlinkSync(abs, { encoding: 'buffer' }).toString('base64');
    if (type === 'char' || type === 'block') info.rdev = st.rdev.toString();
    if (type !== 'dir' && st.nlink > 1n) {
      const key = st.ino.toString();
      const list = inodes.get(key) ?? [];
      list.push(rel);
      inodes.set(key, list);
    }
    out.set(rel, info);
    if (type === 'dir') {
      for (const name of readNames(abs)) {
        const n = typeof name === 'string' ? name : `<bytes:${name.toString('hex')}>`;
        visit(joinPath(abs, name), rel === '.' ? n : `${rel}/${n}`);
      }
    }
  };
  visit(root, '.');
  for (const names of inodes.values()) {
    const sorted = [...names].sort();
    for (const n of names) {
      const info = out.get(n);
      if (info) info.hardlinks = sorted;
    }
  }
  return out;
}

/** Differences between two trees, one line each; [] when they match in everything describeTree records. */
export function compareTrees(a: string, b: string, opts: { ignoreRootMtime?: boolean } = {}): string[] {
  const ta = describeTree(a);
  const tb = describeTree(b);
  const diffs: string[] = [];
  for (const [rel, ea] of ta) {
    const eb = tb.get(rel);
    if (!eb) {
      diffs.push(`${rel}: missing in copy`);
      continue;
    }
    for (const key of Object.keys({ ...ea, ...eb }) as Array<keyof EntryInfo>) {
      if (key === 'mtimeNs' && rel === '.' && opts.ignoreRootMtime) continue;
      const va = JSON.stringify(ea[key]);
      const vb = JSON.stringify(eb[key]);
      if (va !== vb) diffs.push(`${rel}: ${key} ${va} != ${vb}`);
    }
  }
  for (const rel of tb.keys()) if (!ta.has(rel)) diffs.push(`${rel}: extra in copy`);
  return diffs;
}


/** A valid VFS_CAP_REVISION_2 security.capability value: effective, permitted CAP_NET_BIND_SERVICE. */
export function capabilityValue(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000001, 0);
  b.writeUInt32LE(1 << 10, 4);
  return b;
}

const NS = 1_000_000_000n;
export const T1 = 1_600_000_000n * NS + 123_456_789n;
export const T2 = 1_700_000_000n * NS + 987_654_321n;

/** Set atime and mtime (nanoseconds since the epoch, not negative) without following a symlink. */
function lutimesNs(path: string, atimeNs: bigint, mtimeNs: bigint): void {
  const ts = (ns: bigint): Timespec => ({ sec: Number(ns / NS), nsec: Number(ns % NS) });
  lutimens(path, ts(atimeNs), ts(mtimeNs));
}


/** The dirs of a removeTree test file, made once for the file by `removalBase()`. */
export interface RemovalBase {
  /** A temp dir for the file's trees. */
  readonly base: string;
  /** A dir beside the trees holding `keep` ("must survive"): links point at it, nothing may delete it. */
  readonly canary: string;
}

/**
 * Registers the hooks of a removeTree test file: a temp base with a canary made before all
 * tests, the canary checked after each, and the base removed after all (first clearing
 * inode flags a failed test left, with `chattr`, when `clearFlags`). `openToOthers` makes
 * the base 0755, for a test that walks in as nobody.
 */
export function removalBase(opts: { openToOthers?: boolean; clearFlags?: boolean } = {}): RemovalBase {
  const dirs = { base: '', canary: '' };
  beforeAll(() => {
    dirs.base = mkdtempSync(join(tmpdir(), 'berth-rootfs-remove-'));
    if (opts.openToOthers) chmodSync(dirs.base, 0o755);
    dirs.canary = join(dirs.base, 'canary');
    mkdirSync(dirs.canary);
    writeFileSync(join(dirs.canary, 'keep'), 'must survive');
  });
  afterAll(() => {
    if (opts.clearFlags) {
      try {
        execFileSync('chattr', ['-R', '-i', '-a', dirs.base], { stdio: 'pipe' });
      } catch {
        // no chattr or nothing flagged
      }
    }
    rmSync(dirs.base, { recursive: true, force: true });
  });
  afterEach(() => {
    expect(readFileSync(join(dirs.canary, 'keep'), 'utf8')).toBe('must survive');
  });
  return dirs;
}

/**
 * A tree with everything awkward to delete that needs no special file system: read-only and
 * mode-0 directories, a hard link, links out of the tree (to `canary`, which removing must
 * never follow), a non-UTF-8 name, a fifo; the root itself read-only.
 */
export function awkwardTree(root: string, canary: string): void {
  mkdirSync(join(root, 'a/b/c'), { recursive: true });
  writeFileSync(join(root, 'a/b/c/file'), 'x');
  chmodSync(join(root, 'a/b/c/file'), 0o000);
  chmodSync(join(root, 'a/b/c'), 0o000);
  chmodSync(join(root, 'a/b'), 0o555);
  writeFileSync(join(root, 'a/ro'), 'y', { mode: 0o444 });
  linkSync(join(root, 'a/ro'), join(root, 'hard'));
  symlinkSync(canary, join(root, 'to-canary'));
  symlinkSync(join(canary, 'keep'), join(root, 'a/to-keep'));
  writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x6e, 0xff, 0x80])]), 'non-utf8 name');
  mkdirSync(join(root, 'ro-dir'));
  writeFileSync(join(root, 'ro-dir/f'), 'z');
  chmodSync(join(root, 'ro-dir'), 0o500);
  mknod(join(root, 'fifo'), S_IFIFO | 0o600, 0);
  chmodSync(root, 0o555);
}

/** Everything createRootfs promises to preserve, in one tree. */
export function buildFixture(root: string): void {
  mkdirSync(root, { mode: 0o755 });
  const p = (rel: string): string => join(root, rel);
  mkdirSync(p('etc'), { mode: 0o755 });
  writeFileSync(p('etc/hostname'), 'berth\n', { mode: 0o644 });
  writeFileSync(p('etc/shadow'), 'root:*::0:::::\n');
  chmodSync(p('etc/shadow'), 0o640);
  writeFileSync(p('etc/empty'), '');
  chmodSync(p('etc/empty'), 0o000);
  mkdirSync(p('bin'), { mode: 0o755 });
  writeFileSync(p('bin/busybox'), randomBytes(300_000));
  chmodSync(p('bin/busybox'), 0o755);
  // hard link group of three names in two directories, plus a second group
  linkSync(p('bin/busybox'), p('bin/sh'));
  linkSync(p('bin/busybox'), p('etc/busybox-copy'));
  writeFileSync(p('etc/a'), 'hard a');
  linkSync(p('etc/a'), p('etc/b'));
  // symlinks: relative, absolute, dangling, to a dir
  symlinkSync('busybox', p('bin/ls'));
  symlinkSync('/bin/busybox', p('bin/abs'));
  symlinkSync('../nowhere/at/all', p('bin/dangling'));
  symlinkSync('etc', p('etc-link'));
  // large-ish file across several extents
  mkdirSync(p('data'));
  writeFileSync(p('data/big.bin'), randomBytes(3 * 1024 * 1024 + 17));
  // sticky world-writable dir, read-only dir with content, dir mode 0000
  mkdirSync(p('tmp'));
  chmodSync(p('tmp'), 0o1777);
  mkdirSync(p('ro'));
  writeFileSync(p('ro/inside'), 'x');
  chmodSync(p('ro'), 0o555);
  mkdirSync(p('locked'));
  writeFileSync(p('locked/secret'), 'y');
  chmodSync(p('locked'), 0o000);
  // names: spaces, newline, non-UTF-8 bytes, unicode
  writeFileSync(p('data/with space\nand newline'), 'odd');
  writeFileSync(Buffer.concat([Buffer.from(`${root}/data/`), Buffer.from([0x62, 0xff, 0xfe, 0x2e])]), 'latin1 name');
  writeFileSync(p('data/ünïcødé ✓'), 'utf8 name');
  // user xattrs everywhere they can go
  lsetxattr(p('etc/hostname'), 'user.berth.note', Buffer.from('hello'));
  lsetxattr(p('data'), 'user.berth.dir', Buffer.from([0, 1, 2, 255]));

  if (isRoot()) {
    // ownership, setuid/setgid on non-root files (chown would clear them), capabilities
    writeFileSync(p('bin/su'), randomBytes(1000));
    lchownSync(p('bin/su'), 1000, 1001);
    chmodSync(p('bin/su'), 0o4755);
    writeFileSync(p('bin/wall'), randomBytes(100));
    lchownSync(p('bin/wall'), 0, 5);
    chmodSync(p('bin/wall'), 0o2755);
    writeFileSync(p('bin/ping'), randomBytes(500));
    lchownSync(p('bin/ping'), 1000, 1000);
    chmodSync(p('bin/ping'), 0o755);
    lsetxattr(p('bin/ping'), 'security.capability', capabilityValue());
    lsetxattr(p('etc/hostname'), 'trusted.berth', Buffer.from('t'));
    // a big setuid file of another owner with a second name in a read-only directory
    writeFileSync(p('bin/big-suid'), randomBytes(1536 * 1024));
    lchownSync(p('bin/big-suid'), 1000, 1001);
    chmodSync(p('bin/big-suid'), 0o4755);
    lsetxattr(p('bin/big-suid'), 'user.berth.big', Buffer.from('big'));
    linkSync(p('bin/big-suid'), p('ro/big-link'));
    mkdirSync(p('home'));
    mkdirSync(p('home/user'), { mode: 0o700 });
    lchownSync(p('home/user'), 1000, 1000);
    writeFileSync(p('home/user/.profile'), 'export A=1');
    lchownSync(p('home/user/.profile'), 1000, 1000);
    symlinkSync('.profile', p('home/user/link'));
    lchownSync(p('home/user/link'), 1234, 4321);
    // devices, fifo, socket
    mkdirSync(p('dev'));
    mknod(p('dev/null'), S_IFCHR | 0o666, (1 << 8) | 3);
    mknod(p('dev/loop0'), S_IFBLK | 0o660, 7 << 8);
    lchownSync(p('dev/loop0'), 0, 6);
    mknod(p('dev/big'), S_IFCHR | 0o600, makedev(259, 200_000)); // minor needs the high dev_t bits (xfs stores at most 18 bits)
    mknod(p('dev/fifo'), S_IFIFO | 0o620, 0);
    mknod(p('dev/sock'), S_IFSOCK | 0o755, 0);
    chmodSync(p('dev/null'), 0o666);
    chmodSync(p('dev/fifo'), 0o620);
  }
  // precise times (ns), directories last and deepest first
  lutimesNs(p('etc/hostname'), T2, T1);
  lutimesNs(p('bin/ls'), T2, T1);
  lutimesNs(p('data/big.bin'), T2, T1 + 1n);
  if (isRoot()) lutimesNs(p('bin/big-suid'), T2, T1 + 2n);
  for (const d of ['data', 'bin', 'etc', 'tmp', 'ro', 'locked', '.']) lutimesNs(p(d), T2, T1 + 5n);
}

export function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

export interface LoopMount {
  dir: string;
  fsType: string;
  cleanup(): void;
}

/**
 * A fresh file system of `fsType` ('btrfs' | 'xfs') in a sparse file, loop-mounted
 * under a temp dir. Returns undefined (with the reason) when this machine cannot
 * do it (not root, no mkfs, no loop devices, no kernel support).
 */
export function loopMount(fsType: 'btrfs' | 'xfs', sizeMiB = 320): LoopMount | string {
  if (!isRoot()) return 'loop mounts need root';
  // The tools are the set-up's job (a failure after it); a kernel without the file system is a skip.
  const toolsSkip = toolsMissing([fsType === 'btrfs' ? 'mkfs.btrfs' : 'mkfs.xfs', 'mount', 'losetup']);
  if (toolsSkip) return toolsSkip;
  const base = mkdtempSync(join(tmpdir(), `berth-rootfs-${fsType}-`));
  const image = join(base, 'fs.img');
  const dir = join(base, 'mnt');
  let mounted = false;
  const cleanup = (): void => {
    if (mounted) {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
      mounted = false;
    }
    // `mount -o loop` sets autoclear, but detach explicitly anything still bound to the image
    try {
      const out = execFileSync('losetup', ['-j', image], { encoding: 'utf8' });
      for (const line of out.split('\n')) {
        const dev = line.split(':')[0];
        if (dev) execFileSync('losetup', ['-d', dev], { stdio: 'pipe' });
      }
    } catch {
      // losetup missing or nothing attached
    }
    rmSync(base, { recursive: true, force: true });
  };
  try {
    mkdirSync(dir);
    execFileSync('truncate', ['-s', `${sizeMiB}M`, image]);
    execFileSync(fsType === 'btrfs' ? 'mkfs.btrfs' : 'mkfs.xfs', ['-q', image], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'loop', '-t', fsType, image, dir], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    cleanup();
    return `cannot loop-mount ${fsType}: ${(err as Error).message.split('\n')[0]}`;
  }
  return { dir, fsType, cleanup };
}

/**
 * Run `fn` as nobody (effective uid and gid 65534; root tests only) and become root
 * again afterwards, whatever happens. Resolves with what `fn` returned.
 */
export async function asNobody<T>(fn: () => Promise<T> | T): Promise<T> {
  process.setegid?.(65534);
  process.seteuid?.(65534);
  try {
    return await fn();
  } finally {
    process.seteuid?.(0);
    process.setegid?.(0);
  }
}
