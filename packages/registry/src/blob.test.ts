import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Reference, type Descriptor } from '@berth/oci';
import type { Store } from '@berth/store';
import { RegistryClient, type IngestTarget, type RegistryClientOptions } from './client.js';
import { StaticCredentials } from './credentials.js';
import type { RetryEvent } from './transport.js';
import { FakeRegistry, startServer, serveBlob } from './test-support/fake-registry.js';
import { tempStore } from './test-support/images.js';
import { failure } from './test-support/failure.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: RegistryClientOptions = {}, init?: Parameters<typeof FakeRegistry.start>[0]) {
  const reg = await FakeRegistry.start(init);
  const { store, dir, cleanup } = await tempStore();
  const client = new RegistryClient({ credentials: new StaticCredentials({}), retry: { retries: 3, minDelayMs: 1, maxDelayMs: 5 }, ...opts });
  cleanups.push(cleanup, () => reg.close(), () => client.close());
  const data = randomBytes(256 * 1024);
  const blob = reg.addBlob('app', data);
  const descriptor: Descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob };
  const ref = Reference.parse(`${reg.host}/app:v1`);
  const fetch = async (extra: { signal?: AbortSignal; onRetry?: (e: RetryEvent) => void; onProgress?: (n: number, t: number) => void } = {}): Promise<void> => {
    const ingest = await store.ingest({ digest: blob.digest, size: blob.size });
    await client.fetchBlob({ reference: ref, descriptor, ingest, ...extra });
  };
  return { reg, store, dir, client, data, blob, descriptor, ref, fetch };
}

function client(reg: FakeRegistry): RegistryClient {
  const c = new RegistryClient({ credentials: new StaticCredentials({}), config: { registries: { [reg.host]: {} } } });
  cleanups.push(() => c.close());
  return c;
}

async function stored(store: Store, digest: string): Promise<Buffer | undefined> {
  return (await store.has(digest)) ? store.readBlob(digest) : undefined;
}

/** Serve the first `n` bytes of a blob with the full Content-Length, then cut the connection. */
function cutAfter(reg: FakeRegistry, data: Buffer, n: number, times = 1): void {
  let left = times;
  reg.intercept = (req, res) => {
    if (req.method !== 'GET' || !req.url?.includes('/blobs/sha256:') || left <= 0) return false;
    left--;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
    res.write(data.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
    return true;
  };
}

describe('fetchBlob', () => {
  it('streams a blob into the store and reports progress up to the size', async () => {
    const { store, data, blob, fetch } = await setup();
    const seen: number[] = [];
    await fetch({ onProgress: (n, total) => {
      expect(total).toBe(data.length);
      seen.push(n);
    } });
    expect((await stored(store, blob.digest))?.equals(data)).toBe(true);
    expect(seen.at(-1)).toBe(data.length);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it('resumes a stream cut part-way with Range: bytes=N-', async () => {
    const { reg, store, data, blob, fetch } = await setup();
    cutAfter(reg, data, 100_000);
    const retries: RetryEvent[] = [];
    await fetch({ onRetry: (e) => retries.push(e) });
    const gets = reg.hits('GET', `/v2/app/blobs/${blob.digest}`);
    expect(gets.map((g) => g.headers.range)).toEqual([undefined, 'bytes=100000-']);
    expect(retries).toHaveLength(1);
    expect((await stored(store, blob.digest))?.equals(data)).toBe(true);
  });

  it('restarts from 0 when the server ignores Range (200)', async () => {
    const { reg, store, data, blob, fetch } = await setup();
    cutAfter(reg, data, 50_000);
    reg.honourRange = false;
    await fetch();
    const gets = reg.hits('GET', `/v2/app/blobs/${blob.digest}`);
    expect(gets.map((g) => g.headers.range)).toEqual([undefined, 'bytes=50000-']);
    expect((await stored(store, blob.digest))?.equals(data)).toBe(true);
  });

  it('restarts from 0 when a 206 does not start at the offset asked for', async () => {
    const { reg, store, data, blob, fetch } = await setup();
    let n = 0;
    reg.intercept = (req, res) => {
      if (req.method !== 'GET' || !req.url?.includes('/blobs/sha256:')) return false;
      n++;
      if (n === 1) {
        res.writeHead(200, { 'content-length': String(data.length) });
        res.write(data.subarray(0, 70_000), () => setTimeout(() => res.socket?.destroy(), 20));
        return true;
      }
      if (n === 2) {
        // Claims a partial response starting at 10, not at 70000.
        res.writeHead(206, { 'content-range': `bytes 10-${data.length - 1}/${data.length}`, 'content-length': String(data.length - 10) });
        res.end(data.subarray(10));
        return true;
      }
      return false;
    };
    await fetch();
    const gets = reg.hits('GET', `/v2/app/blobs/${blob.digest}`);
    expect(gets.map((g) => g.headers.range)).toEqual([undefined, 'bytes=70000-', undefined]);
    expect((await stored(store, blob.digest))?.equals(data)).toBe(true);
  });

  it('a corrupted byte: EDIGEST_MISMATCH and nothing in the store, no partial kept', async () => {
    const { reg, store, dir, data, blob, fetch } = await setup();
    const bad = Buffer.from(data);
    bad[1234] = (bad[1234] ?? 0) ^ 0xff;
    reg.intercept = (req, res) => {
      if (req.method !== 'GET' || !req.url?.includes('/blobs/sha256:')) return false;
      serveBlob(req, res, bad);
      return true;
    };
    const err = await failure(fetch());
    expect(err.code).toBe('EDIGEST_MISMATCH');
    expect(await store.has(blob.digest)).toBe(false);
    expect(await readdir(path.join(dir, 'store', 'ingest'))).toEqual([]);
    // The lock was released: the blob can be fetched again (from a fixed registry).
    reg.intercept = undefined;
    await fetch();
    expect((await stored(store, blob.digest))?.equals(data)).toBe(true);
  });

  it('more bytes than the descriptor says: ESIZE_MISMATCH, nothing stored', async () => {
    const { reg, store, data, blob, fetch } = await setup();
    for (const withLength of [true, false]) {
      reg.intercept = (req, res) => {
        if (req.method !== 'GET' || !req.url?.includes('/blobs/sha256:')) return false;
        const more = Buffer.concat([data, Buffer.alloc(10)]);
        res.writeHead(200, withLength ? { 'content-length': String(more.length) } : {});
        res.end(more);
        return true;
      };
      const err = await failure(fetch());
      expect(err.code).toBe('ESIZE_MISMATCH');
      expect(await store.has(blob.digest)).toBe(false);
    }
  });

  it('follows a redirect to a blob server on another origin without the Authorization header', async () => {
    const cdnSeen: Array<string | undefined> = [];
    let data = Buffer.alloc(0);
    const cdn = await startServer((req, res) => {
      cdnSeen.push(req.headers.authorization);
      serveBlob(req, res, data);
    });
    cleanups.push(() => cdn.close());
    const s = await setup({ credentials: new StaticCredentials({}) }, { auth: { kind: 'bearer', anonymousPull: true } });
    data = s.data;
    s.reg.blobRedirect = cdn.url;
    await s.fetch();
    expect(s.reg.hits('GET', `/v2/app/blobs/${s.blob.digest}`)[0]?.headers.authorization).toMatch(/^Bearer /);
    expect(cdnSeen).toEqual([undefined]);
    expect((await stored(s.store, s.blob.digest))?.equals(s.data)).toBe(true);
  });

  it('gives up after the retries when every attempt breaks, keeping the partial for a later resume', async () => {
    const { reg, store, data, blob, fetch } = await setup({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 } });
    let served = 0;
    reg.intercept = (req, res) => {
      if (req.method !== 'GET' || !req.url?.includes('/blobs/sha256:')) return false;
      // Each attempt delivers 10000 more bytes, then the connection drops.
      const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      const end = Math.min(start + 10_000, data.length);
      served++;
      res.writeHead(start ? 206 : 200, start ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}`, 'content-length': String(data.length - start) } : { 'content-length': String(data.length) });
      res.write(data.subarray(start, end), () => setTimeout(() => res.socket?.destroy(), 20));
      return true;
    };
    const err = await failure(fetch());
    expect(err.code).toBe('ENETWORK');
    expect(served).toBe(3);
    expect(await store.has(blob.digest)).toBe(false);
    // A later fetch resumes at 30000.
    reg.intercept = undefined;
    await fetch();
    expect(reg.hits('GET', `/v2/app/blobs/${blob.digest}`).at(-1)?.headers.range).toBe('bytes=30000-');
    expect((await stored(store, blob.digest))?.equals(data)).toBe(true);
  });

  it('stops on abort with EABORTED and keeps the partial', async () => {
    const { reg, store, data, blob, fetch } = await setup();
    reg.intercept = (req, res) => {
      if (req.method !== 'GET' || !req.url?.includes('/blobs/sha256:')) return false;
      res.writeHead(200, { 'content-length': String(data.length) });
      res.write(data.subarray(0, 40_000)); // then stall
      return true;
    };
    const ac = new AbortController();
    const err = await failure(fetch({ signal: ac.signal, onProgress: (n) => n >= 40_000 && ac.abort() }));
    expect(err.code).toBe('EABORTED');
    expect(await store.has(blob.digest)).toBe(false);
    const ingest = await store.ingest({ digest: blob.digest, size: blob.size });
    expect(ingest.offset).toBe(40_000);
    await ingest.abort();
  });

  it('does nothing for a blob already in the store, and releases the ingest', async () => {
    const { reg, store, data, blob, fetch } = await setup();
    await store.putBlob(data, { digest: blob.digest });
    await fetch();
    expect(reg.hits('GET', '/v2/app/blobs/')).toEqual([]);
    const again = await store.ingest({ digest: blob.digest, size: blob.size });
    expect(again.exists).toBe(true);
    await again.release();
  });

  it('waits for drain on a slow store without piling up listeners (no MaxListenersExceededWarning)', async () => {
    const { reg, store, ref } = await setup();
    const data = randomBytes(4 * 1024 * 1024);
    const blob = reg.addBlob('app', data);
    const real = await store.ingest({ digest: blob.digest, size: blob.size });
    let drains = 0;
    let maxListeners = 0;
    // A store that accepts one chunk at a time: every write waits for a drain.
    const slow: IngestTarget = {
      get exists() {
        return real.exists;
      },
      get offset() {
        return real.offset;
      },
      createWriteStream() {
        const inner = real.createWriteStream();
        const ws: Writable = new Writable({
          highWaterMark: 1,
          write: (chunk: Buffer, _enc, cb) => {
            maxListeners = Math.max(maxListeners, ws.listenerCount('error'), ws.listenerCount('drain'));
            if (inner.write(chunk)) setImmediate(cb);
            else inner.once('drain', () => cb());
          },
          final: (cb) => inner.end(cb),
        });
        ws.on('drain', () => drains++);
        return ws;
      },
      reset: () => real.reset(),
      commit: () => real.commit(),
      abort: (o) => real.abort(o),
    };
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      await client(reg).fetchBlob({ reference: ref, descriptor: { mediaType: 'x', ...blob }, ingest: slow });
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(drains).toBeGreaterThan(20);
    expect(maxListeners).toBeLessThanOrEqual(2);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    expect((await stored(store, blob.digest))?.equals(data)).toBe(true);
  });

  it('falls back from a mirror without the blob to the registry', async () => {
    const mirror = await FakeRegistry.start();
    cleanups.push(() => mirror.close());
    const reg = await FakeRegistry.start();
    cleanups.push(() => reg.close());
    const s = await setup();
    const blob = reg.addBlob('app', s.data);
    const client = new RegistryClient({ credentials: new StaticCredentials({}), config: { registries: { [reg.host]: { mirrors: [mirror.url] } } } });
    cleanups.push(() => client.close());
    const ingest = await s.store.ingest({ digest: blob.digest, size: blob.size });
    await client.fetchBlob({ reference: Reference.parse(`${reg.host}/app:v1`), descriptor: { mediaType: 'x', ...blob }, ingest });
    expect(mirror.hits('GET', `/v2/app/blobs/${blob.digest}`)).toHaveLength(1);
    expect(reg.hits('GET', `/v2/app/blobs/${blob.digest}`)).toHaveLength(1);
    expect(await s.store.has(blob.digest)).toBe(true);
  });
});
