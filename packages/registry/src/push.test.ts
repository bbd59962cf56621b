import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError, MediaType, Reference, encodeJson, type Descriptor } from '@berth/oci';
import type { Store } from '@berth/store';
import { RegistryClient } from './client.js';
import { StaticCredentials } from './credentials.js';
import { pushImage, type PushProgressEvent } from './push.js';
import { FakeRegistry, sha256 } from './test-support/fake-registry.js';
import { tempStore } from './test-support/images.js';
import { failure } from './test-support/failure.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(init?: Parameters<typeof FakeRegistry.start>[0], creds: Record<string, { username: string; password: string }> = {}) {
  const reg = await FakeRegistry.start(init);
  const { store, cleanup } = await tempStore();
  const client = new RegistryClient({
    credentials: new StaticCredentials(Object.fromEntries(Object.entries(creds).map(([k, v]) => [k === 'REG' ? reg.host : k, v]))),
    retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 },
  });
  cleanups.push(cleanup, () => reg.close(), () => client.close());
  return { reg, store, client, ref: (s: string) => Reference.parse(`${reg.host}/${s}`) };
}

interface StoredTestImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  data: Map<string, Buffer>;
}

/** Write an image straight into the store and tag it. */
async function storeImage(store: Store, ref: Reference | undefined, layerSizes: number[], arch = 'amd64'): Promise<StoredTestImage> {
  const data = new Map<string, Buffer>();
  const layers: Descriptor[] = [];
  for (const n of layerSizes) {
    const b = randomBytes(n);
    const { digest } = await store.putBlob(b);
    layers.push({ mediaType: MediaType.OciLayerGzip, digest: digest.toString(), size: n });
    data.set(digest.toString(), b);
  }
  const cfg = encodeJson({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } });
  const c = await store.putBlob(cfg);
  const config = { mediaType: MediaType.OciConfig, digest: c.digest.toString(), size: cfg.length };
  data.set(config.digest, cfg);
  const mbytes = encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers });
  const m = await store.putBlob(mbytes);
  const manifest = { mediaType: MediaType.OciManifest, digest: m.digest.toString(), size: mbytes.length };
  if (ref) await store.setTag(ref, manifest);
  return { manifest, config, layers, data };
}

function blobsOf(img: StoredTestImage): Descriptor[] {
  return [img.config, ...img.layers];
}

describe('pushImage', () => {
  it('uploads missing blobs monolithically (POST, PUT ?digest=), then the manifest under the tag', async () => {
    const { reg, store, client, ref } = await setup();
    const img = await storeImage(store, ref('app:v1'), [3000, 7000]);
    const events: PushProgressEvent[] = [];
    const r = await pushImage({ client, store, source: ref('app:v1'), destination: ref('pushed:v2'), onProgress: (e) => events.push(e) });
    expect(r).toEqual({ digest: expect.anything(), size: img.manifest.size });
    expect(r.digest.toString()).toBe(img.manifest.digest);
    for (const b of blobsOf(img)) {
      expect(reg.hasBlob('pushed', b.digest)).toBe(true);
      expect(reg.blobs.get(b.digest)?.equals(img.data.get(b.digest) as Buffer)).toBe(true);
    }
    expect(reg.manifests.get('pushed@v2')?.bytes.equals(await store.readBlob(img.manifest.digest))).toBe(true);
    expect(reg.manifests.get('pushed@v2')?.mediaType).toBe(MediaType.OciManifest);
    // Per blob: HEAD 404, POST, PUT with the digest; the manifest PUT comes after every blob PUT.
    const seq = reg.requests.filter((q) => q.url !== '/v2/').map((q) => `${q.method} ${q.url.replace(/\?.*$/, '')}`);
    expect(seq.filter((s) => s.startsWith('POST'))).toHaveLength(3);
    expect(seq.filter((s) => s.startsWith('PATCH'))).toHaveLength(0);
    const puts = reg.requests.filter((q) => q.method === 'PUT' && q.url.includes('/blobs/uploads/'));
    expect(puts.map((q) => new URL(q.url, reg.url).searchParams.get('digest')).sort()).toEqual(blobsOf(img).map((b) => b.digest).sort());
    expect(seq.at(-1)).toBe('PUT /v2/pushed/manifests/v2');
    expect(events.filter((e) => e.status === 'pushed')).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({ kind: 'manifest', status: 'done' });
  });

  it('skips blobs the registry has (HEAD 200): no uploads at all', async () => {
    const { reg, store, client, ref } = await setup();
    await storeImage(store, ref('app:v1'), [1000, 2000]);
    await pushImage({ client, store, source: ref('app:v1'), destination: ref('app:v1') });
    const n = reg.requests.length;
    const events: PushProgressEvent[] = [];
    await pushImage({ client, store, source: ref('app:v1'), destination: ref('app:v1'), onProgress: (e) => events.push(e) });
    const again = reg.requests.slice(n);
    expect(again.filter((q) => q.method === 'POST' || q.method === 'PATCH')).toEqual([]);
    expect(again.filter((q) => q.method === 'HEAD')).toHaveLength(3);
    expect(events.filter((e) => e.status === 'exists')).toHaveLength(3);
  });

  it('mounts blobs from the source repository of the same registry (201)', async () => {
    const { reg, store, client, ref } = await setup();
    const img = await storeImage(store, ref('src:v1'), [1000, 2000]);
    await pushImage({ client, store, source: ref('src:v1'), destination: ref('src:v1') });
    const n = reg.requests.length;
    const events: PushProgressEvent[] = [];
    await pushImage({ client, store, source: ref('src:v1'), destination: ref('dst:v1'), onProgress: (e) => events.push(e) });
    const posts = reg.requests.slice(n).filter((q) => q.method === 'POST');
    expect(posts).toHaveLength(3);
    for (const p of posts) {
      const u = new URL(p.url, reg.url);
      expect(u.searchParams.get('from')).toBe('src');
      expect(blobsOf(img).map((b) => b.digest)).toContain(u.searchParams.get('mount'));
    }
    expect(reg.requests.slice(n).filter((q) => q.method === 'PUT' && q.url.includes('/blobs/'))).toEqual([]);
    expect(events.filter((e) => e.status === 'mounted')).toHaveLength(3);
    expect(reg.manifests.has('dst@v1')).toBe(true);
  });

  it('falls back to uploading at the Location a refused mount returned (202)', async () => {
    const { reg, store, client, ref } = await setup();
    const img = await storeImage(store, ref('src:v1'), [1500]);
    // src is not in the registry: the mount cannot happen.
    await pushImage({ client, store, source: ref('src:v1'), destination: ref('dst:v1') });
    const posts = reg.requests.filter((q) => q.method === 'POST');
    expect(posts).toHaveLength(2);
    expect(posts.every((p) => p.url.includes('mount='))).toBe(true);
    for (const b of blobsOf(img)) expect(reg.hasBlob('dst', b.digest)).toBe(true);
  });

  it('uploads large blobs in PATCH chunks with Content-Range, then a closing PUT', async () => {
    const { reg, store, client, ref } = await setup();
    const img = await storeImage(store, ref('app:v1'), [200 * 1024]);
    await pushImage({ client, store, source: ref('app:v1'), destination: ref('big:v1'), chunkSize: 64 * 1024 });
    const layer = img.layers[0] as Descriptor;
    expect(reg.blobs.get(layer.digest)?.equals(img.data.get(layer.digest) as Buffer)).toBe(true);
    const patches = reg.requests.filter((q) => q.method === 'PATCH');
    expect(patches.map((p) => p.headers['content-range'])).toEqual(['0-65535', '65536-131071', '131072-196607', '196608-204799']);
    expect(patches.every((p) => p.headers['content-type'] === 'application/octet-stream')).toBe(true);
    const closing = reg.requests.filter((q) => q.method === 'PUT' && q.url.includes(`digest=${encodeURIComponent(layer.digest)}`));
    expect(closing).toHaveLength(1);
    expect(closing[0]?.headers['content-length']).toBe('0');
  });

  it('resumes a chunked upload from the offset the registry reports after a failed PATCH', async () => {
    const { reg, store, client, ref } = await setup();
    const img = await storeImage(store, ref('app:v1'), [150 * 1024]);
    let patches = 0;
    reg.intercept = (req, res) => {
      if (req.method !== 'PATCH' || ++patches !== 2) return false;
      reg.error(res, 503, 'UNAVAILABLE', 'try again');
      return true;
    };
    await pushImage({ client, store, source: ref('app:v1'), destination: ref('big:v1'), chunkSize: 64 * 1024 });
    const layer = img.layers[0] as Descriptor;
    expect(reg.blobs.get(layer.digest)?.equals(img.data.get(layer.digest) as Buffer)).toBe(true);
    const ranges = reg.requests.filter((q) => q.method === 'PATCH').map((p) => p.headers['content-range']);
    expect(ranges).toEqual(['0-65535', '65536-131071', '65536-131071', '131072-153599']);
    expect(reg.requests.filter((q) => q.method === 'GET' && q.url.includes('/blobs/uploads/'))).toHaveLength(1);
  });

  it('asks for pull,push tokens (and pull on the mount source) under bearer auth', async () => {
    const { reg, store, client, ref } = await setup({ auth: { kind: 'bearer', users: { u: 'p' } } }, { REG: { username: 'u', password: 'p' } });
    await storeImage(store, ref('src:v1'), [500]);
    await pushImage({ client, store, source: ref('src:v1'), destination: ref('dst:v1') });
    const scopes = reg.tokenRequests.map((t) => new URL(t.url, reg.url).searchParams.getAll('scope').sort().join(' '));
    expect(scopes).toContain('repository:dst:pull,push');
    expect(scopes).toContain('repository:dst:pull,push repository:src:pull');
    expect(reg.manifests.has('dst@v1')).toBe(true);
  });

  it('pushes an index: each child manifest by digest first, then the index under the tag', async () => {
    const { reg, store, client, ref } = await setup();
    const amd = await storeImage(store, undefined, [800], 'amd64');
    const arm = await storeImage(store, undefined, [900], 'arm64');
    const ibytes = encodeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    });
    const i = await store.putBlob(ibytes);
    await store.setTag(ref('multi:v1'), { mediaType: MediaType.OciIndex, digest: i.digest.toString(), size: ibytes.length });
    const r = await pushImage({ client, store, source: ref('multi:v1'), destination: ref('multi:v1') });
    expect(r.digest.toString()).toBe(sha256(ibytes));
    const manifestPuts = reg.requests.filter((q) => q.method === 'PUT' && q.url.includes('/manifests/')).map((q) => q.url);
    expect(manifestPuts).toEqual([`/v2/multi/manifests/${amd.manifest.digest}`, `/v2/multi/manifests/${arm.manifest.digest}`, '/v2/multi/manifests/v1']);
  });

  it('an image not in the store: EIMAGE_UNKNOWN naming it', async () => {
    const { store, client, ref } = await setup();
    const err = await pushImage({ client, store, source: ref('nope:v1'), destination: ref('nope:v1') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('EIMAGE_UNKNOWN');
    expect((err as Error).message).toMatch(/^push .*\/nope:v1: no such image in the store: /);
  });

  it('registry refusals are one line naming the push', async () => {
    const { reg, store, client, ref } = await setup();
    await storeImage(store, ref('app:v1'), [100]);
    reg.intercept = (req, res) => {
      if (req.method !== 'PUT' || !req.url?.includes('/manifests/')) return false;
      reg.error(res, 400, 'MANIFEST_INVALID', 'manifest invalid');
      return true;
    };
    const err = await pushImage({ client, store, source: ref('app:v1'), destination: ref('app:v1') }).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('EREGISTRY');
    expect((err as Error).message).toBe(`push ${reg.host}/app:v1: manifest invalid`);
  });
});

describe('uploadBlob and mountBlob', () => {
  it('mountBlob says false and cancels the upload the registry opened instead', async () => {
    const { reg, client, ref } = await setup();
    const d = reg.addBlob('elsewhere', 'x').digest;
    expect(await client.mountBlob({ reference: ref('dst:v1'), digest: d, fromRepository: 'nowhere' })).toBe(false);
    expect(reg.requests.filter((q) => q.method === 'DELETE')).toHaveLength(1);
    expect(reg.uploads.size).toBe(0);
    expect(await client.mountBlob({ reference: ref('dst:v1'), digest: d, fromRepository: 'elsewhere' })).toBe(true);
    expect(reg.hasBlob('dst', d)).toBe(true);
  });

  it('retries: 4 against a registry that always answers 503 to POST sends exactly 5 POSTs', async () => {
    const { reg, ref } = await setup();
    const client = new RegistryClient({ credentials: new StaticCredentials({}), retry: { retries: 4, minDelayMs: 1, maxDelayMs: 2 } });
    cleanups.push(() => client.close());
    reg.intercept = (req, res) => {
      if (req.method !== 'POST') return false;
      reg.error(res, 503, 'UNAVAILABLE', 'service unavailable');
      return true;
    };
    const data = randomBytes(1000);
    const err = await failure(client.uploadBlob({ reference: ref('app'), descriptor: { mediaType: 'x', digest: sha256(data), size: data.length }, open: () => Readable.from([data]) }));
    expect(reg.requests.filter((q) => q.method === 'POST')).toHaveLength(5);
    expect(err.code).toBe('EREGISTRY');
    expect(err.message).toMatch(/: unavailable: service unavailable \(5 attempts\)$/);
  });

  it('a PATCH that fails twice resumes from the registry\'s Range within one retry budget', async () => {
    const { reg, client, ref } = await setup();
    const data = randomBytes(150 * 1024);
    let patches = 0;
    reg.intercept = (req, res) => {
      if (req.method !== 'PATCH' || ![2, 3].includes(++patches)) return false;
      reg.error(res, 503, 'UNAVAILABLE', 'try again');
      return true;
    };
    const digest = sha256(data);
    const result = await client.uploadBlob({ reference: ref('big'), descriptor: { mediaType: 'x', digest, size: data.length }, chunkSize: 64 * 1024, open: (o) => Readable.from([data.subarray(o)]) });
    expect(result).toBe('uploaded');
    expect(reg.blobs.get(digest)?.equals(data)).toBe(true);
    // One session: no second POST; each failure asked for the upload's status once.
    expect(reg.requests.filter((q) => q.method === 'POST')).toHaveLength(1);
    expect(reg.requests.filter((q) => q.method === 'GET' && q.url.includes('/blobs/uploads/'))).toHaveLength(2);
  });

  it('local content shorter than the descriptor fails the upload instead of sending garbage', async () => {
    const { reg, client, ref } = await setup();
    const data = randomBytes(1000);
    const err = await client
      .uploadBlob({ reference: ref('x:v1'), descriptor: { mediaType: 'x', digest: sha256(data), size: 1000 }, open: () => Readable.from([data.subarray(0, 500)]) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(reg.hasBlob('x', sha256(data))).toBe(false);
  });
});
