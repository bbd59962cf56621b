import { describe, expect, it } from 'vitest';
import { MediaType, Reference } from '@berth/oci';
import type { RegistryClient, RegistryClientOptions } from './client.js';
import { StaticCredentials } from './credentials.js';
import { testClient, useCleanups } from './test-support/cleanups.js';
import type { RetryEvent } from './transport.js';
import { FakeRegistry, startServer } from './test-support/fake-registry.js';
import { addImage, tempStore } from './test-support/images.js';
import { failure } from './test-support/failure.js';

const cleanups = useCleanups();
const client = (opts: RegistryClientOptions = {}): RegistryClient => testClient(cleanups, opts);

async function registry(init?: Parameters<typeof FakeRegistry.start>[0]): Promise<FakeRegistry> {
  const r = await FakeRegistry.start(init);
  cleanups.push(() => r.close());
  return r;
}

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = await startServer(() => undefined);
  const port = Number(s.host.split(':')[1]);
  await s.close();
  return port;
}

describe('redirects', () => {
  it('follows a redirect to another origin without the Authorization header', async () => {
    const reg = await registry({ auth: { kind: 'basic', users: { u: 'p' } } });
    const img = addImage(reg, 'app', ['v1']);
    const seen: Array<{ url: string; authorization: string | undefined }> = [];
    const cdn = await startServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(img.manifest.bytes);
    });
    cleanups.push(() => cdn.close());
    reg.intercept = (req, res) => {
      if (req.url !== '/v2/app/manifests/v1') return false;
      res.writeHead(302, { location: `${cdn.url}/signed/manifest?sig=abc` }).end();
      return true;
    };
    const c = client({ credentials: new StaticCredentials({ [reg.host]: { username: 'u', password: 'p' } }) });
    const r = await c.getManifest(Reference.parse(`${reg.host}/app:v1`));
    expect(r.digest.toString()).toBe(img.manifest.digest);
    expect(reg.hits('GET', '/v2/app/manifests/v1')[0]?.headers.authorization).toMatch(/^Basic /);
    expect(seen).toEqual([{ url: '/signed/manifest?sig=abc', authorization: undefined }]);
  });

  it('resolves a relative Location against the current URL and keeps auth on the same origin', async () => {
    const reg = await registry({ auth: { kind: 'basic', users: { u: 'p' } } });
    const img = addImage(reg, 'app', ['v1', 'real']);
    reg.intercept = (req, res) => {
      if (req.url === '/v2/app/manifests/v1') {
        res.writeHead(307, { location: 'real' }).end();
        return true;
      }
      return false;
    };
    const c = client({ credentials: new StaticCredentials({ [reg.host]: { username: 'u', password: 'p' } }) });
    const r = await c.getManifest(Reference.parse(`${reg.host}/app:v1`));
    expect(r.digest.toString()).toBe(img.manifest.digest);
    const real = reg.hits('GET', '/v2/app/manifests/real');
    expect(real).toHaveLength(1);
    expect(real[0]?.headers.authorization).toMatch(/^Basic /);
  });

  it('gives up after 5 redirects', async () => {
    const reg = await registry();
    let n = 0;
    reg.intercept = (req, res) => {
      if (!req.url?.startsWith('/loop') && !req.url?.includes('/manifests/')) return false;
      res.writeHead(302, { location: `/loop/${++n}` }).end();
      return true;
    };
    const err = await failure(client().getManifest(Reference.parse(`${reg.host}/app:v1`)));
    expect(err.code).toBe('EREGISTRY');
    expect(err.message).toMatch(/more than 5 redirects/);
    expect(n).toBe(6);
  });
});

describe('retries', () => {
  it('retries 500, 503 and 429, honouring Retry-After', async () => {
    const reg = await registry();
    const img = addImage(reg, 'app', ['v1']);
    const answers = [500, 503, 429];
    reg.intercept = (req, res) => {
      if (!req.url?.includes('/manifests/')) return false;
      const status = answers.shift();
      if (status === undefined) return false;
      reg.error(res, status, status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', 'try later', status === 429 ? { 'retry-after': '1' } : {});
      return true;
    };
    const events: RetryEvent[] = [];
    const c = client({ retry: { retries: 3, minDelayMs: 1, maxDelayMs: 1500 }, onRetry: (e) => events.push(e) });
    const r = await c.getManifest(Reference.parse(`${reg.host}/app:v1`));
    expect(r.digest.toString()).toBe(img.manifest.digest);
    expect(events.map((e) => e.reason)).toEqual(['HTTP 500', 'HTTP 503', 'HTTP 429']);
    expect(events[0]?.delayMs).toBeLessThanOrEqual(1);
    expect(events[1]?.delayMs).toBeLessThanOrEqual(2);
    expect(events[2]?.delayMs).toBe(1000);
    expect(reg.hits('GET', '/v2/app/manifests/v1')).toHaveLength(4);
  });

  it('caps Retry-After (seconds or HTTP date) at maxDelayMs', async () => {
    const reg = await registry();
    addImage(reg, 'app', ['v1']);
    const afters = ['3600', new Date(Date.now() + 3_600_000).toUTCString()];
    reg.intercept = (req, res) => {
      if (!req.url?.includes('/manifests/')) return false;
      const a = afters.shift();
      if (a === undefined) return false;
      reg.error(res, 429, 'TOOMANYREQUESTS', 'slow down', { 'retry-after': a });
      return true;
    };
    const events: RetryEvent[] = [];
    await client({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 20 }, onRetry: (e) => events.push(e) }).getManifest(Reference.parse(`${reg.host}/app:v1`));
    expect(events.map((e) => e.delayMs)).toEqual([20, 20]);
  });

  it('stops after the last retry with the registry error', async () => {
    const reg = await registry();
    reg.intercept = (req, res) => {
      if (!req.url?.includes('/manifests/')) return false;
      reg.error(res, 503, 'UNAVAILABLE', 'service unavailable');
      return true;
    };
    const err = await failure(client({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 } }).getManifest(Reference.parse(`${reg.host}/app:v1`)));
    expect(err.code).toBe('EREGISTRY');
    expect(err.message).toBe(`get manifest ${reg.host}/app:v1: unavailable: service unavailable (3 attempts)`);
    expect(err.details['attempts']).toBe(3);
    expect(reg.hits('GET', '/v2/app/manifests/v1')).toHaveLength(3);
  });

  it('does not retry a 404', async () => {
    const reg = await registry();
    const events: RetryEvent[] = [];
    await failure(client({ retry: { retries: 3, minDelayMs: 1 }, onRetry: (e) => events.push(e) }).getManifest(Reference.parse(`${reg.host}/nosuch:v1`)));
    expect(events).toEqual([]);
    expect(reg.hits('GET', '/v2/nosuch/manifests/v1')).toHaveLength(1);
  });

  it('retries a reset connection', async () => {
    const reg = await registry();
    const img = addImage(reg, 'app', ['v1']);
    let resets = 2;
    reg.intercept = (req, res) => {
      if (!req.url?.includes('/manifests/') || resets-- <= 0) return false;
      res.socket?.destroy();
      return true;
    };
    const events: RetryEvent[] = [];
    const r = await client({ retry: { retries: 3, minDelayMs: 1, maxDelayMs: 2 }, onRetry: (e) => events.push(e) }).getManifest(Reference.parse(`${reg.host}/app:v1`));
    expect(r.digest.toString()).toBe(img.manifest.digest);
    expect(events).toHaveLength(2);
  });

  it('a registry that refuses connections: ENETWORK after the retries', async () => {
    const port = await deadPort();
    const events: RetryEvent[] = [];
    const err = await failure(client({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 }, onRetry: (e) => events.push(e) }).getManifest(Reference.parse(`127.0.0.1:${port}/app:v1`)));
    expect(err.code).toBe('ENETWORK');
    expect(err.message).toMatch(new RegExp(`^get manifest 127\\.0\\.0\\.1:${port}/app:v1 \\(.*\\): .*ECONNREFUSED`));
    expect(events).toHaveLength(2);
  });
});

describe('manifests', () => {
  it('checks Docker-Content-Digest against the bytes', async () => {
    const reg = await registry();
    const img = addImage(reg, 'app', ['v1']);
    reg.intercept = (req, res) => {
      if (req.url !== '/v2/app/manifests/v1') return false;
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'docker-content-digest': `sha256:${'0'.repeat(64)}` }).end(img.manifest.bytes);
      return true;
    };
    const err = await failure(client().getManifest(Reference.parse(`${reg.host}/app:v1`)));
    expect(err.code).toBe('EDIGEST_MISMATCH');
    expect(err.message).toContain(`Docker-Content-Digest says sha256:${'0'.repeat(64)} but the content has ${img.manifest.digest}`);
  });

  it('checks the bytes against the digest asked for', async () => {
    const reg = await registry();
    const a = addImage(reg, 'app', ['a']);
    const b = addImage(reg, 'app', ['b']);
    // A lying registry serves b's manifest for a's digest (without a digest header).
    reg.intercept = (req, res) => {
      if (req.url !== `/v2/app/manifests/${a.manifest.digest}`) return false;
      res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(b.manifest.bytes);
      return true;
    };
    const err = await failure(client().getManifest(Reference.parse(`${reg.host}/app@${a.manifest.digest}`)));
    expect(err.code).toBe('EDIGEST_MISMATCH');
    expect(err.details).toMatchObject({ expected: a.manifest.digest, actual: b.manifest.digest });
  });

  it('refuses schema 1, by media type or by schemaVersion', async () => {
    const reg = await registry();
    const v1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'app', tag: 'old', fsLayers: [] }));
    reg.manifests.set('app@old', { bytes: v1, mediaType: MediaType.DockerManifestV1Signed });
    reg.manifests.set('app@json', { bytes: v1, mediaType: 'application/json' });
    for (const tag of ['old', 'json']) {
      const err = await failure(client().getManifest(Reference.parse(`${reg.host}/app:${tag}`)));
      expect(err.code).toBe('EUNSUPPORTED');
      expect(err.message).toBe(`get manifest ${reg.host}/app:${tag}: schema 1 manifests are not supported; push the image again with a current client (schema 2 or OCI)`);
    }
  });

  it('refuses manifests over 4 MiB, with or without Content-Length', async () => {
    const reg = await registry();
    const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
    for (const chunked of [false, true]) {
      reg.intercept = (req, res) => {
        if (!req.url?.includes('/manifests/')) return false;
        res.writeHead(200, chunked ? { 'content-type': MediaType.OciManifest } : { 'content-type': MediaType.OciManifest, 'content-length': String(huge.length) });
        res.end(huge);
        return true;
      };
      const err = await failure(client().getManifest(Reference.parse(`${reg.host}/app:v1`)));
      expect(err.code).toBe('ETOO_LARGE');
      expect(err.message).toMatch(/4194304-byte limit/);
    }
  });

  it('takes the media type from the content (Docker list, OCI manifest) and rejects unknown ones', async () => {
    const reg = await registry();
    const img = addImage(reg, 'app', ['v1'], { mediaType: MediaType.DockerManifest });
    const r = await client().getManifest(Reference.parse(`${reg.host}/app:v1`));
    expect(r.mediaType).toBe(MediaType.DockerManifest);
    expect(r.descriptor).toEqual({ mediaType: MediaType.DockerManifest, digest: img.manifest.digest, size: img.manifest.size });
    reg.manifests.set('app@weird', { bytes: Buffer.from('{"schemaVersion":2,"mediaType":"application/x-weird"}'), mediaType: 'application/x-weird' });
    const err = await failure(client().getManifest(Reference.parse(`${reg.host}/app:weird`)));
    expect(err.code).toBe('EUNSUPPORTED');
  });

  it('HEAD gives the descriptor, undefined for 404, and falls back to GET without a digest header', async () => {
    const reg = await registry();
    const img = addImage(reg, 'app', ['v1']);
    const c = client();
    expect(await c.headManifest(Reference.parse(`${reg.host}/app:v1`))).toEqual({ mediaType: MediaType.OciManifest, digest: img.manifest.digest, size: img.manifest.size });
    expect(reg.hits('GET', '/v2/app/manifests/')).toHaveLength(0);
    expect(await c.headManifest(Reference.parse(`${reg.host}/app:nope`))).toBeUndefined();
    reg.intercept = (req, res) => {
      if (req.method !== 'HEAD' || !req.url?.includes('/manifests/')) return false;
      res.writeHead(200, { 'content-type': MediaType.OciManifest }).end();
      return true;
    };
    expect(await c.headManifest(Reference.parse(`${reg.host}/app:v1`))).toEqual({ mediaType: MediaType.OciManifest, digest: img.manifest.digest, size: img.manifest.size });
    expect(reg.hits('GET', '/v2/app/manifests/v1')).toHaveLength(1);
  });
});

describe('endpoints and mirrors', () => {
  it('docker.io goes to registry-1.docker.io; loopback and insecure hosts may fall back to HTTP', () => {
    const c = client({ config: { registries: { 'docker.io': { mirrors: ['http://127.0.0.1:5000'] }, 'corp.example:443': { insecure: true }, 'ca.example': { ca: '/x.pem' } } } });
    expect(c.transport.endpoints('docker.io', 'pull').map((e) => e.candidates)).toEqual([['http://127.0.0.1:5000'], ['https://registry-1.docker.io']]);
    expect(c.transport.endpoints('docker.io', 'push').map((e) => e.candidates)).toEqual([['https://registry-1.docker.io']]);
    expect(c.transport.endpoints('localhost:5000', 'pull')[0]?.candidates).toEqual(['https://localhost:5000', 'http://localhost:5000']);
    expect(c.transport.endpoints('[::1]:5000', 'pull')[0]?.candidates).toEqual(['https://[::1]:5000', 'http://[::1]:5000']);
    expect(c.transport.endpoints('corp.example:443', 'pull')[0]?.candidates).toEqual(['https://corp.example:443', 'http://corp.example:443']);
    expect(c.transport.endpoints('ca.example', 'pull')[0]?.candidates).toEqual(['https://ca.example']);
    expect(c.transport.endpoints('quay.io', 'pull')[0]?.candidates).toEqual(['https://quay.io']);
  });

  it('tries mirrors in order, each with the retry policy, falling back on connection errors and 5xx after it, on 404 at once', async () => {
    const upstream = await registry();
    const img = addImage(upstream, 'library/app', ['v1']);
    const m404 = await registry();
    const m500 = await registry();
    m500.intercept = (req, res) => {
      if (req.url === '/v2/') return false;
      m500.error(res, 500, 'UNKNOWN', 'boom');
      return true;
    };
    const dead = await deadPort();
    const c = client({
      config: { registries: { [upstream.host]: { mirrors: [`http://127.0.0.1:${dead}`, m404.url, m500.url] } } },
      retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 },
    });
    const r = await c.getManifest(Reference.parse(`${upstream.host}/library/app:v1`));
    expect(r.digest.toString()).toBe(img.manifest.digest);
    // A 404 falls through at once; a 500 is retried (2 retries) before it does.
    expect(m404.hits('GET', '/v2/library/app/manifests/v1')).toHaveLength(1);
    expect(m500.hits('GET', '/v2/library/app/manifests/v1')).toHaveLength(3);
    expect(upstream.hits('GET', '/v2/library/app/manifests/v1')).toHaveLength(1);
  });

  it("keeps the mirror's answer when the registry itself cannot be reached (one line)", async () => {
    const mirror = await registry();
    const dead = await deadPort();
    const upstream = `127.0.0.1:${dead}`;
    const c = client({ config: { registries: { [upstream]: { mirrors: [mirror.url] } } }, retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 } });
    const ref = Reference.parse(`${upstream}/library/nosuch:latest`);
    const err = await failure(c.getManifest(ref));
    expect(err.code).toBe('ENETWORK');
    expect(err.message).toMatch(
      new RegExp(`^get manifest ${upstream.replace(/\./g, '\\.')}/library/nosuch:latest: mirror ${mirror.url.replace(/\./g, '\\.')} answered 404 manifest unknown; ${upstream.replace(/\./g, '\\.')}: cannot connect \\(connect ECONNREFUSED\\) \\(2 attempts\\)$`),
    );
    expect(err.details['reason']).toBe(err.message.slice(`get manifest ${ref}: `.length));
    // HEAD goes the same way.
    const head = await failure(c.headManifest(ref));
    expect(head.message).toContain(`mirror ${mirror.url} answered 404 manifest unknown; ${upstream}: `);
    // A blob too.
    const { store, cleanup } = await tempStore();
    cleanups.push(cleanup);
    const digest = `sha256:${'ab'.repeat(32)}`;
    const ingest = await store.ingest({ digest, size: 10 });
    const blobErr = await failure(c.fetchBlob({ reference: ref, descriptor: { mediaType: 'x', digest, size: 10 }, ingest }));
    expect(blobErr.code).toBe('ENETWORK');
    expect(blobErr.message).toMatch(new RegExp(`^fetch blob abababababab of .*: mirror ${mirror.url.replace(/\./g, '\\.')} answered 404 blob unknown[^;]*; ${upstream.replace(/\./g, '\\.')}: cannot connect`));
  });

  it('a mirror that cannot be connected to after its retries is passed over by the next requests, which still name it', async () => {
    const upstream = await registry();
    const img = addImage(upstream, 'library/app', ['v1']);
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const events: RetryEvent[] = [];
    const c = client({ config: { registries: { [upstream.host]: { mirrors: [dead] } } }, retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 }, onRetry: (e) => events.push(e) });
    const ref = Reference.parse(`${upstream.host}/library/app:v1`);
    expect((await c.getManifest(ref)).digest.toString()).toBe(img.manifest.digest);
    // The first request gave the mirror its retries…
    expect(events.filter((e) => e.url.startsWith(dead))).toHaveLength(2);
    // …the next ones go straight to the registry.
    expect((await c.headManifest(ref))?.digest).toBe(img.manifest.digest);
    expect(events.filter((e) => e.url.startsWith(dead))).toHaveLength(2);
    // And when the registry fails too, the mirror's failure is still in the one line.
    const err = await failure(c.getManifest(Reference.parse(`${upstream.host}/library/nosuch:v1`)));
    expect(err.message).toBe(`get manifest ${upstream.host}/library/nosuch:v1: manifest unknown`);
    upstream.intercept = (req, res) => {
      if (req.url === '/v2/') return false;
      upstream.error(res, 503, 'UNAVAILABLE', 'service unavailable');
      return true;
    };
    const down = await failure(c.getManifest(ref));
    expect(down.message).toBe(
      `get manifest ${ref}: mirror ${dead}: cannot connect (connect ECONNREFUSED) (3 attempts); ${upstream.host} answered 503 unavailable: service unavailable (3 attempts)`,
    );
  });

  it("an answer from the registry itself stands alone (the mirror's 404 is not added)", async () => {
    const upstream = await registry();
    const mirror = await registry();
    const c = client({ config: { registries: { [upstream.host]: { mirrors: [mirror.url] } } } });
    const err = await failure(c.getManifest(Reference.parse(`${upstream.host}/library/nosuch:latest`)));
    expect(err.code).toBe('ENOT_FOUND');
    expect(err.message).toBe(`get manifest ${upstream.host}/library/nosuch:latest: manifest unknown`);
  });

  it('a mirror that has the image answers alone', async () => {
    const upstream = await registry();
    const mirror = await registry();
    const img = addImage(mirror, 'library/app', ['v1']);
    const c = client({ config: { registries: { [upstream.host]: { mirrors: [mirror.url] } } } });
    expect((await c.getManifest(Reference.parse(`${upstream.host}/library/app:v1`))).digest.toString()).toBe(img.manifest.digest);
    expect(upstream.requests).toEqual([]);
  });

  it('push never uses mirrors', async () => {
    const upstream = await registry();
    const mirror = await registry();
    const c = client({ config: { registries: { [upstream.host]: { mirrors: [mirror.url] } } } });
    const data = Buffer.from('hello');
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(data).digest('hex')}`;
    const { Readable } = await import('node:stream');
    const ref = Reference.parse(`${upstream.host}/app:v1`);
    expect(await c.uploadBlob({ reference: ref, descriptor: { mediaType: 'application/octet-stream', digest, size: data.length }, open: () => Readable.from([data]) })).toBe('uploaded');
    expect(await c.blobExists(ref, digest)).toBe(true);
    expect(mirror.requests).toEqual([]);
  });
});
