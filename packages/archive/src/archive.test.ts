import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tar from 'tar-stream';
import { createReadStream } from 'node:fs';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reference, isBerthError } from '@berth/oci';
import { Store } from '@berth/store';
import { loadImages } from './load.js';
import { saveImages } from './save.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const images = path.resolve(repoRoot, '../shared/images');
const haveImages = existsSync(path.join(images, 'alpine', 'index.json'));
if (!haveImages) console.warn(`skipping archive tests that need ${images} (shared images not present)`);

let tmp: string;
let store: Store;
const alpine = Reference.parse('alpine:3.20.3');

async function readTar(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  createReadStream(file).pipe(ex);
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.set(e.header.name, Buffer.concat(chunks));
  }
  return out;
}

describe.skipIf(!haveImages)('save and load', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-archive-'));
    store = await Store.open({ root: path.join(tmp, 'store') });
    const loaded = await loadImages({ store, input: path.join(images, 'alpine'), repository: 'docker.io/library/alpine' });
    expect(loaded.map((l) => l.reference?.toString())).toEqual([
      'docker.io/library/alpine:3.20.3',
      'docker.io/library/alpine:3.20',
      'docker.io/library/alpine:latest',
    ]);
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('loads an OCI layout directory, choosing the host platform and skipping attestations', async () => {
    const img = await store.getImage(alpine);
    expect(img.config.architecture).toBe(process.arch === 'arm64' ? 'arm64' : 'amd64');
    expect(img.manifest.layers).toHaveLength(1);
    // bare-tag names without a repository load untagged
    const other = await Store.open({ root: path.join(tmp, 'untagged') });
    const loaded = await loadImages({ store: other, input: path.join(images, 'busybox') });
    expect(loaded.every((l) => l.reference === undefined && l.untaggedName !== undefined)).toBe(true);
  });

  it('writes one tar that is both a Docker archive and an OCI layout, and loads it back', async () => {
    const file = path.join(tmp, 'alpine.tar');
    const res = await saveImages({ store, references: [alpine, 'alpine:latest'], output: file });
    expect(res.images).toHaveLength(2);
    const entries = await readTar(file);
    expect([...entries.keys()].slice(0, 3)).toEqual(['oci-layout', 'index.json', 'manifest.json']);
    const manifestJson = JSON.parse((entries.get('manifest.json') as Buffer).toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    expect(manifestJson).toHaveLength(1); // same image under two tags
    expect(manifestJson[0]?.RepoTags).toEqual(['alpine:3.20.3', 'alpine:latest']);
    expect(entries.has(manifestJson[0]?.Config as string)).toBe(true);
    for (const l of manifestJson[0]?.Layers ?? []) expect(entries.has(l)).toBe(true);
    const index = JSON.parse((entries.get('index.json') as Buffer).toString()) as { manifests: Array<{ annotations: Record<string, string> }> };
    expect(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name'])).toEqual(['docker.io/library/alpine:3.20.3', 'docker.io/library/alpine:latest']);

    // same bytes when saved again
    const again = path.join(tmp, 'again.tar');
    await saveImages({ store, references: [alpine, 'alpine:latest'], output: again });
    expect((await readFile(again)).equals(await readFile(file))).toBe(true);

    const fresh = await Store.open({ root: path.join(tmp, 'fresh') });
    const loaded = await loadImages({ store: fresh, input: file });
    expect(loaded.map((l) => [l.format, l.reference?.toString()])).toEqual([
      ['oci', 'docker.io/library/alpine:3.20.3'],
      ['oci', 'docker.io/library/alpine:latest'],
    ]);
    const a = await store.getImage(alpine);
    const b = await fresh.getImage(alpine);
    expect(b.descriptor.digest).toBe(a.descriptor.digest);
    // loading again, with every blob already stored, is fine (idempotent)
    const twice = await loadImages({ store: fresh, input: file });
    expect(twice.map((l) => l.descriptor.digest)).toEqual(loaded.map((l) => l.descriptor.digest));

    // the Docker view alone (as docker load uses it) also round-trips to the same config and layers
    const dockerOnly = path.join(tmp, 'docker-only.tar');
    const pack = tar.pack();
    for (const [name, data] of entries) if (name !== 'index.json' && name !== 'oci-layout' && !name.endsWith('/')) pack.entry({ name }, data);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    await writeFile(dockerOnly, zlib.gzipSync(Buffer.concat(chunks))); // gzip-compressed, like `docker save | gzip`
    const viaDocker = await Store.open({ root: path.join(tmp, 'via-docker') });
    const dl = await loadImages({ store: viaDocker, input: dockerOnly });
    expect(dl.map((l) => [l.format, l.reference?.toString()])).toEqual([
      ['docker', 'docker.io/library/alpine:3.20.3'],
      ['docker', 'docker.io/library/alpine:latest'],
    ]);
    const c = await viaDocker.getImage(alpine);
    expect(c.configDescriptor.digest).toBe(a.configDescriptor.digest);
    expect(c.manifest.layers.map((l) => l.digest)).toEqual(a.manifest.layers.map((l) => l.digest));
  });

  it('refuses archives whose blobs do not match their names or diff_ids, leaving no tag', async () => {
    const file = path.join(tmp, 'alpine.tar');
    const entries = await readTar(file);
    const manifestJson = JSON.parse((entries.get('manifest.json') as Buffer).toString()) as Array<{ Config: string; Layers: string[] }>;
    const layerName = manifestJson[0]?.Layers[0] as string;
    const bad = Buffer.from(entries.get(layerName) as Buffer);
    bad[bad.length - 100] = (bad[bad.length - 100] as number) ^ 0xff;
    const pack = tar.pack();
    for (const [name, data] of entries) if (!name.endsWith('/')) pack.entry({ name }, name === layerName ? bad : data);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const corrupt = path.join(tmp, 'corrupt.tar');
    await writeFile(corrupt, Buffer.concat(chunks));
    const target = await Store.open({ root: path.join(tmp, 'corrupt-store') });
    const err = await loadImages({ store: target, input: corrupt }).catch((e: unknown) => e);
    expect(isBerthError(err, 'EDIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(/^load .*corrupt\.tar: blob blobs\/sha256\/[a-f0-9]{64}: /);
    expect(await target.listTags()).toEqual([]);
    await expect(loadImages({ store: target, input: path.join(tmp, 'nothing.tar') })).rejects.toThrow(/ENOENT/);
  });
});
