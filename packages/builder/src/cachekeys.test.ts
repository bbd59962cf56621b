import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildCache } from './cache.js';
import { CachePolicy, baseKey, configStepKey, copyContent, copyStepKey, imageKey, runStepKey } from './cachekeys.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-cachekeys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BASE = `sha256:${'a'.repeat(64)}`;
const LAYER = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'c'.repeat(64)}`, size: 3 };
const DIFF_ID = `sha256:${'d'.repeat(64)}`;

describe('cache keys', () => {
  // The hex values are the keys berth has always written: a change here makes every user's cache miss
  // (bump CACHE_VERSION if that is what is meant).
  it('chain from the base manifest digest through each step to the image, as the cache files on disk name them', () => {
    const image = baseKey.image(BASE);
    expect(baseKey.scratch({ os: 'linux', architecture: 'amd64' })).toBe('172b201ebb8dee6ea51f43b01b64ddc9e1b398998be8567c6cf0dc26884ce11d');
    expect(image).toBe('e8269a4fac9f0aa621331ac7e87bf8403944ab1140a951c014f69b6b24df3372');
    expect(baseKey.stage(image)).toBe('84b92d76eb7481d34946d5ca422cd8ef73d590b3cf9460475fc97cb5a5cea4ad');
    const env = configStepKey(image, 'env', { env: ['A=1'] });
    expect(env).toBe('7efb1b42e6e59bbc8180ebac30d305da853224bb6bb6e04060a472421c80c31d');
    const copy = copyStepKey(
      env,
      { src: ['app/'], dest: '/srv/', workdir: '/', chown: undefined, chmod: 0o644, content: copyContent.context(`sha256:${'b'.repeat(64)}`) },
      { compression: 'gzip' },
    );
    expect(copy).toBe('60c636339fbee4361d1d237f523ed92313cdf0c23bc4c3223ce5c8f9b8fa15f4');
    const run = runStepKey(
      copy,
      { argv: ['/bin/sh', '-c', 'make'], env: ['V=2'], imageEnv: ['A=1'], user: '', workdir: '/srv', network: 'none' },
      { compression: 'zstd', sourceDateEpoch: 1700000000 },
    );
    expect(run).toBe('fa2b6c931b034877bf556c1c418899c5ad18319d5a1cb6dfa557ccd7d7176c2b');
    expect(imageKey(run, { cmd: ['app'] })).toBe('c85c430724cae33419f4fae0fc4425b21c61e6efe5e88a66baf8b25346d9975f');
  });

  it('a change anywhere up the chain changes every key after it', () => {
    const chain = (base: string, cmd: string): string[] => {
      const b = baseKey.image(base);
      const e = configStepKey(b, 'env', { env: ['A=1'] });
      const r = runStepKey(e, { argv: ['/bin/sh', '-c', cmd], env: [], imageEnv: ['A=1'], user: '', workdir: '', network: 'none' }, { compression: 'gzip' });
      return [b, e, r, imageKey(r, {})];
    };
    const one = chain(BASE, 'make');
    const otherBase = chain(`sha256:${'f'.repeat(64)}`, 'make');
    const otherRun = chain(BASE, 'make all');
    for (let i = 0; i < one.length; i++) expect(otherBase[i]).not.toBe(one[i]);
    expect(otherRun.slice(0, 2)).toEqual(one.slice(0, 2));
    for (let i = 2; i < one.length; i++) expect(otherRun[i]).not.toBe(one[i]);
    // A stage copied from is named by its key, context content by its digest: never the same key.
    expect(copyContent.stage(one[0] as string)).not.toBe(copyContent.context(one[0] as string));
  });
});

describe('the cache lookup policy', () => {
  const storeWith = (blobs: string[]): { has(d: string): Promise<boolean> } => ({ has: async (d) => blobs.includes(d) });

  it('a layer entry is a hit only while its blob is in the store, and never with noCache', async () => {
    const cache = new BuildCache(dir);
    const key = baseKey.image(BASE);
    await new CachePolicy({ cache, store: storeWith([]) }).recordLayer({ key, created: '2020-01-01T00:00:00.000Z', layer: LAYER, diffId: DIFF_ID });
    expect(await new CachePolicy({ cache, store: storeWith([]) }).layerHit(key)).toBeUndefined();
    const hit = await new CachePolicy({ cache, store: storeWith([LAYER.digest]) }).layerHit(key);
    expect(hit).toMatchObject({ key, layer: LAYER, diffId: DIFF_ID, created: '2020-01-01T00:00:00.000Z' });
    expect(await new CachePolicy({ cache, store: storeWith([LAYER.digest]), noCache: true }).layerHit(key)).toBeUndefined();
    // An entry without a layer (the step changed nothing) needs no blob.
    const empty = configStepKey(key, 'env', {});
    await new CachePolicy({ cache, store: storeWith([]) }).recordLayer({ key: empty, created: '2021-01-01T00:00:00.000Z' });
    expect(await new CachePolicy({ cache, store: storeWith([]) }).layerHit(empty)).toMatchObject({ key: empty });
  });

  it('created: SOURCE_DATE_EPOCH when set, else when the cache first saw the key (recorded then, kept after)', async () => {
    const cache = new BuildCache(dir);
    const key = configStepKey(baseKey.image(BASE), 'user', { user: '1000' });
    const first = await new CachePolicy({ cache, store: storeWith([]) }).createdFor(key);
    expect(first.cached).toBe(false);
    const again = await new CachePolicy({ cache, store: storeWith([]) }).createdFor(key);
    expect(again).toEqual({ created: first.created, cached: true });
    const sde = new CachePolicy({ cache, store: storeWith([]), sourceDateEpoch: 86400 });
    expect(await sde.createdFor(key)).toEqual({ created: '1970-01-02T00:00:00.000Z', cached: true });
    expect(sde.createdOfHit({ version: 1, key, created: first.created }, sde.now())).toBe('1970-01-02T00:00:00.000Z');
    const fresh = new CachePolicy({ cache, store: storeWith([]) });
    expect(fresh.createdOfHit({ version: 1, key, created: first.created }, fresh.now())).toBe(first.created);
    // noCache reads nothing: the key counts as new and its time is now.
    const nc = await new CachePolicy({ cache, store: storeWith([]), noCache: true }).createdFor(key);
    expect(nc.cached).toBe(false);
  });
});
