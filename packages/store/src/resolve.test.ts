import { readdir, readFile } from 'node:fs/promises';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Digest, MediaType, Reference, isBerthError } from '@berth/oci';
import type { Descriptor, Platform } from '@berth/oci';
import { Store, INDEX_DIGEST_ANNOTATION, REF_NAME_ANNOTATION } from './index.js';
import { putImage, useTempStoreRoot } from './test-support/images.js';
import { repoRoot } from './test-support/spawn.js';
import { rejection } from './test-support/rejection.js';

let root: string;
useTempStoreRoot((t) => ({ root } = t));

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

  it('finds an untagged image by short ID among the stored blobs, and refuses an ambiguous prefix', async () => {
    const store = await Store.open({ root });
    // Untagged images (kept by GC roots, or not collected yet): no tag leads to them, the blobs do.
    const images = [];
    const byFirst = new Map<string, string[]>();
    let shared: string[] | undefined;
    for (let i = 0; !shared; i++) {
      const img = await putImage(store, `untagged-${i}`);
      images.push(img);
      const hex = Digest.parse(img.descriptor.digest).hex;
      const same = [...(byFirst.get(hex.slice(0, 1)) ?? []), img.descriptor.digest];
      byFirst.set(hex.slice(0, 1), same);
      if (same.length === 2) shared = same;
    }
    const a = images[0] as (typeof images)[number];
    const aHex = Digest.parse(a.descriptor.digest).hex;
    const found = await store.getImage(aHex.slice(0, 16));
    expect(found.descriptor).toEqual({ mediaType: MediaType.OciManifest, digest: a.descriptor.digest, size: a.descriptor.size });
    expect(found.reference).toBeUndefined();
    // A prefix that names only a layer is no image.
    expect((await rejection(store.getImage(Digest.parse(a.layer).hex.slice(0, 16)))).code).toBe('EIMAGE_UNKNOWN');
    // Two untagged manifests under one prefix: ambiguous, both named.
    const first = Digest.parse(shared[0] as string).hex.slice(0, 1);
    const e = await rejection(store.getImage(first));
    expect(e.code).toBe('EINVAL_ARGUMENT');
    expect(e.message).toMatch(new RegExp(`^get image ${first}: ambiguous image ID prefix, matches `));
    for (const d of shared) expect(e.message).toContain(d);
  });

  it('takes 64 hex characters as an image ID (of the manifest or the config), never as a name to tag', async () => {
    const store = await Store.open({ root });
    const a = await putImage(store, 'one');
    await store.setTag('localhost/one:1', a.descriptor);
    const manifestId = Digest.parse(a.descriptor.digest).hex;
    const configId = Digest.parse(a.config).hex;
    expect((await store.getImage(manifestId)).descriptor.digest).toBe(a.descriptor.digest);
    expect((await store.getImage(configId)).descriptor.digest).toBe(a.descriptor.digest);
    // docker refuses such a name (distribution would too, and `rmi` of it would find no tag).
    const e = await rejection(store.setTag(configId, a.descriptor));
    expect(e.code).toBe('EINVAL_REFERENCE');
    expect(e.message).toMatch(/cannot specify 64-byte hexadecimal strings/);
    expect((await store.listTags()).map((t) => t.reference.toString())).toEqual(['localhost/one:1']);
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
