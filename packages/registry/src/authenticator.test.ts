import { afterEach, describe, expect, it } from 'vitest';
import { Authenticator } from './auth.js';
import { StaticCredentials } from './credentials.js';
import type { Endpoint } from './endpoints.js';
import { Pinger } from './ping.js';
import { FakeRegistry, type AuthMode } from './test-support/fake-registry.js';
import { Wire } from './wire.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

async function layer(auth: AuthMode, creds?: { username: string; password: string }): Promise<{ reg: FakeRegistry; ep: Endpoint; pinger: Pinger; auth: Authenticator; now: { t: number } }> {
  const reg = await FakeRegistry.start({ auth });
  closers.push(() => reg.close());
  const wire = new Wire({ config: { registries: {} }, userAgent: 'berth-test', timeoutMs: 5_000 });
  closers.push(() => wire.close());
  const pinger = new Pinger(wire);
  const now = { t: 1_000_000 };
  const a = new Authenticator({ wire, pinger, credentials: new StaticCredentials(creds ? { [reg.host]: creds } : {}), now: () => now.t });
  const ep = { registry: reg.host, host: reg.host, candidates: [reg.url], mirror: false };
  await pinger.ensure(ep, undefined);
  return { reg, ep, pinger, auth: a, now };
}

describe('auth layer', () => {
  it('anonymous registries get no header; Basic ones get the credentials', async () => {
    const anon = await layer({ kind: 'none' });
    expect(await anon.auth.authorization(anon.ep, ['repository:a:pull'], undefined)).toBeUndefined();
    const basic = await layer({ kind: 'basic', users: { alice: 'pw' } });
    expect(await basic.auth.authorization(basic.ep, ['repository:a:pull'], undefined)).toBeUndefined();
    const withCreds = await layer({ kind: 'basic', users: { alice: 'pw' } }, { username: 'alice', password: 'pw' });
    expect(await withCreds.auth.authorization(withCreds.ep, [], undefined)).toBe(`Basic ${Buffer.from('alice:pw').toString('base64')}`);
  });

  it('one Bearer token per scope set (order and repeats do not matter) until it expires', async () => {
    const { reg, ep, auth, now } = await layer({ kind: 'bearer', anonymousPull: true, expiresIn: 100 });
    const h1 = await auth.authorization(ep, ['repository:a:pull', 'repository:b:pull'], undefined);
    const h2 = await auth.authorization(ep, ['repository:b:pull', 'repository:a:pull', 'repository:a:pull'], undefined);
    expect(h1).toMatch(/^Bearer [0-9a-f]+$/);
    expect(h2).toBe(h1);
    expect(reg.tokenRequests).toHaveLength(1);
    expect(new URL(reg.tokenRequests[0]?.url ?? '', reg.url).searchParams.getAll('scope')).toEqual(['repository:a:pull', 'repository:b:pull']);
    now.t += 89_000; // 100 s less a tenth (10 s) of margin: still fresh
    await auth.authorization(ep, ['repository:a:pull', 'repository:b:pull'], undefined);
    expect(reg.tokenRequests).toHaveLength(1);
    now.t += 2_000;
    expect(await auth.authorization(ep, ['repository:a:pull', 'repository:b:pull'], undefined)).not.toBe(h1);
    expect(reg.tokenRequests).toHaveLength(2);
  });

  it("a 401's challenge: its scope is added and a fresh token fetched; no challenge or the same Basic credentials: nothing to retry with", async () => {
    const { reg, ep, auth, pinger } = await layer({ kind: 'bearer', anonymousPull: true });
    const first = await auth.authorization(ep, ['repository:a:pull'], undefined);
    const again = await auth.reauthenticate(ep, {
      wwwAuthenticate: `Bearer realm="${reg.url}/token",service="fake-registry",scope="repository:b:pull",error="insufficient_scope"`,
      scopes: ['repository:a:pull'],
      previous: first,
      signal: undefined,
    });
    expect(again?.scopes).toEqual(['repository:a:pull', 'repository:b:pull']);
    expect(again?.authorization).toMatch(/^Bearer /);
    expect(again?.authorization).not.toBe(first);
    expect(new URL(reg.tokenRequests.at(-1)?.url ?? '', reg.url).searchParams.getAll('scope')).toEqual(['repository:a:pull', 'repository:b:pull']);
    expect(await auth.reauthenticate(ep, { wwwAuthenticate: undefined, scopes: [], previous: first, signal: undefined })).toBeUndefined();

    const basic = await layer({ kind: 'basic', users: { alice: 'pw' } }, { username: 'alice', password: 'wrong' });
    const sent = await basic.auth.authorization(basic.ep, [], undefined);
    expect(await basic.auth.reauthenticate(basic.ep, { wwwAuthenticate: 'Basic realm="fake"', scopes: [], previous: sent, signal: undefined })).toBeUndefined();
    expect(pinger.challenge(ep)?.params['scope']).toBe('repository:b:pull'); // the newer challenge is the endpoint's from now on
  });

  it('login check: a token request with the credentials, refused in the token server\'s words', async () => {
    const { ep, auth, pinger } = await layer({ kind: 'bearer', users: { alice: 'pw' } });
    const origin = pinger.origin(ep) as string;
    await auth.verify(ep, { username: 'alice', password: 'pw' }, { origin, doing: 'log in', signal: undefined });
    await expect(auth.verify(ep, { username: 'alice', password: 'nope' }, { origin, doing: 'log in', signal: undefined })).rejects.toMatchObject({
      code: 'EUNAUTHORIZED',
      message: expect.stringContaining('incorrect username or password'),
    });
  });
});
