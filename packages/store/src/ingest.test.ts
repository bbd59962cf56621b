import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Digest, MediaType, type BerthError } from '@berth/oci';
import { Store, type BlobIngest } from './index.js';
import { makeData } from './test-support/data.js';
import { blobFile } from './test-support/layout.js';
import { childUnavailable, spawnChild, type Child } from './test-support/spawn.js';
import { rejection } from './test-support/rejection.js';

let dir: string;
let root: string;
const children: Child[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-ingest-'));
  root = path.join(dir, 'store');
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await c.exited;
    }
  }
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

describe('ingest across processes', () => {
  const why = childUnavailable();

  /** Start two children waiting (READY) for the `go` file at once by creating it; both must exit 0. */
  async function releaseTogether(go: string, a: Child, b: Child): Promise<[Awaited<Child['exited']>, Awaited<Child['exited']>]> {
    children.push(a, b);
    await Promise.all([a.waitLine(/^READY/), b.waitLine(/^READY/)]);
    await writeFile(go, '');
    const [ra, rb] = await Promise.all([a.exited, b.exited]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    return [ra, rb];
  }

  it.skipIf(why !== undefined)('two processes ingesting the same blob both succeed and leave one copy', async () => {
    const size = 400_000;
    const data = makeData('race', size);
    const digest = Digest.of(data);
    const go = path.join(dir, 'go');
    await Store.open({ root });
    const a = spawnChild(['ingest', root, digest.toString(), String(size), 'race', go, '40']);
    const b = spawnChild(['ingest', root, digest.toString(), String(size), 'race', go, '40']);
    const [ra, rb] = await releaseTogether(go, a, b);
    const results = [ra.stdout, rb.stdout].map((s) => (JSON.parse(s.trim().split('\n').at(-1) as string) as { result: string }).result).sort();
    expect(results).toEqual(['committed', 'exists']);

    const store = await Store.open({ root });
    expect((await store.readBlob(digest, { size })).equals(data)).toBe(true);
    expect(await readdir(path.join(root, 'blobs', 'sha256'))).toEqual([digest.hex]);
    expect(await readdir(path.join(root, 'ingest'))).toEqual([]);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it.skipIf(why !== undefined)('a child SIGKILLed mid-ingest leaves no blob; the next ingest resumes and finishes', async () => {
    const size = 300_000;
    const data = makeData('killed', size);
    const digest = Digest.of(data);
    await Store.open({ root });
    const child = spawnChild(['ingest-half', root, digest.toString(), String(size), 'killed']);
    children.push(child);
    const line = await child.waitLine(/^HALF \d+/);
    const half = Number(line.split(' ')[1]);
    expect(half).toBe(size / 2);
    child.proc.kill('SIGKILL');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');

    const store = await Store.open({ root, lockTimeoutMs: 10_000 });
    expect(await store.has(digest)).toBe(false);
    expect(await readdir(path.join(root, 'blobs', 'sha256'))).toEqual([]);
    // The kernel dropped the dead child's lock: this does not wait (ELOCKED after 10 s otherwise).
    const ing: BlobIngest = await store.ingest({ digest, size });
    expect(ing.exists).toBe(false);
    expect(ing.offset).toBe(half);
    await writeAll(ing.createWriteStream(), data.subarray(ing.offset));
    expect(await ing.commit()).toEqual({ digest, size });
    expect((await store.readBlob(digest)).equals(data)).toBe(true);
    expect((await stat(blobFile(store, digest))).size).toBe(size);
  });

  it.skipIf(why !== undefined)('a child SIGKILLed mid-putBlob leaves only a temp file, which gc removes', async () => {
    const size = 200_000;
    const data = makeData('put-killed', size);
    await Store.open({ root });
    const child = spawnChild(['put-half', root, String(size), 'put-killed']);
    children.push(child);
    await child.waitLine(/^HALF/);
    child.proc.kill('SIGKILL');
    await child.exited;

    const store = await Store.open({ root, lockTimeoutMs: 10_000 });
    expect(await readdir(path.join(root, 'blobs', 'sha256'))).toEqual([]);
    const temps = await readdir(path.join(root, 'tmp'));
    expect(temps).toHaveLength(1);
    expect((await stat(path.join(root, 'tmp', temps[0] as string))).size).toBe(size / 2);
    const res = await store.gc();
    expect(res.temporary).toEqual([`tmp/${temps[0]}`]);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
    expect((await store.putBlob(data)).digest.equals(Digest.of(data))).toBe(true);
  });

  it.skipIf(why !== undefined)('concurrent tag updates from two processes lose no entries', async () => {
    const store = await Store.open({ root });
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciEmpty, digest: Digest.of('{}').toString(), size: 2 }, layers: [] }));
    const m = await store.putBlob(manifest);
    const go = path.join(dir, 'go');
    const count = 10;
    const args = (prefix: string) => ['tag', root, go, prefix, String(count), m.digest.toString(), String(m.size), MediaType.OciManifest];
    const a = spawnChild(args('a'));
    const b = spawnChild(args('b'));
    await releaseTogether(go, a, b);
    const names = (await store.listTags()).map((t) => t.reference.toString()).sort();
    const expected = ['a', 'b'].flatMap((p) => Array.from({ length: count }, (_, i) => `localhost/${p}:${i}`)).sort();
    expect(names).toEqual(expected);
  });
});
