import path from 'node:path';
import { sharedImagesDir } from '@berth/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, tempDir } from '../test-support/fake-context.js';

const images = sharedImagesDir();
const tmp = tempDir();
afterAll(() => tmp.remove());

describe.skipIf(!images)('berth history (a store loaded from the shared alpine layout)', () => {
  beforeAll(async () => {
    const r = await berth(['load', '-q', '-i', path.join(images ?? '', 'alpine'), '--repository', 'alpine', '--platform', 'linux/amd64'], { dir: tmp.dir });
    expect(r.code).toBe(0);
  });

  it('prints docker\'s columns, newest first, the image ID on the top row and <missing> below', async () => {
    const r = await berth(['history', 'alpine'], { dir: tmp.dir });
    expect([r.code, r.stderr]).toEqual([0, '']);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^IMAGE {3,}CREATED {3,}CREATED BY {3,}SIZE {3,}COMMENT$/);
    expect(rows[0]).toMatch(/^[a-f0-9]{12} {3,}/);
    for (const row of rows.slice(1)) expect(row).toMatch(/^<missing> {3,}/);
    // This alpine's history is one step, the rootfs ADD (55 characters: docker cuts it to 45, the last an ellipsis).
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/^[a-f0-9]{12} {3,}\S.* ago {3,}ADD alpine-minirootfs-3\.20\.3-x86_64\.tar\.gz \/… {3,}\d+(\.\d+)?MB$/);
  });

  it('-q prints the IDs, --no-trunc the whole ID and command, --format json the rows', async () => {
    const q = await berth(['history', '-q', 'alpine'], { dir: tmp.dir });
    expect(q.stdout).toMatch(/^[a-f0-9]{12}\n$/);
    const full = await berth(['history', '--no-trunc', 'alpine'], { dir: tmp.dir });
    expect(full.stdout.split('\n')[1]).toMatch(/^sha256:[a-f0-9]{64} /);
    expect(full.stdout).toContain('ADD alpine-minirootfs-3.20.3-x86_64.tar.gz / # buildkit');
    const j = JSON.parse((await berth(['history', '--format', 'json', 'alpine'], { dir: tmp.dir })).stdout) as Array<{ id: string; createdBy: string; size: number }>;
    expect(j[0]?.id).toMatch(/^sha256:/);
    expect(j.reduce((n, r) => n + r.size, 0)).toBeGreaterThan(3_000_000);
  });

  it('an unknown image is one line, exit 1', async () => {
    const r = await berth(['history', 'nosuch:1'], { dir: tmp.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: [^\n]*nosuch[^\n]*\n$/);
  });
});
