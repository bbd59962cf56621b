import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Digest, MediaType, Reference } from '@berth/oci';
import { copyImage, storeSink, storeSource } from '@berth/image';
import { RegistryClient } from './client.js';
import { StaticCredentials } from './credentials.js';
import { registrySource } from './source.js';
import { FakeRegistry } from './test-support/fake-registry.js';
import { addImage, tempStore } from './test-support/images.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const reg = await FakeRegistry.start();
  const client = new RegistryClient({ credentials: new StaticCredentials({}), retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 } });
  cleanups.push(() => reg.close(), () => client.close());
  return { reg, client };
}

async function drain(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('registrySource', () => {
  it('resolves a tag to the manifest bytes and descriptor, and streams a blob from an offset (a Range request)', async () => {
    const { reg, client } = await setup();
    const data = randomBytes(70_000);
    const img = addImage(reg, 'app', ['v1'], { layers: [data] });
    const ranges: string[] = [];
    reg.intercept = async (req) => {
      if (req.url?.includes('/blobs/') && req.headers.range) ranges.push(req.headers.range);
      return false;
    };
    const src = registrySource(client);
    const ref = Reference.parse(`${reg.host}/app:v1`);
    const m = await src.resolve(ref);
    expect(m.descriptor).toEqual({ mediaType: MediaType.OciManifest, digest: img.manifest.digest, size: img.manifest.size });
    expect(Digest.of(m.bytes).toString()).toBe(img.manifest.digest);
    const layer = img.layers[0] as (typeof img.layers)[number];
    expect(await drain(await src.openBlob(ref, layer))).toEqual(data);
    expect(await drain(await src.openBlob(ref, layer, { start: 1000 }))).toEqual(data.subarray(1000));
    expect(ranges).toEqual(['bytes=1000-']);
  });

  it('round trip: registry → store → a second store through copyImage, digests kept', async () => {
    const { reg, client } = await setup();
    const img = addImage(reg, 'app', ['v1']);
    const ref = Reference.parse(`${reg.host}/app:v1`);
    const a = await tempStore();
    const b = await tempStore();
    cleanups.push(a.cleanup, b.cleanup);
    const first = await copyImage(registrySource(client), storeSink(a.store), { reference: ref });
    const second = await copyImage(storeSource(a.store), storeSink(b.store), { reference: ref });
    expect(first.descriptor.digest).toBe(img.manifest.digest);
    expect(second.descriptor).toEqual(first.descriptor);
    expect((await b.store.resolve(ref))?.digest).toBe(img.manifest.digest);
    for (const d of [img.config, ...img.layers]) expect(await b.store.has(d.digest)).toBe(true);
  });
});
