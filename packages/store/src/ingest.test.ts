import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Digest, type BerthError } from '@berth/oci';
import { Store } from './index.js';
import { makeData } from './test-support/data.js';
import { rejection } from './test-support/rejection.js';

let dir: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-ingest-'));
  root = path.join(dir, 'store');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeAll(w: Writable, data: Buffer): Promise<void> {
  w.end(data);
  await once(w, 'finish');
}

/** Open the store at `root` and start an ingest of `size` bytes of data seeded by `seed` (nothing written yet). */
async function startIngest(seed: string, size: number, open: { lockTimeoutMs?: number } = {}) {
  const store = await Store.open({ root, ...open });
  const data = makeData(seed, size);
  const digest = Digest.of(data);
  const ingest = await store.ingest({ digest, size: data.length });
  return { store, data, digest, ingest };
}

describe('ingest', () => {
  it('writes chunks that queue up behind a write in flight together, in order, and commits the exact bytes', async () => {
    const { store, data, digest, ingest } = await startIngest('batched', 3 * 1024 * 1024 + 17);
    const w = ingest.createWriteStream();
    const calls: number[] = [];
    // Count how many chunks each underlying write got.
    const proto = w as unknown as { _writev?: (chunks: unknown[], cb: () => void) => void };
    const original = proto._writev?.bind(w);
    expect(original).toBeDefined();
    proto._writev = (chunks, cb) => {
      calls.push(chunks.length);
      original?.(chunks, cb);
    };
    // 3 MiB in uneven chunks written without waiting: they queue behind the first write.
    for (let off = 0, n = 1; off < data.length; off += n, n = (n * 7 + 3) % 65_536 || 1) w.write(data.subarray(off, off + n));
    await writeAll(w, Buffer.alloc(0));
    expect(calls.some((n) => n > 1)).toBe(true);
    expect(calls.length).toBeLessThan(calls.reduce((a, b) => a + b, 0));
    expect(ingest.offset).toBe(data.length);
    await ingest.commit();
    expect((await store.readBlob(digest)).equals(data)).toBe(true);
  });

  it('what a write stream accepted is in the file even if it is destroyed; the next one resumes from there', async () => {
    const { store, data, digest, ingest } = await startIngest('dropped', 2 * 1024 * 1024 + 5);
    const w = ingest.createWriteStream();
    const cut = 1024 * 1024 + 300;
    for (const [a, b] of [[0, 100], [100, 1024 * 1024 + 100], [1024 * 1024 + 100, cut]] as const) {
      await new Promise<void>((resolve, reject) => w.write(data.subarray(a, b), (err) => (err ? reject(err) : resolve())));
    }
    w.destroy();
    await once(w, 'close');
    expect(ingest.offset).toBe(cut);
    expect((await stat(path.join(root, 'ingest', `sha256-${digest.hex}`))).size).toBe(cut);
    await writeAll(ingest.createWriteStream(), data.subarray(ingest.offset));
    await ingest.commit();
    expect((await store.readBlob(digest)).equals(data)).toBe(true);
  });

  it('resumes: write half, abort, ingest again at the offset, finish', async () => {
    const { store, data, digest, ingest: first } = await startIngest('resume', 250_000);
    const half = 100_003;
    expect(first.exists).toBe(false);
    expect(first.offset).toBe(0);
    await writeAll(first.createWriteStream(), data.subarray(0, half));
    expect(first.offset).toBe(half);
    await first.abort();

    // The partial is not a blob: not visible under blobs/, not readable.
    expect(await store.has(digest)).toBe(false);
    expect(await readdir(path.join(root, 'blobs', 'sha256'))).toEqual([]);
    await expect(store.readBlob(digest)).rejects.toMatchObject({ code: 'ENOT_FOUND' });

    const second = await store.ingest({ digest: digest.toString(), size: data.length });
    expect(second.offset).toBe(half);
    // Two streams in a row (a connection broke and the caller resumed again).
    await writeAll(second.createWriteStream(), data.subarray(half, 200_000));
    expect(second.offset).toBe(200_000);
    await writeAll(second.createWriteStream(), data.subarray(200_000));
    const res = await second.commit();
    expect(res).toEqual({ digest, size: data.length });
    expect((await store.readBlob(digest)).equals(data)).toBe(true);
    expect(await readdir(path.join(root, 'ingest'))).toEqual([]);
    // abort after commit is a no-op, so callers can always abort in `finally`.
    await second.abort();

    const third = await store.ingest({ digest, size: data.length });
    expect(third.exists).toBe(true);
    expect(() => third.createWriteStream()).toThrow(expect.objectContaining({ code: 'EINVAL_ARGUMENT' }));
    expect(await third.commit()).toEqual({ digest, size: data.length });
  });

  it('on a digest mismatch deletes the partial, releases the lock and leaves no blob', async () => {
    const { store, data, digest, ingest: ing } = await startIngest('good', 10_000, { lockTimeoutMs: 0 });
    const bad = Buffer.from(data);
    bad[9999] = (bad[9999] as number) ^ 1;
    await writeAll(ing.createWriteStream(), bad);
    const e = await rejection(ing.commit());
    expect(e.code).toBe('EDIGEST_MISMATCH');
    expect(e.message).toContain(`ingest blob ${digest}`);
    expect(await store.has(digest)).toBe(false);
    expect(await readdir(path.join(root, 'ingest'))).toEqual([]);
    // The lock is free again (timeout 0 would fail with ELOCKED otherwise).
    const again = await store.ingest({ digest, size: data.length });
    expect(again.offset).toBe(0);
    await again.abort({ keepPartial: false });
  });

  it('fails on too many or too few bytes, and reset() starts over', async () => {
    const { store, data, digest, ingest: ing } = await startIngest('size', 5000);
    const w = ing.createWriteStream();
    const failed = once(w, 'error');
    w.end(Buffer.concat([data, Buffer.from('extra')]));
    const [err] = (await failed) as [BerthError];
    expect(err.code).toBe('ESIZE_MISMATCH');

    // The server ignored Range and restarted from 0: reset, write it all.
    await writeAll(ing.createWriteStream(), Buffer.from('garbage!!!')); // a fresh attempt wrote junk
    await ing.reset();
    expect(ing.offset).toBe(0);
    await writeAll(ing.createWriteStream(), data.subarray(0, 4000));
    const short = await rejection(ing.commit());
    expect(short.code).toBe('ESIZE_MISMATCH');
    expect(await store.has(digest)).toBe(false);

    // A partial longer than the blob can be is discarded at the start.
    await writeFile(path.join(root, 'ingest', `sha256-${digest.hex}`), Buffer.alloc(6000));
    const fresh = await store.ingest({ digest, size: data.length });
    expect(fresh.offset).toBe(0);
    await writeAll(fresh.createWriteStream(), data);
    await fresh.commit();
    expect((await store.readBlob(digest, { size: data.length })).equals(data)).toBe(true);
  });

  it('makes a second ingest of the same digest in this process wait, then see the blob', async () => {
    const { store, data, digest, ingest: a } = await startIngest('wait', 3000);
    let committed = false;
    const b = store.ingest({ digest, size: data.length }).then((ing) => ({ ing, committedFirst: committed }));
    await new Promise((r) => setTimeout(r, 100)); // let an ingest that does not wait resolve, if it would
    await writeAll(a.createWriteStream(), data);
    await a.commit();
    committed = true;
    const { ing, committedFirst } = await b;
    expect(committedFirst).toBe(true);
    expect(ing.exists).toBe(true);
    await ing.release();
  });
});
