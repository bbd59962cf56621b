import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chainId, Digest, isBerthError } from '@berth/oci';
import { Store, type StoredImage } from '@berth/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntrySpec } from '../../../fixtures/layers/index.js';
import { lower, putImage as putImageIn, upper } from './test-support/images.js';
import { createRootfs } from './copy.js';
import { Snapshots, imageChainId } from './snapshots.js';
import { compareTrees, isRoot } from './test-support/trees.js';
import { unpackImage } from './unpack.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const sharedImages = resolve(repoRoot, '../shared/images');
const hasShared = existsSync(join(sharedImages, 'alpine', 'index.json'));

let base: string;
let store: Store;

/** Every blob of a shared OCI layout into the store; returns the digest of the image index its `latest` tag names. */
async function importLayout(name: string): Promise<string> {
  const layout = join(sharedImages, name);
  const blobs = join(layout, 'blobs', 'sha256');
  for (const hex of readdirSync(blobs)) await store.putBlob(readFileSync(join(blobs, hex)), { digest: `sha256:${hex}` });
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
  };
  const latest = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest');
  if (!latest) throw new Error(`${name}: no latest tag`);
  return latest.digest;
}

const putImage = (layers: EntrySpec[][], opts: { corruptDiffId?: number } = {}): Promise<StoredImage> => putImageIn(store, layers, opts);

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'berth-rootfs-snap-'));
  store = await Store.open({ root: join(base, 'store') });
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

function fresh(name: string): Snapshots {
  return new Snapshots({ root: join(base, name), store });
}

describe('Snapshots', () => {
  it('builds a multi-layer snapshot once, keyed by chain ID, and reuses it', async () => {
    const snaps = fresh('s1');
    const image = await putImage([lower, upper]);
    const progress: string[] = [];
    const first = await snaps.ensure({ image, onProgress: (e) => progress.push(`${e.layer}/${e.of} ${e.digest}`) });
    expect(first.created).toBe(true);
    expect(first.chainId.toString()).toBe(chainId(image.config.rootfs.diff_ids)?.toString());
    expect(first.path).toBe(join(base, 's1', first.chainId.hex));
    expect(progress).toEqual([`1/2 ${image.manifest.layers[0]?.digest}`, `2/2 ${image.manifest.layers[1]?.digest}`]);
    expect(readFileSync(join(first.path, 'bin/tool'), 'utf8')).toBe('v2');
    expect(readFileSync(join(first.path, 'etc/os-release'), 'utf8')).toBe('ID=berth\n');
    expect(existsSync(join(first.path, 'etc/gone'))).toBe(false);
    expect(lstatSync(join(first.path, 'bin/link')).isSymbolicLink()).toBe(true);
    expect(lstatSync(first.path).mode & 0o777).toBe(0o755);

    const before = lstatSync(first.path, { bigint: true });
    const again = await snaps.ensure({ image, onProgress: () => progress.push('again') });
    expect(again).toEqual({ path: first.path, chainId: first.chainId, created: false });
    expect(progress).toHaveLength(2);
    expect(lstatSync(first.path, { bigint: true }).mtimeNs).toBe(before.mtimeNs);
    expect(await snaps.has(first.chainId)).toBe(true);
    expect((await snaps.list()).map(String)).toEqual([first.chainId.toString()]);
    // nothing else lying around: no temp dirs
    expect(readdirSync(join(base, 's1', '.tmp'))).toEqual([]);
  });

  it('alpine from the shared layout: snapshot, then a faithful container copy', async (ctx) => {
    if (!hasShared) return ctx.skip(`real images not found at ${sharedImages}`);
    const snaps = fresh('s2');
    const image = await store.getImage(await importLayout('alpine'));
    const { path, created, chainId: chain } = await snaps.ensure({ image });
    expect(created).toBe(true);
    expect(chain.toString()).toBe(image.config.rootfs.diff_ids[0]); // one layer: chain ID = diff ID
    expect(readFileSync(join(path, 'etc/alpine-release'), 'utf8')).toBe('3.20.3\n');
    expect(lstatSync(join(path, 'bin/sh')).isSymbolicLink()).toBe(true);
    if (isRoot()) expect(lstatSync(join(path, 'etc/shadow')).gid).toBe(42);
    const dest = join(base, 'containers', 'alpine1', 'rootfs');
    const copy = await createRootfs({ snapshot: path, dest });
    expect(copy.files).toBeGreaterThan(400);
    expect(compareTrees(path, dest)).toEqual([]);
  });

  it('parallel ensure calls for one image build once', async () => {
    const snaps = fresh('s3');
    const image = await putImage([lower, upper, [{ path: 'big', content: Buffer.alloc(4 << 20, 7) }]]);
    let layersApplied = 0;
    const results = await Promise.all(
      Array.from({ length: 4 }, () => snaps.ensure({ image, onProgress: () => layersApplied++ })),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.path)).size).toBe(1);
    expect(layersApplied).toBe(3);
  });

  it('a failed build leaves nothing, and a crashed builder\'s leftovers are cleared by the next build', async () => {
    const snaps = fresh('s5');
    const bad = await putImage([lower, upper], { corruptDiffId: 1 });
    const err = await snaps.ensure({ image: bad }).catch((e: unknown) => e);
    expect(isBerthError(err, 'EDIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(/^build snapshot [0-9a-f]{12}: /);
    expect((err as Error).message.split('\n')).toHaveLength(1);
    expect(await snaps.list()).toEqual([]);
    expect(readdirSync(join(base, 's5', '.tmp'))).toEqual([]);
    expect(await snaps.has(imageChainId(bad))).toBe(false);

    // a stored layer blob whose bytes rotted on disk (same size): caught by the digest check
    const rotten = await putImage([lower, [{ path: 'rot', content: 'x'.repeat(5000) }]]);
    // the blob's file in the store's OCI layout (blobs/<alg>/<hex>): the store hands no paths out
    const blob = join(store.root, 'blobs', ...(rotten.manifest.layers[1]?.digest as string).split(':'));
    const bytes = readFileSync(blob);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    chmodSync(blob, 0o644);
    writeFileSync(blob, bytes);
    const err2 = await snaps.ensure({ image: rotten }).catch((e: unknown) => e);
    expect(isBerthError(err2)).toBe(true);
    expect((err2 as Error).message).toMatch(/build snapshot .*mismatch|build snapshot .*(gzip|invalid|unexpected|corrupt|incorrect)/i);
    expect(await snaps.list()).toEqual([]);
    expect(readdirSync(join(base, 's5', '.tmp'))).toEqual([]);
    // a missing one
    rmSync(blob);
    const err3 = await snaps.ensure({ image: rotten }).catch((e: unknown) => e);
    expect(isBerthError(err3, 'ENOT_FOUND')).toBe(true);
    expect(readdirSync(join(base, 's5', '.tmp'))).toEqual([]);

    // what a SIGKILLed builder leaves: a temp dir for the chain, with a read-only directory in it
    const good = await putImage([lower, upper]);
    const chain = imageChainId(good);
    const stale = join(base, 's5', '.tmp', `${chain.hex}.dead01`);
    mkdirSync(join(stale, 'etc'), { recursive: true });
    writeFileSync(join(stale, 'etc', 'half'), 'partial');
    chmodSync(join(stale, 'etc'), 0o500);
    const ok = await snaps.ensure({ image: good });
    expect(ok.created).toBe(true);
    expect(readdirSync(join(base, 's5', '.tmp'))).toEqual([]);
  });

  it('closes the layer blob it opened when the layer cannot be applied', async () => {
    const snaps = fresh('s-fd');
    const img = await putImage([lower]);
    const layer = img.manifest.layers[0] as (typeof img.manifest.layers)[number];
    // applyLayer refuses the media type before it reads a byte of the stream it was given
    const image = { ...img, manifest: { ...img.manifest, layers: [{ ...layer, mediaType: 'application/x-not-a-layer' }] } };
    const dir = mkdtempSync(join(base, 'apply-'));
    const blob = join(store.root, 'blobs', ...layer.digest.split(':'));
    const fdsOnBlob = (): string[] =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === blob;
        } catch {
          return false;
        }
      });
    const err = await snaps.applyImage({ image, dir }).catch((e: unknown) => e);
    expect(isBerthError(err, 'EUNSUPPORTED')).toBe(true);
    expect(fdsOnBlob()).toEqual([]);
  });

  it('path/has/remove validate chain IDs; remove is idempotent', async () => {
    const snaps = fresh('s6');
    expect(() => snaps.path('../../etc')).toThrow(/invalid digest/);
    expect(() => snaps.path(`sha256:${'a'.repeat(63)}/`)).toThrow(/invalid digest/);
    const image = await putImage([lower]);
    const { chainId: chain, path } = await snaps.ensure({ image });
    expect(snaps.path(chain.hex)).toBe(path);
    expect(snaps.path(chain.toString())).toBe(path);
    await snaps.remove(chain);
    expect(existsSync(path)).toBe(false);
    expect(await snaps.has(chain)).toBe(false);
    await snaps.remove(chain);
    expect(readdirSync(join(base, 's6', '.tmp'))).toEqual([]);
  });

  it('gc removes unreferenced snapshots and stale temps, keeps referenced and busy ones', async () => {
    const snaps = fresh('s7');
    const a = await snaps.ensure({ image: await putImage([lower]) });
    const b = await snaps.ensure({ image: await putImage([upper]) });
    const c = await snaps.ensure({ image: await putImage([lower, upper]) });
    const staleTemp = join(base, 's7', '.tmp', `${Digest.of('crashed').hex}.x1`);
    mkdirSync(staleTemp);
    // a copy is reading c (shared lock): gc must not pull it away
    const reading = await snaps.lock(c.chainId, 'shared');
    let result;
    try {
      result = await snaps.gc({ keep: [a.chainId.hex] });
    } finally {
      reading?.release();
    }
    expect(result.removed).toEqual([b.chainId.toString()]);
    expect(result.busy).toEqual([c.chainId.toString()]);
    expect(result.temporary).toEqual([`${Digest.of('crashed').hex}.x1`]);
    expect((await snaps.list()).map(String).sort()).toEqual([a.chainId.toString(), c.chainId.toString()].sort());
    const again = await snaps.gc({ keep: [a.chainId] });
    expect(again.removed).toEqual([c.chainId.toString()]);
    expect((await snaps.list()).map(String)).toEqual([a.chainId.toString()]);
  });
});

describe('snapshot locks', () => {
  it('a wait for a snapshot lock another process holds ends in ELOCKED naming the lock file and its pid', async () => {
    const snaps = new Snapshots({ root: join(base, 'l1'), store, lockTimeoutMs: 100 });
    const image = await putImage([lower]);
    const chain = imageChainId(image);
    mkdirSync(join(base, 'l1', '.locks'), { recursive: true });
    const lockFile = join(base, 'l1', '.locks', `${chain.hex}.lock`);
    // flock(1) holds it (-o: not its sleep), in its own process group so both are killed together.
    const holder = spawn('flock', ['-x', '-o', lockFile, '-c', 'echo HELD; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    try {
      await new Promise<void>((res, rej) => {
        holder.stdout?.on('data', (b: Buffer) => (b.toString().includes('HELD') ? res() : undefined));
        holder.on('exit', (code) => rej(new Error(`flock exited ${code}`)));
      });
      const err = await snaps.ensure({ image }).catch((e: unknown) => e);
      expect(isBerthError(err, 'ELOCKED')).toBe(true);
      expect((err as Error).message).toContain(lockFile);
      expect((err as Error).message).toContain(`(pid ${holder.pid})`);
      expect(await snaps.has(chain)).toBe(false);
    } finally {
      process.kill(-(holder.pid as number), 'SIGKILL');
    }
  });
});

describe('unpackImage', () => {
  it('refuses a non-empty destination, applies layers straight into DIR without a snapshot, and copies a snapshot when one exists', async () => {
    const snaps = fresh('u1');
    const image = await putImage([lower, upper]);
    const full = join(base, 'unpack-full');
    mkdirSync(full);
    writeFileSync(join(full, 'x'), '');
    const err = await unpackImage({ store, snapshots: snaps, image, dest: full }).catch((e: unknown) => e);
    expect(isBerthError(err, 'EROOTFS')).toBe(true);
    expect(await snaps.list()).toEqual([]);

    const dest = join(base, 'unpack-1');
    const r1 = await unpackImage({ store, snapshots: snaps, image, dest });
    expect(r1.method).toBe('layers');
    expect(r1.snapshot).toBeUndefined();
    expect(await snaps.list()).toEqual([]);
    expect(readdirSync(base).filter((n) => n.includes('berth-unpack'))).toEqual([]);

    const built = await snaps.ensure({ image });
    // Two separate extractions: only the root's own mtime (when each was made) may differ.
    expect(compareTrees(built.path, dest).filter((d) => !d.startsWith('.: mtimeNs'))).toEqual([]);
    const emptyDest = join(base, 'unpack-2');
    mkdirSync(emptyDest);
    const r2 = await unpackImage({ store, snapshots: snaps, image, dest: emptyDest });
    expect(r2.snapshot).toBe(built.path);
    expect(r2.method === 'copy' || r2.method === 'reflink').toBe(true);
    expect(compareTrees(built.path, emptyDest)).toEqual([]);
  });

  it('a failed unpack leaves neither DIR nor a temp dir behind', async () => {
    const snaps = fresh('u2');
    const image = await putImage([lower, upper], { corruptDiffId: 1 });
    const dest = join(base, 'unpack-bad');
    const err = await unpackImage({ store, snapshots: snaps, image, dest }).catch((e: unknown) => e);
    expect(isBerthError(err)).toBe(true);
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(base).filter((n) => n.includes('berth-unpack'))).toEqual([]);
  });
});
