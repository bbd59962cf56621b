import { afterEach, describe, expect, it } from 'vitest';
import { Reference } from '@berth/oci';
import { RegistryClient } from './client.js';
import { StaticCredentials, type AuthCredentials } from './credentials.js';
import { FakeRegistry, type AuthMode } from './test-support/fake-registry.js';
import { addImage } from './test-support/images.js';
import { failure } from './test-support/failure.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(auth: AuthMode, creds: Record<string, AuthCredentials> = {}, now?: () => number) {
  const reg = await FakeRegistry.start({ auth });
  const client = new RegistryClient({ credentials: new StaticCredentials(Object.fromEntries(Object.entries(creds).map(([k, v]) => [k === 'REG' ? reg.host : k, v]))), retry: { retries: 0 }, ...(now ? { now } : {}) });
  cleanups.push(() => reg.close(), () => client.close());
  return { reg, client, ref: (s: string) => Reference.parse(`${reg.host}/${s}`) };
}

describe('bearer tokens', () => {
  it('fetches one token per scope with Basic credentials and reuses it', async () => {
    const { reg, client, ref } = await setup({ kind: 'bearer', users: { alice: 's3cret' }, expiresIn: 300 }, { REG: { username: 'alice', password: 's3cret' } });
    const img = addImage(reg, 'team/app', ['v1']);
    addImage(reg, 'other', ['v1']);
    const r = await client.getManifest(ref('team/app:v1'));
    expect(r.digest.toString()).toBe(img.manifest.digest);
    await client.getManifest(ref('team/app:v1'));
    await client.headManifest(ref('team/app:v1'));
    expect(await client.blobExists(ref('team/app:v1'), img.config.digest)).toBe(true);
    expect(reg.tokenRequests).toHaveLength(1);
    const tq = new URL(reg.tokenRequests[0]?.url ?? '', reg.url);
    expect(tq.searchParams.get('service')).toBe('fake-registry');
    expect(tq.searchParams.getAll('scope')).toEqual(['repository:team/app:pull']);
    expect(tq.searchParams.get('account')).toBe('alice');
    expect(reg.tokenRequests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    // The ping learnt the challenge: no request went out unauthenticated after it.
    expect(reg.requests.filter((q) => q.url !== '/v2/' && !q.headers.authorization)).toEqual([]);
    // Another repository is another scope: a second token.
    await client.getManifest(ref('other:v1'));
    expect(reg.tokenRequests).toHaveLength(2);
    expect(new URL(reg.tokenRequests[1]?.url ?? '', reg.url).searchParams.getAll('scope')).toEqual(['repository:other:pull']);
  });

  it('refreshes a token once it expires (default 60 s without expires_in)', async () => {
    let now = 1_000_000;
    const { reg, client, ref } = await setup({ kind: 'bearer', anonymousPull: true }, {}, () => now);
    addImage(reg, 'app', ['v1']);
    await client.getManifest(ref('app:v1'));
    now += 30_000;
    await client.getManifest(ref('app:v1'));
    expect(reg.tokenRequests).toHaveLength(1);
    now += 31_000; // past 60 s
    await client.getManifest(ref('app:v1'));
    expect(reg.tokenRequests).toHaveLength(2);
    now += 10_000;
    await client.getManifest(ref('app:v1'));
    expect(reg.tokenRequests).toHaveLength(2);
  });

  it('honours expires_in and accepts access_token', async () => {
    let now = 0;
    const { reg, client, ref } = await setup({ kind: 'bearer', anonymousPull: true, expiresIn: 600, accessTokenField: true }, {}, () => now);
    addImage(reg, 'app', ['v1']);
    await client.getManifest(ref('app:v1'));
    now += 500_000;
    await client.getManifest(ref('app:v1'));
    expect(reg.tokenRequests).toHaveLength(1);
    now += 100_000;
    await client.getManifest(ref('app:v1'));
    expect(reg.tokenRequests).toHaveLength(2);
  });

  it('shares one token fetch between concurrent requests', async () => {
    const { reg, client, ref } = await setup({ kind: 'bearer', anonymousPull: true });
    addImage(reg, 'app', ['v1']);
    await Promise.all([1, 2, 3, 4].map(() => client.getManifest(ref('app:v1'))));
    expect(reg.tokenRequests).toHaveLength(1);
  });

  it('re-authenticates once when the registry rejects a cached token', async () => {
    const { reg, client, ref } = await setup({ kind: 'bearer', anonymousPull: true, expiresIn: 3600 });
    addImage(reg, 'app', ['v1']);
    await client.getManifest(ref('app:v1'));
    // The registry forgets its tokens (restart, key rotation): the next request gets a 401.
    (reg as unknown as { tokens: Map<string, unknown> }).tokens.clear();
    await client.getManifest(ref('app:v1'));
    expect(reg.tokenRequests).toHaveLength(2);
    const manifestGets = reg.hits('GET', '/v2/app/manifests/v1');
    expect(manifestGets).toHaveLength(3);
  });

  it('exchanges an identity token with the refresh_token grant (POST form)', async () => {
    const { reg, client, ref } = await setup({ kind: 'bearer', refreshTokens: { 'refresh-abc': 'bob' } }, { REG: { identityToken: 'refresh-abc' } });
    addImage(reg, 'private', ['v1']);
    await client.getManifest(ref('private:v1'));
    expect(reg.tokenRequests).toHaveLength(1);
    expect(reg.tokenRequests[0]?.method).toBe('POST');
    expect(reg.tokenRequests[0]?.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('without access: "unauthorized: authentication required" once, after one re-auth', async () => {
    const { reg, client, ref } = await setup({ kind: 'bearer', users: { alice: 'pw' } });
    addImage(reg, 'private', ['v1']);
    const err = await failure(client.getManifest(ref('private:v1')));
    expect(err.code).toBe('EUNAUTHORIZED');
    expect(err.message).toBe(`get manifest ${reg.host}/private:v1: unauthorized: authentication required`);
    expect(reg.hits('GET', '/v2/private/manifests/v1')).toHaveLength(2);
  });

  it('bad credentials at the token server: EUNAUTHORIZED with its words', async () => {
    const { reg, client, ref } = await setup({ kind: 'bearer', users: { alice: 'pw' } }, { REG: { username: 'alice', password: 'wrong' } });
    addImage(reg, 'private', ['v1']);
    const err = await failure(client.getManifest(ref('private:v1')));
    expect(err.code).toBe('EUNAUTHORIZED');
    expect(err.message).toMatch(/get token from http:\/\/127\.0\.0\.1:\d+\/token: unauthorized: incorrect username or password$/);
  });
});

describe('basic and anonymous', () => {
  it('sends Basic credentials when the registry asks for Basic', async () => {
    const { reg, client, ref } = await setup({ kind: 'basic', users: { u: 'p:w' } }, { REG: { username: 'u', password: 'p:w' } });
    const img = addImage(reg, 'app', ['v1']);
    expect((await client.getManifest(ref('app:v1'))).digest.toString()).toBe(img.manifest.digest);
    const get = reg.hits('GET', '/v2/app/manifests/v1');
    expect(get).toHaveLength(1);
    expect(get[0]?.headers.authorization).toBe(`Basic ${Buffer.from('u:p:w').toString('base64')}`);
    expect(reg.tokenRequests).toHaveLength(0);
  });

  it('wrong Basic credentials are not retried in a loop', async () => {
    const { reg, client, ref } = await setup({ kind: 'basic', users: { u: 'p' } }, { REG: { username: 'u', password: 'x' } });
    addImage(reg, 'app', ['v1']);
    const err = await failure(client.getManifest(ref('app:v1')));
    expect(err.code).toBe('EUNAUTHORIZED');
    expect(reg.hits('GET', '/v2/app/manifests/v1')).toHaveLength(1);
  });

  it('anonymous registries get no Authorization header', async () => {
    const { reg, client, ref } = await setup({ kind: 'none' }, { REG: { username: 'u', password: 'p' } });
    addImage(reg, 'app', ['v1']);
    await client.getManifest(ref('app:v1'));
    expect(reg.requests.every((q) => q.headers.authorization === undefined)).toBe(true);
  });
});

describe('registry errors', () => {
  it('404 uses the registry error body: manifest unknown', async () => {
    const { reg, client, ref } = await setup({ kind: 'none' });
    const err = await failure(client.getManifest(ref('nosuch:latest')));
    expect(err.code).toBe('ENOT_FOUND');
    expect(err.message).toBe(`get manifest ${reg.host}/nosuch:latest: manifest unknown`);
    expect(err.details['status']).toBe(404);
  });

  it('403 is EDENIED; a body without JSON gets the default words', async () => {
    const { reg, client, ref } = await setup({ kind: 'none' });
    reg.intercept = (req, res) => {
      if (!req.url?.includes('/manifests/')) return false;
      res.writeHead(403, { 'content-type': 'text/html' }).end('<html>nope</html>');
      return true;
    };
    const err = await failure(client.getManifest(ref('app:v1')));
    expect(err.code).toBe('EDENIED');
    expect(err.message).toBe(`get manifest ${reg.host}/app:v1: denied: requested access to the resource is denied`);
  });

  it('a hostile multi-line error message stays on one bounded line', async () => {
    const { reg, client, ref } = await setup({ kind: 'none' });
    reg.intercept = (req, res) => {
      if (!req.url?.includes('/manifests/')) return false;
      reg.error(res, 400, 'MANIFEST_INVALID', `bad\nthing\r\n${'x'.repeat(5000)}`);
      return true;
    };
    const err = await failure(client.getManifest(ref('app:v1')));
    expect(err.code).toBe('EREGISTRY');
    expect(err.message.length).toBeLessThan(500);
    expect(err.message).toContain('manifest invalid: bad thing');
  });
});
