import { X509Certificate, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_ACCEPT } from '@berth/oci';
import { startRegistry, type RunningRegistry } from './registry.js';
import { seedImage } from './seed.js';
import { parseScope, startTokenServer, type TokenServer } from './token.js';
import { toolsMissing } from './tools.js';
import { sharedImagesDir } from './util.js';

const missing = toolsMissing(['docker-registry', 'skopeo', 'htpasswd', 'openssl']);
const images = sharedImagesDir();
if (missing) console.warn(`skipping real-registry harness tests: ${missing}`);
if (!images) console.warn('skipping seeding tests: ../shared/images not found next to the repository');

const ALPINE_INDEX = 'sha256:4fb1ae85431b2e9e7ac82264be8caf34c62375b29da4dac4e3aefbf736b54c19';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function req(url: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(url, { method, headers, redirect: 'manual' });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, json: () => JSON.parse(body.toString()) as Record<string, unknown> };
}

describe.skipIf(!!missing)('startRegistry (plain)', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('answers /v2/ on a loopback port and logs to a file', async () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const ping = await req(`${registry.url}/v2/`);
    expect(ping.status).toBe(200);
    expect(ping.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect((await readFile(registry.logFile, 'utf8')).length).toBeGreaterThan(0);
  });

  it.skipIf(!images)('seeds the real alpine index with digests preserved', async () => {
    const seeded = await seedImage({ registry, layout: path.join(images ?? '', 'alpine'), repository: 'library/alpine', tag: 'latest' });
    expect(seeded.digest.toString()).toBe(ALPINE_INDEX);
    const manifest = await req(`${registry.url}/v2/library/alpine/manifests/latest`, { Accept: MANIFEST_ACCEPT.join(', ') });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(ALPINE_INDEX);
    const index = manifest.json() as { manifests: Array<{ platform?: { architecture: string } }> };
    expect(index.manifests.map((m) => m.platform?.architecture).sort()).toEqual(['amd64', 'arm64', 'unknown']);
  });

  it('seeding a layout that does not exist fails with one line', async () => {
    await expect(seedImage({ registry, layout: '/nonexistent/layout', repository: 'x/y' })).rejects.toThrow(/^seed .*: not an OCI image layout/);
  });

  it('stop() kills the process and removes its data', async () => {
    const other = await startRegistry();
    await other.stop();
    await other.stop();
    await expect(fetch(`${other.url}/v2/`)).rejects.toThrow();
    expect(existsSync(other.dataDir)).toBe(false);
  });
});

describe.skipIf(!!missing)('startRegistry with htpasswd', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: { kind: 'htpasswd', users: [{ user: 'alice', password: 's3cret pass' }] } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('challenges with Basic and accepts only the right password', async () => {
    const anon = await req(`${registry.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm="berth-test-registry"/);
    expect((await req(`${registry.url}/v2/`, { Authorization: basic('alice', 'wrong') })).status).toBe(401);
    expect((await req(`${registry.url}/v2/`, { Authorization: basic('alice', 's3cret pass') })).status).toBe(200);
  });

  it.skipIf(!images)('seeds with credentials, and refuses without', async () => {
    const layout = path.join(images ?? '', 'busybox');
    await expect(seedImage({ registry, layout, repository: 'library/busybox' })).rejects.toThrow(/exited with/);
    const seeded = await seedImage({ registry, layout, repository: 'library/busybox', credentials: { username: 'alice', password: 's3cret pass' } });
    expect(seeded.reference).toBe(`${registry.host}/library/busybox:latest`);
  });
});

describe.skipIf(!!missing)('startTokenServer against the real registry', () => {
  let tokens: TokenServer;
  let registry: RunningRegistry;
  beforeAll(async () => {
    tokens = await startTokenServer({
      users: [
        { user: 'pusher', password: 'pw' },
        { user: 'reader', password: 'pw2', access: { 'library/*': ['pull'] } },
      ],
      anonymous: 'pull',
    });
    registry = await startRegistry({
      auth: { kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certPath },
    });
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  async function token(scope: string, authorization?: string): Promise<{ status: number; token?: string; body: Record<string, unknown> }> {
    const url = `${tokens.realm}?service=${encodeURIComponent(tokens.service)}&scope=${encodeURIComponent(scope)}`;
    const res = await req(url, authorization ? { Authorization: authorization } : {});
    const body = res.json();
    return { status: res.status, body, ...(typeof body.token === 'string' ? { token: body.token } : {}) };
  }

  it('the registry challenges with Bearer pointing at the token server', async () => {
    const ping = await req(`${registry.url}/v2/`);
    expect(ping.status).toBe(401);
    expect(ping.headers.get('www-authenticate')).toBe(`Bearer realm="${tokens.realm}",service="${tokens.service}"`);
  });

  it('hands out RS256 JWTs with x5c that verify against the certificate, with the docker response shape', async () => {
    const got = await token('repository:library/x:pull,push', basic('pusher', 'pw'));
    expect(got.status).toBe(200);
    expect(got.body.access_token).toBe(got.token);
    expect(got.body.expires_in).toBe(300);
    expect(typeof got.body.issued_at).toBe('string');
    const [h, c, s] = (got.token ?? '').split('.');
    const header = JSON.parse(Buffer.from(h ?? '', 'base64url').toString());
    const claims = JSON.parse(Buffer.from(c ?? '', 'base64url').toString());
    expect(header.alg).toBe('RS256');
    const cert = new X509Certificate(await readFile(tokens.certPath));
    expect(Buffer.from(header.x5c[0], 'base64').equals(cert.raw)).toBe(true);
    expect(verify('sha256', Buffer.from(`${h}.${c}`), cert.publicKey, Buffer.from(s ?? '', 'base64url'))).toBe(true);
    expect(claims).toMatchObject({ iss: tokens.issuer, aud: tokens.service, sub: 'pusher', access: [{ type: 'repository', name: 'library/x', actions: ['pull', 'push'] }] });
  });

  it('grants only what the user may do, rejects bad passwords, counts tokens per scope', async () => {
    tokens.resetCounts();
    const reader = await token('repository:library/x:pull,push', basic('reader', 'pw2'));
    expect(JSON.parse(Buffer.from((reader.token ?? '').split('.')[1] ?? '', 'base64url').toString()).access).toEqual([
      { type: 'repository', name: 'library/x', actions: ['pull'] },
    ]);
    const other = await token('repository:other/x:pull', basic('reader', 'pw2'));
    expect(JSON.parse(Buffer.from((other.token ?? '').split('.')[1] ?? '', 'base64url').toString()).access).toEqual([]);
    const bad = await token('repository:library/x:pull', basic('reader', 'nope'));
    expect(bad.status).toBe(401);
    expect(bad.body.details).toBe('incorrect username or password');
    expect(tokens.issued).toEqual({ 'repository:library/x:pull,push': 1, 'repository:other/x:pull': 1 });
    expect(tokens.requests.map((r) => r.status)).toEqual([200, 200, 401]);
  });

  it.skipIf(!images)('tokens work against the registry: push with the pusher, anonymous pull, no push for anonymous', async () => {
    const seeded = await seedImage({
      registry,
      layout: path.join(images ?? '', 'alpine'),
      repository: 'library/alpine',
      credentials: { username: 'pusher', password: 'pw' },
    });
    expect(seeded.digest.toString()).toBe(ALPINE_INDEX);
    // The registry refuses a missing or foreign token…
    const accept = { Accept: MANIFEST_ACCEPT.join(', ') };
    const noToken = await req(`${registry.url}/v2/library/alpine/manifests/latest`, accept);
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('www-authenticate')).toContain('scope="repository:library/alpine:pull"');
    // …and accepts an anonymous pull token.
    const anon = await token('repository:library/alpine:pull');
    const ok = await req(`${registry.url}/v2/library/alpine/manifests/latest`, { ...accept, Authorization: `Bearer ${anon.token}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('docker-content-digest')).toBe(ALPINE_INDEX);
    // An anonymous token never carries push, so an upload is refused.
    const anonPush = await token('repository:library/alpine:pull,push');
    const upload = await req(`${registry.url}/v2/library/alpine/blobs/uploads/`, { Authorization: `Bearer ${anonPush.token}` }, 'POST');
    expect(upload.status).toBe(401);
    expect(upload.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('parseScope splits type, name and actions', () => {
    expect(parseScope('repository:library/alpine:pull,push')).toEqual({ type: 'repository', name: 'library/alpine', actions: ['pull', 'push'] });
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
    expect(parseScope('nonsense')).toBeUndefined();
  });
});

describe.skipIf(!!missing)('startTokenServer policies', () => {
  it("'reject' refuses anonymous token requests; 'empty' gives a token without access; POST grants work", async () => {
    const reject = await startTokenServer({ anonymous: 'reject', users: [{ user: 'u', password: 'p' }] });
    // Reuse the key pair: 'empty' gives anonymous callers a token that grants nothing.
    const keyPair = { keyPem: '', certPem: await readFile(reject.certPath, 'utf8') };
    await expect(startTokenServer({ keyPair })).rejects.toThrow();
    const empty = await startTokenServer({ anonymous: 'empty' });
    try {
      const anon = await req(`${empty.realm}?service=${empty.service}&scope=repository:a/b:pull`);
      expect(anon.status).toBe(200);
      const claims = JSON.parse(Buffer.from(String(anon.json().token).split('.')[1] ?? '', 'base64url').toString());
      expect(claims).toMatchObject({ sub: '', access: [] });
      expect((await req(`${reject.realm}?service=${reject.service}&scope=repository:a/b:pull`)).status).toBe(401);
      const form = new URLSearchParams({ grant_type: 'password', username: 'u', password: 'p', service: reject.service, scope: 'repository:a/b:pull', client_id: 'berth' });
      const res = await fetch(reject.realm, { method: 'POST', body: form });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { access_token: string; refresh_token: string };
      expect(body.refresh_token).toBeTruthy();
      const again = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token, service: reject.service, scope: 'repository:a/b:pull', client_id: 'berth' });
      expect((await fetch(reject.realm, { method: 'POST', body: again })).status).toBe(200);
      const wrong = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'forged', service: reject.service });
      expect((await fetch(reject.realm, { method: 'POST', body: wrong })).status).toBe(401);
      expect(reject.issued).toEqual({ 'repository:a/b:pull': 2 });
    } finally {
      await reject.stop();
      await empty.stop();
    }
  });
});
