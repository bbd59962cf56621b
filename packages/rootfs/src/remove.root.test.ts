import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  lchownSync,
  mkdirSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { isBerthError } from '@berth/oci';
import { toolsMissing } from '@berth/testing';
import { describe, expect, it } from 'vitest';
import { removeTree } from './remove.js';
import { asNobody, awkwardTree, isRoot, removalBase } from './test-support/trees.js';

const dirs = removalBase({ openToOthers: true, clearFlags: true });

describe('removeTree as root', () => {
  it('clears immutable and append-only flags (where the file system has them)', async (ctx) => {
    if (!isRoot()) ctx.skip('chattr +i needs root (CAP_LINUX_IMMUTABLE)');
    const chattrSkip = toolsMissing(['chattr']);
    if (chattrSkip) ctx.skip(chattrSkip);
    const root = join(dirs.base, 't2');
    mkdirSync(join(root, 'appendonly'), { recursive: true });
    mkdirSync(join(root, 'frozen'));
    writeFileSync(join(root, 'appendonly/log'), 'l');
    writeFileSync(join(root, 'frozen/inside'), 'i');
    writeFileSync(join(root, 'immutable'), 'i');
    const chattr = spawnSync('chattr', ['+i', join(root, 'immutable')]);
    if (chattr.status !== 0) ctx.skip(`this file system has no inode flags: ${chattr.stderr.toString().trim()}`);
    execFileSync('chattr', ['+a', join(root, 'appendonly/log')]);
    execFileSync('chattr', ['+a', join(root, 'appendonly')]);
    execFileSync('chattr', ['+i', join(root, 'frozen')]);
    execFileSync('chattr', ['+i', root]);
    // the flags really bite
    expect(() => unlinkSync(join(root, 'immutable'))).toThrow(/EPERM/);
    await removeTree(root);
    expect(existsSync(root)).toBe(false);
  });

  it('as an unprivileged user, opens up read-only and mode-0 directories it owns', async (ctx) => {
    if (!isRoot()) ctx.skip('needs root to switch to an unprivileged euid');
    const home = join(dirs.base, 'nobody');
    const root = join(home, 't3');
    mkdirSync(root, { recursive: true });
    awkwardTree(root, dirs.canary);
    execFileSync('chown', ['-R', '-h', '65534:65534', home]);
    // a symlink to the dirs.canary owned by nobody, and the canary's own dir stays root-owned
    lchownSync(join(root, 'to-canary'), 65534, 65534);
    await asNobody(() => removeTree(root));
    expect(existsSync(root)).toBe(false);
  });

  it('refuses to remove a tree with a mount point inside, before deleting anything', async (ctx) => {
    if (!isRoot()) ctx.skip('mounting needs root');
    const root = join(dirs.base, 't4');
    const mnt = join(root, 'proc-like/mnt');
    mkdirSync(mnt, { recursive: true });
    writeFileSync(join(root, 'before'), 'b');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', 'berth-test', mnt]);
    if (mounted.status !== 0) ctx.skip(`cannot mount tmpfs: ${mounted.stderr.toString().trim()}`);
    try {
      writeFileSync(join(mnt, 'on-tmpfs'), 'precious');
      const err = await removeTree(root).catch((e: unknown) => e);
      expect(isBerthError(err, 'EIN_USE')).toBe(true);
      expect(String((err as Error).message)).toContain(mnt);
      expect(readFileSync(join(mnt, 'on-tmpfs'), 'utf8')).toBe('precious');
      expect(existsSync(join(root, 'before'))).toBe(true);
      // the mount point itself is refused too
      const err2 = await removeTree(mnt).catch((e: unknown) => e);
      expect(isBerthError(err2, 'EIN_USE')).toBe(true);
    } finally {
      execFileSync('umount', [mnt]);
    }
    await removeTree(root);
    expect(existsSync(root)).toBe(false);
  });
});
