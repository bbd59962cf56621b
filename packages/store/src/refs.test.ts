import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Digest, MediaType, Reference } from '@berth/oci';
import type { Descriptor } from '@berth/oci';
import { Store, REF_NAME_ANNOTATION } from './index.js';
import { putImage, useTempStoreRoot } from './test-support/images.js';
import { rejection } from './test-support/rejection.js';

let root: string;
useTempStoreRoot((t) => ({ root } = t));

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
