import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MediaType, type ImageConfig } from '@berth/oci';
import { describe, expect, it } from 'vitest';
import { Store, defaultRoot, storeDir } from './index.js';
import { useTempStoreRoot } from './test-support/images.js';
import { rejection } from './test-support/rejection.js';

let dir: string;
let root: string;
useTempStoreRoot((t) => ({ dir, root } = t));

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

describe('Store.putImage', () => {
  it('stores the config, then an OCI manifest of it and the layers; the descriptor tags an image getImage finds', async () => {
    const store = await Store.open({ root });
    const layer = await store.putBlob(Buffer.from('a layer, stored first'));
    const layers = [{ mediaType: MediaType.OciLayerGzip, digest: layer.digest.toString(), size: layer.size }];
    const config: ImageConfig = { architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest.toString()] } };
    const put = await store.putImage({ config, layers, platform: { os: 'linux', architecture: 'arm64' } });
    expect(put.manifest).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: put.configDigest.toString(), size: expect.any(Number) },
      layers,
    });
    expect(put.descriptor).toEqual({ mediaType: MediaType.OciManifest, digest: put.digest.toString(), size: expect.any(Number), platform: { os: 'linux', architecture: 'arm64' } });
    expect(await store.readManifest(put.descriptor)).toEqual(put.manifest);
    expect(await store.readConfig(put.manifest.config)).toEqual(config);
    // Nothing is tagged until the caller says so.
    expect(await store.listTags()).toEqual([]);
    await store.setTag('localhost/put/image:1', put.descriptor);
    const image = await store.getImage('localhost/put/image:1', { platform: { os: 'linux', architecture: 'arm64' } });
    expect(image.descriptor).toMatchObject(put.descriptor);
    expect(image.config).toEqual(config);
    // Without a platform, the descriptor has none.
    expect((await store.putImage({ config, layers })).descriptor.platform).toBeUndefined();
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
