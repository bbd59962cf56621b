// Pulls through the fault-injecting proxy in front of a real registry: broken
// connections, error statuses with Retry-After, corrupted and truncated bodies, and
// redirects to a second origin.
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hostPlatform, Reference } from '@berth/oci';
import { pullImage, type RegistryClient, type RetryEvent } from '@berth/registry';
import { makeTempDir, startFaultProxy, startRegistry, type FaultProxy, type FaultRule, type ProxyLogEntry, type RunningRegistry, type TempDir } from '@berth/testing';
import { buildImage, pushLayout, type BuiltImage } from '../../fixtures/images/index.js';
import { client, dockerConfig, freshStore, toolsSkip, verifyStoreBlobs } from '../helpers/registry.js';

if (toolsSkip) console.warn(`skipping fault integration tests: ${toolsSkip}`);

const LAYER_BYTES = 2_000_000;

describe.skipIf(!!toolsSkip)('pull through faults', () => {
  let tmp: TempDir;
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let image: BuiltImage;
  let layer0: string;
  let layer1: string;
  let configDigest: string;
  let noCreds: string;
  let storeCount = 0;

  beforeAll(async () => {
    tmp = await makeTempDir('berth-faults-it-');
    registry = await startRegistry();
    const layout = path.join(tmp.path, 'layout');
    // Two random (incompressible) layers, so a body is many TCP segments long.
    image = await buildImage({ layout, layers: [{ randomBytes: LAYER_BYTES }, { randomBytes: LAYER_BYTES }] });
    await pushLayout({ url: registry.url, repository: 'test/big', layout });
    const layers = image.images[0]?.layers ?? [];
    layer0 = layers[0]?.descriptor.digest ?? '';
    layer1 = layers[1]?.descriptor.digest ?? '';
    configDigest = image.images[0]?.configDescriptor.digest ?? '';
    proxy = await startFaultProxy({ target: registry.url });
    noCreds = await dockerConfig(path.join(tmp.path, 'docker'));
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await tmp?.cleanup();
  });

  let logStart = 0;
  beforeEach(() => {
    logStart = proxy.log.length;
  });
  const logSince = (): ProxyLogEntry[] => proxy.log.slice(logStart);
  const blobLog = (digest: string) => logSince().filter((e) => e.path.endsWith(`/blobs/${digest}`));

  async function pull(
    faults: FaultRule[],
    opts: { retries?: number; maxDelayMs?: number; totalMs?: number; timeoutMs?: number; onRetry?: (e: RetryEvent) => void; upstream?: string } = {},
  ) {
    proxy.setFaults(faults);
    const store = await freshStore(tmp, String(++storeCount));
    const c: RegistryClient = client({
      dockerConfigDir: noCreds,
      retry: { retries: opts.retries ?? 3, minDelayMs: 1, maxDelayMs: opts.maxDelayMs ?? 50, ...(opts.totalMs ? { totalMs: opts.totalMs } : {}) },
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
      // With `upstream`, the proxy is that registry's mirror.
      ...(opts.upstream ? { config: { registries: { [opts.upstream]: { mirrors: [proxy.url] } } } } : {}),
    });
    const reference = Reference.parse(`${opts.upstream ?? proxy.host}/test/big:latest`);
    try {
      const result = await pullImage({ client: c, store, reference, platform: hostPlatform() }).then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, error: e as Error & { code?: string } }),
      );
      return { ...result, store, reference };
    } finally {
      await c.close();
      proxy.setFaults([]);
    }
  }

  it('a connection cut mid-blob is resumed with Range from where it broke', async () => {
    const res = await pull([{ method: 'GET', path: new RegExp(`/blobs/${layer0}$`), range: false, nth: 1, action: { kind: 'cut', afterBytes: 700_000 } }]);
    expect(res.ok ? undefined : res.error.message).toBeUndefined();
    const attempts = blobLog(layer0);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toMatchObject({ status: 200, fault: 'cut' });
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(attempts[1]?.range ?? '')?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(700_000);
    expect(attempts[1]?.status).toBe(206);
    expect((await verifyStoreBlobs(res.store.root)).includes(layer0)).toBe(true);
  });

  it('500, 503 and 429 are retried, honouring Retry-After', async () => {
    const retries: RetryEvent[] = [];
    const res = await pull(
      [
        { method: 'GET', path: /\/manifests\/latest$/, nth: 1, action: { kind: 'status', status: 503, retryAfter: 0 } },
        { method: 'GET', path: new RegExp(`/blobs/${layer1}$`), nth: 1, action: { kind: 'status', status: 500 } },
        { method: 'GET', path: new RegExp(`/blobs/${layer1}$`), nth: 2, action: { kind: 'status', status: 429, retryAfter: 1 } },
      ],
      { maxDelayMs: 5000, onRetry: (e) => retries.push(e) },
    );
    expect(res.ok ? undefined : res.error.message).toBeUndefined();
    expect(logSince().filter((e) => e.path.endsWith('/manifests/latest')).map((e) => e.status)).toEqual([503, 200]);
    expect(blobLog(layer1).map((e) => e.status)).toEqual([500, 429, 200]);
    // The 429 said "Retry-After: 1": that retry waited 1 s (within the 5 s cap).
    expect(retries.map((e) => e.delayMs)).toContain(1000);
    await verifyStoreBlobs(res.store.root);
  });

  it('a registry that keeps answering 503 fails after the configured retries, with one line', async () => {
    const res = await pull([{ method: 'GET', path: /\/manifests\/latest$/, action: { kind: 'status', status: 503 } }], { retries: 2 });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(logSince().filter((e) => e.path.endsWith('/manifests/latest'))).toHaveLength(3);
    expect(res.error.message).toMatch(new RegExp(`^pull ${proxy.host.replace(/\./g, '\\.')}/test/big:latest: .*(503|unavailable)`));
    expect(res.error.message.split('\n')).toHaveLength(1);
  });

  it('a corrupted byte fails with a digest mismatch and leaves no such blob (and no tag)', async () => {
    const res = await pull([{ method: 'GET', path: new RegExp(`/blobs/${layer1}$`), action: { kind: 'corrupt', offset: 123_456 } }]);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.error.code).toBe('EDIGEST_MISMATCH');
    expect(res.error.message).toContain(layer1.slice(7, 19));
    expect(await res.store.has(layer1)).toBe(false);
    expect(await verifyStoreBlobs(res.store.root)).not.toContain(layer1);
    expect(await res.store.listTags()).toEqual([]);
    // Nothing poisoned: the same store pulls cleanly once the bytes are right.
    const c = client({ dockerConfigDir: noCreds, retry: { retries: 1, minDelayMs: 1, maxDelayMs: 10 } });
    try {
      await pullImage({ client: c, store: res.store, reference: res.reference, platform: hostPlatform() });
    } finally {
      await c.close();
    }
    expect(await res.store.has(layer1)).toBe(true);
    await verifyStoreBlobs(res.store.root);
  });

  it('a body truncated once (clean but short) is completed with a Range request', async () => {
    const res = await pull([{ method: 'GET', path: new RegExp(`/blobs/${layer0}$`), range: false, nth: 1, action: { kind: 'truncate', bytes: 300_000 } }]);
    expect(res.ok ? undefined : res.error.message).toBeUndefined();
    const attempts = blobLog(layer0);
    expect(attempts.map((e) => [e.fault, e.range, e.status])).toEqual([
      ['truncate', undefined, 200],
      [undefined, 'bytes=300000-', 206],
    ]);
    expect((await verifyStoreBlobs(res.store.root)).includes(layer0)).toBe(true);
  });

  it('a body always truncated fails after the retries, stores nothing broken, and a later pull resumes it', async () => {
    const res = await pull([{ method: 'GET', path: new RegExp(`/blobs/${layer0}$`), action: { kind: 'truncate', bytes: 100_000 } }], { retries: 2 });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.error.message.split('\n')).toHaveLength(1);
    expect(res.error.message).toContain(layer0.slice(7, 19));
    expect(await res.store.has(layer0)).toBe(false);
    await verifyStoreBlobs(res.store.root);
    expect(await res.store.listTags()).toEqual([]);

    logStart = proxy.log.length;
    const c = client({ dockerConfigDir: noCreds });
    try {
      await pullImage({ client: c, store: res.store, reference: res.reference, platform: hostPlatform() });
    } finally {
      await c.close();
    }
    // The partial from the failed pull was kept: the next pull asks only for the rest.
    expect(blobLog(layer0)[0]?.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(await res.store.has(layer0)).toBe(true);
    await verifyStoreBlobs(res.store.root);
  });

  describe('through a mirror whose registry cannot be reached', () => {
    /** The registry behind the mirror: a port that takes connections and resets them at once, counting them. */
    let upstream: Server;
    let upstreamHost = '';
    let upstreamConnections = 0;
    beforeAll(async () => {
      upstream = createServer((socket) => {
        upstreamConnections++;
        socket.resetAndDestroy();
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      const addr = upstream.address();
      upstreamHost = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => upstream?.close(resolve));
    });

    it('one 503 from the mirror on a blob is retried at the mirror; the registry is never contacted', async () => {
      upstreamConnections = 0;
      const res = await pull([{ method: 'GET', path: new RegExp(`/blobs/${layer0}$`), nth: 1, action: { kind: 'status', status: 503 } }], { upstream: upstreamHost });
      expect(res.ok ? undefined : res.error.message).toBeUndefined();
      expect(blobLog(layer0).map((e) => e.status)).toEqual([503, 200]);
      expect(upstreamConnections).toBe(0);
      expect((await verifyStoreBlobs(res.store.root)).includes(layer0)).toBe(true);
    });

    it('a mirror that always answers 503: one line with its answer and attempts, then the registry\'s failure', async () => {
      upstreamConnections = 0;
      const res = await pull([{ method: 'GET', path: new RegExp(`/blobs/${layer0}$`), action: { kind: 'status', status: 503 } }], { upstream: upstreamHost, retries: 3 });
      expect(res.ok).toBe(false);
      if (res.ok) return;
      // The mirror had the policy's 4 attempts, then the registry its own.
      expect(blobLog(layer0).map((e) => e.status)).toEqual([503, 503, 503, 503]);
      expect(upstreamConnections).toBeGreaterThan(0);
      const q = (x: string): string => x.replace(/[.()[\]]/g, '\\$&');
      expect(res.error.message).toMatch(
        new RegExp(`^${q(`pull ${upstreamHost}/test/big:latest: layer ${layer0.slice(7, 19)}: mirror ${proxy.url} answered 503 `)}.*${q('(4 attempts); ')}${q(upstreamHost)}: (connection reset|cannot connect)`),
      );
      expect(res.error.message).not.toMatch(/UND_ERR_/);
      expect(res.error.message.split('\n')).toHaveLength(1);
    });
  });

  it('a manifest body that stalls is retried, and the second attempt is served', async () => {
    const res = await pull([{ method: 'GET', path: /\/manifests\/latest$/, nth: 1, action: { kind: 'stall', afterBytes: 10 } }], { timeoutMs: 300 });
    expect(res.ok ? undefined : res.error.message).toBeUndefined();
    expect(logSince().filter((e) => e.path.endsWith('/manifests/latest')).map((e) => e.fault ?? e.status)).toEqual(['stall', 200]);
  });

  it('a manifest body that always stalls fails in words (no undici code), stopped by the total time budget', async () => {
    // 100 retries allowed, but only 3 s in all: the budget, not the count, ends it (3 s, not 1 s: under
    // load the first attempt's connection and ping alone took most of a second).
    const res = await pull([{ method: 'GET', path: /\/manifests\/latest$/, action: { kind: 'stall', afterBytes: 10 } }], { timeoutMs: 200, retries: 100, totalMs: 3000 });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.error.code).toBe('ENETWORK');
    expect(res.error.message).toMatch(new RegExp(`^pull ${proxy.host.replace(/\./g, '\\.')}/test/big:latest: .*the registry stopped sending the manifest body for 0\\.2 s`));
    expect(res.error.message).not.toMatch(/UND_ERR/);
    expect(res.error.message).toMatch(/\(\d+ attempts; the 3 s retry budget is used up\)$/);
    // undici's own error stays in the cause chain.
    const codes: unknown[] = [];
    for (let e: unknown = res.error; e; e = (e as { cause?: unknown }).cause) codes.push((e as { code?: unknown }).code);
    expect(codes).toContain('UND_ERR_BODY_TIMEOUT');
    const attempts = logSince().filter((e) => e.path.endsWith('/manifests/latest')).length;
    expect(attempts).toBeGreaterThan(1);
    expect(attempts).toBeLessThan(100);
    proxy.release();
  });

  it('a dropped connection (no answer at all) is retried', async () => {
    const res = await pull([{ method: 'GET', path: new RegExp(`/blobs/${configDigest}$`), nth: 1, action: { kind: 'drop' } }]);
    expect(res.ok ? undefined : res.error.message).toBeUndefined();
    expect(blobLog(configDigest).map((e) => e.fault ?? e.status)).toEqual(['drop', 200]);
  });
});

describe.skipIf(!!toolsSkip)('redirects to a second origin', () => {
  let tmp: TempDir;
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let image: BuiltImage;
  const user = { username: 'bob', password: 'hunter22' };

  beforeAll(async () => {
    tmp = await makeTempDir('berth-redirect-it-');
    registry = await startRegistry({ auth: { kind: 'htpasswd', users: [{ user: user.username, password: user.password }] } });
    const layout = path.join(tmp.path, 'layout');
    image = await buildImage({ layout, layers: [{ randomBytes: 500_000 }, { compressibleBytes: 500_000 }] });
    await pushLayout({ url: registry.url, repository: 'test/redirect', layout, credentials: user });
    // Blob GETs are answered with 307 to another origin that, like S3 with a presigned
    // URL, refuses requests that also carry an Authorization header.
    proxy = await startFaultProxy({
      target: registry.url,
      faults: [{ method: 'GET', path: /\/blobs\/sha256:/, action: { kind: 'redirect', rejectAuthorization: true } }],
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await tmp?.cleanup();
  });

  it('follows the redirect and never sends Authorization to the other origin', async () => {
    const dir = await dockerConfig(path.join(tmp.path, 'docker'), { [proxy.host]: user });
    const c = client({ dockerConfigDir: dir });
    const store = await freshStore(tmp, 'redirect');
    try {
      const result = await pullImage({ client: c, store, reference: Reference.parse(`${proxy.host}/test/redirect:latest`), platform: hostPlatform() });
      expect(result.descriptor.digest).toBe(image.descriptor.digest);
    } finally {
      await c.close();
    }
    const blobGets = proxy.log.filter((e) => e.origin === 'proxy' && e.path.includes('/blobs/') && e.status === 307);
    const second = proxy.log.filter((e) => e.origin === 'second');
    // Config + 2 layers went through the redirect, with credentials at the registry…
    expect(blobGets).toHaveLength(3);
    expect(blobGets.every((e) => e.authorization)).toBe(true);
    // …and without them at the second origin.
    expect(second.length).toBeGreaterThanOrEqual(3);
    expect(second.filter((e) => e.authorization)).toEqual([]);
    expect(second.every((e) => e.status === 200 || e.status === 206)).toBe(true);
    await verifyStoreBlobs(store.root);
  });
});
