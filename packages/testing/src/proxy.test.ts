import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './proxy.js';

// A small origin that serves one "blob" at a registry-shaped path, with Range.
const blob = randomBytes(200_000);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const blobPath = `/v2/library/thing/blobs/${digest}`;
let origin: http.Server;
let originUrl: string;
const originSaw: Array<{ path: string; authorization?: string; range?: string }> = [];

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    const seen: { path: string; authorization?: string; range?: string } = { path: req.url ?? '' };
    if (req.headers.authorization) seen.authorization = req.headers.authorization;
    if (req.headers.range) seen.range = req.headers.range;
    originSaw.push(seen);
    if (req.url === blobPath) {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m) {
        const start = Number(m[1]);
        res.writeHead(206, { 'Content-Length': blob.length - start, 'Content-Range': `bytes ${start}-${blob.length - 1}/${blob.length}` });
        res.end(blob.subarray(start));
        return;
      }
      res.writeHead(200, { 'Content-Length': blob.length, 'Docker-Content-Digest': digest });
      res.end(blob);
      return;
    }
    if (req.url === '/v2/') {
      res.writeHead(401, [
        'WWW-Authenticate',
        'Bearer realm="http://127.0.0.1:1/token",service="a"',
        'WWW-Authenticate',
        'Basic realm="b"',
        'Content-Length',
        '0',
      ]);
      res.end();
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    origin.close(() => resolve());
    origin.closeAllConnections();
  });
});

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  error?: string;
}

/** A plain GET that never follows redirects and reports a broken body instead of throwing. */
function get(url: string, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (error?: string) => {
        const got: Got = { status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) };
        if (error) got.error = error;
        resolve(got);
      };
      res.on('end', () => done());
      res.on('error', (e) => done(e.message));
      res.on('aborted', () => done('aborted'));
    });
    req.on('error', reject);
  });
}

async function withProxy(fn: (p: FaultProxy) => Promise<void>, faults: Parameters<typeof startFaultProxy>[0]['faults'] = []): Promise<void> {
  const proxy = await startFaultProxy({ target: originUrl, faults });
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

describe('startFaultProxy', () => {
  it('refuses a non-loopback target', async () => {
    await expect(startFaultProxy({ target: 'http://example.com' })).rejects.toThrow(/loopback/);
  });

  it('passes requests through untouched and keeps repeated headers', async () => {
    await withProxy(async (proxy) => {
      const got = await get(`${proxy.url}${blobPath}`, { Authorization: 'Bearer abc' });
      expect(got.status).toBe(200);
      expect(got.body.equals(blob)).toBe(true);
      expect(originSaw.at(-1)?.authorization).toBe('Bearer abc');
      const ping = await get(`${proxy.url}/v2/`);
      expect(ping.status).toBe(401);
      const challenges = ping.rawHeaders.filter((_, i, a) => i % 2 === 1 && a[i - 1]?.toLowerCase() === 'www-authenticate');
      expect(challenges).toEqual(['Bearer realm="http://127.0.0.1:1/token",service="a"', 'Basic realm="b"']);
      expect(proxy.log.map((e) => [e.path, e.status, e.fault])).toEqual([
        [blobPath, 200, undefined],
        ['/v2/', 401, undefined],
      ]);
    });
  });

  it('answers injected statuses with Retry-After on the nth matching request only', async () => {
    await withProxy(
      async (proxy) => {
        const first = await get(`${proxy.url}${blobPath}`);
        expect(first.status).toBe(200);
        const second = await get(`${proxy.url}${blobPath}`);
        expect(second.status).toBe(429);
        expect(second.headers['retry-after']).toBe('1');
        expect(JSON.parse(second.body.toString()).errors[0].code).toBe('TOOMANYREQUESTS');
        const third = await get(`${proxy.url}${blobPath}`);
        expect(third.status).toBe(503);
        const fourth = await get(`${proxy.url}${blobPath}`);
        expect(fourth.status).toBe(200);
        expect(proxy.log.map((e) => e.fault)).toEqual([undefined, 'status', 'status', undefined]);
      },
      [
        { method: 'GET', path: /\/blobs\//, nth: 2, action: { kind: 'status', status: 429, retryAfter: 1 } },
        { method: 'GET', path: /\/blobs\//, nth: 3, action: { kind: 'status', status: 503 } },
      ],
    );
  });

  it('cuts the connection after N body bytes, and leaves Range requests alone when asked', async () => {
    await withProxy(
      async (proxy) => {
        const cut = await get(`${proxy.url}${blobPath}`);
        expect(cut.status).toBe(200);
        expect(cut.error).toBeDefined();
        expect(cut.body.length).toBe(1000);
        expect(cut.body.equals(blob.subarray(0, 1000))).toBe(true);
        const resumed = await get(`${proxy.url}${blobPath}`, { Range: 'bytes=1000-' });
        expect(resumed.status).toBe(206);
        expect(resumed.error).toBeUndefined();
        expect(Buffer.concat([cut.body, resumed.body]).equals(blob)).toBe(true);
      },
      [{ method: 'GET', path: /\/blobs\//, range: false, action: { kind: 'cut', afterBytes: 1000 } }],
    );
  });

  it('corrupts exactly one byte, or truncates with a matching Content-Length', async () => {
    await withProxy(
      async (proxy) => {
        const bad = await get(`${proxy.url}${blobPath}`);
        expect(bad.status).toBe(200);
        expect(bad.body.length).toBe(blob.length);
        const diffs = [...bad.body].flatMap((b, i) => (b === blob[i] ? [] : [i]));
        expect(diffs).toEqual([12345]);
        const short = await get(`${proxy.url}${blobPath}`);
        expect(short.error).toBeUndefined();
        expect(short.headers['content-length']).toBe('777');
        expect(short.body.equals(blob.subarray(0, 777))).toBe(true);
      },
      [
        { path: blobPath, nth: 1, action: { kind: 'corrupt', offset: 12345 } },
        { path: blobPath, nth: 2, action: { kind: 'truncate', bytes: 777 } },
      ],
    );
  });

  it('redirects blob GETs to a second origin that serves the same bytes and records Authorization', async () => {
    await withProxy(
      async (proxy) => {
        const redirect = await get(`${proxy.url}${blobPath}`, { Authorization: 'Bearer secret' });
        expect(redirect.status).toBe(307);
        const location = redirect.headers.location ?? '';
        expect(location.startsWith(`${proxy.secondOrigin}/blob/`)).toBe(true);
        // The proxy fetched the blob upstream with the client's credentials.
        expect(originSaw.at(-1)?.authorization).toBe('Bearer secret');

        const clean = await get(location);
        expect(clean.status).toBe(200);
        expect(clean.body.equals(blob)).toBe(true);
        const ranged = await get(location, { Range: 'bytes=150000-' });
        expect(ranged.status).toBe(206);
        expect(ranged.headers['content-range']).toBe(`bytes 150000-${blob.length - 1}/${blob.length}`);
        expect(ranged.body.equals(blob.subarray(150000))).toBe(true);
        const leaky = await get(location, { Authorization: 'Bearer secret' });
        expect(leaky.status).toBe(400);

        const secondLog = proxy.log.filter((e) => e.origin === 'second');
        expect(secondLog.map((e) => [e.authorization, e.status])).toEqual([
          [false, 200],
          [false, 206],
          [true, 400],
        ]);
        expect((await get(`${proxy.secondOrigin}/blob/nosuch`)).status).toBe(404);
      },
      [{ method: 'GET', path: /\/blobs\/sha256:/, action: { kind: 'redirect', rejectAuthorization: true } }],
    );
  });

  it('passes a non-200 answer through instead of redirecting it', async () => {
    await withProxy(
      async (proxy) => {
        const missing = await get(`${proxy.url}/v2/library/thing/blobs/sha256:${'0'.repeat(64)}`);
        expect(missing.status).toBe(404);
        expect(JSON.parse(missing.body.toString()).errors[0].code).toBe('BLOB_UNKNOWN');
      },
      [{ path: /\/blobs\//, action: { kind: 'redirect' } }],
    );
  });

  it('drops a connection without answering, and setFaults replaces the rules', async () => {
    await withProxy(
      async (proxy) => {
        await expect(get(`${proxy.url}/v2/`)).rejects.toThrow(/socket hang up|ECONNRESET/);
        proxy.setFaults([]);
        expect((await get(`${proxy.url}/v2/`)).status).toBe(401);
      },
      [{ path: '/v2/', action: { kind: 'drop' } }],
    );
  });

  it('holds a request until release(), and stalls a body after N bytes until release()', async () => {
    await withProxy(
      async (proxy) => {
        const held = get(`${proxy.url}/v2/`);
        await until(() => proxy.held() === 1);
        const before = originSaw.length;
        expect(proxy.log).toHaveLength(0);
        proxy.release();
        expect((await held).status).toBe(401);
        expect(originSaw.length).toBe(before + 1);

        const chunks: Buffer[] = [];
        let resolveFirst: () => void = () => {};
        const firstBytes = new Promise<void>((r) => (resolveFirst = r));
        const stalled = new Promise<Buffer>((resolve, reject) => {
          http.get(`${proxy.url}${blobPath}`, { agent: false }, (res) => {
            res.on('data', (c: Buffer) => {
              chunks.push(c);
              if (Buffer.concat(chunks).length >= 5000) resolveFirst();
            });
            res.on('end', () => resolve(Buffer.concat(chunks)));
            res.on('error', reject);
          });
        });
        await firstBytes;
        await until(() => proxy.held() === 1);
        expect(Buffer.concat(chunks).length).toBe(5000);
        proxy.release();
        expect((await stalled).equals(blob)).toBe(true);
      },
      [
        { path: '/v2/', action: { kind: 'hold' } },
        { path: blobPath, action: { kind: 'stall', afterBytes: 5000 } },
      ],
    );
  });

  it('a stalled request whose client goes away frees its slot, and is logged once', async () => {
    await withProxy(
      async (proxy) => {
        const req = http.get(`${proxy.url}${blobPath}`, { agent: false }, (res) => res.resume());
        req.on('error', () => {});
        await until(() => proxy.held() === 1);
        req.destroy();
        await until(() => proxy.held() === 0);
        // Let the abandoned body's pipeline fail, then look at the log.
        await new Promise<void>((resolve) => http.get(`${proxy.url}/v2/`, { agent: false }, (res) => res.resume().on('end', resolve)));
        expect(proxy.log.filter((e) => e.path === blobPath).map((e) => e.fault)).toEqual(['stall']);
      },
      [{ path: blobPath, action: { kind: 'stall', afterBytes: 10 } }],
    );
  });
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}
