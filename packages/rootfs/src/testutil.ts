/**
 * Test helpers (not part of the package build): a tree describer and comparer
 * for "is this copy faithful" checks, and a loop-mounted file system for
 * reflink tests.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getXattr, listXattrs } from './native.js';
import { joinPath, readNames, type FsPath } from './paths.js';

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
    for (const name of listXattrs(abs).sort()) {
      const v = getXattr(abs, name);
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

