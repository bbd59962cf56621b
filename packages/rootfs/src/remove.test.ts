import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  linkSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mknod } from '@berth/sys';
import { isBerthError } from '@berth/oci';
import { toolsMissing } from '@berth/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTree } from './remove.js';
import { asNobody, isRoot } from './testutil.js';

let base: string;
let canary: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'berth-rootfs-remove-'));
  chmodSync(base, 0o755); // the unprivileged test walks in here as nobody
  canary = join(base, 'canary');
  mkdirSync(canary);
  writeFileSync(join(canary, 'keep'), 'must survive');
});

afterAll(() => {
  // whatever a failed test left: clear flags and remove
  try {
    execFileSync('chattr', ['-R', '-i', '-a', base], { stdio: 'pipe' });
  } catch {
    // no chattr or nothing flagged
  }
  rmSync(base, { recursive: true, force: true });
});

afterEach(() => {
  expect(readFileSync(join(canary, 'keep'), 'utf8')).toBe('must survive');
});

/** A tree with everything awkward to delete that needs no special file system. */
function awkwardTree(root: string): void {
  mkdirSync(join(root, 'a/b/c'), { recursive: true });
  writeFileSync(join(root, 'a/b/c/file'), 'x');
  chmodSync(join(root, 'a/b/c/file'), 0o000);
  chmodSync(join(root, 'a/b/c'), 0o000);
  chmodSync(join(root, 'a/b'), 0o555);
  writeFileSync(join(root, 'a/ro'), 'y', { mode: 0o444 });
  linkSync(join(root, 'a/ro'), join(root, 'hard'));
  // links out of the tree: removing must delete the link, never follow it
  symlinkSync(canary, join(root, 'to-canary'));
  symlinkSync(join(canary, 'keep'), join(root, 'a/to-keep'));
  writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x6e, 0xff, 0x80])]), 'non-utf8 name');
  mkdirSync(join(root, 'ro-dir'));
  writeFileSync(join(root, 'ro-dir/f'), 'z');
  chmodSync(join(root, 'ro-dir'), 0o500);
  mknod(join(root, 'fifo'), 0o010000 | 0o600, 0);
  chmodSync(root, 0o555);
}

describe('removeTree', () => {
  it('removes read-only and unreadable directories, links (not their targets), fifos, odd names', async () => {
    const root = join(base, 't1');
    mkdirSync(root);
    awkwardTree(root);
    await removeTree(root);
    expect(existsSync(root)).toBe(false);
  });

  it('is idempotent, removes a single file or symlink, and refuses /', async () => {
    await removeTree(join(base, 'never-existed'));
    const f = join(base, 'f');
    writeFileSync(f, '');
    await removeTree(f);
    expect(existsSync(f)).toBe(false);
    const l = join(base, 'l');
    symlinkSync(canary, l);
    await removeTree(l);
    expect(readdirSync(base)).not.toContain('l');
    const err = await removeTree('/').catch((e: unknown) => e);
    expect(isBerthError(err, 'EINVAL_ARGUMENT')).toBe(true);
  });

  it('clears immutable and append-only flags (where the file system has them)', async (ctx) => {
    if (!isRoot()) ctx.skip('chattr +i needs root (CAP_LINUX_IMMUTABLE)');
    const chattrSkip = toolsMissing(['chattr']);
    if (chattrSkip) ctx.skip(chattrSkip);
    const root = join(base, 't2');
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
    const home = join(base, 'nobody');
    const root = join(home, 't3');
    mkdirSync(root, { recursive: true });
    awkwardTree(root);
    execFileSync('chown', ['-R', '-h', '65534:65534', home]);
    // a symlink to the canary owned by nobody, and the canary's own dir stays root-owned
    lchownSync(join(root, 'to-canary'), 65534, 65534);
    await asNobody(() => removeTree(root));
    expect(existsSync(root)).toBe(false);
  });

  it('refuses to remove a tree with a mount point inside, before deleting anything', async (ctx) => {
    if (!isRoot()) ctx.skip('mounting needs root');
    const root = join(base, 't4');
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
