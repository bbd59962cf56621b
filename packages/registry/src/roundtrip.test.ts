import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Digest, Reference, parseManifest } from '@berth/oci';
import { copyImage, storeSink, storeSource } from '@berth/image';
import { layoutSink, layoutSource } from '@berth/archive';
import { RegistryClient } from './client.js';
import { StaticCredentials } from './credentials.js';
import { registrySink, registrySource } from './source.js';
import { FakeRegistry } from './test-support/fake-registry.js';
import { addImage, tempStore } from './test-support/images.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('copyImage through every kind of source and sink', () => {
  it('registry → store → OCI layout directory → registry (another repository): the same digests all the way', async () => {
    const reg = await FakeRegistry.start();
    const client = new RegistryClient({ credentials: new StaticCredentials({}), retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 } });
    const { store, cleanup } = await tempStore();
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-roundtrip-'));
    cleanups.push(cleanup, () => reg.close(), () => client.close(), () => rm(dir, { recursive: true, force: true }));
    const img = addImage(reg, 'app', ['v1']);
    const from = Reference.parse(`${reg.host}/app:v1`);
    const to = Reference.parse(`${reg.host}/copy:v2`);

    const pulled = await copyImage(registrySource(client), storeSink(store), { reference: from });
    await copyImage(storeSource(store), layoutSink(dir), { reference: from });
    const pushed = await copyImage(layoutSource(dir), registrySink(client), { reference: from, destination: to });

    expect(pulled.descriptor.digest).toBe(img.manifest.digest);
    expect(pushed.descriptor.digest).toBe(img.manifest.digest);
    const back = await registrySource(client).resolve(to);
    expect(back.descriptor.digest).toBe(img.manifest.digest);
    const manifest = parseManifest(back.bytes);
    for (const d of [manifest.config, ...manifest.layers]) {
      const chunks: Buffer[] = [];
      for await (const c of await registrySource(client).openBlob(to, d)) chunks.push(c as Buffer);
      expect(Digest.of(Buffer.concat(chunks)).toString()).toBe(d.digest);
    }
  });
});
