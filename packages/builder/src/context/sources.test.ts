import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashPlan, planCopy, type CopySource } from './sources.js';
import { makeContextFixture, type ContextFixture } from '../test-support/context.js';

let fx: ContextFixture;
let tmp: string;
let ctx: string;

beforeEach(async () => {
  fx = await makeContextFixture();
  ({ tmp, ctx } = fx);
});
afterEach(async () => {
  await fx.remove();
});

const context = (ignore = ''): CopySource => fx.context(ignore);

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
