// Archive sources and sinks through real tar files: the tar index, oci-archive and docker-archive
// round trips, a whole index, stdin, and what a docker-archive cannot hold.
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Digest, MediaType, Reference, isBerthError, parseIndex } from '@berth/oci';
import { copyImage, storeSink } from '@berth/image';
import { Store } from '@berth/store';
import { tarFiles } from './files.js';
import { layoutSource } from './layout.js';
import { loadImages } from './load.js';
import { openArchive } from './open.js';
import { saveImages } from './save.js';
import { archiveSink } from './sink.js';
import { indexTar } from './tar-index.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const images = path.resolve(repoRoot, '../shared/images');
const haveImages = existsSync(path.join(images, 'alpine', 'index.json'));
if (!haveImages) console.warn(`skipping archive source/sink tests that need ${images} (shared images not present)`);

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-archive-ss-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function packTar(file: string, entries: Array<{ name: string; data?: Buffer; type?: 'symlink' | 'directory'; linkname?: string }>): Promise<void> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname as string });
    else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
    else pack.entry({ name: e.name }, e.data ?? Buffer.alloc(0));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  await writeFile(file, Buffer.concat(chunks));
}

describe('the tar index', () => {
  it('finds each entry at its offset: long (PAX) names, directories, symlinks followed, empty files', async () => {
    const file = path.join(tmp, 'index.tar');
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}.json`;
    await packTar(file, [
      { name: './top.json', data: Buffer.from('{"a":1}') },
      { name: 'dir/', type: 'directory' },
      { name: long, data: Buffer.from('long name content') },
      { name: 'dir/big', data: Buffer.alloc(70_000, 7) },
      { name: 'dir/link', type: 'symlink', linkname: 'big' },
      { name: 'empty', data: Buffer.alloc(0) },
    ]);
    const entries = await indexTar(file);
    expect([...entries.keys()]).toEqual(['top.json', 'dir', long, 'dir/big', 'dir/link', 'empty']);
    const raw = await readFile(file);
    const top = entries.get('top.json');
    expect(raw.subarray(top?.offset, (top?.offset ?? 0) + (top?.size ?? 0)).toString()).toBe('{"a":1}');
    const files = await tarFiles(file);
    expect((await files.read(long, 100)).toString()).toBe('long name content');
    expect(await files.size('dir/link')).toBe(70_000);
    const chunks: Buffer[] = [];
    for await (const c of await files.open('dir/link', 69_990)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(Buffer.alloc(10, 7));
    expect(await files.size('empty')).toBe(0);
    expect(await files.size('nothing')).toBeUndefined();
    await expect(files.read('dir/big', 100)).rejects.toThrow(/more than 100 bytes/);
  });

  it('refuses a file that is not a tar, and a truncated one', async () => {
    const junk = path.join(tmp, 'junk.tar');
    await writeFile(junk, Buffer.alloc(2048, 0x41));
    await expect(indexTar(junk)).rejects.toThrow(/not a tar file/);
    const good = path.join(tmp, 'trunc-src.tar');
    await packTar(good, [{ name: 'a', data: Buffer.alloc(5000, 1) }]);
    const cut = path.join(tmp, 'trunc.tar');
    await writeFile(cut, (await readFile(good)).subarray(0, 2048));
    await expect(indexTar(cut)).rejects.toThrow(/truncated/);
  });
});

describe.skipIf(!haveImages)('archive sources and sinks', () => {
  let store: Store;
  const alpine = Reference.parse('alpine:3.20.3');
  beforeAll(async () => {
    store = await Store.open({ root: path.join(tmp, 'store') });
    await loadImages({ store, input: path.join(images, 'alpine'), repository: 'docker.io/library/alpine' });
  });

  it('oci-archive: the OCI layout alone, which loads back to the same digests', async () => {
    const file = path.join(tmp, 'alpine-oci.tar');
    await saveImages({ store, references: [alpine], output: file, format: 'oci-archive' });
    const names = [...(await indexTar(file)).keys()];
    expect(names.slice(0, 2)).toEqual(['oci-layout', 'index.json']);
    expect(names).not.toContain('manifest.json');
    const other = await Store.open({ root: path.join(tmp, 'from-oci-archive') });
    const loaded = await loadImages({ store: other, input: file });
    expect(loaded.map((l) => [l.format, l.reference?.toString()])).toEqual([['oci', 'docker.io/library/alpine:3.20.3']]);
    expect((await other.getImage(alpine)).descriptor.digest).toBe((await store.getImage(alpine)).descriptor.digest);
  });

  it('an image saved by digest is an unnamed entry (no RepoTags), loaded untagged', async () => {
    const a = await store.getImage(alpine);
    const file = path.join(tmp, 'by-digest.tar');
    const r = await saveImages({ store, references: [a.descriptor.digest], output: file });
    expect(r.images).toEqual([{ digest: Digest.parse(a.descriptor.digest) }]);
    const opened = await openArchive(file);
    try {
      const listed = await opened.source.images();
      expect(listed.map((i) => [i.descriptor.digest, i.names])).toEqual([[a.descriptor.digest, []]]);
    } finally {
      await opened.close();
    }
    const other = await Store.open({ root: path.join(tmp, 'by-digest-store') });
    const loaded = await loadImages({ store: other, input: file });
    expect(loaded.map((l) => [l.reference, l.descriptor.digest])).toEqual([[undefined, a.descriptor.digest]]);
  });

  it("a whole index (platforms: 'all') into an oci-archive; loaded back for another platform; a docker-archive refuses it", async () => {
    const src = layoutSource(path.join(images, 'alpine'));
    const ref = Reference.parse('docker.io/library/alpine:3.20.3');
    const file = path.join(tmp, 'all.tar');
    const sink = archiveSink({ format: 'oci-archive', output: file });
    const r = await copyImage(src, sink, { reference: ref, platforms: 'all' });
    await sink.close();
    expect(r.descriptor.mediaType).toBe(MediaType.OciIndex);
    expect(r.manifests.length).toBeGreaterThan(1);
    const files = await tarFiles(file);
    const index = parseIndex(await files.read('index.json', 1 << 20), 'index.json');
    expect(index.manifests.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name']])).toEqual([[r.descriptor.digest, ref.toString()]]);

    const arm = await Store.open({ root: path.join(tmp, 'arm-store') });
    const loaded = await loadImages({ store: arm, input: file, platform: { os: 'linux', architecture: 'arm64' } });
    expect(loaded).toHaveLength(1);
    const img = await arm.getImage(ref, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(img.config.architecture).toBe('arm64');

    const dockerSink = archiveSink({ output: path.join(tmp, 'all-docker.tar') });
    await copyImage(src, dockerSink, { reference: ref, platforms: 'all' });
    const err = await dockerSink.close().catch((e: unknown) => e);
    expect(isBerthError(err, 'EUNSUPPORTED')).toBe(true);
    expect(await readdir(tmp)).not.toContain('all-docker.tar');
    expect((await readdir(tmp)).filter((n) => n.includes('all-docker.tar'))).toEqual([]);
  });

  it('OCI layout directory as the output (format oci), then loaded from it; an archive from a stream (stdin)', async () => {
    const dir = path.join(tmp, 'layout-out');
    await saveImages({ store, references: [alpine, 'alpine:latest'], output: dir, format: 'oci' });
    const index = parseIndex(await readFile(path.join(dir, 'index.json')), 'index.json');
    expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual(['docker.io/library/alpine:3.20.3', 'docker.io/library/alpine:latest']);
    const viaDir = await Store.open({ root: path.join(tmp, 'via-dir') });
    expect((await loadImages({ store: viaDir, input: dir })).map((l) => l.reference?.toString())).toEqual(['docker.io/library/alpine:3.20.3', 'docker.io/library/alpine:latest']);

    const file = path.join(tmp, 'stream.tar');
    await saveImages({ store, references: [alpine], output: file });
    const viaStream = await Store.open({ root: path.join(tmp, 'via-stream') });
    const loaded = await loadImages({ store: viaStream, input: createReadStream(file) });
    expect(loaded.map((l) => l.reference?.toString())).toEqual(['docker.io/library/alpine:3.20.3']);
    expect((await viaStream.getImage(alpine)).descriptor.digest).toBe((await store.getImage(alpine)).descriptor.digest);
  });

  it('a docker-archive layer whose uncompressed content is not its diff_id is refused, and nothing is tagged', async () => {
    const a = await store.getImage(alpine);
    const config = await store.readBlob(a.configDescriptor.digest);
    const file = path.join(tmp, 'bad-diff.tar');
    const layer = await store.readBlob(a.manifest.layers[0]?.digest as string);
    const wrongConfig = Buffer.from(JSON.stringify({ ...JSON.parse(config.toString()), rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } }));
    await packTar(file, [
      { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['bad:1'], Layers: ['l/layer.tar'] }])) },
      { name: 'c.json', data: wrongConfig },
      { name: 'l/layer.tar', data: layer },
    ]);
    const target = await Store.open({ root: path.join(tmp, 'bad-diff-store') });
    const err = await loadImages({ store: target, input: file }).catch((e: unknown) => e);
    expect(isBerthError(err, 'EDIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(/^load .*bad-diff\.tar: manifest\.json\[0\]\.Layers\[0\] l\/layer\.tar: uncompressed content is sha256:[a-f0-9]{64}, the config's diff_id is sha256:0{64}$/);
    expect(await target.listTags()).toEqual([]);
  });

  it('copyImage from an archive into the store by hand: the source lists its images by digest', async () => {
    const file = path.join(tmp, 'hand.tar');
    await saveImages({ store, references: [alpine], output: file });
    const { source, close } = await openArchive(file);
    try {
      const [first] = await source.images();
      const other = await Store.open({ root: path.join(tmp, 'hand-store') });
      const r = await copyImage(source, storeSink(other), { reference: first?.reference as Reference, destination: Reference.parse('localhost/hand:1') });
      expect((await other.getImage('localhost/hand:1')).descriptor.digest).toBe(r.descriptor.digest);
    } finally {
      await close();
    }
  });
});
