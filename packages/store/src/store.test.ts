import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { createReadStream, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Digest, MediaType, Reference, encodeJson, isBerthError } from '@berth/oci';
import type { Descriptor, Platform } from '@berth/oci';
import { Store, defaultRoot, storeDir, INDEX_DIGEST_ANNOTATION, REF_NAME_ANNOTATION } from './index.js';
import { makeData } from './test-support/data.js';
import { blobFile } from './test-support/layout.js';
import { repoRoot } from './test-support/spawn.js';
import { rejection } from './test-support/rejection.js';

let dir: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-store-'));
  root = path.join(dir, 'store');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function blobNames(r: string): Promise<string[]> {
  return readdir(path.join(r, 'blobs', 'sha256'));
}

/** A small image (random "layer", config, manifest) for platform `p`, stored; returns its manifest descriptor. */
async function putImage(store: Store, seed: string, p: Platform = { os: 'linux', architecture: 'amd64' }) {
  const layer = makeData(`layer-${seed}`, 3000);
  const layerDesc = { mediaType: MediaType.OciLayer, ...(await store.putBlob(layer)) };
  const config = encodeJson({ ...p, rootfs: { type: 'layers', diff_ids: [layerDesc.digest.toString()] }, config: { Cmd: ['/bin/sh'] } });
  const configDesc = { mediaType: MediaType.OciConfig, ...(await store.putBlob(config)) };
  const manifest = encodeJson({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: configDesc.mediaType, digest: configDesc.digest.toString(), size: configDesc.size },
    layers: [{ mediaType: layerDesc.mediaType, digest: layerDesc.digest.toString(), size: layerDesc.size }],
  });
  const m = await store.putBlob(manifest);
  const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: m.digest.toString(), size: m.size };
  return { descriptor, layer: layerDesc.digest.toString(), config: configDesc.digest.toString() };
}

describe('Store.open', () => {
  it('creates an OCI layout and reopens it', async () => {
    const store = await Store.open({ root });
    expect(store.root).toBe(root);
    expect(JSON.parse(await readFile(path.join(root, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(await readFile(path.join(root, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
    expect((await stat(path.join(root, 'blobs', 'sha256'))).isDirectory()).toBe(true);
    const again = await Store.open({ root });
    expect(await again.listTags()).toEqual([]);
  });

  it('refuses an unsupported layout version and a foreign non-empty directory', async () => {
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    const e1 = await rejection(Store.open({ root }));
    expect(e1.code).toBe('ESTORE');
    expect(e1.message).toContain('2.0.0');

    const foreign = path.join(dir, 'home');
    await mkdir(foreign);
    await writeFile(path.join(foreign, 'notes.txt'), 'mine');
    const e2 = await rejection(Store.open({ root: foreign }));
    expect(e2.code).toBe('ESTORE');
    expect(e2.message).toMatch(/not empty.*notes\.txt/);
    expect(existsSync(path.join(foreign, 'oci-layout'))).toBe(false);
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

describe('tags', () => {
  it('adds, resolves, replaces, lists and removes tags with the full reference as ref.name', async () => {
    const store = await Store.open({ root });
    const a = await putImage(store, 'a');
    const b = await putImage(store, 'b');
    const ref = Reference.parse('alpine');
    await store.setTag(ref, a.descriptor);
    await store.setTag('localhost/test:1', b.descriptor);

    const raw = JSON.parse(await readFile(path.join(root, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    expect(raw.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION])).toEqual(['docker.io/library/alpine:latest', 'localhost/test:1']);

    expect((await store.resolve(ref))?.digest).toBe(a.descriptor.digest);
    expect((await store.resolve('docker.io/library/alpine:latest'))?.digest).toBe(a.descriptor.digest);
    expect(await store.resolve('alpine:3')).toBeUndefined();

    await store.setTag('alpine:latest', b.descriptor); // replace
    const tags = await store.listTags();
    expect(tags.map((t) => [t.reference.toString(), t.descriptor.digest])).toEqual([
      ['docker.io/library/alpine:latest', b.descriptor.digest],
      ['localhost/test:1', b.descriptor.digest],
    ]);

    expect(await store.removeTag(ref)).toBe(true);
    expect(await store.removeTag(ref)).toBe(false);
    expect((await store.listTags()).map((t) => t.reference.toString())).toEqual(['localhost/test:1']);
  });

  it('refuses to tag a blob that is not stored, and keeps entries written by other tools', async () => {
    const store = await Store.open({ root });
    const e = await rejection(store.setTag('x:1', { mediaType: MediaType.OciManifest, digest: Digest.of('nope').toString(), size: 4 }));
    expect(e.code).toBe('ENOT_FOUND');
    expect((await rejection(store.setTag('x:1', { mediaType: MediaType.OciManifest, digest: 'sha256:zz', size: 4 }))).code).toBe('EINVAL_ARGUMENT');

    const img = await putImage(store, 'other');
    const foreign = { ...img.descriptor, annotations: { [REF_NAME_ANNOTATION]: 'latest' } };
    await writeFile(path.join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [foreign] }));
    await store.setTag('localhost/a:1', img.descriptor);
    expect((await store.listTags()).map((t) => t.reference.toString())).toEqual(['localhost/a:1']);
    const raw = JSON.parse(await readFile(path.join(root, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    expect(raw.manifests).toHaveLength(2);
    // The foreign entry is a GC root.
    const res = await store.gc();
    expect(res.removed).toEqual([]);
  });
});

describe('getImage', () => {
  it('finds a tagged single-platform image by tag, digest and short ID', async () => {
    const store = await Store.open({ root });
    const a = await putImage(store, 'one');
    const b = await putImage(store, 'two');
    await store.setTag('localhost/one:1', a.descriptor);
    await store.setTag('localhost/two:1', b.descriptor);

    const byTag = await store.getImage('localhost/one:1');
    expect(byTag.descriptor.digest).toBe(a.descriptor.digest);
    expect(byTag.reference?.toString()).toBe('localhost/one:1');
    expect(byTag.configDescriptor.digest).toBe(a.config);
    expect(byTag.config.config?.Cmd).toEqual(['/bin/sh']);
    expect(byTag.manifest.layers[0]?.digest).toBe(a.layer);

    expect((await store.getImage(Reference.parse('localhost/two:1'))).descriptor.digest).toBe(b.descriptor.digest);
    expect((await store.getImage(a.descriptor.digest)).descriptor.digest).toBe(a.descriptor.digest);
    expect((await store.getImage(`localhost/one@${a.descriptor.digest}`)).descriptor.digest).toBe(a.descriptor.digest);
    // Short IDs: of the manifest, or of the config (docker's image ID).
    const aHex = Digest.parse(a.descriptor.digest).hex;
    const bHex = Digest.parse(b.descriptor.digest).hex;
    let n = 1;
    while (aHex.slice(0, n) === bHex.slice(0, n)) n++;
    expect((await store.getImage(aHex.slice(0, Math.max(n, 4)))).descriptor.digest).toBe(a.descriptor.digest);
    expect((await store.getImage(Digest.parse(a.config).hex.slice(0, 12))).descriptor.digest).toBe(a.descriptor.digest);
    expect((await store.getImage(a.config)).descriptor.digest).toBe(a.descriptor.digest);

    const e = await rejection(store.getImage('localhost/nothere:1'));
    expect(e.code).toBe('EIMAGE_UNKNOWN');
    expect(e.message).toBe('get image localhost/nothere:1: no such image in the store');
    expect((await rejection(store.getImage(a.layer))).code).toBe('EIMAGE_UNKNOWN');
    // A platform that does not match the image's config is refused when asked for explicitly.
    const e2 = await rejection(store.getImage('localhost/one:1', { platform: { os: 'linux', architecture: 'arm64' } }));
    expect(e2.code).toBe('ENO_MATCHING_PLATFORM');
  });

  it('chooses the platform from an index (the real alpine image) and lists the choices when none matches', async (ctx) => {
    const images = path.resolve(repoRoot, '../shared/images/alpine');
    if (!existsSync(path.join(images, 'index.json'))) {
      ctx.skip(`shared images not found at ${images}`);
      return;
    }
    const store = await Store.open({ root });
    for (const name of await readdir(path.join(images, 'blobs', 'sha256'))) {
      await store.putBlob(createReadStream(path.join(images, 'blobs', 'sha256', name)), { digest: `sha256:${name}` });
    }
    const layout = JSON.parse(await readFile(path.join(images, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const top = layout.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === '3.20.3') as Descriptor;
    await store.setTag('alpine:3.20.3', { mediaType: top.mediaType, digest: top.digest, size: top.size });
    const index = await store.readIndex(top);

    for (const wanted of [
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'amd64' },
    ]) {
      const img = await store.getImage('alpine:3.20.3', { platform: wanted });
      const expected = index.manifests.find((m) => m.platform?.architecture === wanted.architecture);
      expect(img.descriptor.digest).toBe(expected?.digest);
      expect(img.config.architecture).toBe(wanted.architecture);
      expect(img.index?.digest).toBe(top.digest);
      expect(img.reference?.toString()).toBe('docker.io/library/alpine:3.20.3');
    }
    const host = await store.getImage('docker.io/library/alpine:3.20.3').catch((err: unknown) => err);
    if (!isBerthError(host)) expect((host as { config: { os: string } }).config.os).toBe('linux');
    else expect(host.code).toBe('ENO_MATCHING_PLATFORM');

    const e = await rejection(store.getImage('alpine:3.20.3', { platform: { os: 'linux', architecture: 's390x' } }));
    expect(e.code).toBe('ENO_MATCHING_PLATFORM');
    expect(e.message).toBe('get image alpine:3.20.3: no manifest for linux/s390x (available: linux/amd64, linux/arm64/v8)');
  });

  it('finds NAME@<index digest> for platform manifests pulled through that index, whose index blob the store does not keep', async () => {
    const store = await Store.open({ root });
    const amd64 = await putImage(store, 'amd', { os: 'linux', architecture: 'amd64' });
    const arm64 = await putImage(store, 'arm', { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const other = await putImage(store, 'other');
    const indexDigest = Digest.of(Buffer.from('an index that was never stored')).toString();
    const fromIndex = (d: Descriptor, p: Platform): Descriptor => ({ ...d, platform: p, annotations: { [INDEX_DIGEST_ANNOTATION]: indexDigest } });
    // As pullImage tags them: one pulled by digest (tagged NAME@DIGEST), one by tag.
    await store.setTag(`localhost/multi@${indexDigest}`, fromIndex(amd64.descriptor, { os: 'linux', architecture: 'amd64' }));
    await store.setTag('localhost/multi:arm', fromIndex(arm64.descriptor, { os: 'linux', architecture: 'arm64', variant: 'v8' }));
    // The same index digest on another repository's tag is not an image of localhost/multi.
    await store.setTag('localhost/elsewhere:1', fromIndex(other.descriptor, { os: 'linux', architecture: 's390x' }));

    expect((await store.getImage(`localhost/multi@${indexDigest}`)).descriptor.digest).toBe(amd64.descriptor.digest);
    const arm = await store.getImage(Reference.parse(`localhost/multi@${indexDigest}`), { platform: { os: 'linux', architecture: 'arm64' } });
    expect(arm.descriptor.digest).toBe(arm64.descriptor.digest);
    // What `berth images` does: every tag's own name finds its image.
    for (const t of await store.listTags()) expect((await store.getImage(t.reference)).descriptor.digest).toBe(t.descriptor.digest);

    const unknown = Digest.of(Buffer.from('no such index')).toString();
    const e = await rejection(store.getImage(`localhost/multi@${unknown}`));
    expect(e.code).toBe('EIMAGE_UNKNOWN');
    expect(e.message).toBe(`get image localhost/multi@${unknown}: ${unknown} is not in the store`);
    expect((await rejection(store.getImage(`localhost/nothere@${indexDigest}`))).code).toBe('EIMAGE_UNKNOWN');
  });
});

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

describe('locks', () => {
  it('serialises withLock holders, is reentrant, and validates names', async () => {
    const store = await Store.open({ root });
    const events: string[] = [];
    const hold = (id: string) =>
      store.withLock('build-cache', async () => {
        events.push(`${id}+`);
        await new Promise((r) => setTimeout(r, 20));
        await store.withLock('build-cache', async () => events.push(`${id}.nested`));
        events.push(`${id}-`);
      });
    await Promise.all([hold('a'), hold('b')]);
    // Never interleaved.
    expect(events.join(' ')).toMatch(/^(a\+ a\.nested a- b\+ b\.nested b-|b\+ b\.nested b- a\+ a\.nested a-)$/);
    for (const bad of ['../x', 'a/b', '', 'gc', 'blob-sha256-x', '.hidden']) {
      await expect(store.withLock(bad, async () => 1)).rejects.toMatchObject({ code: 'EINVAL_ARGUMENT' });
    }
  });

  it('times out with ELOCKED when asked to', async () => {
    const store = await Store.open({ root, lockTimeoutMs: 50 });
    const other = await Store.open({ root });
    let release!: () => void;
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    const holder = other.withLock('x', async () => {
      held();
      await new Promise<void>((r) => (release = r));
    });
    await isHeld;
    const e = await rejection(store.withLock('x', async () => 1));
    expect(e.code).toBe('ELOCKED');
    release();
    await holder;
    expect(await store.withLock('x', async () => 2)).toBe(2);
  });
});

describe('locations', () => {
  it('defaultRoot and storeDir', () => {
    expect(defaultRoot({ BERTH_ROOT: '/srv/berth' }, 1000)).toBe('/srv/berth');
    expect(defaultRoot({}, 0)).toBe('/var/lib/berth');
    expect(defaultRoot({ XDG_DATA_HOME: '/home/u/.data' }, 1000)).toBe('/home/u/.data/berth');
    expect(defaultRoot({ XDG_DATA_HOME: 'relative' }, 1000)).toMatch(/\/\.local\/share\/berth$/);
    expect(storeDir('/var/lib/berth')).toBe('/var/lib/berth/store');
  });
});
