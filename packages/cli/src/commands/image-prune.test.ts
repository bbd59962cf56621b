import path from 'node:path';
import { sharedImagesDir } from '@berth/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { berth, tempDir } from '../test-support/fake-context.js';

const images = sharedImagesDir();
const tmp = tempDir();
afterAll(() => tmp.remove());

describe('berth image prune', () => {
  it('asks docker\'s question first (-a: every image without a container) and stops at "no"', async () => {
    const plain = await berth(['image', 'prune'], { stdin: 'n\n' });
    expect([plain.code, plain.stdout]).toEqual([0, 'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] \n']);
    const all = await berth(['image', 'prune', '-a'], { stdin: '\n' });
    expect(all.stdout).toBe('WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] \n');
    expect(all.ctx.opened).toEqual([]);
  });

  it.skipIf(!images)('without -a keeps tagged images; -a -f untags and deletes every image no container uses', async () => {
    expect((await berth(['load', '-q', '-i', path.join(images ?? '', 'alpine'), '--repository', 'alpine', '--platform', 'linux/amd64'], { dir: tmp.dir })).code).toBe(0);
    // The layout's blobs nothing tags (other platforms) are dangling; the tagged image stays.
    const dangling = await berth(['image', 'prune', '-f'], { dir: tmp.dir });
    expect([dangling.code, dangling.stderr]).toEqual([0, '']);
    expect(dangling.stdout).not.toContain('untagged');
    expect((await berth(['images', '-q'], { dir: tmp.dir })).stdout).toMatch(/^[a-f0-9]{12}\n$/);
    expect((await berth(['image', 'prune', '-f'], { dir: tmp.dir })).stdout).toBe('Total reclaimed space: 0B\n');
    const all = await berth(['image', 'prune', '-a'], { dir: tmp.dir, stdin: 'y\n' });
    expect(all.stderr).toBe('');
    expect(all.stdout).toMatch(/\[y\/N\] \nDeleted Images:\n(untagged: alpine:[^\n]+\n)+(deleted: sha256:[a-f0-9]{64}\n)+\nTotal reclaimed space: \d+(\.\d+)?MB\n$/);
    expect((await berth(['images', '-q'], { dir: tmp.dir })).stdout).toBe('');
  });
});
