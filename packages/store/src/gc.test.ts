import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Digest, MediaType, encodeJson } from '@berth/oci';
import { Store } from './index.js';
import { makeData } from './test-support/data.js';
import { blobFile } from './test-support/layout.js';
import { putImage, useTempStoreRoot } from './test-support/images.js';
import { rejection } from './test-support/rejection.js';

let root: string;
useTempStoreRoot((t) => ({ root } = t));

describe('gc', () => {
  it('keeps what tags and roots reach; removes other blobs, stale partials and temp files', async () => {
    const store = await Store.open({ root });
    const tagged = await putImage(store, 'tagged');
    const rooted = await putImage(store, 'rooted');
    const garbage = await putImage(store, 'garbage');
    const stray = await store.putBlob(Buffer.from('stray'));
    await store.setTag('localhost/keep:1', tagged.descriptor);

    // An index (tagged) whose children include one stored and one never-pulled platform.
    const other = await putImage(store, 'arm', { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const idx = encodeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { ...other.descriptor, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: MediaType.OciManifest, digest: Digest.of('never pulled').toString(), size: 10, platform: { os: 'linux', architecture: 's390x' } },
      ],
    });
    const idxPut = await store.putBlob(idx);
    await store.setTag('localhost/multi:1', { mediaType: MediaType.OciIndex, digest: idxPut.digest.toString(), size: idxPut.size });

    // A stale partial download and a temp file left by a crashed writer.
    const partialData = makeData('partial', 1000);
    const ing = await store.ingest({ digest: Digest.of(partialData), size: partialData.length });
    const w = ing.createWriteStream();
    w.end(partialData.subarray(0, 400));
    await new Promise((r) => w.on('finish', r));
    await ing.abort();
    await writeFile(path.join(root, 'tmp', 'blob-99999-deadbeef'), 'half-written');

    const dry = await store.gc({ roots: [rooted.descriptor.digest], dryRun: true });
    const expectRemoved = [garbage.descriptor.digest, garbage.config, garbage.layer, stray.digest.toString()].sort();
    expect([...dry.removed].sort()).toEqual(expectRemoved);
    expect(await store.has(garbage.layer)).toBe(true);

    const res = await store.gc({ roots: [rooted.descriptor.digest] });
    expect([...res.removed].sort()).toEqual(expectRemoved);
    expect([...res.temporary].sort()).toEqual([`ingest/sha256-${Digest.of(partialData).hex}`, 'tmp/blob-99999-deadbeef']);
    expect(res.bytes).toBeGreaterThan(3000 + 400);
    for (const d of [...expectRemoved]) expect(await store.has(d)).toBe(false);
    for (const img of [tagged, rooted, other]) {
      for (const d of [img.descriptor.digest, img.config, img.layer]) expect(await store.has(d)).toBe(true);
    }
    expect(await store.has(idxPut.digest)).toBe(true);
    expect(await readdir(path.join(root, 'ingest'))).toEqual([]);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);

    // Untagging makes an image collectable.
    await store.removeTag('localhost/keep:1');
    const res2 = await store.gc({ roots: [rooted.descriptor.digest] });
    expect([...res2.removed].sort()).toEqual([tagged.descriptor.digest, tagged.config, tagged.layer].sort());
  });

  it('aborts instead of sweeping when a tagged manifest is corrupt', async () => {
    const store = await Store.open({ root });
    const img = await putImage(store, 'c');
    await store.setTag('localhost/c:1', img.descriptor);
    await writeFile(blobFile(store, img.descriptor.digest), '{"schemaVersion":2}');
    const e = await rejection(store.gc());
    expect(e.code).toBe('ESIZE_MISMATCH');
    expect(e.message).toMatch(/^gc: read blob sha256:[a-f0-9]{64}: stored blob has 19 bytes, expected \d+$/);
    expect(await store.has(img.layer)).toBe(true);
    await writeFile(blobFile(store, img.descriptor.digest), Buffer.alloc(img.descriptor.size, 0x20));
    expect((await rejection(store.gc())).code).toBe('EDIGEST_MISMATCH');
    expect(await store.has(img.config)).toBe(true);
  });

  it('waits for a lease, so blobs written inside one survive until tagged', async () => {
    const store = await Store.open({ root });
    let release!: () => void;
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    let released = false;
    const lease = store.withLease(async () => {
      held();
      await new Promise<void>((r) => (release = r));
    });
    await isHeld;
    const gcDone = store.gc().then((r) => ({ r, releasedFirst: released }));
    await new Promise((r) => setTimeout(r, 300)); // give a gc that does not wait the chance to finish
    released = true;
    release();
    await lease;
    const { releasedFirst } = await gcDone;
    expect(releasedFirst).toBe(true);
    // gc inside a lease of the same store would deadlock: refused.
    await expect(store.withLease(() => store.gc())).rejects.toMatchObject({ code: 'EINVAL_ARGUMENT' });
  });
});

describe('gc roots beyond the tags', () => {
  it('keeps the stored index a tag was pulled through (the blob only) and the blobs in `keep`', async () => {
    const store = await Store.open({ root });
    const amd = await putImage(store, 'amd');
    const arm = await putImage(store, 'arm', { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const idx = await store.putBlob(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { ...amd.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
          { ...arm.descriptor, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    // As a pull through the index tags it: the platform manifest, annotated with the index.
    await store.setTag('localhost/multi:1', { ...amd.descriptor, annotations: { 'io.berth.index.digest': idx.digest.toString() } });
    const cachedLayer = await store.putBlob(Buffer.from('a layer a build step made'));
    const res = await store.gc({ keep: [cachedLayer.digest] });
    // The index stays; the arm64 platform nobody tags goes (the index does not keep its children).
    expect(await store.has(idx.digest)).toBe(true);
    expect(await store.has(cachedLayer.digest)).toBe(true);
    expect([...res.removed].sort()).toEqual([arm.descriptor.digest, arm.config, arm.layer].sort());
    // Without the root, the cached layer goes.
    expect((await store.gc()).removed).toEqual([cachedLayer.digest.toString()]);
  });
});
