import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { beforeEach, describe, expect, it } from 'vitest';
import { Digest } from '@berth/oci';
import { Store } from './index.js';
import { makeData } from './test-support/data.js';
import { blobFile } from './test-support/layout.js';
import { blobNames, putImage, useTempStoreRoot } from './test-support/images.js';
import { rejection } from './test-support/rejection.js';

let root: string;
let store: Store;
useTempStoreRoot((t) => ({ root } = t));
beforeEach(async () => {
  store = await Store.open({ root });
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

describe('blobs', () => {
  it('validates digests before using them in paths', async () => {
    const store = await Store.open({ root });
    const hex = 'a'.repeat(64);
    expect(blobFile(store, `sha256:${hex}`)).toBe(path.join(root, 'blobs', 'sha256', hex));
    for (const bad of ['sha256:../../../etc/passwd', `sha256:${hex}/x`, 'md5:abc', `SHA256:${hex}`, '']) {
      expect(() => blobFile(store, bad)).toThrow(expect.objectContaining({ code: 'EINVAL_DIGEST' }));
    }
    await expect(store.has('sha256:..')).rejects.toMatchObject({ code: 'EINVAL_DIGEST' });
    await expect(store.ingest({ digest: 'sha256:../x' })).rejects.toMatchObject({ code: 'EINVAL_DIGEST' });
  });

  it('puts and reads back a blob, verified, from a buffer and from a stream', async () => {
    const store = await Store.open({ root });
    const data = makeData('put', 100_000);
    const put = await store.putBlob(data);
    expect(put).toEqual({ digest: Digest.of(data), size: data.length });
    expect(await store.has(put.digest)).toBe(true);
    expect(await store.size(put.digest)).toBe(data.length);
    expect((await store.readBlob(put.digest)).equals(data)).toBe(true);

    const streamed = makeData('stream', 300_000);
    const put2 = await store.putBlob(Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]), { digest: Digest.of(streamed), size: streamed.length });
    expect(put2.digest.equals(Digest.of(streamed))).toBe(true);
    const chunks: Buffer[] = [];
    for await (const c of store.openBlob(put2.digest, { size: streamed.length })) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(streamed)).toBe(true);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it('is idempotent: a second put of the same content does not rewrite the blob', async () => {
    const store = await Store.open({ root });
    const data = makeData('idem', 5000);
    const a = await store.putBlob(data);
    const inode = (await stat(blobFile(store, a.digest))).ino;
    const b = await store.putBlob(data);
    expect(b).toEqual(a);
    // The caller's stream is read to its end (not destroyed mid-way), so a tar
    // entry or pipeline feeding it can go on to its next item.
    let read = 0;
    const source = Readable.from([data.subarray(0, 1000), data.subarray(1000)]).on('data', (c: Buffer) => (read += c.length));
    let ended = false;
    source.on('end', () => (ended = true));
    const c = await store.putBlob(source, { digest: a.digest });
    expect(c).toEqual(a);
    expect(ended).toBe(true);
    expect(read).toBe(data.length);
    expect((await stat(blobFile(store, a.digest))).ino).toBe(inode);
    expect(await blobNames(root)).toEqual([a.digest.hex]);
  });

  it('is atomic: a wrong digest, a wrong size or a failing stream leaves nothing under blobs/ or tmp/', async () => {
    const store = await Store.open({ root });
    const data = makeData('atomic', 200_000);
    const wrong = Digest.of('something else');

    const e1 = await rejection(store.putBlob(Readable.from([data]), { digest: wrong }));
    expect(e1.code).toBe('EDIGEST_MISMATCH');
    expect(e1.message).toContain(wrong.toString());

    const e2 = await rejection(store.putBlob(Readable.from([data]), { size: data.length - 1 }));
    expect(e2.code).toBe('ESIZE_MISMATCH');
    const e3 = await rejection(store.putBlob(Readable.from([data]), { size: data.length + 1 }));
    expect(e3.code).toBe('ESIZE_MISMATCH');
    const e4 = await rejection(store.putBlob(data, { digest: wrong }));
    expect(e4.code).toBe('EDIGEST_MISMATCH');

    const failing = new Readable({
      read() {
        this.push(data.subarray(0, 1000));
        this.destroy(new Error('connection reset'));
      },
    });
    const e5 = await rejection(store.putBlob(failing, { digest: Digest.of(data) }));
    expect(e5.message).toContain('connection reset');

    expect(await blobNames(root)).toEqual([]);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it('detects a corrupted blob on read, whole or streamed', async () => {
    const store = await Store.open({ root });
    const data = makeData('corrupt', 70_000);
    const { digest } = await store.putBlob(data);
    const file = blobFile(store, digest);
    const bad = Buffer.from(data);
    bad[12345] = (bad[12345] as number) ^ 0xff;
    await writeFile(file, bad);

    const e1 = await rejection(store.readBlob(digest));
    expect(e1.code).toBe('EDIGEST_MISMATCH');
    expect(e1.message).toContain(digest.toString());

    const e2 = await rejection(text(store.openBlob(digest)));
    expect(e2.code).toBe('EDIGEST_MISMATCH');
    expect(e2.message).toContain(digest.toString());

    await writeFile(file, data.subarray(0, 100));
    expect((await rejection(text(store.openBlob(digest, { size: data.length })))).code).toBe('ESIZE_MISMATCH');
    expect((await rejection(store.readBlob(digest, { size: data.length }))).code).toBe('ESIZE_MISMATCH');
    expect((await rejection(store.readBlob(digest, { maxBytes: 10 }))).code).toBe('ETOO_LARGE');

    const missing = Digest.of('not stored');
    const e3 = await rejection(store.readBlob(missing));
    expect(e3.code).toBe('ENOT_FOUND');
    expect((await rejection(text(store.openBlob(missing)))).code).toBe('ENOT_FOUND');
    expect(await store.has(missing)).toBe(false);
    expect(await store.size(missing)).toBeUndefined();
  });

  it('detects a corrupted manifest when reading an image', async () => {
    const store = await Store.open({ root });
    const img = await putImage(store, 'x');
    const file = blobFile(store, img.descriptor.digest);
    const bytes = await readFile(file);
    await writeFile(file, Buffer.from(bytes.toString().replace('"schemaVersion":2', '"schemaVersion":3')));
    await expect(store.readManifest(img.descriptor)).rejects.toMatchObject({ code: 'EDIGEST_MISMATCH' });
  });
});
