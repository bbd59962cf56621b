// The image fixture builders (fixtures/images), checked by real tools: skopeo and umoci
// read what they write, a real registry accepts what they push, and the layer bytes
// are what the descriptors and diff_ids say.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_ACCEPT } from '@berth/oci';
import { makeTempDir, runChecked, seedImage, startRegistry, type RunningRegistry, type TempDir, toolsMissing } from '@berth/testing';
import { buildImage, FixtureMediaType, makeLargeImage, pushLayout, textChunks } from '../../fixtures/images/index.js';

const missing = toolsMissing(['docker-registry', 'skopeo']);
if (missing) console.warn(`skipping fixture checks against a real registry: ${missing}`);
const skopeoSkip = toolsMissing(['skopeo']);
const umociSkip = toolsMissing(['umoci']);

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('berth-fixtures-');
});
afterAll(async () => {
  await tmp?.cleanup();
});

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarEntries(gz: Buffer): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  const out = new Map<string, Buffer>();
  Readable.from([gz]).pipe(createGunzip()).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out.set(entry.header.name, Buffer.concat(chunks));
  }
  return out;
}

describe('buildImage', () => {
  it('writes a multi-platform OCI index with an attestation, whose blobs match their descriptors', async () => {
    const layout = path.join(tmp.path, 'multi');
    const built = await buildImage({
      layout,
      tag: 'v1',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
      layers: [{ files: [{ path: 'etc/hello', content: 'hi\n' }] }, { randomBytes: 10_000, compressibleBytes: 50_000 }],
      attestation: true,
    });
    expect(built.descriptor.mediaType).toBe(FixtureMediaType.oci.index);
    const index = JSON.parse((await readFile(path.join(layout, 'blobs/sha256', built.descriptor.digest.slice(7)))).toString());
    expect(index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(['amd64', 'arm64', 'unknown', 'unknown']);
    expect(index.manifests[2].annotations['vnd.docker.reference.type']).toBe('attestation-manifest');
    expect(index.manifests[2].annotations['vnd.docker.reference.digest']).toBe(built.images[0]?.descriptor.digest);
    // Each platform has its own content, and every blob hashes to its digest.
    expect(built.images[0]?.layers[1]?.descriptor.digest).not.toBe(built.images[1]?.layers[1]?.descriptor.digest);
    for (const img of built.images) {
      for (const layer of img.layers) {
        const blob = await readFile(path.join(layout, 'blobs/sha256', layer.descriptor.digest.slice(7)));
        expect(sha256(blob)).toBe(layer.descriptor.digest);
        expect(blob.length).toBe(layer.descriptor.size);
      }
      expect((img.config.rootfs as { diff_ids: string[] }).diff_ids).toEqual(img.layers.map((l) => l.diffId));
    }
    const first = built.images[0]?.layers[0];
    const entries = await tarEntries(await readFile(path.join(layout, 'blobs/sha256', first?.descriptor.digest.slice(7) ?? '')));
    expect([...entries.keys()]).toEqual(['etc/', 'etc/hello']);
    expect(entries.get('etc/hello')?.toString()).toBe('hi\n');
    const big = await tarEntries(await readFile(path.join(layout, 'blobs/sha256', built.images[0]?.layers[1]?.descriptor.digest.slice(7) ?? '')));
    expect(big.get('data/random-1.bin')?.length).toBe(10_000);
    expect(big.get('data/text-1.txt')?.length).toBe(50_000);
  });

  it.skipIf(!!skopeoSkip)('skopeo reads an OCI-format layout; the docker format uses docker media types throughout', async () => {
    const layout = path.join(tmp.path, 'formats');
    const oci = await buildImage({ layout, tag: 'oci' });
    const docker = await buildImage({ layout, tag: 'docker', format: 'docker' });
    const inspect = JSON.parse(await runChecked('skopeo', ['inspect', '--raw', `oci:${layout}:oci`], { doing: 'inspect' }));
    expect(inspect.mediaType).toBe(FixtureMediaType.oci.manifest);
    expect(sha256(Buffer.from(JSON.stringify(inspect)))).toBe(oci.descriptor.digest);
    // skopeo's oci: transport only looks up OCI media types in index.json, so docker-format
    // layouts reach a registry through pushLayout (tested below), not seedImage.
    const manifest = JSON.parse((await readFile(path.join(layout, 'blobs/sha256', docker.descriptor.digest.slice(7)))).toString());
    expect(manifest.mediaType).toBe(FixtureMediaType.docker.manifest);
    expect(manifest.config.mediaType).toBe(FixtureMediaType.docker.config);
    expect(manifest.layers[0].mediaType).toBe(FixtureMediaType.docker.layerGzip);
  });

  it.skipIf(!!umociSkip)('umoci unpacks a generated image and finds the files', async () => {
    const layout = path.join(tmp.path, 'umoci');
    await buildImage({ layout, tag: 't', layers: [{ files: [{ path: 'a/b.txt', content: 'one' }] }, { files: [{ path: 'a/c.txt', content: 'two' }] }] });
    const bundle = path.join(tmp.path, 'bundle');
    await runChecked('umoci', ['unpack', '--rootless', '--image', `${layout}:t`, bundle], { doing: 'umoci unpack' });
    expect(await readFile(path.join(bundle, 'rootfs/a/b.txt'), 'utf8')).toBe('one');
    expect(await readFile(path.join(bundle, 'rootfs/a/c.txt'), 'utf8')).toBe('two');
  });

  it('makeLargeImage splits the content over layers, mixing random and compressible bytes', async () => {
    const layout = path.join(tmp.path, 'large-small');
    const built = await makeLargeImage({ layout, layers: 3, totalBytes: 3 * 400_000, randomFraction: 0.5 });
    const layers = built.images[0]?.layers ?? [];
    expect(layers).toHaveLength(3);
    for (const l of layers) {
      // ~200 KB random (incompressible) + ~200 KB text (compresses a lot).
      expect(l.descriptor.size).toBeGreaterThan(200_000);
      expect(l.descriptor.size).toBeLessThan(330_000);
    }
    expect(built.layerBytes).toBe(layers.reduce((n, l) => n + l.descriptor.size, 0));
  });

  it('text content really is compressible and random content is not', async () => {
    const text = Buffer.concat([...textChunks(200_000, 42)]);
    expect(text.length).toBe(200_000);
    const { gzipSync } = await import('node:zlib');
    expect(gzipSync(text).length).toBeLessThan(text.length / 3);
  });
});

describe.skipIf(!!missing)('fixtures against a real registry', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pushLayout pushes a docker manifest list directly; the registry serves it byte for byte', async () => {
    const layout = path.join(tmp.path, 'direct');
    const built = await buildImage({
      layout,
      format: 'docker',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 's390x' },
      ],
    });
    const digest = await pushLayout({ url: registry.url, repository: 'fixtures/direct', layout, tag: 'latest' });
    expect(digest).toBe(built.descriptor.digest);
    const res = await fetch(`${registry.url}/v2/fixtures/direct/manifests/latest`, { headers: { Accept: MANIFEST_ACCEPT.join(', ') } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(FixtureMediaType.docker.index);
    expect(Buffer.from(await res.arrayBuffer()).equals(built.index?.bytes ?? Buffer.alloc(0))).toBe(true);
  });

  it('seedImage pushes a generated OCI index with attestation, digests preserved', async () => {
    const layout = path.join(tmp.path, 'seeded');
    const built = await buildImage({ layout, tag: 'x', attestation: true, platforms: [{ os: 'linux', architecture: 'riscv64' }] });
    const seeded = await seedImage({ registry, layout, tag: 'x', repository: 'fixtures/seeded' });
    expect(seeded.digest.toString()).toBe(built.descriptor.digest);
  });
});
