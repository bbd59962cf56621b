// save and load against skopeo and umoci (host tools): the archives they read and write.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reference } from '@berth/oci';
import { Store } from '@berth/store';
import { toolsMissing } from '@berth/testing';
import { loadImages } from './load.js';
import { saveImages } from './save.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const images = path.resolve(repoRoot, '../shared/images');
const haveImages = existsSync(path.join(images, 'alpine', 'index.json'));
const skopeoSkip = toolsMissing(['skopeo']);
const umociSkip = toolsMissing(['umoci']);
if (!haveImages) console.warn(`skipping archive tests that need ${images} (shared images not present)`);

let tmp: string;
let store: Store;
const alpine = Reference.parse('alpine:3.20.3');

describe.skipIf(!haveImages)('save and load with other tools', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-archive-'));
    store = await Store.open({ root: path.join(tmp, 'store') });
    await loadImages({ store, input: path.join(images, 'alpine'), repository: 'docker.io/library/alpine' });
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  describe.skipIf(!!skopeoSkip)('skopeo interoperability', () => {
    it('skopeo reads the archive as docker-archive and as oci-archive', async () => {
      const file = path.join(tmp, 'one.tar');
      await saveImages({ store, references: [alpine], output: file });
      await run('skopeo', ['copy', '--quiet', `docker-archive:${file}`, `oci:${path.join(tmp, 'sk1')}:x`]);
      await run('skopeo', ['copy', '--quiet', `oci-archive:${file}`, `oci:${path.join(tmp, 'sk2')}:y`]);
      const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${path.join(tmp, 'sk2')}:y`]);
      const a = await store.getImage(alpine);
      expect(JSON.parse(stdout).config.digest).toBe(a.configDescriptor.digest);
    });

    it('loads what skopeo writes as docker-archive (plain layers) and oci-archive (bare tags)', async () => {
      const dockerArchive = path.join(tmp, 'skopeo-docker.tar');
      await run('skopeo', ['copy', '--quiet', `oci:${path.join(images, 'busybox')}:1.38.0-musl`, `docker-archive:${dockerArchive}:busybox:1.38`]);
      const ociArchive = path.join(tmp, 'skopeo-oci.tar');
      await run('skopeo', ['copy', '--quiet', `oci:${path.join(images, 'busybox')}:1.38.0-musl`, `oci-archive:${ociArchive}:1.38`]);
      const target = await Store.open({ root: path.join(tmp, 'from-skopeo') });
      const d = await loadImages({ store: target, input: dockerArchive });
      expect(d.map((l) => [l.format, l.reference?.toString()])).toEqual([['docker', 'docker.io/library/busybox:1.38']]);
      const img = await target.getImage('busybox:1.38');
      expect(img.manifest.layers[0]?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
      const o = await loadImages({ store: target, input: ociArchive, repository: 'localhost/bb' });
      expect(o.map((l) => [l.format, l.reference?.toString()])).toEqual([['oci', 'localhost/bb:1.38']]);
    });
  });

  describe.skipIf(!!umociSkip)('umoci', () => {
    it('umoci reads the extracted OCI view', async () => {
      const file = path.join(tmp, 'one.tar');
      await saveImages({ store, references: [alpine], output: file });
      const dir = path.join(tmp, 'extracted');
      await mkdir(dir);
      await run('tar', ['-xf', file, '-C', dir]);
      const { stdout } = await run('umoci', ['ls', '--layout', dir]);
      expect(stdout.trim()).toBe('docker.io/library/alpine:3.20.3');
      await run('umoci', ['stat', '--image', `${dir}:docker.io/library/alpine:3.20.3`]);
    });
  });
});
