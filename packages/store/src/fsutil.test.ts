import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writevFully } from './fsutil.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-fsutil-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writevFully', () => {
  it('writes every buffer in order at the position (empty buffers skipped)', async () => {
    const file = path.join(dir, 'f');
    const fh = await open(file, 'w+');
    try {
      await fh.write(Buffer.from('0123456789'), 0, 10, 0);
      await writevFully(fh, [Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cde'), Buffer.from('f')], 4);
    } finally {
      await fh.close();
    }
    expect(await readFile(file, 'utf8')).toBe('0123abcdef');
  });

  it('continues after short writes from the byte where the kernel stopped', async () => {
    const file = path.join(dir, 'g');
    const real = await open(file, 'w+');
    const sizes: number[] = [];
    // A file handle whose pwritev writes at most 3 bytes per call, as a full disk or a signal may cause.
    const short = {
      writev: async (buffers: Uint8Array[], position: number) => {
        const all = Buffer.concat(buffers);
        const n = Math.min(3, all.length);
        sizes.push(buffers.length);
        await real.write(all, 0, n, position);
        return { bytesWritten: n, buffers };
      },
    } as unknown as FileHandle;
    try {
      await writevFully(short, [Buffer.from('hello'), Buffer.from(' '), Buffer.from('world')], 0);
    } finally {
      await real.close();
    }
    expect(await readFile(file, 'utf8')).toBe('hello world');
    expect(sizes).toEqual([3, 3, 1, 1]); // hello+" "+world, lo+" "+world, world, ld
  });

  it('fails instead of looping when nothing is written', async () => {
    const stuck = { writev: async () => ({ bytesWritten: 0, buffers: [] }) } as unknown as FileHandle;
    await expect(writevFully(stuck, [Buffer.from('x')], 7)).rejects.toThrow(/short write at offset 7/);
  });
});
