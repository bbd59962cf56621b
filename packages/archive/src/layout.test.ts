import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Digest, Reference, isBerthError, parseManifest } from '@berth/oci';
import { copyImage, storeSink, storeSource } from '@berth/image';
import { Store } from '@berth/store';
import { loadImages } from './load.js';
import { layoutSink, layoutSource } from './layout.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const images = path.resolve(repoRoot, '../shared/images');
const haveImages = existsSync(path.join(images, 'alpine', 'index.json'));

describe.skipIf(!haveImages)('OCI layout directory as an image source and sink', () => {
  let tmp: string;
  let store: Store;
  const alpine = Reference.parse('docker.io/library/alpine:3.20.3');

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-layout-'));
    store = await Store.open({ root: path.join(tmp, 'store') });
    await loadImages({ store, input: path.join(images, 'alpine'), repository: 'docker.io/library/alpine' });
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('round trip: store → layout directory → another store, the same manifest, config and layer digests', async () => {
    const dir = path.join(tmp, 'layout');
    const out = await copyImage(storeSource(store), layoutSink(dir), { reference: alpine });
    const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    expect(index.manifests.map((m) => [m.digest, m.annotations['org.opencontainers.image.ref.name']])).toEqual([[out.descriptor.digest, alpine.toString()]]);
    expect(JSON.parse(await readFile(path.join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect((await readdir(dir)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);

    const other = await Store.open({ root: path.join(tmp, 'other') });
    const back = await copyImage(layoutSource(dir), storeSink(other), { reference: alpine });
    const original = await store.resolve(alpine);
    expect(back.descriptor.digest).toBe(original?.digest);
    const manifest = parseManifest(await other.readBlob(back.descriptor.digest));
    for (const d of [manifest.config, ...manifest.layers]) {
      expect(Digest.of(await other.readBlob(d.digest)).toString()).toBe(d.digest);
    }
    // Copying again finds everything there: nothing copied.
    const again = await copyImage(layoutSource(dir), storeSink(other), { reference: alpine });
    expect(again.layersCopied).toBe(0);
  });

  it('a layout blob that does not match its digest is refused, and nothing of it lands in the sink', async () => {
    const dir = path.join(tmp, 'bad');
    const out = await copyImage(storeSource(store), layoutSink(dir), { reference: alpine });
    const manifest = parseManifest(await readFile(path.join(dir, 'blobs', 'sha256', Digest.parse(out.descriptor.digest).hex)));
    const layer = manifest.layers[0];
    if (!layer) throw new Error('alpine has a layer');
    const file = path.join(dir, 'blobs', 'sha256', Digest.parse(layer.digest).hex);
    const bytes = await readFile(file);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(file, bytes);

    const dest = path.join(tmp, 'dest');
    const err = await copyImage(layoutSource(dir), layoutSink(dest), { reference: alpine }).catch((e: unknown) => e);
    expect(isBerthError(err, 'EDIGEST_MISMATCH')).toBe(true);
    expect(existsSync(path.join(dest, 'blobs', 'sha256', Digest.parse(layer.digest).hex))).toBe(false);
    expect(existsSync(path.join(dest, 'index.json'))).toBe(false);
    expect((await readdir(dest)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });
});
