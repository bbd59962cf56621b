import { constants, type Stats } from 'node:fs';
import { chmod, chown, lchown, lstat, lutimes, mkdir, open, rm, symlink, unlink, utimes, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import type { CopyItem } from '../context/sources.js';
import { isWithin, mkdirInRoot } from './root.js';

export interface ApplyCopyOptions {
  /** The image tree being built. */
  root: string;
  items: readonly CopyItem[];
  /** Owner of everything copied; undefined keeps the source owner (`keepOwner`) or uses 0:0. */
  owner?: { uid: number; gid: number };
  keepOwner: boolean;
  /** Mode for files; directories get it plus search bits where it grants read (`0644` → dirs `0755`). */
  chmod?: number;
}

/**
 * Create the planned entries inside `root`. The parent of each top-level
 * destination is resolved as the container would resolve it (symlinks in the
 * image followed, never out of the root) and created if missing; below that,
 * every directory on the way is one this copy made or verified, so nothing is
 * written through a symlink. A file replaces what is at its path unless that
 * is a directory (an error, as with `cp`); a directory merges into an existing
 * directory and replaces anything else.
 */
export async function applyCopy(opts: ApplyCopyOptions): Promise<{ entries: number; bytes: number }> {
  const { root } = opts;
  // host path of each created directory's image path → used for its children.
  const dirs = new Map<string, string>();
  const dirTimes: Array<{ host: string; mtime: Date }> = [];
  let bytes = 0;
  for (const item of opts.items) {
    const parentImage = path.posix.dirname(item.dest);
    let parentHost = dirs.get(parentImage);
    if (parentHost === undefined) {
      if (!item.top) throw new BerthError('EBUILD', `copy to ${item.dest}: parent directory was not created`);
      parentHost = mkdirInRoot(root, parentImage);
    }
    const name = path.posix.basename(item.dest);
    if (item.dest === '/' || name === '' ) {
      // Copying a directory's contents into the root itself.
      if (item.type !== 'dir') throw new BerthError('EBUILD', `copy to ${item.dest}: cannot replace the root directory`);
      dirs.set(item.dest, root);
      continue;
    }
    const host = path.join(parentHost, name);
    if (!isWithin(root, host)) throw new BerthError('EUNSAFE_PATH', `copy to ${item.dest}: resolves outside the root`);
    const uid = opts.owner?.uid ?? (opts.keepOwner ? item.uid : 0);
    const gid = opts.owner?.gid ?? (opts.keepOwner ? item.gid : 0);
    const existing = await lstat(host).catch(() => undefined);
    try {
      switch (item.type) {
        case 'dir': {
          if (existing && !existing.isDirectory()) await unlink(host);
          if (!existing || !existing.isDirectory()) await mkdir(host);
          await chown(host, uid, gid);
          await chmod(host, opts.chmod !== undefined ? dirMode(opts.chmod) : item.mode);
          dirs.set(item.dest, host);
          dirTimes.push({ host, mtime: item.mtime });
          break;
        }
        case 'file': {
          await removeForFile(existing, host, item.dest);
          // O_EXCL|O_NOFOLLOW: the path was just emptied; never write through a link planted meanwhile.
          const fd = await open(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            await copyContent(item.host, fd);
            await fd.chown(uid, gid);
            await fd.chmod(opts.chmod ?? item.mode);
            await fd.utimes(item.mtime, item.mtime);
          } finally {
            await fd.close();
          }
          bytes += item.size;
          break;
        }
        case 'symlink': {
          await removeForFile(existing, host, item.dest);
          await symlink(item.linkTarget ?? '', host);
          await lchown(host, uid, gid);
          await lutimes(host, item.mtime, item.mtime);
          break;
        }
      }
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw BerthError.wrap(`copy to ${item.dest}`, err, 'EBUILD');
    }
  }
  // Directory times last, deepest first, so creating their contents does not change them.
  for (let i = dirTimes.length - 1; i >= 0; i--) {
    const d = dirTimes[i] as { host: string; mtime: Date };
    await utimes(d.host, d.mtime, d.mtime);
  }
  return { entries: opts.items.length, bytes };
}

async function copyContent(src: string, fd: FileHandle): Promise<void> {
  const input = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(256 * 1024);
    for (;;) {
      const { bytesRead } = await input.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      let off = 0;
      while (off < bytesRead) {
        const { bytesWritten } = await fd.write(buf, off, bytesRead - off);
        off += bytesWritten;
      }
    }
  } finally {
    await input.close();
  }
}

async function removeForFile(existing: Stats | undefined, host: string, dest: string): Promise<void> {
  if (!existing) return;
  if (existing.isDirectory()) throw new BerthError('EBUILD', `copy to ${dest}: cannot overwrite a directory with a non-directory`);
  await unlink(host);
}

/** `chmod` for directories: add search permission wherever read is granted. */
export function dirMode(mode: number): number {
  return mode | ((mode & 0o444) >> 2);
}

/** Remove a path inside a tree if it exists (used for runtime mount-point leftovers). */
export async function removeIfExists(p: string): Promise<void> {
  await rm(p, { force: true, recursive: false }).catch(() => undefined);
}
