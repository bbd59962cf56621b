import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Reference, type Descriptor } from '@berth/oci';
import type { ServerResponse } from 'node:http';
import { RegistryClient } from './client.js';
import { StaticCredentials } from './credentials.js';
import { INDEX_DIGEST_ANNOTATION, pullImage, type PullProgressEvent } from './pull.js';
import { FakeRegistry } from './test-support/fake-registry.js';
import { addImage, addIndex, loadLayout, sharedImagesDir, tempStore } from './test-support/images.js';
import { failure } from './test-support/failure.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(auth?: Parameters<typeof FakeRegistry.start>[0]) {
  const reg = await FakeRegistry.start(auth);
  const { store, cleanup } = await tempStore();
  const client = new RegistryClient({ credentials: new StaticCredentials({}), retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 } });
  cleanups.push(cleanup, () => reg.close(), () => client.close());
  return { reg, store, client, ref: (s: string) => Reference.parse(`${reg.host}/${s}`) };
}

function multiArch(reg: FakeRegistry) {
  const amd = addImage(reg, 'app', [], { platform: { os: 'linux', architecture: 'amd64' } });
  const arm = addImage(reg, 'app', [], { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  const index = addIndex(reg, 'app', ['v1'], [
    { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
    { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
  return { amd, arm, index };
}

describe('pullImage', () => {
  it('narrows an index to the platform, stores config, layers and manifest, and tags the manifest', async () => {
    const { reg, store, client, ref } = await setup();
    const { arm, index } = multiArch(reg);
    const events: PullProgressEvent[] = [];
    const r = await pullImage({ client, store, reference: ref('app:v1'), platform: { os: 'linux', architecture: 'arm64' }, onProgress: (e) => events.push(e) });
    expect(r.indexDigest?.toString()).toBe(index.digest);
    expect(r.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(r.layersDownloaded).toBe(2);
    expect(r.layersExisting).toBe(0);
    expect(r.config.architecture).toBe('arm64');
    const expected: Descriptor = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: arm.manifest.digest,
      size: arm.manifest.size,
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      annotations: { [INDEX_DIGEST_ANNOTATION]: index.digest },
    };
    expect(r.descriptor).toEqual(expected);
    const tagged = await store.resolve(ref('app:v1'));
    expect(tagged).toMatchObject(expected);
    for (const [i, l] of arm.layers.entries()) expect((await store.readBlob(l.digest)).equals(arm.layerData[i] as Buffer)).toBe(true);
    expect(await store.has(index.digest)).toBe(false);
    const img = await store.getImage(ref('app:v1'), { platform: { os: 'linux', architecture: 'arm64' } });
    expect(img.descriptor.digest).toBe(arm.manifest.digest);
    // Progress: every layer waited, was downloaded and finished; the manifest came last.
    for (const l of arm.layers) {
      const id = l.digest.slice(7, 19);
      const statuses = events.filter((e) => e.id === id).map((e) => e.status);
      expect(statuses[0]).toBe('waiting');
      expect(statuses).toContain('downloading');
      expect(statuses.at(-1)).toBe('done');
    }
    expect(events.at(-1)).toMatchObject({ kind: 'manifest', status: 'done', id: arm.manifest.digest.slice(7, 19) });
  });

  it('does not fetch blobs the store already has', async () => {
    const { reg, store, client, ref } = await setup();
    const { amd } = multiArch(reg);
    await pullImage({ client, store, reference: ref('app:v1'), platform: { os: 'linux', architecture: 'amd64' } });
    const before = reg.hits('GET', '/v2/app/blobs/').length;
    const events: PullProgressEvent[] = [];
    const r = await pullImage({ client, store, reference: ref('app:v1'), platform: { os: 'linux', architecture: 'amd64' }, onProgress: (e) => events.push(e) });
    expect(r.layersDownloaded).toBe(0);
    expect(r.layersExisting).toBe(2);
    expect(reg.hits('GET', '/v2/app/blobs/').length).toBe(before);
    expect(events.filter((e) => e.status === 'exists').map((e) => e.kind).sort()).toEqual(['config', 'layer', 'layer']);
    expect(r.descriptor.digest).toBe(amd.manifest.digest);
  });

  it('lists the available platforms when none matches', async () => {
    const { reg, store, client, ref } = await setup();
    multiArch(reg);
    const err = await failure(pullImage({ client, store, reference: ref('app:v1'), platform: { os: 'linux', architecture: 's390x' } }));
    expect(err.code).toBe('ENO_MATCHING_PLATFORM');
    expect(err.message).toBe(`pull ${reg.host}/app:v1: no matching manifest for linux/s390x in the manifest list entries (available: linux/amd64, linux/arm64/v8)`);
    expect(await store.resolve(ref('app:v1'))).toBeUndefined();
  });

  it('checks a single-platform image against an explicit platform', async () => {
    const { reg, store, client, ref } = await setup();
    addImage(reg, 'single', ['v1'], { platform: { os: 'linux', architecture: 'amd64' } });
    const err = await failure(pullImage({ client, store, reference: ref('single:v1'), platform: { os: 'linux', architecture: 'arm64' } }));
    expect(err.code).toBe('ENO_MATCHING_PLATFORM');
    expect(err.message).toMatch(/the image is linux\/amd64, which does not match the requested platform linux\/arm64\/v8$/);
    const r = await pullImage({ client, store, reference: ref('single:v1'), platform: { os: 'linux', architecture: 'amd64' } });
    expect(r.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(r.indexDigest).toBeUndefined();
    expect(r.descriptor.annotations).toBeUndefined();
  });

  it('pulls by digest: verifies it and tags the digest reference', async () => {
    const { reg, store, client, ref } = await setup();
    const { index, amd } = multiArch(reg);
    const byDigest = ref(`app@${index.digest}`);
    const r = await pullImage({ client, store, reference: byDigest, platform: { os: 'linux', architecture: 'amd64' } });
    expect(r.reference.toString()).toBe(`${reg.host}/app@${index.digest}`);
    expect((await store.resolve(byDigest))?.digest).toBe(amd.manifest.digest);
    expect(await store.resolve(ref('app:v1'))).toBeUndefined();
    // A registry that serves other bytes for the digest is caught.
    reg.intercept = (req, res) => {
      if (req.url !== `/v2/app/manifests/${index.digest}`) return false;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(amd.manifest.bytes);
      return true;
    };
    const err = await failure(pullImage({ client, store, reference: byDigest }));
    expect(err.code).toBe('EDIGEST_MISMATCH');
  });

  it('downloads layers at most maxConcurrentDownloads at a time', async () => {
    const { reg, store, client, ref } = await setup();
    const img = addImage(reg, 'many', ['v1'], { layers: Array.from({ length: 6 }, () => randomBytes(2000)) });
    const layerPaths = new Set(img.layers.map((l) => `/v2/many/blobs/${l.digest}`));
    let inFlight = 0;
    let max = 0;
    let held: Array<() => void> = [];
    reg.intercept = (req, res: ServerResponse) => {
      if (req.method !== 'GET' || !layerPaths.has(req.url ?? '')) return false;
      inFlight++;
      max = Math.max(max, inFlight);
      res.on('finish', () => inFlight--);
      const data = reg.blobs.get((req.url ?? '').split('/').at(-1) ?? '') as Buffer;
      // A barrier: answer only once two downloads wait, so a sequential client would hang.
      held.push(() => res.writeHead(200, { 'content-length': String(data.length) }).end(data));
      if (held.length === 2) {
        const go = held;
        held = [];
        for (const g of go) g();
      }
      return true;
    };
    const r = await pullImage({ client, store, reference: ref('many:v1'), maxConcurrentDownloads: 2 });
    expect(r.layersDownloaded).toBe(6);
    expect(max).toBe(2);
  });

  it('fetches the config alongside the layers when an index chose the manifest, and before them for a single manifest', async () => {
    const { reg, store, client, ref } = await setup();
    const { amd } = multiArch(reg);
    const single = addImage(reg, 'single', ['v1'], { platform: { os: 'linux', architecture: 'amd64' } });
    const order: string[] = [];
    let releaseConfig: (() => void) | undefined;
    reg.intercept = (req, res: ServerResponse) => {
      const digest = (req.url ?? '').split('/blobs/')[1];
      if (req.method !== 'GET' || !digest) return false;
      const kind = digest === amd.config.digest || digest === single.config.digest ? 'config' : 'layer';
      order.push(`${kind} requested`);
      const data = reg.blobs.get(digest) as Buffer;
      const answer = () => {
        order.push(`${kind} answered`);
        res.writeHead(200, { 'content-length': String(data.length) }).end(data);
      };
      if (kind === 'config' && req.url?.startsWith('/v2/app/') && !order.includes('layer requested')) {
        // Held until a layer is requested (or 2 s, so a client that waits for the config still finishes and the order shows it).
        const timer = setTimeout(() => releaseConfig?.(), 2_000);
        releaseConfig = () => {
          clearTimeout(timer);
          releaseConfig = undefined;
          answer();
        };
      } else {
        if (kind === 'layer') releaseConfig?.();
        answer();
      }
      return true;
    };
    await pullImage({ client, store, reference: ref('app:v1'), platform: { os: 'linux', architecture: 'amd64' } });
    // Which request reaches the server first is a race; a layer is asked for before the config is answered.
    expect(order.indexOf('layer requested')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('layer requested')).toBeLessThan(order.indexOf('config answered'));
    order.length = 0;
    await pullImage({ client, store, reference: ref('single:v1'), platform: { os: 'linux', architecture: 'amd64' } });
    expect(order.slice(0, 3)).toEqual(['config requested', 'config answered', 'layer requested']);
  });

  it('a missing layer fails the pull with its digest and the registry words; nothing is tagged', async () => {
    const { reg, store, client, ref } = await setup();
    const img = addImage(reg, 'broken', ['v1']);
    const missing = img.layers[1] as Descriptor;
    reg.repoBlobs.get('broken')?.delete(missing.digest);
    const err = await failure(pullImage({ client, store, reference: ref('broken:v1') }));
    expect(err.code).toBe('ENOT_FOUND');
    expect(err.message).toBe(`pull ${reg.host}/broken:v1: layer ${missing.digest.slice(7, 19)}: blob unknown to registry`);
    expect(await store.resolve(ref('broken:v1'))).toBeUndefined();
    expect(await store.has(img.manifest.digest)).toBe(false);
  });

  it('an unknown tag: "pull <ref>: manifest unknown"', async () => {
    const { reg, store, client, ref } = await setup();
    const err = await failure(pullImage({ client, store, reference: ref('nosuch:latest') }));
    expect(err.code).toBe('ENOT_FOUND');
    expect(err.message).toBe(`pull ${reg.host}/nosuch:latest: manifest unknown`);
  });

  it("a mirror's 404 with the registry unreachable: what each endpoint answered, on one line", async () => {
    const mirror = await FakeRegistry.start();
    const gone = await FakeRegistry.start();
    const upstream = gone.host; // closed below: nothing listens there any more
    await gone.close();
    const { store, cleanup } = await tempStore();
    const client = new RegistryClient({ credentials: new StaticCredentials({}), config: { registries: { [upstream]: { mirrors: [mirror.url] } } }, retry: { retries: 0 } });
    cleanups.push(cleanup, () => mirror.close(), () => client.close());
    const err = await failure(pullImage({ client, store, reference: Reference.parse(`${upstream}/library/nosuch:latest`) }));
    expect(err.code).toBe('ENETWORK');
    expect(err.message).toBe(`pull ${upstream}/library/nosuch:latest: mirror ${mirror.url} answered 404 manifest unknown; ${upstream}: cannot connect (connect ECONNREFUSED)`);
    expect(await store.listTags()).toEqual([]);
  });

  it('works through bearer auth with one pull token', async () => {
    const { reg, store, client, ref } = await setup({ auth: { kind: 'bearer', anonymousPull: true } });
    multiArch(reg);
    await pullImage({ client, store, reference: ref('app:v1'), platform: { os: 'linux', architecture: 'amd64' } });
    expect(reg.tokenRequests).toHaveLength(1);
  });

  it('stops on abort with EABORTED and tags nothing', async () => {
    const { reg, store, client, ref } = await setup();
    const img = addImage(reg, 'slow', ['v1']);
    reg.intercept = (req, res) => {
      if (req.method !== 'GET' || req.url !== `/v2/slow/blobs/${img.layers[0]?.digest}`) return false;
      res.writeHead(200, { 'content-length': String(img.layerData[0]?.length) });
      res.write((img.layerData[0] as Buffer).subarray(0, 100)); // and stall
      return true;
    };
    const ac = new AbortController();
    const err = await failure(
      pullImage({ client, store, reference: ref('slow:v1'), signal: ac.signal, onProgress: (e) => e.kind === 'layer' && e.status === 'downloading' && (e.current ?? 0) >= 100 && ac.abort() }),
    );
    expect(err.code).toBe('EABORTED');
    expect(err.message).toBe(`pull ${reg.host}/slow:v1: aborted`);
    expect(await store.resolve(ref('slow:v1'))).toBeUndefined();
  });

  const shared = sharedImagesDir();
  it.skipIf(!shared)('pulls the real alpine 3.20.3 (served from the shared OCI layout) for linux/amd64 and linux/arm64', async () => {
    const { reg, store, client, ref } = await setup();
    await loadLayout(reg, path.join(shared as string, 'alpine'), 'library/alpine');
    for (const p of [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }]) {
      const r = await pullImage({ client, store, reference: ref('library/alpine:3.20.3'), platform: p });
      expect(r.config.os).toBe('linux');
      expect(r.config.architecture).toBe(p.architecture);
      expect(r.manifest.layers).toHaveLength(1);
      expect(r.config.rootfs.diff_ids).toHaveLength(1);
      const img = await store.getImage(ref('library/alpine:3.20.3'), { platform: p });
      expect(img.descriptor.digest).toBe(r.descriptor.digest);
      for (const l of r.manifest.layers) expect(await store.has(l.digest)).toBe(true);
    }
  });
  if (!shared) console.warn('skipping the real-alpine pull: ../shared/images is absent');
});
