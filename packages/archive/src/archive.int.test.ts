// save and load against skopeo and umoci (host tools): the archives they read and write.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reference } from '@berth/oci';
import { copyImage } from '@berth/image';
import { Store } from '@berth/store';
import { toolsMissing } from '@berth/testing';
import { loadImages } from './load.js';
import { saveImages } from './save.js';
import { layoutSource } from './layout.js';
import { archiveSink } from './sink.js';

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

    it("skopeo copies berth's oci-archive of a whole index (--all) and berth's OCI layout directory, digests unchanged", async () => {
      const ref = Reference.parse('docker.io/library/alpine:3.20.3');
      const file = path.join(tmp, 'all.tar');
      const sink = archiveSink({ format: 'oci-archive', output: file });
      const r = await copyImage(layoutSource(path.join(images, 'alpine')), sink, { reference: ref, platforms: 'all' });
      await sink.close();
      await run('skopeo', ['copy', '--quiet', '--all', `oci-archive:${file}:${ref}`, `oci:${path.join(tmp, 'sk-all')}:all`]);
      const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${path.join(tmp, 'sk-all')}:all`]);
      const original = JSON.parse(await readFile(path.join(images, 'alpine', 'blobs', 'sha256', r.descriptor.digest.slice('sha256:'.length)), 'utf8')) as { manifests: Array<{ digest: string }> };
      expect(JSON.parse(stdout).manifests.map((m: { digest: string }) => m.digest)).toEqual(original.manifests.map((m) => m.digest));
      const { stdout: digest } = await run('skopeo', ['manifest-digest', path.join(tmp, 'sk-all', 'blobs', 'sha256', r.descriptor.digest.slice('sha256:'.length))]);
      expect(digest.trim()).toBe(r.descriptor.digest);

      const dir = path.join(tmp, 'berth-layout');
      await saveImages({ store, references: [alpine], output: dir, format: 'oci' });
      await run('skopeo', ['copy', '--quiet', `oci:${dir}:docker.io/library/alpine:3.20.3`, `oci:${path.join(tmp, 'sk-layout')}:z`]);
      const { stdout: raw } = await run('skopeo', ['inspect', '--raw', `oci:${path.join(tmp, 'sk-layout')}:z`]);
      expect(JSON.parse(raw).config.digest).toBe((await store.getImage(alpine)).configDescriptor.digest);
    });

    it("loads skopeo's docker-archive from a stream (stdin), gzip-compressed", async () => {
      const plain = path.join(tmp, 'skopeo-stdin.tar');
      await run('skopeo', ['copy', '--quiet', `oci:${path.join(images, 'busybox')}:1.38.0-musl`, `docker-archive:${plain}:busybox:stdin`]);
      const gz = path.join(tmp, 'skopeo-stdin.tar.gz');
      await pipeline(createReadStream(plain), zlib.createGzip(), createWriteStream(gz));
      const target = await Store.open({ root: path.join(tmp, 'from-stdin') });
      const d = await loadImages({ store: target, input: createReadStream(gz) });
      expect(d.map((l) => [l.format, l.reference?.toString()])).toEqual([['docker', 'docker.io/library/busybox:stdin']]);
      const { stdout } = await run('skopeo', ['inspect', '--config', '--raw', `docker-archive:${plain}`]);
      expect((await target.getImage('busybox:stdin')).configDescriptor.digest).toBe(`sha256:${createHash('sha256').update(stdout).digest('hex')}`);
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
