import { mkdir, mkdtemp, readFile, readlink, rm, stat, lstat, symlink, writeFile, chmod, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyCopy } from '../fsutil/copy.js';
import { resolveInRoot } from '../fsutil/root.js';
import { IgnoreMatcher } from './pattern.js';
import { hashPlan, planCopy, type CopySource } from './sources.js';

let tmp: string;
let ctx: string;
let root: string;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-build-src-'));
  ctx = path.join(tmp, 'ctx');
  root = path.join(tmp, 'root');
  await mkdir(path.join(ctx, 'app', 'lib'), { recursive: true });
  await mkdir(root);
  await writeFile(path.join(ctx, 'app', 'start.sh'), '#!/bin/sh\necho hi\n');
  await chmod(path.join(ctx, 'app', 'start.sh'), 0o755);
  await writeFile(path.join(ctx, 'app', 'lib', 'a.js'), 'a');
  await writeFile(path.join(ctx, 'app', 'lib', 'b.log'), 'log');
  await writeFile(path.join(ctx, 'config.yml'), 'x: 1\n');
  await writeFile(path.join(tmp, 'outside.txt'), 'SECRET');
  await mkdir(path.join(tmp, 'outdir'));
  await writeFile(path.join(tmp, 'outdir', 'f'), 'SECRET');
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const context = (ignore = ''): CopySource => ({ root: ctx, kind: 'context', ignore: new IgnoreMatcher(ignore) });

async function tree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(dir, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(path.join(dir, r));
    out.push(st.isDirectory() ? `${r}/` : st.isSymbolicLink() ? `${r} -> ${await readlink(path.join(dir, r))}` : r);
    if (st.isDirectory()) out.push(...(await tree(dir, r)));
  }
  return out;
}

describe('planCopy + applyCopy', () => {
  it('expands globs, honours .berthignore, and errors on no match', async () => {
    const plan = await planCopy({ source: context('*.log\n'), src: ['app/**/*'], dest: '/x/', workdir: '/' });
    expect(plan.items.map((i) => i.dest)).toEqual(['/x/lib', '/x/lib/a.js', '/x/start.sh']);
    await expect(planCopy({ source: context(), src: ['*.nothing'], dest: '/x/', workdir: '/' })).rejects.toThrow('"*.nothing" matched no files');
    await expect(planCopy({ source: context('config.yml\n'), src: ['config.yml'], dest: '/x', workdir: '/' })).rejects.toThrow('excluded by .berthignore');
    const all = await planCopy({ source: context('app/lib/\n'), src: ['.'], dest: '/all', workdir: '/' });
    expect(all.items.map((i) => i.dest)).toEqual(['/all', '/all/app', '/all/app/start.sh', '/all/config.yml']);
  });

  it('copies from a stage tree with contained resolution and kept owners', async () => {
    const stage = path.join(tmp, 'stage');
    await mkdir(path.join(stage, 'out'), { recursive: true });
    await writeFile(path.join(stage, 'out', 'bin'), 'ELF');
    await symlink('/out/bin', path.join(stage, 'latest'));
    await symlink('/../../../outside.txt', path.join(stage, 'evil'));
    const source: CopySource = { root: stage, kind: 'stage' };
    const plan = await planCopy({ source, src: ['/latest'], dest: '/usr/bin/app', workdir: '/' });
    expect(plan.items[0]?.host).toBe(path.join(stage, 'out/bin'));
    await expect(planCopy({ source, src: ['/evil'], dest: '/x', workdir: '/' })).rejects.toThrow('no such file');
  });

  it('hashes content, not times', async () => {
    const h1 = await hashPlan(await planCopy({ source: context(), src: ['app'], dest: '/a', workdir: '/' }), 'context');
    await writeFile(path.join(ctx, 'app', 'lib', 'a.js'), 'a');
    const h2 = await hashPlan(await planCopy({ source: context(), src: ['app'], dest: '/a', workdir: '/' }), 'context');
    await writeFile(path.join(ctx, 'app', 'lib', 'a.js'), 'b');
    const h3 = await hashPlan(await planCopy({ source: context(), src: ['app'], dest: '/a', workdir: '/' }), 'context');
    const h4 = await hashPlan(await planCopy({ source: context(), src: ['app'], dest: '/b', workdir: '/' }), 'context');
    expect(h1).toBe(h2);
    expect(h3).not.toBe(h1);
    expect(h4).not.toBe(h3);
  });
});
