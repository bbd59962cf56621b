// Pulling real images (../shared/images, seeded into a real `docker-registry`) through
// a mirror configured in a BERTH_CONFIG file, so that `alpine` (docker.io/library/alpine)
// is served by the loopback registry exactly as Docker Hub would serve it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Digest, isBerthError, parsePlatform, Reference } from '@berth/oci';
import { INDEX_DIGEST_ANNOTATION, pullImage, type RegistryClient } from '@berth/registry';
import type { Store } from '@berth/store';
import {
  freePort,
  makeTempDir,
  runChecked,
  seedImage,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type RunningRegistry,
  type TempDir,
} from '@berth/testing';
import { buildImage, pushLayout } from '../../fixtures/images/index.js';
import { ALPINE, berthConfig, client, dockerConfig, freshStore, sharedImagesSkip, skopeoInspectRaw, umociSkip, verifyStoreBlobs } from '../helpers/registry.js';

const { images, skip } = sharedImagesSkip('pull integration tests');

describe.skipIf(!!skip)('pull through a mirror from a real registry', () => {
  let tmp: TempDir;
  let registry: RunningRegistry;
  /** The mirror as configured: a pass-through proxy, so the test sees every request. */
  let mirror: FaultProxy;
  let registryClient: RegistryClient;

  beforeAll(async () => {
    tmp = await makeTempDir('berth-pull-it-');
    registry = await startRegistry();
    const shared = images ?? '';
    await seedImage({ registry, layout: path.join(shared, 'alpine'), repository: 'library/alpine', tag: 'latest' });
    await seedImage({ registry, layout: path.join(shared, 'alpine'), repository: 'library/alpine', tag: '3.20.3' });
    await seedImage({ registry, layout: path.join(shared, 'busybox'), repository: 'library/busybox', tag: '1.38.0-musl' });
    mirror = await startFaultProxy({ target: registry.url });
    const cfg = await berthConfig(path.join(tmp.path, 'etc'), { 'docker.io': { mirrors: [mirror.url] } });
    expect(cfg.config.registries['docker.io']?.mirrors).toEqual([mirror.url]);
    registryClient = client({ config: cfg.config, dockerConfigDir: await dockerConfig(path.join(tmp.path, 'docker')) });
  });

  afterAll(async () => {
    await registryClient?.close();
    await mirror?.stop();
    await registry?.stop();
    await tmp?.cleanup();
  });

  it('`alpine` resolves to docker.io/library/alpine:latest and is served by the mirror', async () => {
    const store = await freshStore(tmp, 'by-name');
    const reference = Reference.parse('alpine');
    expect(reference.toString()).toBe('docker.io/library/alpine:latest');
    const before = mirror.log.length;
    const events: string[] = [];
    const result = await pullImage({
      client: registryClient,
      store,
      reference,
      platform: parsePlatform('linux/amd64'),
      onProgress: (e) => events.push(`${e.kind}:${e.status}`),
    });
    expect(result.descriptor.digest).toBe(ALPINE.amd64);
    expect(result.indexDigest?.toString()).toBe(ALPINE.index);
    expect(result.platform).toMatchObject({ os: 'linux', architecture: 'amd64' });
    expect(result.layersDownloaded).toBe(1);
    expect(result.config.config?.Cmd).toEqual(['/bin/sh']);
    expect(events).toContain('layer:done');
    // Every request went to the mirror, for the docker.io repository path.
    const seen = mirror.log.slice(before).map((e) => `${e.method} ${e.path} ${e.status}`);
    expect(seen).toContain(`GET /v2/library/alpine/manifests/latest 200`);
    expect(seen).toContain(`GET /v2/library/alpine/blobs/${ALPINE.amd64Layer} 200`);

    // Tagged under the full reference, pointing at the amd64 manifest with its platform and index.
    const tagged = await store.resolve(reference);
    expect(tagged).toMatchObject({ digest: ALPINE.amd64, platform: { os: 'linux', architecture: 'amd64' } });
    expect(tagged?.annotations?.[INDEX_DIGEST_ANNOTATION]).toBe(ALPINE.index);
    expect(await store.has(ALPINE.amd64Layer)).toBe(true);
    expect(await store.has(ALPINE.arm64Layer)).toBe(false);
    const blobs = await verifyStoreBlobs(store.root);
    expect(blobs.sort()).toEqual([ALPINE.amd64, ALPINE.amd64Layer, result.manifest.config.digest].sort());

    // A second pull downloads nothing.
    const again = await pullImage({ client: registryClient, store, reference, platform: parsePlatform('linux/amd64') });
    expect(again).toMatchObject({ layersDownloaded: 0, layersExisting: 1 });
  });

  it('pulls by tag: 3.20.3 is the same index as latest', async () => {
    const store = await freshStore(tmp, 'by-tag');
    const result = await pullImage({ client: registryClient, store, reference: Reference.parse('alpine:3.20.3'), platform: parsePlatform('linux/amd64') });
    expect(result.indexDigest?.toString()).toBe(ALPINE.index);
    expect((await store.resolve(Reference.parse('docker.io/library/alpine:3.20.3')))?.digest).toBe(ALPINE.amd64);
  });

  it('pulls by index digest and by manifest digest, tagging the digest reference', async () => {
    const store = await freshStore(tmp, 'by-digest');
    const byIndex = Reference.parse(`alpine@${ALPINE.index}`);
    const r1 = await pullImage({ client: registryClient, store, reference: byIndex, platform: parsePlatform('linux/arm64') });
    expect(r1.descriptor.digest).toBe(ALPINE.arm64);
    expect((await store.resolve(byIndex))?.digest).toBe(ALPINE.arm64);

    const byManifest = Reference.parse(`alpine@${ALPINE.amd64}`);
    const r2 = await pullImage({ client: registryClient, store, reference: byManifest });
    expect(r2.descriptor.digest).toBe(ALPINE.amd64);
    expect(r2.indexDigest).toBeUndefined();
    expect(r2.platform).toMatchObject({ os: 'linux', architecture: 'amd64' });
    expect((await store.resolve(byManifest))?.digest).toBe(ALPINE.amd64);
  });

  it('a digest the registry does not have is reported as unknown, not pulled', async () => {
    // Straight at the registry: through the docker.io mirror a 404 falls back to Docker Hub itself.
    const store = await freshStore(tmp, 'digest-missing');
    const missing = Reference.parse(`${registry.host}/library/alpine@sha256:${'ab'.repeat(32)}`);
    const err = await pullImage({ client: registryClient, store, reference: missing }).catch((e: unknown) => e);
    expect(isBerthError(err, 'ENOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/^pull 127\.0\.0\.1:\d+\/library\/alpine@sha256:(ab)+: .*manifest unknown/);
    expect(await store.listTags()).toEqual([]);
  });

  it('mirrors are tried in order: a dead one, one without the image, then the registry itself', async () => {
    const empty = await startRegistry();
    const emptyProxy = await startFaultProxy({ target: empty.url });
    const deadPort = await freePort();
    const mirrored = client({
      config: { registries: { [registry.host]: { mirrors: [`http://127.0.0.1:${deadPort}`, emptyProxy.url] } } },
      dockerConfigDir: path.join(tmp.path, 'docker'),
    });
    try {
      const store = await freshStore(tmp, 'mirror-order');
      const before = mirror.log.length;
      const result = await pullImage({ client: mirrored, store, reference: Reference.parse(`${registry.host}/library/alpine:latest`), platform: parsePlatform('linux/amd64') });
      expect(result.descriptor.digest).toBe(ALPINE.amd64);
      // The empty mirror was asked and said 404; the docker.io mirror was never involved.
      expect(emptyProxy.log.map((e) => `${e.method} ${e.path} ${e.status}`)).toContain('GET /v2/library/alpine/manifests/latest 404');
      expect(mirror.log.length).toBe(before);
      await verifyStoreBlobs(store.root);
    } finally {
      await mirrored.close();
      await emptyProxy.stop();
      await empty.stop();
    }
  });

  it('chooses the platform: linux/arm64 gets the arm64/v8 manifest', async () => {
    const store = await freshStore(tmp, 'arm64');
    for (const p of ['linux/arm64', 'linux/arm64/v8']) {
      const result = await pullImage({ client: registryClient, store, reference: Reference.parse('alpine'), platform: parsePlatform(p) });
      expect(result.descriptor.digest).toBe(ALPINE.arm64);
      expect(result.platform).toMatchObject({ os: 'linux', architecture: 'arm64', variant: 'v8' });
      expect(result.config.architecture).toBe('arm64');
    }
    expect(await store.has(ALPINE.arm64Layer)).toBe(true);
    expect(await store.has(ALPINE.attestation)).toBe(false);
  });

  it('a platform the index lacks fails listing the available ones (never the attestation)', async () => {
    const store = await freshStore(tmp, 'bad-platform');
    for (const p of ['linux/s390x', 'unknown/unknown']) {
      const err = await pullImage({ client: registryClient, store, reference: Reference.parse('alpine'), platform: parsePlatform(p) }).catch((e: unknown) => e);
      expect(isBerthError(err, 'ENO_MATCHING_PLATFORM')).toBe(true);
      const message = (err as Error).message;
      expect(message).toContain(`no matching manifest for ${p}`);
      expect(message).toMatch(/available: linux\/amd64, linux\/arm64\/v8\)$/);
      expect(message).not.toContain('unknown/unknown)');
    }
    expect(await store.listTags()).toEqual([]);
    expect(await verifyStoreBlobs(store.root)).toEqual([]);
  });

  it('never picks an attestation listed first in the index', async () => {
    const layout = path.join(tmp.path, 'att-first');
    const built = await buildImage({ layout, platforms: [{ os: 'linux', architecture: 'amd64' }], attestation: true, attestationPosition: 'first' });
    await pushLayout({ url: registry.url, repository: 'library/attfirst', layout });
    const store = await freshStore(tmp, 'att-first');
    const result = await pullImage({ client: registryClient, store, reference: Reference.parse('attfirst'), platform: parsePlatform('linux/amd64') });
    expect(result.descriptor.digest).toBe(built.images[0]?.descriptor.digest);
    expect(await store.has(built.attestations[0]?.digest ?? '')).toBe(false);
  });

  it('pulls docker schema 2 images (manifest list + v2 manifest)', async () => {
    const layout = path.join(tmp.path, 'docker-format');
    const built = await buildImage({
      layout,
      format: 'docker',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ],
      layers: [{ randomBytes: 100_000 }, { compressibleBytes: 300_000 }],
    });
    await pushLayout({ url: registry.url, repository: 'library/dockerfmt', layout });
    const store = await freshStore(tmp, 'docker-format');
    const result = await pullImage({ client: registryClient, store, reference: Reference.parse('dockerfmt'), platform: parsePlatform('linux/arm/v7') });
    const arm = built.images[1];
    expect(result.descriptor.digest).toBe(arm?.descriptor.digest);
    expect(result.descriptor.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(result.layersDownloaded).toBe(2);
    for (const l of arm?.layers ?? []) expect(await store.has(l.descriptor.digest)).toBe(true);
    await verifyStoreBlobs(store.root);
  });

  it('busybox (a real Docker Official Image) pulls too', async () => {
    const store = await freshStore(tmp, 'busybox');
    const result = await pullImage({ client: registryClient, store, reference: Reference.parse('busybox:1.38.0-musl'), platform: parsePlatform('linux/arm64') });
    expect(result.platform.architecture).toBe('arm64');
    expect(result.manifest.layers.length).toBeGreaterThan(0);
    await verifyStoreBlobs(store.root);
  });

  describe('the store is a layout other tools read', () => {
    let store: Store;
    beforeAll(async () => {
      store = await freshStore(tmp, 'cross-check');
      await pullImage({ client: registryClient, store, reference: Reference.parse('alpine'), platform: parsePlatform('linux/amd64') });
    });

    it('skopeo inspect oci:<store>:docker.io/library/alpine:latest sees the amd64 manifest', async () => {
      const raw = await skopeoInspectRaw(store.root, 'docker.io/library/alpine:latest');
      expect(Digest.of(raw).toString()).toBe(ALPINE.amd64);
      const info = JSON.parse(await runChecked('skopeo', ['--insecure-policy', 'inspect', `oci:${store.root}:docker.io/library/alpine:latest`], { doing: 'skopeo inspect' }));
      expect(info.Architecture).toBe('amd64');
      expect(info.Layers).toEqual([ALPINE.amd64Layer]);
    });

    it.skipIf(!!umociSkip)('umoci unpacks it into a root filesystem', async () => {
      const bundle = path.join(tmp.path, 'bundle');
      await runChecked('umoci', ['unpack', '--rootless', '--image', `${store.root}:docker.io/library/alpine:latest`, bundle], { doing: 'umoci unpack' });
      expect(await readFile(path.join(bundle, 'rootfs/etc/alpine-release'), 'utf8')).toBe('3.20.3\n');
    });
  });
});
