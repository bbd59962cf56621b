import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Digest } from '@berth/oci';
import { Store } from './index.js';
import { makeData } from './test-support/data.js';
import { blobFile } from './test-support/layout.js';
import { rejection } from './test-support/rejection.js';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-blobs-'));
  store = await Store.open({ root: path.join(dir, 'store') });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('BlobStore', () => {
  it('hands out no paths: the store has no blobPath, blobs are opened by digest', () => {
    expect('blobPath' in store).toBe(false);
    expect('blobPath' in store.blobs).toBe(false);
  });

  it('openFile gives the stored bytes as an open file, unverified (the caller verifies)', async () => {
    const data = makeData('file', 300_000);
    const { digest } = await store.blobs.put(data);
    const fh = await store.blobs.openFile(digest);
    try {
      expect((await fh.stat()).size).toBe(data.length);
      expect((await fh.readFile()).equals(data)).toBe(true);
    } finally {
      await fh.close();
    }
    // a rotten blob comes back as it is: openFile does not hash
    const bad = Buffer.from(data);
    bad[1000] = (bad[1000] as number) ^ 0xff;
    await writeFile(blobFile(store, digest), bad);
    const rotten = await store.blobs.openFile(digest);
    expect((await buffer(rotten.createReadStream())).equals(bad)).toBe(true);

    const missing = await rejection(store.blobs.openFile(Digest.of('not stored')));
    expect(missing.code).toBe('ENOT_FOUND');
    expect(missing.message).toBe(`open blob ${Digest.of('not stored')}: not in the store`);
    const asDir = Digest.of('a directory');
    await mkdir(blobFile(store, asDir));
    expect((await rejection(store.blobs.openFile(asDir))).code).toBe('ESTORE');
    expect((await rejection(store.blobs.openFile('sha256:../../etc/passwd'))).code).toBe('EINVAL_DIGEST');
  });

  it('open from a start offset emits the rest and still verifies the whole blob', async () => {
    const data = makeData('start', 200_000);
    const { digest } = await store.blobs.put(data);
    expect((await buffer(store.blobs.open(digest, { start: 123_456, size: data.length }))).equals(data.subarray(123_456))).toBe(true);
    expect((await buffer(store.blobs.open(digest, { start: data.length }))).length).toBe(0);

    // a byte rotten before the offset is not sent, but it fails the digest at the end
    const bad = Buffer.from(data);
    bad[10] = (bad[10] as number) ^ 0xff;
    await writeFile(blobFile(store, digest), bad);
    const e = await rejection(buffer(store.blobs.open(digest, { start: 100_000 })));
    expect(e.code).toBe('EDIGEST_MISMATCH');
    expect(e.message).toContain(digest.toString());

    const past = await rejection(buffer(store.blobs.open(digest, { start: data.length + 1 })));
    expect(past.code).toBe('EINVAL_ARGUMENT');
    expect(() => store.blobs.open(digest, { start: -1 })).toThrow(expect.objectContaining({ code: 'EINVAL_ARGUMENT' }));
  });

  it('lists the stored blobs by digest (optionally by hex prefix) and deletes them', async () => {
    const blobs = await Promise.all(['a', 'b', 'c', 'd'].map((s) => store.blobs.put(makeData(s, 1000 + s.charCodeAt(0)))));
    // not blobs: a stray file with a name that is no digest, and a directory
    await writeFile(path.join(store.root, 'blobs', 'sha256', 'notes.txt'), 'x');
    await mkdir(blobFile(store, Digest.of('dir')));
    const listed = [];
    for await (const b of store.blobs.list()) listed.push({ digest: b.digest.toString(), size: b.size });
    expect(listed.sort((x, y) => x.digest.localeCompare(y.digest))).toEqual(
      blobs.map((b) => ({ digest: b.digest.toString(), size: b.size })).sort((x, y) => x.digest.localeCompare(y.digest)),
    );

    const first = blobs[0] as { digest: Digest };
    const byPrefix = [];
    for await (const b of store.blobs.list({ algorithm: 'sha256', hexPrefix: first.digest.hex.slice(0, 6) })) byPrefix.push(b.digest.toString());
    expect(byPrefix).toEqual([first.digest.toString()]);

    await store.blobs.delete([first.digest, Digest.of('never stored')]);
    expect(await store.blobs.has(first.digest)).toBe(false);
    let left = 0;
    for await (const _ of store.blobs.list()) left++;
    expect(left).toBe(3);
  });
});
