// Authentication against a real registry: htpasswd Basic auth with credentials from a
// DOCKER_CONFIG directory, and the full Bearer token flow (`auth: token`) with the
// harness's token service, plus the 401/403/404 messages a user sees.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError, parsePlatform, Reference } from '@berth/oci';
import { login, logout, pullImage, pushImage, type RegistryClient } from '@berth/registry';
import type { Store } from '@berth/store';
import {
  makeTempDir,
  runChecked,
  seedImage,
  startFaultProxy,
  startRegistry,
  startTokenServer,
  type RunningRegistry,
  type TempDir,
  type TokenServer,
} from '@berth/testing';
import { ALPINE, client, dockerConfig, freshStore, sharedImagesSkip, verifyStoreBlobs } from '../helpers/registry.js';

const { images, skip } = sharedImagesSkip('auth integration tests');
const amd64 = parsePlatform('linux/amd64');

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('berth-auth-it-');
});
afterAll(async () => {
  await tmp?.cleanup();
});

async function pullError(c: RegistryClient, store: Store, ref: string): Promise<Error & { code?: string }> {
  const err = await pullImage({ client: c, store, reference: Reference.parse(ref), platform: amd64 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `pull ${ref} should fail`).toBeInstanceOf(Error);
  return err as Error & { code?: string };
}

describe.skipIf(!!skip)('Basic auth (htpasswd)', () => {
  let registry: RunningRegistry;
  const user = { username: 'alice', password: 'correct horse' };

  beforeAll(async () => {
    registry = await startRegistry({ auth: { kind: 'htpasswd', users: [{ user: user.username, password: user.password }] } });
    await seedImage({ registry, layout: path.join(images ?? '', 'alpine'), repository: 'library/alpine', credentials: user });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pulls with credentials from a DOCKER_CONFIG dir', async () => {
    const dir = await dockerConfig(path.join(tmp.path, 'basic-ok'), { [registry.host]: user });
    const c = client({ dockerConfigDir: dir });
    try {
      const store = await freshStore(tmp, 'basic-ok');
      const result = await pullImage({ client: c, store, reference: Reference.parse(`${registry.host}/library/alpine`), platform: amd64 });
      expect(result.descriptor.digest).toBe(ALPINE.amd64);
      await verifyStoreBlobs(store.root);
    } finally {
      await c.close();
    }
  });

  it('without credentials: a one-line 401 naming the pull', async () => {
    const c = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'basic-none')) });
    try {
      const store = await freshStore(tmp, 'basic-none');
      const err = await pullError(c, store, `${registry.host}/library/alpine:latest`);
      expect(err.code).toBe('EUNAUTHORIZED');
      expect(err.message).toBe(`pull ${registry.host}/library/alpine:latest: unauthorized: authentication required`);
      expect(await store.listTags()).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('with a wrong password: 401 too, nothing stored', async () => {
    const dir = await dockerConfig(path.join(tmp.path, 'basic-wrong'), { [registry.host]: { username: 'alice', password: 'nope' } });
    const c = client({ dockerConfigDir: dir });
    try {
      const store = await freshStore(tmp, 'basic-wrong');
      const err = await pullError(c, store, `${registry.host}/library/alpine:latest`);
      expect(err.code).toBe('EUNAUTHORIZED');
      expect(err.message.split('\n')).toHaveLength(1);
      expect(await verifyStoreBlobs(store.root)).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('login verifies and stores credentials that a later pull uses; logout removes them', async () => {
    const configDir = path.join(tmp.path, 'basic-login');
    await mkdir(configDir, { recursive: true });
    const verify = client({ dockerConfigDir: configDir });
    try {
      await expect(login({ registry: registry.host, username: 'alice', password: 'nope', configDir, verify })).rejects.toMatchObject({ code: 'EUNAUTHORIZED' });
      await login({ registry: registry.host, username: user.username, password: user.password, configDir, verify });
    } finally {
      await verify.close();
    }
    const c = client({ dockerConfigDir: configDir });
    try {
      const result = await pullImage({ client: c, store: await freshStore(tmp, 'basic-login'), reference: Reference.parse(`${registry.host}/library/alpine`), platform: amd64 });
      expect(result.descriptor.digest).toBe(ALPINE.amd64);
    } finally {
      await c.close();
    }
    expect(await logout({ registry: registry.host, configDir })).toBe(true);
    const after = client({ dockerConfigDir: configDir });
    try {
      const err = await pullError(after, await freshStore(tmp, 'basic-logout'), `${registry.host}/library/alpine:latest`);
      expect(err.code).toBe('EUNAUTHORIZED');
    } finally {
      await after.close();
    }
  });
});

describe.skipIf(!!skip)('Bearer token flow (auth: token)', () => {
  let tokens: TokenServer;
  let registry: RunningRegistry;
  const pusher = { username: 'pusher', password: 'push-pw' };
  const reader = { username: 'reader', password: 'read-pw' };

  beforeAll(async () => {
    tokens = await startTokenServer({
      users: [
        { user: pusher.username, password: pusher.password },
        { user: reader.username, password: reader.password, access: { 'library/*': ['pull'] } },
      ],
      anonymous: 'pull',
    });
    registry = await startRegistry({
      auth: { kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certPath },
    });
    await seedImage({ registry, layout: path.join(images ?? '', 'alpine'), repository: 'library/alpine', credentials: pusher });
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  it('anonymous pull allowed: one token for the whole pull (index, manifest, config, layer)', async () => {
    tokens.setAnonymous('pull');
    tokens.resetCounts();
    const c = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'tok-anon')) });
    try {
      const store = await freshStore(tmp, 'tok-anon');
      const result = await pullImage({ client: c, store, reference: Reference.parse(`${registry.host}/library/alpine:latest`), platform: amd64 });
      expect(result.descriptor.digest).toBe(ALPINE.amd64);
      expect(tokens.issued).toEqual({ 'repository:library/alpine:pull': 1 });
      expect(tokens.requests[0]).toMatchObject({ method: 'GET', status: 200, access: [{ type: 'repository', name: 'library/alpine', actions: ['pull'] }] });
      expect(tokens.requests[0]?.user).toBeUndefined();
      // The same client pulling again reuses its token.
      await pullImage({ client: c, store: await freshStore(tmp, 'tok-anon-2'), reference: Reference.parse(`${registry.host}/library/alpine:latest`), platform: parsePlatform('linux/arm64') });
      expect(tokens.tokenCount()).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('anonymous pull denied: a one-line 401; with credentials it works, one token per scope', async () => {
    tokens.setAnonymous('empty');
    tokens.resetCounts();
    const anon = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'tok-denied')) });
    try {
      const err = await pullError(anon, await freshStore(tmp, 'tok-denied'), `${registry.host}/library/alpine:latest`);
      expect(err.code).toBe('EUNAUTHORIZED');
      expect(err.message).toMatch(new RegExp(`^pull ${registry.host.replace(/\./g, '\\.')}/library/alpine:latest: unauthorized: authentication required`));
      expect(err.message.split('\n')).toHaveLength(1);
    } finally {
      await anon.close();
      tokens.setAnonymous('pull');
    }
    tokens.setAnonymous('reject');
    tokens.resetCounts();
    const c = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'tok-reader'), { [registry.host]: reader }) });
    try {
      const store = await freshStore(tmp, 'tok-reader');
      const result = await pullImage({ client: c, store, reference: Reference.parse(`${registry.host}/library/alpine:latest`), platform: amd64 });
      expect(result.descriptor.digest).toBe(ALPINE.amd64);
      expect(tokens.issued).toEqual({ 'repository:library/alpine:pull': 1 });
      expect(tokens.requests.every((r) => r.user === 'reader')).toBe(true);
    } finally {
      await c.close();
      tokens.setAnonymous('pull');
    }
  });

  it('a wrong password at the token server fails with a one-line 401', async () => {
    const c = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'tok-wrong'), { [registry.host]: { username: 'reader', password: 'bad' } }) });
    try {
      const err = await pullError(c, await freshStore(tmp, 'tok-wrong'), `${registry.host}/library/alpine:latest`);
      expect(err.code).toBe('EUNAUTHORIZED');
      expect(err.message).toContain('incorrect username or password');
      expect(err.message.split('\n')).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it('push asks for pull,push once; a reader cannot push; the pushed image is readable by skopeo', async () => {
    const store = await freshStore(tmp, 'tok-push');
    const source = Reference.parse(`${registry.host}/library/alpine:latest`);
    const puller = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'tok-push-pull')) });
    try {
      await pullImage({ client: puller, store, reference: source, platform: amd64 });
    } finally {
      await puller.close();
    }

    const readerClient = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'tok-push-reader'), { [registry.host]: reader }) });
    try {
      const err = await pushImage({ client: readerClient, store, source, destination: Reference.parse(`${registry.host}/library/copy:v1`) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBerthError(err)).toBe(true);
      expect((err as { code: string }).code).toMatch(/^(EUNAUTHORIZED|EDENIED)$/);
      expect((err as Error).message.split('\n')).toHaveLength(1);
    } finally {
      await readerClient.close();
    }

    tokens.resetCounts();
    const c = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'tok-push'), { [registry.host]: pusher }) });
    try {
      const destination = Reference.parse(`${registry.host}/team/alpine:pushed`);
      const pushed = await pushImage({ client: c, store, source, destination });
      expect(pushed.digest.toString()).toBe(ALPINE.amd64);
      expect(tokens.issued['repository:team/alpine:pull,push']).toBe(1);
      for (const [scope, n] of Object.entries(tokens.issued)) expect(n, scope).toBe(1);
      const inspect = JSON.parse(
        await runChecked('skopeo', ['--insecure-policy', 'inspect', '--tls-verify=false', '--creds', `${pusher.username}:${pusher.password}`, `docker://${destination}`], {
          doing: 'skopeo inspect the pushed image',
        }),
      );
      expect(inspect.Digest).toBe(ALPINE.amd64);
      expect(inspect.Layers).toEqual([ALPINE.amd64Layer]);
    } finally {
      await c.close();
    }
  });
});

describe.skipIf(!!skip)('error messages: 403 and 404', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
    await seedImage({ registry, layout: path.join(images ?? '', 'alpine'), repository: 'library/alpine' });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("an unknown repository and an unknown tag are 404s in the registry's own words", async () => {
    const c = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'e404')) });
    try {
      const noRepo = await pullError(c, await freshStore(tmp, 'e404a'), `${registry.host}/library/nosuch:latest`);
      expect(noRepo.code).toBe('ENOT_FOUND');
      // distribution answers MANIFEST_UNKNOWN for a repository it has never seen.
      expect(noRepo.message).toBe(`pull ${registry.host}/library/nosuch:latest: manifest unknown`);
      const noTag = await pullError(c, await freshStore(tmp, 'e404b'), `${registry.host}/library/alpine:nosuch`);
      expect(noTag.code).toBe('ENOT_FOUND');
      expect(noTag.message).toBe(`pull ${registry.host}/library/alpine:nosuch: manifest unknown`);
    } finally {
      await c.close();
    }
  });

  it('a 403 from the registry is "denied" with its message', async () => {
    const proxy = await startFaultProxy({
      target: registry.url,
      faults: [{ method: 'GET', path: /\/manifests\//, action: { kind: 'status', status: 403 } }],
    });
    const c = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'e403')) });
    try {
      const err = await pullError(c, await freshStore(tmp, 'e403'), `${proxy.host}/library/alpine:latest`);
      expect(err.code).toBe('EDENIED');
      expect(err.message).toBe(`pull ${proxy.host}/library/alpine:latest: denied: requested access to the resource is denied`);
      // 403 is final: asked once, not retried.
      expect(proxy.log.filter((e) => e.path.includes('/manifests/'))).toHaveLength(1);
    } finally {
      await c.close();
      await proxy.stop();
    }
  });

  it('a missing blob (registry lost it) is a 404 naming the blob, and nothing is tagged', async () => {
    const proxy = await startFaultProxy({
      target: registry.url,
      faults: [{ method: 'GET', path: new RegExp(`/blobs/${ALPINE.amd64Layer}`), action: { kind: 'status', status: 404, body: { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] } } }],
    });
    const c = client({ dockerConfigDir: await dockerConfig(path.join(tmp.path, 'e404blob')) });
    try {
      const store = await freshStore(tmp, 'e404blob');
      const err = await pullError(c, store, `${proxy.host}/library/alpine:latest`);
      expect(err.code).toBe('ENOT_FOUND');
      expect(err.message).toContain('blob unknown');
      expect(err.message).toContain(ALPINE.amd64Layer.slice(7, 19));
      expect(await store.listTags()).toEqual([]);
    } finally {
      await c.close();
      await proxy.stop();
    }
  });
});
