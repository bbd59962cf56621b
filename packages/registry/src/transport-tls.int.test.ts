/**
 * The registry client over TLS with a CA of its own configuration (openssl makes the
 * certificates): trusted with the right CA, refused with another.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MediaType, Reference } from '@berth/oci';
import { toolsMissing } from '@berth/testing';
import type { RegistryClient, RegistryClientOptions } from './client.js';
import { testClient, useCleanups } from './test-support/cleanups.js';
import { failure } from './test-support/failure.js';

const cleanups = useCleanups();
const client = (opts: RegistryClientOptions = {}): RegistryClient => testClient(cleanups, opts);

const opensslSkip = toolsMissing(['openssl']);
if (opensslSkip) console.warn(`skipping TLS test: ${opensslSkip}`);

describe('TLS', () => {
  it.skipIf(!!opensslSkip)('trusts a configured CA and verifies with it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-tls-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const mk = (name: string): void => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.pem`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    };
    mk('good');
    mk('other');
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: `sha256:${'1'.repeat(64)}`, size: 2 }, layers: [] }));
    const server = createHttpsServer({ key: await readFile(path.join(dir, 'good.key')), cert: await readFile(path.join(dir, 'good.pem')) }, (req, res) => {
      if (req.url === '/v2/') res.writeHead(200).end('{}');
      else res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifest);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ref = Reference.parse(`${host}/app:v1`);
    const ok = client({ config: { registries: { [host]: { ca: path.join(dir, 'good.pem') } } } });
    expect((await ok.getManifest(ref)).bytes.equals(manifest)).toBe(true);
    const inline = client({ config: { registries: { [host]: { ca: await readFile(path.join(dir, 'good.pem'), 'utf8') } } } });
    expect((await inline.getManifest(ref)).bytes.equals(manifest)).toBe(true);
    // Another CA configured: the server's certificate is not trusted.
    const wrong = client({ config: { registries: { [host]: { ca: path.join(dir, 'other.pem') } } }, retry: { retries: 0 } });
    const err = await failure(wrong.getManifest(ref));
    expect(err.code).toBe('ENETWORK');
    // A loopback registry without configuration is treated as insecure, like docker does.
    expect((await client().getManifest(ref)).bytes.equals(manifest)).toBe(true);
  });
});
