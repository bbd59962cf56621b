import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
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

describe('locations', () => {
  it('defaultRoot and storeDir', () => {
    expect(defaultRoot({ BERTH_ROOT: '/srv/berth' }, 1000)).toBe('/srv/berth');
    expect(defaultRoot({}, 0)).toBe('/var/lib/berth');
    expect(defaultRoot({ XDG_DATA_HOME: '/home/u/.data' }, 1000)).toBe('/home/u/.data/berth');
    expect(defaultRoot({ XDG_DATA_HOME: 'relative' }, 1000)).toMatch(/\/\.local\/share\/berth$/);
    expect(storeDir('/var/lib/berth')).toBe('/var/lib/berth/store');
  });
});
