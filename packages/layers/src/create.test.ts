import { chmodSync, chownSync, createReadStream, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, Digest } from '@berth/oci';
import { buildLayer, LAYER_MEDIA_TYPE, layerFixtures, snapshotTree, type LayerFixtureName } from '../../../fixtures/layers/index.js';
import { applyLayer } from './apply.js';
import { createLayer, type CreateLayerResult } from './create.js';
import { lsetxattr, mknod } from '@berth/sys';
import { decompressStream } from './compression.js';
import { copyTree, listTar } from './test-support/tar.js';

const isRoot = process.getuid?.() === 0; // only to check owners more closely; root-only tests: create.root.test.ts
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-create-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function treeFromFixture(name: LayerFixtureName, into: string): Promise<void> {
  mkdirSync(into, { recursive: true });
  for (const layer of layerFixtures[name].layers({ outside: '/nonexistent' })) {
    const blob = await buildLayer(layer);
    await applyLayer({ root: into, source: Readable.from([blob]), mediaType: LAYER_MEDIA_TYPE.none });
  }
}

async function applyBlob(root: string, blobPath: string, res: CreateLayerResult): Promise<void> {
  await applyLayer({ root, source: createReadStream(blobPath), mediaType: res.mediaType, digest: res.digest, diffId: res.diffId });
}

describe('createLayer', () => {
  it('round-trips a tree of every type from scratch (applying the layer rebuilds the tree exactly)', async () => {
    const target = path.join(dir, 'target');
    await treeFromFixture('allTypes', target);
    await treeFromFixture('xattrs', target);
    await treeFromFixture('longNames', target);
    await treeFromFixture('unicodeNames', target);
    const out = path.join(dir, 'layer.tar.gz');
    const res = await createLayer({ target, output: out });
    expect(res.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(res.empty).toBe(false);
    expect(res.size).toBe(readFileSync(out).length);
    expect(res.digest.toString()).toBe(Digest.of(readFileSync(out)).toString());
    expect(res.diffId.toString()).toBe(Digest.of(gunzipSync(readFileSync(out))).toString());
    expect(readdirSync(dir).sort()).toEqual(['layer.tar.gz', 'target']); // no temp file left

    const rebuilt = path.join(dir, 'rebuilt');
    mkdirSync(rebuilt);
    await applyBlob(rebuilt, out, res);
    expect(snapshotTree(rebuilt, { dirMtimes: true })).toEqual(snapshotTree(target, { dirMtimes: true, secondsOnly: true }));
  });

  it('writes standard tar: sorted names, parents first, numeric owners, empty uname/gname, hardlinks to the first name', async () => {
    const target = path.join(dir, 'target');
    await treeFromFixture('allTypes', target);
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const res = await createLayer({ target, output: sink, compression: 'none' });
    const entries = await listTar(Buffer.concat(chunks), 'none');
    expect(res.entries).toBe(entries.length);
    const names = entries.map((e) => e.name);
    expect(names).toEqual([...names].sort((a, b) => (a.replace(/\/$/, '') < b.replace(/\/$/, '') ? -1 : 1)));
    for (const [i, e] of entries.entries()) {
      expect(e.uname).toBe('');
      expect(e.gname).toBe('');
      const parent = e.name.replace(/\/$/, '').split('/').slice(0, -1).join('/');
      if (parent) expect(names.slice(0, i)).toContain(`${parent}/`);
    }
    const links = entries.filter((e) => e.type === 'link').map((e) => [e.name, e.linkname]);
    expect(links).toEqual([
      ['bin/ls', 'bin/busybox'],
      ['bin/sh', 'bin/busybox'],
    ]);
    expect(entries.find((e) => e.name === 'bin/busybox')?.data).toBe('busybox binary');
    if (isRoot) expect(entries.find((e) => e.name === 'home/user/file')).toMatchObject({ uid: 1000, gid: 1000 });
  });

  it('emits changes, whiteouts and opaque markers so that base + layer == target', async () => {
    const base = path.join(dir, 'base');
    await treeFromFixture('allTypes', base);
    mkdirSync(path.join(base, 'replaced'));
    writeFileSync(path.join(base, 'replaced', 'old1'), 'o1');
    writeFileSync(path.join(base, 'replaced', 'old2'), 'o2');
    mkdirSync(path.join(base, 'gone-dir', 'sub'), { recursive: true });
    writeFileSync(path.join(base, 'gone-dir', 'sub', 'f'), 'f');
    writeFileSync(path.join(base, 'same-meta'), 'AAAA');
    utimesSync(path.join(base, 'same-meta'), 1_000_000, 1_000_000);
    writeFileSync(path.join(base, 'to-dir'), 'file');
    mkdirSync(path.join(base, 'to-link'));
    writeFileSync(path.join(base, 'to-link', 'x'), 'x');
    writeFileSync(path.join(base, 'partly'), '');
    const target = path.join(dir, 'target');
    copyTree(base, target);

    writeFileSync(path.join(target, 'added.txt'), 'new file');
    writeFileSync(path.join(target, 'bin', 'busybox'), 'busybox v2!!!'); // same inode group, new content
    writeFileSync(path.join(target, 'same-meta'), 'BBBB'); // same size…
    utimesSync(path.join(target, 'same-meta'), 1_000_000, 1_000_000); // …and same mtime: only content differs
    chmodSync(path.join(target, 'usr', 'bin', 'su'), 0o755);
    if (isRoot) chownSync(path.join(target, 'empty'), 42, 43);
    unlinkSync(path.join(target, 'big.bin'));
    rmSync(path.join(target, 'gone-dir'), { recursive: true });
    rmSync(path.join(target, 'replaced'), { recursive: true });
    mkdirSync(path.join(target, 'replaced'));
    writeFileSync(path.join(target, 'replaced', 'fresh'), 'fresh');
    unlinkSync(path.join(target, 'to-dir'));
    mkdirSync(path.join(target, 'to-dir'));
    writeFileSync(path.join(target, 'to-dir', 'inner'), 'inner');
    rmSync(path.join(target, 'to-link'), { recursive: true });
    symlinkSync('bin', path.join(target, 'to-link'));
    linkSync(path.join(target, 'home', 'user', 'file'), path.join(target, 'home', 'user', 'file-link'));
    writeFileSync(path.join(target, 'partly'), 'was empty');

    const out = path.join(dir, 'layer.tar');
    const res = await createLayer({ base, target, output: out, compression: 'none' });
    const entries = await listTar(readFileSync(out), 'none');
    const names = entries.map((e) => e.name);
    expect(names).toContain('.wh.big.bin');
    expect(names).toContain('.wh.gone-dir');
    expect(names).toContain('replaced/.wh..wh..opq');
    expect(names).toContain('same-meta');
    expect(names).not.toContain('tmp/'); // unchanged directories are not repeated
    expect(names).not.toContain('run/fifo');
    expect(names).not.toContain('replaced/.wh.old1');
    // the hardlink group of home/user/file is emitted whole
    expect(entries.find((e) => e.name === 'home/user/file-link')).toMatchObject({ type: 'link', linkname: 'home/user/file' });

    const applied = path.join(dir, 'applied');
    copyTree(base, applied);
    await applyBlob(applied, out, res);
    expect(snapshotTree(applied, { dirMtimes: true })).toEqual(snapshotTree(target, { dirMtimes: true, secondsOnly: true }));
  });

  it('is empty when nothing changed, and the empty layer still applies', async () => {
    const base = path.join(dir, 'base');
    await treeFromFixture('allTypes', base);
    const target = path.join(dir, 'target');
    copyTree(base, target);
    const out = path.join(dir, 'empty.tar.gz');
    const res = await createLayer({ base, target, output: out });
    expect(res).toMatchObject({ empty: true, entries: 0 });
    expect(gunzipSync(readFileSync(out)).equals(Buffer.alloc(1024))).toBe(true);
    await applyBlob(target, out, res);
  });

  it('is reproducible: same trees + sourceDateEpoch give the same digest; mtimes are clamped', async () => {
    const target = path.join(dir, 'target');
    await treeFromFixture('allTypes', target);
    utimesSync(path.join(target, 'empty'), 2_000_000_000, 2_000_000_000);
    const copy = path.join(dir, 'copy');
    copyTree(target, copy); // different inodes, same content and metadata
    const epoch = 1_650_000_000;
    const digests: string[] = [];
    for (const [t, compression] of [
      [target, 'gzip'],
      [target, 'gzip'],
      [copy, 'gzip'],
    ] as const) {
      const out = path.join(dir, `out-${digests.length}`);
      const res = await createLayer({ target: t, output: out, compression, sourceDateEpoch: epoch });
      digests.push(res.digest.toString());
      const gz = readFileSync(out);
      expect(gz.readUInt32LE(4)).toBe(0); // gzip MTIME
      expect(gz[3]! & 0x08).toBe(0); // no FNAME
    }
    expect(new Set(digests).size).toBe(1);

    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    await createLayer({ target, output: sink, compression: 'zstd', sourceDateEpoch: epoch });
    const entries = await listTar(Buffer.concat(chunks), 'zstd');
    expect(entries.find((e) => e.name === 'empty')?.mtime.getTime()).toBe(epoch * 1000);
    expect(entries.find((e) => e.name === 'home/user/file')?.mtime.getTime()).toBe(1_234_567_890_000);
    expect(Math.max(...entries.map((e) => e.mtime.getTime()))).toBeLessThanOrEqual(epoch * 1000);
  });

  it('skips sockets, whiting out what they replaced, and follows a symlinked target root', async () => {
    const base = path.join(dir, 'base');
    mkdirSync(base);
    writeFileSync(path.join(base, 'was-file'), 'x');
    const target = path.join(dir, 'target');
    mkdirSync(target);
    for (const name of ['was-file', 'new-sock']) mknod(path.join(target, name), 0o140755, 0n); // S_IFSOCK
    expect(lstatSync(path.join(target, 'new-sock')).isSocket()).toBe(true);
    symlinkSync(target, path.join(dir, 'alias'));
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    await createLayer({ base, target: path.join(dir, 'alias'), output: sink, compression: 'none' });
    expect((await listTar(Buffer.concat(chunks), 'none')).map((e) => e.name)).toEqual(['.wh.was-file']);
  });

  it('refuses trees it cannot represent and leaves no output behind', async () => {
    const target = path.join(dir, 'target');
    mkdirSync(target);
    writeFileSync(path.join(target, '.wh.sneaky'), 'x');
    const out = path.join(dir, 'out.tar.gz');
    const err = await createLayer({ target, output: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('EUNSUPPORTED');
    expect((err as BerthError).message).toMatch(/^create layer from ".*target": ".wh.sneaky": names starting with ".wh." mean whiteouts/);
    expect(existsSync(out)).toBe(false);
    const missing = await createLayer({ target: path.join(dir, 'nope'), output: out }).catch((e: unknown) => e);
    expect((missing as BerthError).code).toBe('ELAYER');
    expect(readdirSync(dir)).toEqual(['target']);
  });
});
