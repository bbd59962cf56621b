import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, Reference } from '@berth/oci';
import { RegistryClient } from './client.js';
import { DockerConfigCredentials, authKeyHost } from './credentials.js';
import { login, logout } from './login.js';
import { FakeRegistry } from './test-support/fake-registry.js';
import { addImage } from './test-support/images.js';

let dir: string;
let binDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-creds-'));
  binDir = path.join(dir, 'bin');
  await mkdir(binDir);
  // A fake credential helper: knows one server, logs what it was asked.
  const helper = [
    '#!/bin/sh',
    'read server',
    `echo "$1 $server" >> "${dir}/helper.log"`,
    'case "$server" in',
    '  helped.example:5000) echo \'{"ServerURL":"helped.example:5000","Username":"helper-user","Secret":"helper-pass"}\' ;;',
    '  tokened.example) echo \'{"ServerURL":"tokened.example","Username":"<token>","Secret":"refresh-xyz"}\' ;;',
    '  https://index.docker.io/v1/) echo \'{"Username":"hubuser","Secret":"hubpass"}\' ;;',
    '  broken.example) echo "garbage"; exit 0 ;;',
    '  *) echo "credentials not found in native keychain"; exit 1 ;;',
    'esac',
  ].join('\n');
  await writeFile(path.join(binDir, 'docker-credential-test'), `${helper}\n`);
  await chmod(path.join(binDir, 'docker-credential-test'), 0o755);
  env = { ...process.env, PATH: `${binDir}:${process.env['PATH'] ?? ''}` };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configDir(name: string, config: unknown): Promise<string> {
  const d = path.join(dir, name);
  await mkdir(d, { recursive: true });
  await writeFile(path.join(d, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return d;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('DockerConfigCredentials', () => {
  it('reads auths: base64 auth, username/password fields, identitytoken; URL keys match by host', async () => {
    const d = await configDir('auths', {
      auths: {
        'myreg:5000': { auth: b64('me:pa:ss') },
        'https://other.example/v1/': { username: 'o', password: 'p' },
        'tok.example': { auth: '', identitytoken: 'idtok' },
      },
    });
    const c = new DockerConfigCredentials({ configDir: d, env });
    expect(await c.get('myreg:5000')).toEqual({ username: 'me', password: 'pa:ss' });
    expect(await c.get('other.example')).toEqual({ username: 'o', password: 'p' });
    expect(await c.get('tok.example')).toEqual({ identityToken: 'idtok' });
    expect(await c.get('unknown.example')).toBeUndefined();
  });

  it.each(['https://index.docker.io/v1/', 'docker.io', 'index.docker.io', 'registry-1.docker.io'])('docker.io credentials under the key %s', async (key) => {
    const d = await configDir(`hub-${b64(key)}`, { auths: { [key]: { auth: b64('hub:pw') } } });
    const c = new DockerConfigCredentials({ configDir: d, env });
    expect(await c.get('docker.io')).toEqual({ username: 'hub', password: 'pw' });
  });

  it('asks credHelpers per host and the credsStore otherwise, via docker-credential-NAME get', async () => {
    const d = await configDir('helpers', {
      credsStore: 'test',
      credHelpers: { 'helped.example:5000': 'test' },
      auths: { 'fallback.example': { auth: b64('f:b') } },
    });
    const c = new DockerConfigCredentials({ configDir: d, env });
    expect(await c.get('helped.example:5000')).toEqual({ username: 'helper-user', password: 'helper-pass' });
    expect(await c.get('tokened.example')).toEqual({ identityToken: 'refresh-xyz' });
    expect(await c.get('docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    // "credentials not found" from the store: fall back to auths, else nothing.
    expect(await c.get('fallback.example')).toEqual({ username: 'f', password: 'b' });
    expect(await c.get('nothing.example')).toBeUndefined();
    const log = await readFile(path.join(dir, 'helper.log'), 'utf8');
    expect(log).toContain('get helped.example:5000');
    expect(log).toContain('get https://index.docker.io/v1/');
  });

  it('a missing or broken helper, or a broken config file, means no credentials, not an error', async () => {
    const missing = await configDir('missing-helper', { credsStore: 'does-not-exist', auths: { 'a.example': { auth: b64('a:b') } } });
    const c = new DockerConfigCredentials({ configDir: missing, env });
    expect(await c.get('x.example')).toBeUndefined();
    expect(await c.get('a.example')).toEqual({ username: 'a', password: 'b' });
    const broken = await configDir('broken-helper', { credsStore: 'test' });
    expect(await new DockerConfigCredentials({ configDir: broken, env }).get('broken.example')).toBeUndefined();
    const badJson = await configDir('bad-json', '{"auths": ');
    expect(await new DockerConfigCredentials({ configDir: badJson, env }).get('a.example')).toBeUndefined();
    expect(await new DockerConfigCredentials({ configDir: path.join(dir, 'nowhere'), env }).get('a.example')).toBeUndefined();
  });

  it('an anonymous pull works although the configured helper is missing', async () => {
    const reg = await FakeRegistry.start();
    const d = await configDir('anon-pull', { credsStore: 'does-not-exist', credHelpers: { [reg.host]: 'also-missing' } });
    const client = new RegistryClient({ credentials: new DockerConfigCredentials({ configDir: d, env }) });
    try {
      const img = addImage(reg, 'app', ['v1']);
      const r = await client.getManifest(Reference.parse(`${reg.host}/app:v1`));
      expect(r.digest.toString()).toBe(img.manifest.digest);
    } finally {
      await client.close();
      await reg.close();
    }
  });

  it('normalises auth keys to hosts', () => {
    expect(authKeyHost('https://index.docker.io/v1/')).toBe('docker.io');
    expect(authKeyHost('http://Myreg:5000/v2/')).toBe('myreg:5000');
    expect(authKeyHost('myreg:5000')).toBe('myreg:5000');
  });
});

describe('login and logout', () => {
  it('verifies against the registry, then writes an auths entry (0600, atomic, other keys kept)', async () => {
    const reg = await FakeRegistry.start({ auth: { kind: 'bearer', users: { alice: 'pw' } } });
    const client = new RegistryClient({ retry: { retries: 0 } });
    const d = await configDir('login', { auths: { 'keep.example': { auth: b64('k:k') } }, credsStore: 'test', psFormat: 'table' });
    try {
      await login({ registry: reg.host, username: 'alice', password: 'pw', configDir: d, verify: client });
      const written = JSON.parse(await readFile(path.join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(written).toEqual({
        auths: { 'keep.example': { auth: b64('k:k') }, [reg.host]: { auth: b64('alice:pw') } },
        credsStore: 'test',
        psFormat: 'table',
      });
      expect((await stat(path.join(d, 'config.json'))).mode & 0o777).toBe(0o600);
      expect(reg.tokenRequests).toHaveLength(1);
      expect(reg.tokenRequests[0]?.headers.authorization).toBe(`Basic ${b64('alice:pw')}`);
      // The stored credentials are picked up (the helper has none for this host).
      expect(await new DockerConfigCredentials({ configDir: d, env }).get(reg.host)).toEqual({ username: 'alice', password: 'pw' });

      expect(await logout({ registry: reg.host, configDir: d })).toBe(true);
      expect(await logout({ registry: reg.host, configDir: d })).toBe(false);
      const after = JSON.parse(await readFile(path.join(d, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
      expect(Object.keys(after.auths)).toEqual(['keep.example']);
    } finally {
      await client.close();
      await reg.close();
    }
  });

  it('a client stops sending credentials once they are logged out (and picks up a login)', async () => {
    const reg = await FakeRegistry.start({ auth: { kind: 'basic', users: { alice: 'pw' } } });
    const img = addImage(reg, 'app', ['v1']);
    const d = await configDir('logout-live', {});
    const client = new RegistryClient({ credentials: new DockerConfigCredentials({ configDir: d, env }), retry: { retries: 0 } });
    const ref = Reference.parse(`${reg.host}/app:v1`);
    try {
      await login({ registry: reg.host, username: 'alice', password: 'pw', configDir: d, verify: client });
      expect((await client.getManifest(ref)).digest.toString()).toBe(img.manifest.digest);
      await logout({ registry: reg.host, configDir: d });
      const err = await client.getManifest(ref).catch((e: unknown) => e);
      expect((err as BerthError).code).toBe('EUNAUTHORIZED');
      const manifestGets = reg.hits('GET', '/v2/app/manifests/v1');
      expect(manifestGets.at(-1)?.headers.authorization).toBeUndefined();
      await login({ registry: reg.host, username: 'alice', password: 'pw', configDir: d, verify: client });
      expect((await client.getManifest(ref)).digest.toString()).toBe(img.manifest.digest);
    } finally {
      await client.close();
      await reg.close();
    }
  });

  it('bad credentials: EUNAUTHORIZED and nothing written', async () => {
    const reg = await FakeRegistry.start({ auth: { kind: 'basic', users: { alice: 'pw' } } });
    const client = new RegistryClient({ retry: { retries: 0 } });
    const d = path.join(dir, 'login-bad');
    try {
      const err = await login({ registry: reg.host, username: 'alice', password: 'nope', configDir: d, verify: client }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('EUNAUTHORIZED');
      expect((err as Error).message).toBe(`log in to ${reg.host}: unauthorized: authentication required`);
      await expect(stat(path.join(d, 'config.json'))).rejects.toThrow(/ENOENT/);
      // Right credentials with Basic: accepted and written.
      await login({ registry: reg.host, username: 'alice', password: 'pw', configDir: d, verify: client });
      expect((await stat(path.join(d, 'config.json'))).mode & 0o777).toBe(0o600);
    } finally {
      await client.close();
      await reg.close();
    }
  });

  it('docker.io logins use the https://index.docker.io/v1/ key and replace other forms', async () => {
    const d = await configDir('hub-logout', { auths: { 'docker.io': { auth: b64('a:b') }, 'https://index.docker.io/v1/': { auth: b64('c:d') } } });
    expect(await logout({ registry: 'docker.io', configDir: d })).toBe(true);
    const after = JSON.parse(await readFile(path.join(d, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
    expect(after.auths).toEqual({});
  });
});
