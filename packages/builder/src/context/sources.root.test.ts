// applyCopy of context files chowns them to 0:0 (as docker does), so these run as root; the rest is in sources.test.ts.
import { mkdir, readFile, readlink, stat, lstat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyCopy } from '../fsutil/copy.js';
import { resolveInRoot } from '../fsutil/root.js';
import { planCopy, type CopySource } from './sources.js';
import { listTree, makeContextFixture, type ContextFixture } from '../test-support/context.js';

let fx: ContextFixture;
let tmp: string;
let ctx: string;
let root: string;

beforeEach(async () => {
  fx = await makeContextFixture();
  ({ tmp, ctx, root } = fx);
});
afterEach(async () => {
  await fx.remove();
});

const context = (ignore = ''): CopySource => fx.context(ignore);
const tree = listTree;

describe('planCopy + applyCopy into a root-owned tree (as root: context files become 0:0)', () => {
  it('copies directories under their own name into a dest ending in / (cp -r semantics)', async () => {
    const plan = await planCopy({ source: context(), src: ['app/', 'config.yml'], dest: '/srv/', workdir: '/' });
    await applyCopy({ root, items: plan.items, keepOwner: false, owner: { uid: 1000, gid: 1000 }, chmod: 0o644 });
    expect(await tree(root)).toEqual(['srv/', 'srv/app/', 'srv/app/lib/', 'srv/app/lib/a.js', 'srv/app/lib/b.log', 'srv/app/start.sh', 'srv/config.yml']);
    const f = await stat(path.join(root, 'srv/app/start.sh'));
    expect([f.uid, f.gid, f.mode & 0o7777]).toEqual([1000, 1000, 0o644]);
    const d = await stat(path.join(root, 'srv/app'));
    expect([d.uid, d.mode & 0o7777]).toEqual([1000, 0o755]);
    // parents created by the copy belong to root
    expect((await stat(path.join(root, 'srv'))).uid).toBe(0);
  });

  it('copies a single directory as dest, a single file to a file path, and keeps modes without chmod', async () => {
    let plan = await planCopy({ source: context(), src: ['app'], dest: '/opt/app2', workdir: '/' });
    await applyCopy({ root, items: plan.items, keepOwner: false });
    plan = await planCopy({ source: context(), src: ['config.yml'], dest: 'etc/conf.yml', workdir: '/work' });
    await applyCopy({ root, items: plan.items, keepOwner: false });
    expect(await tree(root)).toContain('opt/app2/start.sh');
    expect(await readFile(path.join(root, 'work/etc/conf.yml'), 'utf8')).toBe('x: 1\n');
    expect((await stat(path.join(root, 'opt/app2/start.sh'))).mode & 0o777).toBe(0o755);
  });

  it('never reads outside the context: .. refused, symlinked parents pointing out refused, symlinks copied as links', async () => {
    await symlink('../outside.txt', path.join(ctx, 'link-out'));
    await symlink(path.join(tmp, 'outdir'), path.join(ctx, 'dir-out'));
    await symlink('app', path.join(ctx, 'dir-in'));
    await expect(planCopy({ source: context(), src: ['../outside.txt'], dest: '/x', workdir: '/' })).rejects.toThrow('outside the build context');
    await expect(planCopy({ source: context(), src: ['dir-out/f'], dest: '/x', workdir: '/' })).rejects.toThrow('resolves outside the build context');
    await expect(planCopy({ source: context(), src: ['dir-out/*'], dest: '/x/', workdir: '/' })).rejects.toThrow('resolves outside the build context');
    // a symlinked parent inside the context is fine
    const inside = await planCopy({ source: context(), src: ['dir-in/start.sh'], dest: '/s.sh', workdir: '/' });
    expect(inside.items[0]?.type).toBe('file');
    // the links themselves are copied as links, never followed
    const plan = await planCopy({ source: context(), src: ['.'], dest: '/c/', workdir: '/' });
    await applyCopy({ root, items: plan.items, keepOwner: false });
    expect(await readlink(path.join(root, 'c/link-out'))).toBe('../outside.txt');
    expect((await lstat(path.join(root, 'c/dir-out'))).isSymbolicLink()).toBe(true);
    const all = await tree(tmp);
    expect(all.filter((p) => p.startsWith('outdir'))).toEqual(['outdir/', 'outdir/f']);
    expect(await readFile(path.join(tmp, 'outside.txt'), 'utf8')).toBe('SECRET');
  });

  it('resolves destinations through image symlinks without leaving the root', async () => {
    // The image has /srv -> /var/srv and an evil /escape -> ../../.. link.
    await mkdir(path.join(root, 'var/srv'), { recursive: true });
    await symlink('/var/srv', path.join(root, 'srv'));
    await symlink('../../../../..', path.join(root, 'escape'));
    let plan = await planCopy({ source: context(), src: ['config.yml'], dest: '/srv/', workdir: '/' });
    await applyCopy({ root, items: plan.items, keepOwner: false });
    expect(await readFile(path.join(root, 'var/srv/config.yml'), 'utf8')).toBe('x: 1\n');
    plan = await planCopy({ source: context(), src: ['config.yml'], dest: '/escape/tmp/pwned', workdir: '/' });
    await applyCopy({ root, items: plan.items, keepOwner: false });
    expect(await readFile(path.join(root, 'tmp/pwned'), 'utf8')).toBe('x: 1\n');
    expect(resolveInRoot(root, '/escape/../../etc')).toBe(path.join(root, 'etc'));
    // a file may replace a symlink at the destination, the link target is untouched
    await symlink('/var/srv/config.yml', path.join(root, 'cfg'));
    plan = await planCopy({ source: context(), src: ['app/lib/a.js'], dest: '/cfg', workdir: '/' });
    await applyCopy({ root, items: plan.items, keepOwner: false });
    expect((await lstat(path.join(root, 'cfg'))).isFile()).toBe(true);
    expect(await readFile(path.join(root, 'var/srv/config.yml'), 'utf8')).toBe('x: 1\n');
    // a file cannot replace a directory
    plan = await planCopy({ source: context(), src: ['config.yml'], dest: '/var', workdir: '/' });
    await expect(applyCopy({ root, items: plan.items, keepOwner: false })).rejects.toThrow('cannot overwrite a directory');
  });

});
